//! The database at the largest tracked set (`top:1000` x 4 currencies, 8.6 million hourly
//! rows), generated in SQL in the shape ingestion leaves: per coin and currency 90 days of
//! hourly prices (the last day built from live quotes), their daily averages, daily snapshots
//! back to a year, the backfill record, a live quote with market data and the coin's
//! metadata; coins ranked as the simulator ranks them; the market summaries refreshed.
//! Prices carry as many digits as real ones, so the answers weigh what real answers weigh.
//!
//! Measured over it: its size on disk; the read routes in process (the market page of 100 in
//! every sort and order); a live refresh of every pair end to end (the real client over HTTP
//! to the simulator, rate limit lifted, quotes folded into hours, market rows refreshed);
//! the released binary's peak RSS for a live refresh and a history run (the ranking of all
//! 1,000); and `crypto-dashboard status`. Next to it, the same generator at 11 coins.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::api::{app, route, ApiState};
use common::config::Config;
use common::ingest::Ingester;
use common::state::AppState;
use serde_json::{json, Value};
use simulator::{RunningSimulator, SimulatorConfig};

use crate::handlers::send;
use crate::stats::{percentile, round, summary};

/// Days of hourly prices and of daily history per pair, as a backfilled pair has them.
const HOURLY_DAYS: i32 = 90;
const HISTORY_DAYS: i32 = 365;
/// The newest hours are built from live quotes (a ranked coin's hours after its backfill).
const QUOTE_HOURS: i32 = 24;
/// Every sort of `/api/market` and the order it defaults to.
const SORTS: [(&str, &str); 8] = [
    ("rank", "asc"),
    ("name", "asc"),
    ("price", "desc"),
    ("change1h", "desc"),
    ("change24h", "desc"),
    ("change7d", "desc"),
    ("marketCap", "desc"),
    ("volume24h", "desc"),
];

/// What `bench scale` measures and with what.
pub struct Options<'a> {
    pub admin: &'a str,
    /// Tracked coins of the large database.
    pub coins: usize,
    /// Requests per route in process.
    pub iterations: usize,
    /// Live refreshes timed in process.
    pub live_runs: usize,
    /// Directory holding the release `crypto-dashboard` binary.
    pub bin_dir: &'a Path,
}

