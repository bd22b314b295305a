//! The read API against known rows: each handler with its `events/` payload, the query
//! rules, caching and CORS headers, and a database that goes away and comes back.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::api::{Api, Endpoint};
use common::state::AppState;
use integration_tests::{event, get, json_body, request, DbProxy, TestDb};
use lambda_http::Body;

const SECRET: &str = "local-dev-cron-secret-not-for-production";

/// Rows whose API answers are known:
/// - ethereum/eur daily 2025-11-01..27 with price = day of month; hourly 2025-11-26..27
///   with price = 1000 + hour index;
/// - bitcoin/eur hourly for the last 8 days up to the current hour, price = 100 + hours
///   since the start (so the latest is 100 + 192).
async fn seeded() -> (TestDb, DateTime<Utc>) {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name, sort_order) VALUES
                 ('bitcoin', 'btc', 'Bitcoin', 0), ('ethereum', 'eth', 'Ethereum', 1), ('dogecoin', 'doge', 'Dogecoin', 2);
             INSERT INTO coin_metadata (coin_id, description, image_url, website_url) VALUES
                 ('bitcoin', 'Bitcoin is <a href=\"https://bitcoin.org\">peer-to-peer</a> cash &amp; more.\r\n\r\nSecond.',
                  'https://assets.example/bitcoin.png', 'http://www.bitcoin.org');
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                  SELECT 'ethereum', 'eur', d::date, extract(day FROM d), 24
                    FROM generate_series('2025-11-01'::date, '2025-11-27'::date, interval '1 day') d;
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
                  SELECT 'ethereum', 'eur', '2025-11-26T00:00:00Z'::timestamptz + n * interval '1 hour', 1000 + n
                    FROM generate_series(0, 47) n;",
        )
        .await
        .unwrap();
    let latest = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'bitcoin', 'eur', $1::timestamptz - (192 - n) * interval '1 hour', 100 + n FROM generate_series(0, 192) n",
            &[&latest],
        )
        .await
        .unwrap();
    (db, latest)
}

async fn api(db: &TestDb, extra: &[(&str, &str)]) -> Api {
    let mut vars = vec![
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
        ("CRON_SECRET", SECRET),
        ("CORS_ALLOWED_ORIGINS", "https://dash.example"),
    ];
    vars.extend_from_slice(extra);
    Api::new(Arc::new(AppState::new(db.config(&vars)).await.unwrap()))
}

