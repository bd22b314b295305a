//! The read API against known rows: each handler with its `events/` payload, the query
//! rules, caching and CORS headers, and a database that goes away and comes back.
//!
//! The rows are placed relative to the current UTC hour, so the payloads of `events/` (which
//! use the routes' default ranges, up to now) find them on any day. The tests whose answer
//! depends on the API's own clock run through [`within_one_hour`], which starts them again
//! should the hour turn while they run.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Duration, DurationRound, NaiveDate, SecondsFormat, Utc};
use common::api::{app, route, ApiState};
use common::state::AppState;
use integration_tests::http::Response;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{event, get, request, send, DbProxy, TestDb};
use serde_json::json;

const SECRET: &str = "local-dev-cron-secret-not-for-production";

/// The start of the current UTC hour.
pub(crate) fn current_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap()
}

/// Runs `test` with the current UTC hour and, if the hour has turned by the time it ends
/// (its expectations were computed for the old one), once more with the new hour. A test
/// takes seconds, so the hour cannot turn twice.
pub(crate) async fn within_one_hour<F, Fut>(test: F)
where
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for _ in 0..2 {
        let hour = current_hour();
        let outcome = tokio::spawn(test(hour)).await;
        if current_hour() == hour {
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
            return;
        }
    }
    panic!("the hour turned twice while one test ran");
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Rows whose API answers are known, placed relative to `hour` (a UTC hour, the current
/// one unless a test says otherwise); bitcoin and ethereum are tracked (unranked, in that
/// order), dogecoin is stored but no longer tracked:
/// - bitcoin/eur hourly: the 193 hours up to `hour`, price 100 + n (n = 0 at `hour` - 192 h),
///   so the latest is 292, 24 hours before it 268 and 168 hours before it 124;
/// - ethereum/eur hourly: the 48 hours up to `hour`, price 1000 + n (latest 1047, 24 hours
///   before it 1023);
/// - ethereum/eur daily: the 40 days up to `hour`'s day, price 1 + n (n = 0 at the day 39
///   days before), so today is 40 and the day 30 days before is 10.
pub(crate) async fn seeded(hour: DateTime<Utc>) -> TestDb {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name, sort_order) VALUES
                 ('bitcoin', 'btc', 'Bitcoin', 0), ('ethereum', 'eth', 'Ethereum', 1), ('dogecoin', 'doge', 'Dogecoin', 2);
             -- Runs keep `tracked` (and `rank`); dogecoin left the tracked set.
             UPDATE coins SET tracked = id IN ('bitcoin', 'ethereum');
             INSERT INTO coin_metadata (coin_id, description, image_url, website_url) VALUES
                 ('bitcoin', 'Bitcoin is <a href=\"https://bitcoin.org\">peer-to-peer</a> cash &amp; more.\r\n\r\nSecond.',
                  'https://assets.example/bitcoin.png', 'http://www.bitcoin.org');",
        )
        .await
        .unwrap();
    let today = hour.date_naive();
    client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'bitcoin', 'eur', $1::timestamptz - (192 - n) * interval '1 hour', 100 + n
               FROM generate_series(0, 192) n",
            &[&hour],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'ethereum', 'eur', $1::timestamptz - (47 - n) * interval '1 hour', 1000 + n
               FROM generate_series(0, 47) n",
            &[&hour],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
             SELECT 'ethereum', 'eur', $1::date - (39 - n), 1 + n, 24 FROM generate_series(0, 39) n",
            &[&today],
        )
        .await
        .unwrap();
    // The ingester keeps the market summary in step with the hours it writes; hours inserted
    // here directly need the same refresh.
    client
        .batch_execute("SELECT refresh_market_summaries()")
        .await
        .unwrap();
    db
}

pub(crate) async fn state(db: &TestDb, extra: &[(&str, &str)]) -> ApiState {
    let mut vars = vec![
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
        ("CRON_SECRET", SECRET),
        ("CORS_ALLOWED_ORIGINS", "https://dash.example"),
    ];
    vars.extend_from_slice(extra);
    ApiState::new(Arc::new(AppState::new(db.config(&vars)).await.unwrap()))
}