/// A fresh database `name` holding `coins` (by rank) x 4 currencies in the shape of an
/// ingestion, and its figures.
async fn generate(admin: &str, name: &str, coins: &[String]) -> (String, Value) {
    let url = crate::write_path::fresh_database(admin, name).await;
    let state = state(&[("DATABASE_URL".to_owned(), url.clone())]).await;
    state.db.migrate().await.expect("migrate");
    let db = state.db.client().await.expect("client");
    let started = Instant::now();
    db.batch_execute(
        "INSERT INTO currencies (code, name) VALUES ('usd','US Dollar'),('eur','Euro'),('gbp','Pound'),('jpy','Yen')",
    )
    .await
    .unwrap();
    // Rank = position; a price level per coin from a millionth to tens of thousands.
    db.execute(
        "INSERT INTO coins (id, symbol, name, sort_order, rank, tracked)
           SELECT id, left(id, 6), initcap(replace(id, '-', ' ')), ord::int, ord::int, true
             FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)",
        &[&coins],
    )
    .await
    .unwrap();
    db.batch_execute(&format!(
        "CREATE TEMP TABLE level AS
           SELECT id, rank, power(10, (rank * 7) % 11 - 6) * (1 + (rank % 13) / 10.0) * 1.0123456789 AS p
             FROM coins;
         INSERT INTO coin_metadata (coin_id, description, image_url, website_url)
           SELECT id, 'A generated coin.', 'https://example.com/' || id || '.png', 'https://example.com/' || id
             FROM coins;
         INSERT INTO price_hourly (coin_id, currency_code, ts, price, source, quotes)
           SELECT l.id, v.code, date_trunc('hour', now(), 'UTC') - h * interval '1 hour',
                  l.p * (1 + ((h + l.rank) % 97) / 970.0) * (1 + ascii(v.code) / 1000.0),
                  CASE WHEN h < {QUOTE_HOURS} THEN 'quote' ELSE 'range' END,
                  CASE WHEN h < {QUOTE_HOURS} THEN 3 END
             FROM level l CROSS JOIN currencies v CROSS JOIN generate_series(0, {HOURLY_DAYS} * 24 - 1) h;
         INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
           SELECT coin_id, currency_code, (ts AT TIME ZONE 'UTC')::date, avg(price), count(*)
             FROM price_hourly GROUP BY 1, 2, 3;
         INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
           SELECT l.id, v.code, (now() AT TIME ZONE 'UTC')::date - d,
                  l.p * (1 + ((d + l.rank) % 89) / 890.0), 1, 'snapshot'
             FROM level l CROSS JOIN currencies v CROSS JOIN generate_series(0, {HISTORY_DAYS} - 1) d
           ON CONFLICT (coin_id, currency_code, date) DO NOTHING;
         INSERT INTO price_backfill (coin_id, currency_code, days, fetched_at)
           SELECT c.id, v.code, {HISTORY_DAYS}, now() FROM coins c CROSS JOIN currencies v;
         INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h, change_1h,
                                   change_24h, change_7d, last_updated_at, fetched_at, markets_at)
           SELECT l.id, v.code, l.p * 1.001, 1.33e12 * power(l.rank + 10, -1.6),
                  1.33e11 * power(l.rank + 10, -1.6) * (1 + abs(hashtext(l.id)) % 100 / 10.0),
                  (hashtext(l.id) % 1000) / 300.0, (hashtext(l.id || v.code) % 1000) / 100.0,
                  (hashtext(v.code || l.id) % 1000) / 50.0, now(), now(), now()
             FROM level l CROSS JOIN currencies v;
         UPDATE coins SET ranked_at = now();
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
                    pg_table_size('price_hourly') AS price_hourly_table_bytes,
                    pg_indexes_size('price_hourly') AS price_hourly_index_bytes,
                    pg_total_relation_size('price_hourly') AS price_hourly_bytes,
                    pg_total_relation_size('price_daily') AS price_daily_bytes,
                    pg_total_relation_size('market_summary') AS market_summary_bytes,
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
                  "price_hourly_table": count("price_hourly_table_bytes"),
                  "price_hourly_indexes": count("price_hourly_index_bytes"),
                  "price_daily": count("price_daily_bytes"),
                  "market_summary": count("market_summary_bytes"),
                  "database": count("database_bytes")},
        "generated_seconds": round(generated_s),
    });
    (url, figures)
}

/// The settings of every measurement over database `url`: every tracked coin by rank, each
/// of its quotes at every live refresh (the worst case), the rate limit lifted.
fn settings(url: &str, coins: usize, sim: &RunningSimulator) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".to_owned(), url.to_owned()),
        ("TRACKED_COINS".to_owned(), format!("top:{coins}")),
        ("LIVE_EVERY_MINUTES".to_owned(), "0".to_owned()),
        (
            "COINGECKO_RATE_LIMIT_PER_MIN".to_owned(),
            "100000".to_owned(),
        ),
        ("DB_POOL_MAX_SIZE".to_owned(), "2".to_owned()),
        ("COINGECKO_BASE_URL".to_owned(), sim.base_url()),
    ]
}

