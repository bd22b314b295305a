//! The database at 10x the tracked set's rows, generated in SQL in the shape a real ingestion
//! leaves: per coin and currency 90 days of hourly prices, their daily averages, daily
//! snapshots back to a year, the backfill record, a live quote and the coin's metadata; the
//! market summaries refreshed (`refresh_market_summaries()`, as the ingester does per pair).
//! Prices carry as many digits as real ones, so the answers weigh what real answers weigh.
//! Measured: its size on disk and the read routes' latency over it, next to the same
//! generator at 1x (11 coins), so the market route's time per coin compares like for like.

use std::sync::Arc;
use std::time::Instant;

use common::api::{app, route, ApiState};

use crate::handlers::send;
use common::config::Config;
use common::state::AppState;
use serde_json::{json, Value};

use crate::stats::{percentile, round};

/// Days of hourly prices and of daily history per pair, as a first full run leaves them.
const HOURLY_DAYS: i32 = 90;
const HISTORY_DAYS: i32 = 365;

/// A fresh database `name` holding `coins` x 4 currencies in the shape of an ingestion.
async fn generate(admin: &str, name: &str, coins: &[String]) -> (AppState, Value) {
    let url = crate::write_path::fresh_database(admin, name).await;
    let tracked = coins.join(",");
    let config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "TRACKED_COINS" => Some(tracked.clone()),
        "DB_POOL_MAX_SIZE" => Some("2".into()),
        _ => None,
    })
    .expect("config");
    let state = AppState::new(config).await.expect("state");
    state.db.migrate().await.expect("migrate");
    let db = state.db.client().await.expect("client");
    let started = Instant::now();
    db.batch_execute(
        "INSERT INTO currencies (code, name) VALUES ('usd','US Dollar'),('eur','Euro'),('gbp','Pound'),('jpy','Yen')",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO coins (id, symbol, name, sort_order, tracked) SELECT id, id, id, ord::int, true FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)",
        &[&coins],
    )
    .await
    .unwrap();
    db.batch_execute(&format!(
        "INSERT INTO coin_metadata (coin_id, description, image_url, website_url)
           SELECT id, 'A generated coin.', 'https://example.com/' || id || '.png', 'https://example.com/' || id
             FROM coins;
         INSERT INTO price_hourly (coin_id, currency_code, ts, price)
           SELECT c.id, v.code, date_trunc('hour', now(), 'UTC') - h * interval '1 hour',
                  (100 + (h % 97) + length(c.id)) * 1.0123456789
             FROM coins c CROSS JOIN currencies v CROSS JOIN generate_series(0, {HOURLY_DAYS} * 24 - 1) h;
         INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
           SELECT coin_id, currency_code, (ts AT TIME ZONE 'UTC')::date, avg(price), count(*)
             FROM price_hourly GROUP BY 1, 2, 3;
         INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
           SELECT c.id, v.code, (now() AT TIME ZONE 'UTC')::date - d,
                  (100 + (d % 89) + length(c.id)) * 1.0123456789, 1, 'snapshot'
             FROM coins c CROSS JOIN currencies v CROSS JOIN generate_series(0, {HISTORY_DAYS} - 1) d
           ON CONFLICT (coin_id, currency_code, date) DO NOTHING;
         INSERT INTO price_backfill (coin_id, currency_code, days, fetched_at)
           SELECT c.id, v.code, {HISTORY_DAYS}, now() FROM coins c CROSS JOIN currencies v;
         SELECT refresh_market_summaries();
         INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h, change_24h,
                                   last_updated_at, fetched_at)
           SELECT coin_id, currency_code, price * 1.001, price * 1e7, price * 1e5, 0.1, now(), now()
             FROM market_summary WHERE price IS NOT NULL;
         SELECT refresh_market_summaries();"
    ))
    .await
    .unwrap();
    db.batch_execute("VACUUM ANALYZE").await.unwrap();
    let generated_s = started.elapsed().as_secs_f64();
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM price_hourly) AS hourly,
                    (SELECT count(*) FROM price_daily) AS daily,
                    (SELECT count(*) FROM price_daily WHERE source = 'snapshot') AS snapshot,
                    (SELECT count(*) FROM market_summary) AS market_summary,
                    (SELECT count(*) FROM price_latest) AS latest,
                    pg_total_relation_size('price_hourly') AS price_hourly_bytes,
                    pg_total_relation_size('price_daily') AS price_daily_bytes,
                    pg_database_size(current_database()) AS database_bytes",
            &[],
        )
        .await
        .unwrap();
    let count = |name: &str| row.try_get::<_, i64>(name).expect(name);
    let figures = json!({
        "coins": coins.len(),
        "currencies": 4,
        "hourly_days": HOURLY_DAYS,
        "history_days": HISTORY_DAYS,
        "rows": {"hourly": count("hourly"), "daily": count("daily"), "snapshot": count("snapshot"),
                 "market_summary": count("market_summary"), "latest": count("latest")},
        "bytes": {"price_hourly": count("price_hourly_bytes"),
                  "price_daily": count("price_daily_bytes"),
                  "database": count("database_bytes")},
        "generated_seconds": round(generated_s),
    });
    drop(db);
    (state, figures)
}