pub(crate) async fn invoke(api: &Router, file: &str) -> Response {
    let request =
        lambda_http::request::from_str(&event(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    send(api, request).await
}

/// The hourly points `first..=last` of a series whose price at `start` is `base` and rises
/// by 1 an hour, as the API writes them.
pub(crate) fn hourly_points(
    start: DateTime<Utc>,
    base: f64,
    first: i64,
    last: i64,
) -> serde_json::Value {
    (first..=last)
        .map(
            |n| json!({"timestamp": rfc3339(start + Duration::hours(n)), "price": base + n as f64}),
        )
        .collect()
}

/// The daily points `first..=last` of a series whose price on `start` is `base` and rises
/// by 1 a day.
pub(crate) fn daily_points(
    start: NaiveDate,
    base: f64,
    first: i64,
    last: i64,
) -> serde_json::Value {
    (first..=last)
        .map(|n| json!({"date": (start + Duration::days(n)).to_string(), "price": base + n as f64}))
        .collect()
}

#[tokio::test]
async fn coins_list_event_lists_tracked_coins_by_rank_then_configured_order() {
    let db = seeded(current_hour()).await;
    let api = app(route::coins_list(), state(&db, &[]).await);
    let response = invoke(&api, "coins-list.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(
        expect_data(&response, 200),
        json!([
            {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "imageUrl": "https://assets.example/bitcoin.png", "rank": null, "tracked": true},
            {"id": "ethereum", "symbol": "eth", "name": "Ethereum", "imageUrl": null, "rank": null, "tracked": true},
        ])
    );
}

#[tokio::test]
async fn coin_detail_event_gives_plain_text_and_latest_prices() {
    let hour = current_hour();
    let db = seeded(hour).await;
    let api = app(route::coin_detail(), state(&db, &[]).await);
    let data = expect_data(&invoke(&api, "coin-detail.json").await, 200);
    assert_eq!(
        data,
        json!({
            "id": "bitcoin",
            "symbol": "btc",
            "name": "Bitcoin",
            "description": "Bitcoin is peer-to-peer cash & more.\n\nSecond.",
            "imageUrl": "https://assets.example/bitcoin.png",
            "websiteUrl": "http://www.bitcoin.org",
            "rank": null,
            "tracked": true,
            "latest": {"usd": null, "eur": {"price": 292.0, "at": rfc3339(hour), "stale": false}},
        })
    );

    // Stored but no longer tracked: served, and says so.
    let doge = expect_data(&send(&api, get("/api/coins/dogecoin")).await, 200);
    assert_eq!(
        (&doge["id"], &doge["tracked"], &doge["latest"]),
        (
            &json!("dogecoin"),
            &json!(false),
            &json!({"usd": null, "eur": null})
        )
    );
    let message = expect_error(
        &send(&api, get("/api/coins/solana")).await,
        404,
        "NOT_FOUND",
    );
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("GET /api/coins"),
        "not stored: {message}"
    );
}

#[tokio::test]
async fn currencies_event_lists_configured_currencies() {
    let db = seeded(current_hour()).await;
    let api = app(
        route::all(),
        state(&db, &[("TRACKED_CURRENCIES", "usd,eur,jpy")]).await,
    );
    assert_eq!(
        expect_data(&invoke(&api, "currencies.json").await, 200),
        json!([
            {"code": "usd", "name": "US Dollar"}, {"code": "eur", "name": "Euro"}, {"code": "jpy", "name": "Japanese Yen"}
        ])
    );
}

#[tokio::test]
async fn prices_events_return_the_stored_points_of_the_default_ranges_oldest_first() {
    within_one_hour(|hour| async move {
        let db = seeded(hour).await;
        let api = app(route::prices(), state(&db, &[]).await);
        let today = hour.date_naive();

        // events/prices.json: daily, no dates: the 30 days before today and today, 31
        // points, prices 10 to 40.
        let data = expect_data(&invoke(&api, "prices.json").await, 200);
        assert_eq!(
            data,
            json!({
                "coinId": "ethereum",
                "currency": "eur",
                "interval": "daily",
                "from": (today - Duration::days(30)).to_string(),
                "to": today.to_string(),
                "points": daily_points(today - Duration::days(39), 1.0, 9, 39),
            })
        );
        assert_eq!(data["points"].as_array().unwrap().len(), 31);

        // events/prices-hourly.json: hourly, no dates: the 7 days up to the end of this
        // hour, which hold all 48 stored hours.
        let data = expect_data(&invoke(&api, "prices-hourly.json").await, 200);
        let end = hour + Duration::hours(1) - Duration::seconds(1);
        assert_eq!(
            data,
            json!({
                "coinId": "ethereum",
                "currency": "eur",
                "interval": "hourly",
                "from": rfc3339(end - Duration::days(7)),
                "to": rfc3339(end),
                "points": hourly_points(hour - Duration::hours(47), 1000.0, 0, 47),
            })
        );
        assert_eq!(data["points"].as_array().unwrap().len(), 48);
    })
    .await;
}

#[tokio::test]
async fn prices_defaults_are_thirty_days_daily_and_seven_days_hourly_up_to_now() {
    within_one_hour(|hour| async move {
        let db = seeded(hour).await;
        let api = app(route::all(), state(&db, &[]).await);
        let data = expect_data(
            &send(
                &api,
                get("/api/coins/bitcoin/prices?currency=eur&interval=hourly"),
            )
            .await,
            200,
        );
        // From 167 h 59 min 59 s before this hour ends to its end: the 168 hours up to this
        // one (n = 25..=192 of the stored 193, prices 125 to 292).
        let points = data["points"].as_array().unwrap();
        assert_eq!(points.len(), 168);
        assert_eq!(
            data["points"],
            hourly_points(hour - Duration::hours(192), 100.0, 25, 192)
        );

        let data = expect_data(
            &send(&api, get("/api/coins/ethereum/prices?currency=eur")).await,
            200,
        );
        let today = hour.date_naive();
        assert_eq!(data["interval"], "daily");
        assert_eq!(data["to"], today.to_string());
        assert_eq!(data["from"], (today - Duration::days(30)).to_string());
        assert_eq!(
            data["points"],
            daily_points(today - Duration::days(39), 1.0, 9, 39)
        );

        // A known coin with no rows in range is an empty list, not a 404.
        let data = expect_data(
            &send(
                &api,
                get("/api/coins/bitcoin/prices?from=2020-01-01&to=2020-01-31"),
            )
            .await,
            200,
        );
        assert_eq!(
            data,
            json!({"coinId": "bitcoin", "currency": "usd", "interval": "daily",
                   "from": "2020-01-01", "to": "2020-01-31", "points": []})
        );
    })
    .await;
}

#[tokio::test]
async fn every_prices_rule_violation_is_a_400_that_says_what_is_allowed() {
    let db = seeded(current_hour()).await;
    let api = app(route::all(), state(&db, &[]).await);
    let cases = [
        ("currency=chf", "currency must be one of usd, eur"),
        ("currency=", "currency must be one of"),
        ("interval=weekly", "interval must be daily or hourly"),
        ("from=yesterday", "from must be a date"),
        ("to=2025-13-01", "to must be a date"),
        ("from=2025-02-30", "from must be a date"),
        ("from=1900-01-01", "between 2000 and 2100"),
        ("from=-001-01-01", "from must be a date"),
        ("from=99999-01-01", "from must be a date"),
        ("from=2025-11-10&to=2025-11-01", "from must not be after to"),
        ("from=2014-01-01&to=2025-06-01", "at most 3660 days"),
        (
            "interval=hourly&from=2025-01-01&to=2025-06-01",
            "at most 90 days",
        ),
        ("currency=usd&currency=eur", "at most once"),
        ("from=%FF%FE", "UTF-8"),
        (
            "interval=hourly&from=2025-11-01T10:00:60Z",
            "from must be a date",
        ),
        ("from=2025-1-1", "from must be a date"),
        ("from=%202025-01-01", "from must be a date"),
    ];
    for (query, message) in cases {
        let response = send(&api, get(&format!("/api/coins/bitcoin/prices?{query}"))).await;
        let body = expect_error(&response, 400, "INVALID_PARAMETER");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    // Exactly at the limits is fine, and unknown parameters are ignored. Fixed dates here are
    // about the rules, not the data: bitcoin has no usd rows and no daily rows at all.
    for (query, currency, interval, from, to) in [
        (
            "from=2025-01-01&to=2026-01-01",
            "usd",
            "daily",
            "2025-01-01",
            "2026-01-01",
        ),
        (
            "interval=hourly&from=2025-08-01T00:00:00Z&to=2025-10-30T00:00:00Z",
            "usd",
            "hourly",
            "2025-08-01T00:00:00Z",
            "2025-10-30T00:00:00Z",
        ),
        (
            "utm_source=x&currency=eur&from=2025-01-01&to=2025-01-02",
            "eur",
            "daily",
            "2025-01-01",
            "2025-01-02",
        ),
    ] {
        let data = expect_data(
            &send(&api, get(&format!("/api/coins/bitcoin/prices?{query}"))).await,
            200,
        );
        assert_eq!(
            data,
            json!({"coinId": "bitcoin", "currency": currency, "interval": interval,
                   "from": from, "to": to, "points": []}),
            "{query}"
        );
    }
    expect_error(
        &send(&api, get("/api/coins/not-a-coin/prices")).await,
        404,
        "NOT_FOUND",
    );
}

/// A JSON array of numbers as f64s (integers and decimals alike).
fn numbers(array: &serde_json::Value) -> Vec<f64> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .map(|n| n.as_f64().expect("a number"))
        .collect()
}

#[tokio::test]
async fn market_sparklines_are_five_significant_digits_one_hour_in_four_prepared_when_hours_are_written(
) {
    let hour = current_hour();
    let (db, client) = TestDb::with_bitcoin_usd().await;
    // Prices across the range CoinGecko sends, and two beyond single precision's.
    let prices = [
        123_456.789,
        0.000_123_456_789,
        0.996_237_075_753,
        4_385.081_234,
        99_999.5,
        1e-50,
        f64::MAX / 2.0,
    ];
    let drawn = [
        123_460.0,
        0.000_123_46,
        0.996_24,
        4_385.1,
        100_000.0,
        1.5e-45,
        3.4e38,
    ];
    // A sparkline of stored hours needs at least 24 of them in the week: 17 hours at 1.0
    // before these.
    let prices: Vec<f64> = std::iter::repeat_n(1.0, 17).chain(prices).collect();
    let drawn: Vec<f64> = std::iter::repeat_n(1.0, 17).chain(drawn).collect();
    for (i, price) in prices.iter().enumerate() {
        let ts = hour - chrono::Duration::hours((prices.len() - 1 - i) as i64);
        client
            .execute(
                "INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin', 'usd', $1, $2)",
                &[&ts, price],
            )
            .await
            .unwrap();
    }
    client
        .execute("SELECT refresh_market_summaries()", &[])
        .await
        .unwrap();
    // The row keeps every hour, rounded.
    let hours: Vec<f32> = client
        .query_one("SELECT sparkline FROM market_summary", &[])
        .await
        .unwrap()
        .get(0);
    let rounded: Vec<f32> = drawn.iter().map(|&p| p as f32).collect();
    assert_eq!(hours, rounded);
    // The page shows every fourth hour counted back from the newest: hours 4, 8, .. 24 of 24.
    let api = app(route::all(), state(&db, &[]).await);
    let rows = expect_data(&send(&api, get("/api/market?currency=usd")).await, 200);
    let sparkline = numbers(&rows[0]["sparkline7d"]);
    let shown: Vec<f32> = rounded.iter().copied().skip(3).step_by(4).collect();
    assert_eq!(shown.len(), 6);
    // Single precision, sent in its shortest form: the same f32 as the rounded value.
    let sent: Vec<f32> = sparkline.iter().map(|&p| p as f32).collect();
    assert_eq!(sent, shown, "{sparkline:?}");
    assert_eq!(
        sent.last(),
        Some(&3.4e38),
        "the line ends at the newest hour"
    );
    // The price itself keeps every digit.
    assert_eq!(rows[0]["price"], f64::MAX / 2.0);
}

#[tokio::test]
async fn market_event_computes_changes_and_sparklines_in_one_request() {
    let hour = current_hour();
    let db = seeded(hour).await;
    let api = app(route::market(), state(&db, &[]).await);
    let rows = expect_data(&invoke(&api, "market.json").await, 200);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let btc = &rows[0];
    assert_eq!(btc["id"], "bitcoin");
    assert_eq!(btc["price"], 292.0);
    // 24 h before the latest the price was 268, 7 days before 124: (292 - 268) / 268 =
    // 8.95522...% and (292 - 124) / 124 = 135.48387...%, rounded to 4 decimals.
    assert_eq!(btc["change24h"], 8.9552);
    assert_eq!(btc["change7d"], 135.4839);
    // An hour before it was 291: (292 - 291) / 291 = 0.34364...%.
    assert_eq!(btc["change1h"], 0.3436);
    assert!(btc["rank"].is_null());
    // The 167 hours after the one 7 days back, and the latest (125 to 292), every fourth
    // counted back from the latest.
    let spark: Vec<f64> = (125..=292).skip(3).step_by(4).map(f64::from).collect();
    assert_eq!(spark.len(), 42);
    assert_eq!(numbers(&btc["sparkline7d"]), spark);
    assert_eq!(btc["updatedAt"], rfc3339(hour));
    assert_eq!(btc["stale"], false);
    // No live quote stored: no market cap or volume.
    assert!(btc["marketCap"].is_null() && btc["volume24h"].is_null());
    assert_eq!(btc["symbol"], "btc");
    assert_eq!(btc["imageUrl"], "https://assets.example/bitcoin.png");
    let eth = &rows[1];
    assert_eq!(eth["price"], 1047.0);
    assert!(
        eth["change7d"].is_null(),
        "no price 7 days before the latest"
    );
    // (1047 - 1023) / 1023 = 2.34604...%, (1047 - 1046) / 1046 = 0.09560...%.
    assert_eq!(eth["change24h"], 2.346);
    assert_eq!(eth["change1h"], 0.0956);
    let spark: Vec<f64> = (1000..=1047).skip(3).step_by(4).map(f64::from).collect();
    assert_eq!(numbers(&eth["sparkline7d"]), spark);

    let usd = expect_data(&send(&api, get("/api/market")).await, 200);
    for (row, id) in usd.as_array().unwrap().iter().zip(["bitcoin", "ethereum"]) {
        assert_eq!(row["id"], id);
        assert!(row["price"].is_null(), "no usd data yet: {row}");
        assert!(row["change24h"].is_null() && row["updatedAt"].is_null());
        assert_eq!(row["sparkline7d"], json!([]));
    }
    assert_eq!(usd.as_array().unwrap().len(), 2);
    expect_error(
        &send(&api, get("/api/market?currency=xyz")).await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn ingestion_runs_event_lists_recent_runs_sanitised_and_uncached() {
    let db = seeded(current_hour()).await;
    let report = json!({"status": "partial", "failures": [
        {"coin": "bitcoin", "currency": "usd", "code": "DATABASE_ERROR", "message": "relation \"price_hourly\" does not exist at 10.0.3.7"},
        {"coin": "dogecoin", "currency": "eur", "code": "UPSTREAM_5XX", "message": "CoinGecko answered HTTP 502"}]});
    db.client()
        .await
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, report, simulated)
             SELECT ('00000000-0000-4000-8000-00000000000' || n)::uuid, 'schedule', 'incremental', 'partial',
                    now() - n * interval '1 day', now() - n * interval '1 day', $1, true
               FROM generate_series(1, 7) n",
            &[&report],
        )
        .await
        .unwrap();
    let api = app(route::ingestion_runs(), state(&db, &[]).await);
    let response = invoke(&api, "ingestion-runs.json").await;
    assert_eq!(
        response.headers()["cache-control"],
        "public, s-maxage=10, max-age=0"
    );
    let data = expect_data(&response, 200);
    let runs = data.as_array().unwrap();
    // limit=5: the five newest, newest first.
    let ids: Vec<&str> = runs.iter().map(|r| r["runId"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=5)
            .map(|n| format!("00000000-0000-4000-8000-00000000000{n}"))
            .collect::<Vec<_>>()
    );
    let sanitised = json!({"status": "partial", "failures": [
        {"coin": "bitcoin", "currency": "usd", "code": "DATABASE_ERROR", "message": "an internal error; see the ingest function's logs"},
        {"coin": "dogecoin", "currency": "eur", "code": "UPSTREAM_5XX", "message": "CoinGecko answered HTTP 502"}]});
    for run in runs {
        assert_eq!(
            (
                &run["trigger"],
                &run["mode"],
                &run["status"],
                &run["simulated"]
            ),
            (
                &json!("schedule"),
                &json!("incremental"),
                &json!("partial"),
                &json!(true)
            )
        );
        assert_eq!(run["report"], sanitised);
    }
    let text = data.to_string();
    assert!(
        !text.contains("10.0.3.7") && !text.contains("relation"),
        "{text}"
    );
    for bad in ["limit=0", "limit=101", "limit=ten"] {
        let r = send(&api, get(&format!("/api/ingestion/runs?{bad}"))).await;
        let body = expect_error(&r, 400, "INVALID_PARAMETER");
        assert_eq!(
            body["error"]["message"], "limit must be a whole number from 1 to 100",
            "{bad}"
        );
    }
}

/// The daily ethereum/eur prices of the 5 days up to `today`, by explicit dates the rows
/// cover: the answer does not move with the clock between two requests.
pub(crate) fn last_five_days(today: NaiveDate) -> String {
    format!(
        "/api/coins/ethereum/prices?currency=eur&from={}&to={today}",
        today - Duration::days(4)
    )
}

#[tokio::test]
async fn data_gets_send_a_strong_etag_and_answer_304_to_if_none_match() {
    let hour = current_hour();
    let db = seeded(hour).await;
    let api = app(route::all(), state(&db, &[]).await);
    let today = hour.date_naive();
    let path = last_five_days(today);
    let first = send(&api, get(&path)).await;
    assert_eq!(
        expect_data(&first, 200)["points"],
        daily_points(today - Duration::days(4), 36.0, 0, 4)
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"));
    let second = send(&api, request("GET", &path, &[("if-none-match", &etag)], "")).await;
    assert_eq!(second.status(), 304);
    assert!(second.body().is_empty());
    assert_eq!(second.headers()["etag"], etag.as_str());
    assert_eq!(second.headers()["cache-control"], "public, max-age=300");
    for path in [
        "/api/coins",
        "/api/coins/bitcoin",
        "/api/currencies",
        "/api/market?currency=eur",
    ] {
        let r = send(&api, get(path)).await;
        expect_data(&r, 200);
        assert!(r.headers().contains_key("etag"), "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=300",
            "{path}"
        );
    }
    for path in ["/api/health", "/api/ingestion/runs"] {
        let r = send(&api, get(path)).await;
        expect_data(&r, 200);
        assert_eq!(
            r.headers()["cache-control"],
            "public, s-maxage=10, max-age=0",
            "{path}"
        );
        assert!(!r.headers().contains_key("etag"), "{path}");
    }
}

#[tokio::test]
async fn cors_headers_follow_the_configured_origins_and_preflight_is_answered() {
    let db = seeded(current_hour()).await;
    let api = app(route::all(), state(&db, &[]).await);
    let allowed = send(
        &api,
        request(
            "GET",
            "/api/coins",
            &[("origin", "https://dash.example")],
            "",
        ),
    )
    .await;
    assert_eq!(expect_data(&allowed, 200).as_array().unwrap().len(), 2);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    let other = send(
        &api,
        request(
            "GET",
            "/api/coins",
            &[("origin", "https://evil.example")],
            "",
        ),
    )
    .await;
    // Served (CORS binds browsers, not the server), without the header a browser needs.
    assert_eq!(expect_data(&other, 200).as_array().unwrap().len(), 2);
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let preflight = send(
        &api,
        request(
            "OPTIONS",
            "/api/cron/fetch-data",
            &[
                ("origin", "https://dash.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(preflight.status(), 204);
    assert!(preflight.body().is_empty());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    assert!(preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_paths_404_with_the_envelope() {
    let db = seeded(current_hour()).await;
    let api = app(route::all(), state(&db, &[]).await);
    let r = send(&api, request("DELETE", "/api/coins", &[], "")).await;
    expect_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.headers()["allow"], "GET");
    let r = send(&api, get("/api/cron/fetch-data")).await;
    expect_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.headers()["allow"], "POST");
    expect_error(
        &send(&api, get("/api/nothing-here")).await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn a_database_outage_gives_503_envelopes_and_the_next_request_after_it_succeeds() {
    let db = seeded(current_hour()).await;
    let proxy = DbProxy::start(&db.url).await;
    let proxied = proxy.url(&db.url);
    let state = AppState::new(integration_tests::config_from(&[
        ("DATABASE_URL", &proxied),
        ("DB_CONNECT_TIMEOUT_SECS", "1"),
        ("DB_POOL_MAX_SIZE", "2"),
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
    ]))
    .await
    .unwrap();
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let path = "/api/market?currency=eur";
    let before = expect_data(&send(&api, get(path)).await, 200);
    assert_eq!(before[0]["price"], 292.0);

    proxy.cut();
    // Every pooled connection has been dropped (not merely scheduled to be).
    proxy.closed().await;
    for path in [
        path,
        "/api/coins",
        "/api/coins/ethereum/prices?currency=eur",
        "/api/health",
    ] {
        let r = send(&api, get(path)).await;
        let body = expect_error(&r, 503, "SERVICE_UNAVAILABLE");
        assert_eq!(
            body["error"]["message"], "the database is unavailable; try again shortly",
            "{path}"
        );
        let text = body.to_string();
        for leak in ["127.0.0.1", "postgres", "connection", "os error"] {
            assert!(
                !text.to_lowercase().contains(leak),
                "{path} leaks {leak}: {text}"
            );
        }
    }

    proxy.restore();
    // The pooled connections died with the outage; verified recycling replaces them.
    assert_eq!(expect_data(&send(&api, get(path)).await, 200), before);
}

#[tokio::test]
async fn connections_killed_between_requests_are_replaced_transparently() {
    let db = seeded(current_hour()).await;
    let api = app(route::all(), state(&db, &[("DB_POOL_MAX_SIZE", "1")]).await);
    let coins = expect_data(&send(&api, get("/api/coins")).await, 200);
    assert_eq!(coins.as_array().unwrap().len(), 2);
    let killed = db
        .client()
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .unwrap()
        .len();
    assert_eq!(killed, 1, "the pool's one connection");
    for _ in 0..3 {
        assert_eq!(
            expect_data(&send(&api, get("/api/coins")).await, 200),
            coins
        );
    }
}
