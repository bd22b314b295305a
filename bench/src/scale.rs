//! The database at 10x the tracked set's rows: 110 coins x 4 currencies x 90 days of hourly
//! prices (generated in SQL), its size on disk, and the latency of the read routes over it.

use std::sync::Arc;
use std::time::Instant;

use common::api::Api;
use common::config::Config;
use common::state::AppState;
use serde_json::{json, Value};

use crate::stats::{percentile, round};

pub async fn run(admin: &str, factor: usize, iterations: usize) -> Value {
    let name = "bench_scale";
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("admin");
    tokio::spawn(conn);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).await.expect("create database");
    }
    let url = crate::write_path::replace_db(admin, name);
    let coins: Vec<String> = (0..11 * factor).map(|i| format!("coin-{i:04}")).collect();
    let lookup_url = url.clone();
    let tracked = coins.join(",");
    let config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(lookup_url.clone()),
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
        "INSERT INTO coins (id, symbol, name, sort_order) SELECT id, id, id, ord::int FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)",
        &[&coins],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
           SELECT c.id, v.code, date_trunc('hour', now(), 'UTC') - h * interval '1 hour', 100 + (h % 97) + length(c.id)
             FROM coins c CROSS JOIN currencies v CROSS JOIN generate_series(0, 90 * 24 - 1) h;
         INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
           SELECT coin_id, currency_code, (ts AT TIME ZONE 'UTC')::date, avg(price), count(*)
             FROM price_hourly GROUP BY 1, 2, 3;
         SELECT refresh_market_summaries();",
    )
    .await
    .unwrap();
    db.batch_execute("VACUUM ANALYZE").await.unwrap();
    let generated_s = started.elapsed().as_secs_f64();
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM price_hourly), (SELECT count(*) FROM price_daily),
                    pg_total_relation_size('price_hourly'), pg_total_relation_size('price_daily'),
                    pg_database_size(current_database())",
            &[],
        )
        .await
        .unwrap();
    let (hourly, daily, hourly_bytes, daily_bytes, db_bytes): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    drop(db);

    let api = Api::new(Arc::new(state));
    let from = (chrono::Utc::now() - chrono::Duration::days(89)).date_naive();
    let mut routes = serde_json::Map::new();
    for (label, path) in [
        (
            "prices_daily_90",
            format!("/api/coins/coin-0007/prices?currency=eur&interval=daily&from={from}"),
        ),
        (
            "prices_hourly_7d",
            "/api/coins/coin-0042/prices?currency=usd&interval=hourly".to_owned(),
        ),
        ("market", "/api/market?currency=usd".to_owned()),
    ] {
        let request = || {
            http::Request::builder()
                .uri(path.as_str())
                .body(lambda_http::Body::Empty)
                .unwrap()
        };
        for _ in 0..20 {
            assert_eq!(api.handle(request()).await.status(), 200, "{path}");
        }
        let n = if label == "market" {
            iterations / 10
        } else {
            iterations
        };
        let mut ms = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            api.handle(request()).await;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        routes.insert(
            label.into(),
            json!({"path": path, "p50_ms": round(percentile(&ms, 50.0)), "p99_ms": round(percentile(&ms, 99.0)), "iterations": n}),
        );
    }
    json!({
        "coins": coins.len(),
        "currencies": 4,
        "rows": {"hourly": hourly, "daily": daily},
        "bytes": {"price_hourly": hourly_bytes, "price_daily": daily_bytes, "database": db_bytes},
        "generated_seconds": round(generated_s),
        "routes": routes,
    })
}