/// Warm latency of the read routes over `state`'s database; the market route's per coin too.
async fn measure(state: AppState, coins: &[String], iterations: usize) -> Value {
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let from = (chrono::Utc::now() - chrono::Duration::days(89)).date_naive();
    let coin = |i: usize| &coins[i % coins.len()];
    let mut routes = serde_json::Map::new();
    for (label, path) in [
        (
            "prices_daily_90",
            format!(
                "/api/coins/{}/prices?currency=eur&interval=daily&from={from}",
                coin(7)
            ),
        ),
        (
            "prices_hourly_7d",
            format!(
                "/api/coins/{}/prices?currency=usd&interval=hourly",
                coin(42)
            ),
        ),
        // Every coin on one page (the scaled sets stay within a page's 250).
        ("market", "/api/market?currency=usd&perPage=250".to_owned()),
    ] {
        let request = || {
            http::Request::builder()
                .uri(path.as_str())
                .body(lambda_http::Body::Empty)
                .unwrap()
        };
        let first = send(&api, request()).await;
        assert_eq!(first.status(), 200, "{path}");
        let body: Value = serde_json::from_slice(first.body().as_ref()).unwrap();
        let items = body["data"]
            .as_array()
            .or_else(|| body["data"]["points"].as_array())
            .map(|a| a.len())
            .unwrap_or(0);
        if label == "market" {
            let priced = body["data"]
                .as_array()
                .map(|a| a.iter().filter(|c| c["price"].is_number()).count())
                .unwrap_or(0);
            assert_eq!(
                (items, priced),
                (coins.len(), coins.len()),
                "every coin in the market answer, each with a price"
            );
        }
        for _ in 0..20 {
            assert_eq!(send(&api, request()).await.status(), 200, "{path}");
        }
        let mut ms = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            send(&api, request()).await;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
        let mut r = json!({
            "path": path, "items": items, "bytes": first.body().as_ref().len(),
            "p50_ms": round(p50), "p99_ms": round(p99), "iterations": iterations,
        });
        if label == "market" && items > 0 {
            r["p50_us_per_coin"] = json!(round(p50 * 1000.0 / items as f64));
            r["p99_us_per_coin"] = json!(round(p99 * 1000.0 / items as f64));
        }
        routes.insert(label.into(), r);
    }
    Value::Object(routes)
}

fn coin_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("coin-{i:04}")).collect()
}

pub async fn run(admin: &str, factor: usize, iterations: usize) -> Value {
    // The baseline first: 11 coins, the same generator and routes.
    let base_coins = coin_ids(11);
    let (state, baseline) = generate(admin, "bench_scale_1", &base_coins).await;
    let base_routes = measure(state, &base_coins, iterations).await;
    let coins = coin_ids(11 * factor);
    let (state, mut out) = generate(admin, "bench_scale", &coins).await;
    let routes = measure(state, &coins, iterations).await;
    let per_coin = |routes: &Value, q: &str| routes["market"][q].as_f64().unwrap_or(f64::NAN);
    // Above 1: slower per coin at 10x than at 1x.
    let ratio = |q: &str| round(per_coin(&routes, q) / per_coin(&base_routes, q));
    out["market_per_coin_ratio"] = json!({
        "p50": ratio("p50_us_per_coin"),
        "p99": ratio("p99_us_per_coin"),
    });
    out["routes"] = routes;
    out["baseline"] = baseline;
    out["baseline"]["routes"] = base_routes;
    out
}
