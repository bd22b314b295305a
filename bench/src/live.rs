//! Live refresh end to end: `runs` ingest runs in mode `latest` against a database that
//! already holds the coins (filled by a full ingestion), each one `/simple/price` call through
//! the real client over HTTP to the simulator (rate limit lifted), the upsert into
//! `price_latest` and the run recorded in `ingestion_runs`. Every run is timed whole,
//! `Ingester::run` call to report; the first (which opens the pool's connection) is reported
//! apart and not in the summary.

use std::time::Instant;

use common::config::Config;
use common::ingest::{Ingester, Mode, RunReport, RunRequest, Status, Trigger};
use common::state::AppState;
use serde_json::{json, Value};
use simulator::SimulatorConfig;

use crate::stats::{round, summary};

pub async fn run(url: &str, runs: usize) -> Value {
    let runs = runs.max(1);
    let sim = simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator");
    let (url, base_url) = (url.to_owned(), sim.base_url());
    let config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "COINGECKO_BASE_URL" => Some(base_url.clone()),
        "COINGECKO_RATE_LIMIT_PER_MIN" => Some("100000".into()),
        _ => None,
    })
    .expect("config");
    let state = AppState::new(config).await.expect("state");
    let coins: i64 = state
        .db
        .client()
        .await
        .expect("client")
        .query_one("SELECT count(*) AS coins FROM coins", &[])
        .await
        .and_then(|row| row.try_get("coins"))
        .expect("coins");
    assert!(
        coins > 0,
        "live-refresh needs a database filled by an ingestion"
    );

    let ingester = Ingester::new(&state.config, &state.secrets, &state.db);
    let (mut out, reports) = timed_refreshes(&ingester, runs).await;
    let calls: Vec<_> = reports.iter().map(|r| r.api_calls).collect();
    let served = sim.requests();
    out["runs"] = json!(runs);
    out["coins"] = json!(coins);
    out["api_calls"] = json!({"min": calls.iter().min(), "max": calls.iter().max()});
    out["one_call_each"] =
        json!(calls.iter().all(|&c| c == 1) && reports.iter().all(|r| r.calls.simple_price == 1));
    out["served"] = json!(served.len());
    out["served_simple_price"] = json!(served
        .iter()
        .filter(|r| r.path.ends_with("/simple/price"))
        .count());
    out
}

/// A first live refresh (it opens the pool's connection), then `runs` more, each timed whole
/// (`Ingester::run` call to report): the timings (the first apart), the `/simple/price` calls
/// and quotes written (min and max) and the runs not succeeded, with every report.
pub async fn timed_refreshes(ingester: &Ingester<'_>, runs: usize) -> (Value, Vec<RunReport>) {
    let (mut first_ms, mut ms, mut reports) = (0.0, Vec::with_capacity(runs), Vec::new());
    for i in 0..=runs.max(1) {
        let started = Instant::now();
        let report = ingester
            .run(
                RunRequest {
                    mode: Mode::Latest,
                    clean_first: false,
                    trigger: Trigger::Cli,
                    run_id: None,
                },
                None,
            )
            .await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if i == 0 {
            first_ms = elapsed;
        } else {
            ms.push(elapsed);
        }
        reports.push(report);
    }
    let calls: Vec<_> = reports.iter().map(|r| r.calls.simple_price).collect();
    let latest: Vec<_> = reports.iter().map(|r| r.rows.latest).collect();
    let figures = json!({
        "ms": summary(&ms),
        "first_run_ms": round(first_ms),
        "simple_price_calls": {"min": calls.iter().min(), "max": calls.iter().max()},
        "latest_rows": {"min": latest.iter().min(), "max": latest.iter().max()},
        "runs_not_succeeded": reports.iter().filter(|r| r.status != Status::Succeeded).count(),
    });
    (figures, reports)
}