async fn invoke(api: &Api, file: &str) -> lambda_http::Response<Body> {
    let request =
        lambda_http::request::from_str(&event(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    api.handle(request).await
}

#[tokio::test]
async fn coins_list_event_lists_tracked_coins_in_configured_order() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await.serving(&[Endpoint::CoinsList]);
    let response = invoke(&api, "coins-list.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body = json_body(&response);
    assert_eq!(
        body["data"],
        serde_json::json!([
            {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "imageUrl": "https://assets.example/bitcoin.png"},
            {"id": "ethereum", "symbol": "eth", "name": "Ethereum", "imageUrl": null},
        ])
    );
}

#[tokio::test]
async fn coin_detail_event_gives_plain_text_and_latest_prices() {
    let (db, latest) = seeded().await;
    let api = api(&db, &[]).await.serving(&[Endpoint::CoinDetail]);
    let body = json_body(&invoke(&api, "coin-detail.json").await);
    let data = &body["data"];
    assert_eq!(data["id"], "bitcoin");
    assert_eq!(
        data["description"],
        "Bitcoin is peer-to-peer cash & more.\n\nSecond."
    );
    assert_eq!(data["websiteUrl"], "http://www.bitcoin.org");
    assert_eq!(data["latest"]["eur"]["price"], 292.0);
    let at: DateTime<Utc> = data["latest"]["eur"]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(at, latest);
    assert!(data["latest"]["usd"].is_null(), "no usd rows");

    let missing = api.handle(get("/api/coins/dogecoin")).await;
    assert_eq!(missing.status(), 404, "stored but not tracked");
    let missing = api.handle(get("/api/coins/solana")).await;
    assert_eq!(json_body(&missing)["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn currencies_event_lists_configured_currencies() {
    let (db, _) = seeded().await;
    let api = api(&db, &[("TRACKED_CURRENCIES", "usd,eur,jpy")]).await;
    let body = json_body(&invoke(&api, "currencies.json").await);
    assert_eq!(
        body["data"],
        serde_json::json!([
            {"code": "usd", "name": "US Dollar"}, {"code": "eur", "name": "Euro"}, {"code": "jpy", "name": "Japanese Yen"}
        ])
    );
}

#[tokio::test]
async fn prices_events_return_the_stored_points_oldest_first() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await.serving(&[Endpoint::Prices]);
    let body = json_body(&invoke(&api, "prices.json").await);
    let data = &body["data"];
    assert_eq!(
        (data["coinId"].as_str(), data["currency"].as_str()),
        (Some("ethereum"), Some("eur"))
    );
    assert_eq!(
        (data["from"].as_str(), data["to"].as_str()),
        (Some("2025-11-01"), Some("2025-11-27"))
    );
    let points = data["points"].as_array().unwrap();
    assert_eq!(points.len(), 27);
    assert_eq!(
        points[0],
        serde_json::json!({"date": "2025-11-01", "price": 1.0})
    );
    assert_eq!(
        points[26],
        serde_json::json!({"date": "2025-11-27", "price": 27.0})
    );

    let body = json_body(&invoke(&api, "prices-hourly.json").await);
    let points = body["data"]["points"].as_array().unwrap();
    assert_eq!(body["data"]["interval"], "hourly");
    assert_eq!(points.len(), 48);
    assert_eq!(
        points[0],
        serde_json::json!({"timestamp": "2025-11-26T00:00:00Z", "price": 1000.0})
    );
    assert_eq!(points[47]["price"], 1047.0);
}

#[tokio::test]
async fn prices_defaults_are_thirty_days_daily_and_seven_days_hourly_up_to_now() {
    let (db, latest) = seeded().await;
    let api = api(&db, &[]).await;
    let body = json_body(
        &api.handle(get(
            "/api/coins/bitcoin/prices?currency=eur&interval=hourly",
        ))
        .await,
    );
    let points = body["data"]["points"].as_array().unwrap();
    // 7 days back from the end of the current hour: 168 hours plus the current one.
    assert_eq!(points.len(), 168);
    assert_eq!(
        points.last().unwrap()["timestamp"],
        latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let body = json_body(
        &api.handle(get("/api/coins/ethereum/prices?currency=eur"))
            .await,
    );
    let today = Utc::now().date_naive();
    assert_eq!(body["data"]["interval"], "daily");
    assert_eq!(body["data"]["to"], today.to_string());
    assert_eq!(
        body["data"]["from"],
        (today - Duration::days(30)).to_string()
    );
    // A known coin with no rows in range is an empty list, not a 404.
    let body = json_body(
        &api.handle(get(
            "/api/coins/bitcoin/prices?from=2020-01-01&to=2020-01-31",
        ))
        .await,
    );
    assert_eq!(body["data"]["points"], serde_json::json!([]));
}

#[tokio::test]
async fn every_prices_rule_violation_is_a_400_that_says_what_is_allowed() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await;
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
        let response = api
            .handle(get(&format!("/api/coins/bitcoin/prices?{query}")))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body = json_body(&response);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "INVALID_PARAMETER", "{query}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    // Exactly at the limits is fine, and unknown parameters are ignored.
    for query in [
        "from=2025-01-01&to=2026-01-01",
        "interval=hourly&from=2025-08-01T00:00:00Z&to=2025-10-30T00:00:00Z",
        "utm_source=x&currency=eur",
    ] {
        let response = api
            .handle(get(&format!("/api/coins/bitcoin/prices?{query}")))
            .await;
        assert_eq!(response.status(), 200, "{query}");
    }
    let unknown = api.handle(get("/api/coins/not-a-coin/prices")).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn market_event_computes_changes_and_sparklines_in_one_request() {
    let (db, latest) = seeded().await;
    let api = api(&db, &[]).await.serving(&[Endpoint::Market]);
    let body = json_body(&invoke(&api, "market.json").await);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let btc = &rows[0];
    assert_eq!(btc["id"], "bitcoin");
    assert_eq!(btc["price"], 292.0);
    // 24 h earlier the price was 268; 7 days earlier 124.
    assert_eq!(
        btc["change24h"],
        ((292.0 - 268.0) / 268.0 * 100.0 * 1e4_f64).round() / 1e4
    );
    assert_eq!(
        btc["change7d"],
        ((292.0 - 124.0) / 124.0 * 100.0 * 1e4_f64).round() / 1e4
    );
    let spark: Vec<f64> = btc["sparkline7d"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(spark.len(), 168);
    assert_eq!((spark[0], spark[167]), (125.0, 292.0));
    let updated: DateTime<Utc> = btc["updatedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(updated, latest);
    let eth = &rows[1];
    assert_eq!(eth["price"], 1047.0);
    assert!(
        eth["change7d"].is_null(),
        "no price 7 days before the latest"
    );
    assert_eq!(
        eth["change24h"],
        ((1047.0 - 1023.0) / 1023.0 * 100.0 * 1e4_f64).round() / 1e4
    );

    let usd = json_body(&api.handle(get("/api/market")).await);
    assert!(usd["data"][0]["price"].is_null(), "no usd data yet");
    assert_eq!(usd["data"][0]["sparkline7d"], serde_json::json!([]));
    assert_eq!(
        api.handle(get("/api/market?currency=xyz")).await.status(),
        400
    );
}

#[tokio::test]
async fn ingestion_runs_event_lists_recent_runs_sanitised_and_uncached() {
    let (db, _) = seeded().await;
    let report = serde_json::json!({"status": "partial", "failures": [
        {"coin": "bitcoin", "currency": "usd", "code": "DATABASE_ERROR", "message": "relation \"price_hourly\" does not exist at 10.0.3.7"},
        {"coin": "dogecoin", "currency": "eur", "code": "UPSTREAM_5XX", "message": "CoinGecko answered HTTP 502"}]});
    db.client()
        .await
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, report, simulated)
             SELECT gen_random_uuid(), 'schedule', 'incremental', 'partial', now() - n * interval '1 day', now() - n * interval '1 day', $1, true
               FROM generate_series(1, 7) n",
            &[&report],
        )
        .await
        .unwrap();
    let api = api(&db, &[]).await.serving(&[Endpoint::IngestionRuns]);
    let response = invoke(&api, "ingestion-runs.json").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json_body(&response);
    let runs = body["data"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "limit=5");
    assert_eq!(runs[0]["simulated"], true);
    let text = body.to_string();
    assert!(
        !text.contains("10.0.3.7") && !text.contains("relation"),
        "{text}"
    );
    assert!(text.contains("CoinGecko answered HTTP 502"));
    for bad in ["limit=0", "limit=101", "limit=ten"] {
        let r = api.handle(get(&format!("/api/ingestion/runs?{bad}"))).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn data_gets_send_a_strong_etag_and_answer_304_to_if_none_match() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await;
    let first = api
        .handle(get(
            "/api/coins/ethereum/prices?currency=eur&from=2025-11-01&to=2025-11-27",
        ))
        .await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"));
    let second = api
        .handle(request(
            "GET",
            "/api/coins/ethereum/prices?currency=eur&from=2025-11-01&to=2025-11-27",
            &[("if-none-match", &etag)],
            "",
        ))
        .await;
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
        let r = api.handle(get(path)).await;
        assert!(r.headers().contains_key("etag"), "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=300",
            "{path}"
        );
    }
    for path in ["/api/health", "/api/ingestion/runs"] {
        let r = api.handle(get(path)).await;
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        assert!(!r.headers().contains_key("etag"), "{path}");
    }
}

#[tokio::test]
async fn cors_headers_follow_the_configured_origins_and_preflight_is_answered() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await;
    let allowed = api
        .handle(request(
            "GET",
            "/api/coins",
            &[("origin", "https://dash.example")],
            "",
        ))
        .await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    let other = api
        .handle(request(
            "GET",
            "/api/coins",
            &[("origin", "https://evil.example")],
            "",
        ))
        .await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let preflight = api
        .handle(request(
            "OPTIONS",
            "/api/cron/fetch-data",
            &[
                ("origin", "https://dash.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        ))
        .await;
    assert_eq!(preflight.status(), 204);
    assert!(preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_paths_404_with_the_envelope() {
    let (db, _) = seeded().await;
    let api = api(&db, &[]).await;
    let r = api.handle(request("DELETE", "/api/coins", &[], "")).await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(json_body(&r)["error"]["code"], "METHOD_NOT_ALLOWED");
    let r = api.handle(get("/api/cron/fetch-data")).await;
    assert_eq!(r.status(), 405);
    let r = api.handle(get("/api/nothing-here")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(json_body(&r)["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_database_outage_gives_503_envelopes_and_the_next_request_after_it_succeeds() {
    let (db, _) = seeded().await;
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
    let api = Api::new(Arc::new(state));
    let path = "/api/market?currency=eur";
    assert_eq!(api.handle(get(path)).await.status(), 200);

    proxy.cut();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for path in [
        path,
        "/api/coins",
        "/api/coins/ethereum/prices?currency=eur",
        "/api/health",
    ] {
        let r = api.handle(get(path)).await;
        assert_eq!(r.status(), 503, "{path}");
        let text = String::from_utf8_lossy(r.body().as_ref()).to_string();
        assert!(text.contains("SERVICE_UNAVAILABLE"), "{text}");
        for leak in ["127.0.0.1", "postgres", "connection", "os error"] {
            assert!(
                !text.to_lowercase().contains(leak),
                "{path} leaks {leak}: {text}"
            );
        }
    }

    proxy.restore();
    // The pooled connections died with the outage; verified recycling replaces them.
    let r = api.handle(get(path)).await;
    assert_eq!(
        r.status(),
        200,
        "{:?}",
        String::from_utf8_lossy(r.body().as_ref())
    );
}

#[tokio::test]
async fn connections_killed_between_requests_are_replaced_transparently() {
    let (db, _) = seeded().await;
    let api = api(&db, &[("DB_POOL_MAX_SIZE", "1")]).await;
    assert_eq!(api.handle(get("/api/coins")).await.status(), 200);
    db.client()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(api.handle(get("/api/coins")).await.status(), 200);
    }
}