/// The state a function builds from the environment `vars`.
async fn state(vars: &[(String, String)]) -> AppState {
    let config = Config::from_lookup(|k| {
        vars.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    AppState::new(config).await.expect("state")
}

/// Warm in-process latency of `paths` over `state`'s database.
async fn measure(state: AppState, paths: &[(String, String)], iterations: usize) -> Value {
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let mut routes = serde_json::Map::new();
    for (label, path) in paths {
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
            .map_or(0, Vec::len);
        assert!(items > 0, "{path} answers data");
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
        routes.insert(
            label.clone(),
            json!({
                "path": path, "items": items, "bytes": first.body().as_ref().len(),
                "p50_ms": round(percentile(&ms, 50.0)), "p99_ms": round(percentile(&ms, 99.0)),
                "iterations": iterations,
            }),
        );
    }
    Value::Object(routes)
}

/// The prices routes of coins at positions 7 and 42, and the market's first page of 100 in
/// each of `sorts` and orders.
fn paths(coins: &[String], sorts: &[(&str, &str)]) -> Vec<(String, String)> {
    let from = (chrono::Utc::now() - chrono::Duration::days(89)).date_naive();
    let coin = |i: usize| &coins[i % coins.len()];
    let mut paths = vec![
        (
            "prices_daily_90".to_owned(),
            format!(
                "/api/coins/{}/prices?currency=eur&interval=daily&from={from}",
                coin(7)
            ),
        ),
        (
            "prices_hourly_7d".to_owned(),
            format!(
                "/api/coins/{}/prices?currency=usd&interval=hourly",
                coin(42)
            ),
        ),
    ];
    for (sort, default) in sorts {
        let other = if *default == "asc" { "desc" } else { "asc" };
        for order in [*default, other] {
            paths.push((
                format!("market_{sort}_{order}"),
                format!("/api/market?currency=usd&sort={sort}&order={order}&perPage=100"),
            ));
        }
    }
    paths
}

/// `runs` live refreshes of every tracked pair ([`crate::live::timed_refreshes`]).
async fn live_refreshes(vars: &[(String, String)], runs: usize) -> Value {
    let state = state(vars).await;
    let ingester = Ingester::new(&state.config, &state.secrets, &state.db);
    crate::live::timed_refreshes(&ingester, runs).await.0
}

/// One run of the released binary with `args`: its wall time, exit status and peak RSS
/// (the kernel's `ru_maxrss` of the waited child).
fn process(bin: &Path, args: &[&str], vars: &[(String, String)]) -> Value {
    let started = Instant::now();
    // Reaped by wait4 below, which also reports its peak RSS (Child::wait does not).
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(bin)
        .args(args)
        .env_clear()
        .envs(vars.iter().cloned())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let (mut status, mut usage) = (0, std::mem::MaybeUninit::<libc::rusage>::zeroed());
    // SAFETY: waits for our own child, writing only into `status` and `usage`.
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(waited, child.id() as i32, "wait4 {args:?}");
    // SAFETY: wait4 succeeded, so it filled `usage`.
    let usage = unsafe { usage.assume_init() };
    json!({
        "args": args,
        "ms": round(started.elapsed().as_secs_f64() * 1000.0),
        "exit_code": libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        "peak_rss_mb": round(usage.ru_maxrss as f64 / 1024.0),
    })
}

/// The released binary over database `url`: a live refresh and a history run (the ranking
/// of every coin, as at the first run of a day) for peak RSS, then `status` `runs` times.
async fn processes(bin_dir: &Path, vars: &[(String, String)], runs: usize) -> Value {
    let bin = bin_dir.join("crypto-dashboard");
    // The stored ranking goes stale, so the history run ranks all 1,000 again.
    state(vars)
        .await
        .db
        .client()
        .await
        .expect("client")
        .batch_execute("UPDATE coins SET ranked_at = NULL")
        .await
        .expect("unrank");
    let latest = process(&bin, &["ingest", "--mode", "latest"], vars);
    let history = process(&bin, &["ingest", "--mode", "incremental"], vars);
    let status: Vec<Value> = (0..runs.max(1))
        .map(|_| process(&bin, &["status"], vars))
        .collect();
    let ms: Vec<f64> = status.iter().filter_map(|s| s["ms"].as_f64()).collect();
    json!({
        "ingest_latest": latest,
        "ingest_history": history,
        "status": {"ms": summary(&ms), "exit_codes": status.iter().map(|s| s["exit_code"].clone()).collect::<Vec<_>>()},
    })
}

pub async fn run(options: Options<'_>) -> Value {
    let sim = simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator");
    let ranked = simulator::ranked_ids(
        &SimulatorConfig::default(),
        chrono::Utc::now().timestamp_millis(),
    );
    assert!(
        ranked.len() >= options.coins,
        "the simulator ranks fewer coins"
    );
    // The baseline first: 11 coins, the same generator, the default sort.
    let base_coins = &ranked[..11];
    let (url, baseline) = generate(options.admin, "bench_scale_11", base_coins).await;
    let base_routes = measure(
        state(&settings(&url, base_coins.len(), &sim)).await,
        &paths(base_coins, &SORTS[..1]),
        options.iterations,
    )
    .await;
    let coins = &ranked[..options.coins];
    let (url, mut out) = generate(options.admin, "bench_scale", coins).await;
    let vars = settings(&url, coins.len(), &sim);
    out["routes"] = measure(
        state(&vars).await,
        &paths(coins, &SORTS),
        options.iterations,
    )
    .await;
    out["live_refresh"] = live_refreshes(&vars, options.live_runs).await;
    out["processes"] = processes(options.bin_dir, &vars, 5).await;
    out["baseline"] = baseline;
    out["baseline"]["routes"] = base_routes;
    out
}
