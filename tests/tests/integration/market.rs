//! `/api/market` pages, sorts and filters the tracked coins' prepared rows; `/api/coins` lists
//! them by rank and finds stored coins by text. Rows written directly, then
//! `refresh_market_summaries()` as the ingester calls it.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Duration, DurationRound, Utc};
use common::api::{app, route, ApiState};
use common::state::AppState;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{get, json_body, send, TestDb};
use serde_json::{json, Value};

/// Tracked coins (rank; sort order) and what the rows give them in usd:
/// - beta (1): a quote of 30, market cap 3,000, no volume, 24 h -2, no 1 h, 7 d 7 (CoinGecko's);
/// - gamma (2): a quote of 20 newer than its 5 hours (16 to 20; too few for a sparkline, so
///   CoinGecko's `[1,2,3]`), no market cap, volume 70, no 24 h change of its own or 24 hours
///   back, 1 h from the hours (20 against 19);
/// - alpha (3): a quote of 10, market cap 1,000, volume 50, 24 h 5, 1 h 0.1 (CoinGecko's), no 7 d;
/// - epsilon (unranked; 0): nothing yet;
/// - delta (unranked; 1): 200 hours up to `hour` (1.00 + n / 100, latest 2.99) and an older
///   quote (2.5, market cap 500, all changes 99): the hours win;
///
/// and not tracked: zeta (rank 4, a quote of 1,000), delphi (rank 50), model-token.
async fn seeded(hour: DateTime<Utc>) -> TestDb {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name, sort_order, rank, tracked) VALUES
                 ('alpha', 'alp', 'Alpha', 0, 3, true), ('beta', 'bet', 'Beta Coin', 0, 1, true),
                 ('gamma', 'gam', 'Gamma', 0, 2, true), ('delta', 'del', 'Delta', 1, NULL, true),
                 ('epsilon', 'eps', 'Epsilon', 0, NULL, true), ('zeta', 'zet', 'Zeta', 0, 4, false),
                 ('delphi', 'dph', 'Delphi', 0, 50, false),
                 ('model-token', 'mdl', 'Model Token', 0, NULL, false);
             INSERT INTO coin_metadata (coin_id, image_url) VALUES ('beta', 'https://assets.example/beta.png');",
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h,
                                       change_24h, change_1h, change_7d, sparkline,
                                       last_updated_at, fetched_at)
             VALUES ('beta', 'usd', 30, 3000, NULL, -2, NULL, 7, NULL, $1, $1),
                    ('gamma', 'usd', 20, NULL, 70, NULL, 0.3, NULL, '[1,2,3]', $1, $1),
                    ('alpha', 'usd', 10, 1000, 50, 5, 0.1, NULL, NULL, $1, $1),
                    ('delta', 'usd', 2.5, 500, NULL, 99, 99, 99, '[9,9]', $2, $2),
                    ('zeta', 'usd', 1000, 9000, 900, 1, 1, 1, NULL, $1, $1)",
            &[&(hour + Duration::minutes(5)), &(hour - Duration::hours(2))],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'delta', 'usd', $1::timestamptz - (199 - n) * interval '1 hour', 1 + n / 100.0
               FROM generate_series(0, 199) n
             UNION ALL
             SELECT 'gamma', 'usd', $1::timestamptz - (5 - n) * interval '1 hour', 15 + n
               FROM generate_series(1, 5) n",
            &[&hour],
        )
        .await
        .unwrap();
    client
        .batch_execute("SELECT refresh_market_summaries()")
        .await
        .unwrap();
    db
}

async fn api(db: &TestDb) -> Router {
    let config = db.config(&[("TRACKED_CURRENCIES", "usd,eur")]);
    let state = ApiState::new(Arc::new(AppState::new(config).await.unwrap()));
    app(route::all(), state)
}

fn current_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap()
}

fn ids(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

/// `value` with every number as a double: the market's rows are written by PostgreSQL, whose
/// shortest form of a whole double has no fraction (`30`, where serde writes `30.0`).
fn doubles(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(doubles).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, doubles(v))).collect())
        }
        other => other,
    }
}

/// The whole body of a 200 market answer: `data` and `meta`.
async fn market(api: &Router, query: &str) -> (Value, Value) {
    let response = send(api, get(&format!("/api/market?{query}"))).await;
    let data = expect_data(&response, 200);
    let body = json_body(&response);
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["data", "meta", "success"],
        "{body}"
    );
    (data, body["meta"].clone())
}

#[tokio::test]
async fn rows_hold_prepared_prices_changes_and_markets_fallbacks() {
    let hour = current_hour();
    let db = seeded(hour).await;
    let api = api(&db).await;
    let (data, meta) = market(&api, "").await;
    assert_eq!(meta, json!({"total": 5, "page": 1, "perPage": 100}));
    // Tracked coins only (zeta, with the highest price, is not), by rank, unranked last in
    // the configured order.
    assert_eq!(ids(&data), ["beta", "gamma", "alpha", "epsilon", "delta"]);
    let row = |id: &str| {
        data.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let beta = row("beta");
    assert_eq!(
        doubles(beta),
        doubles(json!({"id": "beta", "symbol": "bet", "name": "Beta Coin",
               "imageUrl": "https://assets.example/beta.png", "rank": 1, "price": 30.0,
               "updatedAt": rfc(hour + Duration::minutes(5)), "stale": false,
               "change1h": null, "change24h": -2.0, "change7d": 7.0, "marketCap": 3000.0,
               "volume24h": null, "sparkline7d": []}))
    );
    // Hours too few for a sparkline: CoinGecko's; 1 h from the hours, (20 - 19) / 19.
    let gamma = row("gamma");
    assert_eq!(gamma["price"], 20.0);
    assert_eq!(gamma["change1h"], 5.2632);
    assert!(gamma["change24h"].is_null() && gamma["change7d"].is_null());
    assert_eq!(gamma["sparkline7d"], json!([1, 2, 3]));
    // No hours: CoinGecko's 1 h change.
    let alpha = row("alpha");
    assert_eq!(
        doubles(json!([
            alpha["change1h"],
            alpha["change24h"],
            alpha["change7d"]
        ])),
        json!([0.1, 5.0, null])
    );
    // The hours are newer than the quote and cover every change: (2.99 - 2.98) / 2.98,
    // (2.99 - 2.75) / 2.75, (2.99 - 1.31) / 1.31; market cap from the quote.
    let delta = row("delta");
    assert_eq!(delta["price"], 2.99);
    assert_eq!(delta["updatedAt"], rfc(hour));
    assert_eq!(
        (&delta["change1h"], &delta["change24h"], &delta["change7d"]),
        (&json!(0.3356), &json!(8.7273), &json!(128.2443))
    );
    assert_eq!(delta["marketCap"], 500.0);
    // The week's 168 hours (1.32 to 2.99), every fourth counted back from the newest.
    let spark = delta["sparkline7d"].as_array().unwrap();
    assert_eq!(spark.len(), 42);
    assert_eq!(
        (&spark[0], &spark[1], &spark[41]),
        (&json!(1.35), &json!(1.39), &json!(2.99))
    );
    // Tracked without any price: listed with nulls.
    let epsilon = row("epsilon");
    assert!(epsilon["price"].is_null() && epsilon["updatedAt"].is_null());
    assert_eq!(
        (&epsilon["stale"], &epsilon["sparkline7d"]),
        (&json!(false), &json!([]))
    );
    // Another currency: every tracked coin, no prices.
    let (eur, meta) = market(&api, "currency=eur").await;
    assert_eq!(ids(&eur), ["beta", "gamma", "alpha", "epsilon", "delta"]);
    assert!(eur.as_array().unwrap().iter().all(|r| r["price"].is_null()));
    assert_eq!(meta["total"], 5);
}

#[tokio::test]
async fn pages_have_the_true_total_and_a_page_past_the_end_is_empty() {
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let pages = [
        (1, vec!["beta", "gamma"]),
        (2, vec!["alpha", "epsilon"]),
        (3, vec!["delta"]),
        (4, vec![]),
        (1000, vec![]),
    ];
    for (page, want) in pages {
        let (data, meta) = market(&api, &format!("page={page}&perPage=2")).await;
        assert_eq!(ids(&data), want, "page {page}");
        assert_eq!(meta, json!({"total": 5, "page": page, "perPage": 2}));
    }
    let (data, meta) = market(&api, "perPage=250&page=1").await;
    assert_eq!(data.as_array().unwrap().len(), 5);
    assert_eq!(meta["perPage"], 250);
}

/// `a` before `b` in a sort by `key`: nulls last whatever the direction, then by coin id.
fn expected_order(a: &Value, b: &Value, key: &str, desc: bool) -> Ordering {
    let value = |r: &Value| match key {
        "name" => r["name"]
            .as_str()
            .map(|n| n.to_lowercase())
            .map(Value::from),
        _ => Some(r[key].clone()).filter(|v| !v.is_null()),
    };
    let by_value = match (value(a), value(b)) {
        (Some(x), Some(y)) => {
            let o = match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
                _ => x.as_str().cmp(&y.as_str()),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let by_id = a["id"].as_str().cmp(&b["id"].as_str());
    by_value.then(if desc && key == "name" {
        by_id.reverse()
    } else {
        by_id
    })
}

#[tokio::test]
async fn every_sort_key_sorts_both_ways_with_nulls_last() {
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let (all, _) = market(&api, "").await;
    let keys = [
        ("price", "price"),
        ("change1h", "change1h"),
        ("change24h", "change24h"),
        ("change7d", "change7d"),
        ("marketCap", "marketCap"),
        ("volume24h", "volume24h"),
        ("name", "name"),
    ];
    for (sort, field) in keys {
        for desc in [false, true] {
            let order = if desc { "desc" } else { "asc" };
            let (data, meta) = market(&api, &format!("sort={sort}&order={order}")).await;
            let mut want = all.as_array().unwrap().clone();
            want.sort_by(|a, b| expected_order(a, b, field, desc));
            assert_eq!(
                ids(&data),
                ids(&Value::from(want)),
                "sort={sort}&order={order}"
            );
            assert_eq!(meta["total"], 5);
            // The first page of two is the start of the same order.
            let (page, _) = market(&api, &format!("sort={sort}&order={order}&perPage=2")).await;
            assert_eq!(ids(&page), ids(&data)[..2], "sort={sort}&order={order}");
        }
    }
    // Spelled out: the defaults (desc for numbers, asc for names) and ranks both ways.
    let orders = [
        (
            "sort=price",
            vec!["beta", "gamma", "alpha", "delta", "epsilon"],
        ),
        (
            "sort=price&order=asc",
            vec!["delta", "alpha", "gamma", "beta", "epsilon"],
        ),
        (
            "sort=marketCap",
            vec!["beta", "alpha", "delta", "epsilon", "gamma"],
        ),
        (
            "sort=change1h&order=asc",
            vec!["alpha", "delta", "gamma", "beta", "epsilon"],
        ),
        (
            "sort=name",
            vec!["alpha", "beta", "delta", "epsilon", "gamma"],
        ),
        (
            "sort=rank",
            vec!["beta", "gamma", "alpha", "epsilon", "delta"],
        ),
        (
            "sort=rank&order=desc",
            vec!["alpha", "gamma", "beta", "epsilon", "delta"],
        ),
    ];
    for (query, want) in orders {
        assert_eq!(ids(&market(&api, query).await.0), want, "{query}");
    }
}

#[tokio::test]
async fn q_and_ids_filter_the_tracked_coins_and_the_sort_still_applies() {
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    // "ta": beta (id), delta (id, name) and the untracked zeta.
    let (data, meta) = market(&api, "q=TA&sort=price").await;
    assert_eq!(ids(&data), ["beta", "delta"]);
    assert_eq!(meta["total"], 2);
    let (data, meta) = market(&api, "q=Coin").await;
    assert_eq!((ids(&data), &meta["total"]), (vec!["beta"], &json!(1)));
    let (data, meta) = market(&api, "q=nothing-like-it").await;
    assert_eq!((ids(&data), &meta["total"]), (vec![], &json!(0)));
    // A watchlist: unknown and untracked ids are ignored, the sort is the request's.
    let (data, meta) = market(&api, "ids=zeta,alpha,no-such-coin,gamma").await;
    assert_eq!(
        (ids(&data), &meta["total"]),
        (vec!["gamma", "alpha"], &json!(2))
    );
    let (data, _) = market(&api, "ids=zeta,alpha,gamma&sort=name&order=desc").await;
    assert_eq!(ids(&data), ["gamma", "alpha"]);
    let (data, meta) = market(&api, "ids=alpha,gamma,beta&q=a&perPage=1&page=2").await;
    assert_eq!((ids(&data), &meta["total"]), (vec!["gamma"], &json!(3)));
    let many: Vec<String> = (0..251).map(|n| format!("coin-{n}")).collect();
    let bad = [
        (format!("ids={}", many.join(",")), "ids takes at most 250 coin ids"),
        (
            "ids=alpha,Beta".to_owned(),
            "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)",
        ),
        ("perPage=251".to_owned(), "perPage must be a whole number from 1 to 250"),
        ("page=0".to_owned(), "page must be a whole number from 1 to 1000000"),
        ("order=sideways".to_owned(), "order must be asc or desc"),
        (
            "sort=rank&sort=name".to_owned(),
            "sort must be given at most once",
        ),
    ];
    for (query, message) in bad {
        let body = expect_error(
            &send(&api, get(&format!("/api/market?{query}"))).await,
            400,
            "INVALID_PARAMETER",
        );
        assert_eq!(body["error"]["message"], message, "{query}");
    }
    let ok: Vec<String> = (0..250).map(|n| format!("coin-{n}")).collect();
    let (data, meta) = market(&api, &format!("ids={},beta", ok[..249].join(","))).await;
    assert_eq!((ids(&data), &meta["total"]), (vec!["beta"], &json!(1)));
}

#[tokio::test]
async fn coins_lists_tracked_by_rank_and_q_finds_stored_coins_exact_symbol_first() {
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let list = expect_data(&send(&api, get("/api/coins")).await, 200);
    assert_eq!(ids(&list), ["beta", "gamma", "alpha", "epsilon", "delta"]);
    assert_eq!(
        list[0],
        json!({"id": "beta", "symbol": "bet", "name": "Beta Coin",
               "imageUrl": "https://assets.example/beta.png", "rank": 1, "tracked": true})
    );
    let two = expect_data(&send(&api, get("/api/coins?limit=2")).await, 200);
    assert_eq!(ids(&two), ["beta", "gamma"]);
    // "del": delta's symbol exactly, delphi's prefix, model-token's substring; tracked or not.
    for q in ["del", "DEL", "+del+"] {
        let found = expect_data(&send(&api, get(&format!("/api/coins?q={q}"))).await, 200);
        assert_eq!(ids(&found), ["delta", "delphi", "model-token"], "{q}");
        let tracked: Vec<&Value> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["tracked"])
            .collect();
        assert_eq!(tracked, [&json!(true), &json!(false), &json!(false)]);
    }
    let found = expect_data(&send(&api, get("/api/coins?q=del&limit=1")).await, 200);
    assert_eq!(ids(&found), ["delta"]);
    let zeta = expect_data(&send(&api, get("/api/coins?q=zeta")).await, 200);
    assert_eq!(
        zeta,
        json!([{"id": "zeta", "symbol": "zet", "name": "Zeta", "imageUrl": null, "rank": 4, "tracked": false}])
    );
    let none = expect_data(&send(&api, get("/api/coins?q=nothing-like-it")).await, 200);
    assert_eq!(none, json!([]));
    // The detail of an untracked coin: served, with its rank.
    let detail = expect_data(&send(&api, get("/api/coins/zeta")).await, 200);
    assert_eq!(
        (
            &detail["rank"],
            &detail["tracked"],
            &detail["latest"]["usd"]["price"]
        ),
        (&json!(4), &json!(false), &json!(1000.0))
    );
    for (query, message) in [
        ("limit=0", "limit must be a whole number from 1 to 250"),
        ("limit=251", "limit must be a whole number from 1 to 250"),
    ] {
        let body = expect_error(
            &send(&api, get(&format!("/api/coins?{query}"))).await,
            400,
            "INVALID_PARAMETER",
        );
        assert_eq!(body["error"]["message"], message, "{query}");
    }
    let long = format!("/api/coins?q={}", "x".repeat(101));
    let body = expect_error(&send(&api, get(&long)).await, 400, "INVALID_PARAMETER");
    assert_eq!(body["error"]["message"], "q must be at most 100 characters");
}

#[tokio::test]
async fn a_live_refresh_reaches_the_market_through_refresh_market_summaries() {
    // The set-based refresh the live refresh calls: only the pairs named are recomputed, and
    // a coin that leaves the tracked set leaves the market.
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let client = db.client().await;
    client
        .batch_execute(
            "UPDATE price_latest SET price = 40, change_24h = 1.23456, fetched_at = now(),
                                     last_updated_at = now()
              WHERE coin_id IN ('alpha', 'beta') AND currency_code = 'usd';",
        )
        .await
        .unwrap();
    let price = |data: &Value, id: &str| {
        data.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| doubles(json!([r["price"], r["change24h"]])))
    };
    let (before, _) = market(&api, "").await;
    assert_eq!(price(&before, "alpha"), Some(json!([10.0, 5.0])));
    client
        .execute(
            "SELECT refresh_market_summaries($1, $2)",
            &[&vec!["alpha"], &vec!["usd", "eur"]],
        )
        .await
        .unwrap();
    let (after, _) = market(&api, "").await;
    assert_eq!(price(&after, "alpha"), Some(json!([40.0, 1.2346])));
    assert_eq!(
        price(&after, "beta"),
        Some(json!([30.0, -2.0])),
        "not refreshed"
    );
    client
        .batch_execute(
            "UPDATE coins SET tracked = false WHERE id = 'alpha';
             SELECT refresh_market_summaries(ARRAY['alpha'], ARRAY['usd', 'eur']);",
        )
        .await
        .unwrap();
    let (data, meta) = market(&api, "").await;
    assert_eq!(ids(&data), ["beta", "gamma", "epsilon", "delta"]);
    assert_eq!(meta["total"], 4);
    // Its row stays while it has prices (it keeps its history); without any it goes.
    let rows = |coin: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT count(*) FROM market_summary WHERE coin_id = $1",
                    &[&coin],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(rows("alpha").await, 1, "usd has a quote");
    client
        .batch_execute(
            "UPDATE coins SET tracked = false WHERE id = 'epsilon';
             SELECT refresh_market_summaries(ARRAY['epsilon'], ARRAY['usd', 'eur']);",
        )
        .await
        .unwrap();
    assert_eq!(rows("epsilon").await, 0);
}

#[tokio::test]
async fn rows_follow_their_coin_whatever_writes_it() {
    // Migration V12 copies what a page shows of a coin into its rows; every change to the
    // coin, its image, the tracked set or the currencies reaches them without a refresh.
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let client = db.client().await;
    client
        .batch_execute(
            "UPDATE coins SET name = 'Alpha \"Prime\" ☃', symbol = 'ALP', rank = 1 WHERE id = 'alpha';
             UPDATE coins SET rank = 3 WHERE id = 'beta';
             INSERT INTO coin_metadata (coin_id, image_url) VALUES ('alpha', 'https://assets.example/a.png');
             DELETE FROM coin_metadata WHERE coin_id = 'beta';
             UPDATE coins SET tracked = true WHERE id = 'zeta';
             UPDATE coins SET tracked = false WHERE id = 'gamma';
             INSERT INTO coins (id, symbol, name, rank, tracked) VALUES ('newcoin', 'new', 'New', 7, true);",
        )
        .await
        .unwrap();
    let (data, meta) = market(&api, "").await;
    assert_eq!(
        ids(&data),
        ["alpha", "beta", "zeta", "newcoin", "epsilon", "delta"]
    );
    assert_eq!(meta["total"], 6);
    let alpha = &data[0];
    assert_eq!(
        (
            &alpha["name"],
            &alpha["symbol"],
            &alpha["rank"],
            &alpha["imageUrl"]
        ),
        (
            &json!("Alpha \"Prime\" ☃"),
            &json!("ALP"),
            &json!(1),
            &json!("https://assets.example/a.png")
        )
    );
    assert_eq!(alpha["price"], 10.0, "its prices kept");
    assert!(data[1]["imageUrl"].is_null());
    // A coin that joins is listed in each currency before its first price there.
    assert_eq!(data[2]["price"], 1000.0);
    let (eur, _) = market(&api, "currency=eur&q=new").await;
    assert_eq!(ids(&eur), ["newcoin"]);
    assert!(eur[0]["price"].is_null() && eur[0]["sparkline7d"] == json!([]));
    // By name, through the copied names.
    let (by_name, _) = market(&api, "sort=name&q=a").await;
    assert_eq!(ids(&by_name), ["alpha", "beta", "delta", "zeta"]);
    // A currency added later lists every tracked coin.
    client
        .batch_execute("INSERT INTO currencies (code, name) VALUES ('gbp', 'Pound')")
        .await
        .unwrap();
    let config = db.config(&[("TRACKED_CURRENCIES", "usd,eur,gbp")]);
    let gbp_api = app(
        route::all(),
        ApiState::new(Arc::new(AppState::new(config).await.unwrap())),
    );
    let (gbp, meta) = market(&gbp_api, "currency=gbp").await;
    assert_eq!(meta["total"], 6);
    assert_eq!(gbp.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn a_row_is_the_documents_market_row_with_times_as_every_route_writes_them() {
    let db = seeded(current_hour()).await;
    let api = api(&db).await;
    let client = db.client().await;
    // Quotes at a whole second, at milliseconds and at microseconds.
    let whole = current_hour() + Duration::minutes(3);
    let times = [
        ("alpha", whole),
        ("beta", whole + Duration::milliseconds(250)),
        ("gamma", whole + Duration::microseconds(123_456)),
    ];
    for (coin, at) in times {
        client
            .execute(
                "UPDATE price_latest SET last_updated_at = $2, fetched_at = $2
                  WHERE coin_id = $1 AND currency_code = 'usd'",
                &[&coin, &at],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute("SELECT refresh_market_summaries()")
        .await
        .unwrap();
    let (data, _) = market(&api, "").await;
    for (coin, at) in times {
        let row = data
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == coin)
            .unwrap();
        // As serde writes a time everywhere else.
        assert_eq!(row["updatedAt"], json!(at), "{coin}");
    }
    // Every row has exactly the properties the document declares for it, all required.
    let document = serde_json::to_value(common::api::document()).unwrap();
    let schema = &document["components"]["schemas"]["MarketRow"];
    let mut declared: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    declared.sort_unstable();
    required.sort_unstable();
    assert_eq!(declared, required);
    for row in data.as_array().unwrap() {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, declared, "{row}");
    }
}

#[tokio::test]
async fn a_coin_writer_and_a_market_refresh_wait_for_each_other_instead_of_deadlocking() {
    // A metadata write rewrites its coin's market rows (migration V12). A refresh holding
    // alpha's rows and waiting for beta's, while the metadata writer holding beta's comes for
    // alpha's, would be a deadlock; both take the refresh's lock before any row, so the
    // refresh waits for the writer instead.
    let db = seeded(current_hour()).await;
    let writer = db.client().await;
    writer
        .batch_execute(
            "BEGIN;
             UPDATE coin_metadata SET image_url = 'https://assets.example/beta-2.png'
              WHERE coin_id = 'beta'",
        )
        .await
        .unwrap();
    let refresher = db.client().await;
    let pid: i32 = refresher
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let refresh = tokio::spawn(async move {
        refresher
            .batch_execute(
                "BEGIN;
                 SELECT refresh_market_summaries(ARRAY['alpha'], ARRAY['usd', 'eur']);
                 SELECT refresh_market_summaries(ARRAY['beta'], ARRAY['usd', 'eur']);
                 COMMIT",
            )
            .await
    });
    let observer = db.client().await;
    let waiting = async {
        loop {
            let row = observer
                .query_one(
                    "SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' FROM pg_stat_activity
                      WHERE pid = $1",
                    &[&pid],
                )
                .await
                .unwrap();
            if row.get::<_, bool>(0) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the refresh waits for the writer");
    writer
        .batch_execute(
            "INSERT INTO coin_metadata (coin_id, image_url)
                  VALUES ('alpha', 'https://assets.example/alpha.png');
             COMMIT",
        )
        .await
        .expect("the writer finishes: no deadlock");
    refresh
        .await
        .unwrap()
        .expect("the refresh finishes after it: no deadlock");
    let (data, _) = market(&api(&db).await, "").await;
    let image = |id: &str| {
        data.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["imageUrl"]
            .clone()
    };
    assert_eq!(
        (image("alpha"), image("beta")),
        (
            json!("https://assets.example/alpha.png"),
            json!("https://assets.example/beta-2.png")
        )
    );
}
