//! A first full run at the configured budget against the rate-enforcing simulator, on an
//! empty migrated database: the real `Ingester` (coins list, metadata, 44 hourly range calls,
//! then the history backfill's 44 daily range calls), paced by the real client at `per_min`
//! while the simulator enforces the same limit with its default burst. Then a second run
//! (incremental: the coins list and 44 range calls, no metadata, no backfill).
//!
//! The simulator's request log has no times, so a background task polls it every 2 ms and
//! stamps each new entry: the time a request was answered, to within the poll interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::config::Config;
use common::ingest::{Ingester, Mode, RunReport, RunRequest, Trigger};
use common::state::AppState;
use serde_json::{json, Value};
use simulator::{LoggedRequest, RunningSimulator, SimulatorConfig};

use crate::stats::round;

const POLL: Duration = Duration::from_millis(2);

/// Requests answered by a simulator, each with the instant it was first seen in the log.
struct Recorder {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(Instant, LoggedRequest)>>,
}

impl Recorder {
    fn start(sim: Arc<RunningSimulator>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let last = flag.load(Ordering::Acquire);
                let log = sim.requests();
                let now = Instant::now();
                let known = seen.len();
                seen.extend(log.into_iter().skip(known).map(|r| (now, r)));
                if last {
                    return seen;
                }
                tokio::time::sleep(POLL).await;
            }
        });
        Recorder { stop, task }
    }

    async fn finish(self) -> Vec<(Instant, LoggedRequest)> {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("recorder")
    }
}

fn is_range(r: &LoggedRequest) -> bool {
    r.path.ends_with("/market_chart/range")
}

/// A range call over more than 90 days: the history backfill's daily answer.
fn is_backfill(r: &LoggedRequest) -> bool {
    let param = |name: &str| {
        r.query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse::<i64>().ok())
    };
    match (param("from"), param("to")) {
        (Some(from), Some(to)) => to - from > 90 * 86_400 + 3_600,
        _ => false,
    }
}

/// Seconds from the first to the last answer among `times` (0 with fewer than two).
fn span(times: &[Instant]) -> f64 {
    match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => round((*b - *a).as_secs_f64()),
        _ => 0.0,
    }
}

fn config(url: &str, base_url: &str, per_min: u32) -> Config {
    let (url, base_url, per_min) = (url.to_owned(), base_url.to_owned(), per_min.to_string());
    // The original's eleven coins: the run this benchmark has measured since the beginning.
    let coins = common::config::DEFAULT_COINS.join(",");
    Config::from_lookup(|k| match k {
        "TRACKED_COINS" => Some(coins.clone()),
        "DATABASE_URL" => Some(url.clone()),
        "COINGECKO_BASE_URL" => Some(base_url.clone()),
        "COINGECKO_RATE_LIMIT_PER_MIN" => Some(per_min.clone()),
        _ => None,
    })
    .expect("config")
}

fn request(mode: Mode) -> RunRequest {
    RunRequest {
        mode,
        clean_first: false,
        trigger: Trigger::Cli,
        run_id: None,
    }
}

/// One run's figures: the report's counts and the request log's timing.
fn describe(
    report: &RunReport,
    wall: f64,
    log: &[(Instant, LoggedRequest)],
    per_min: u32,
) -> Value {
    let answered = |f: &dyn Fn(&LoggedRequest) -> bool| -> Vec<Instant> {
        log.iter().filter(|(_, r)| f(r)).map(|(t, _)| *t).collect()
    };
    let all = answered(&|_| true);
    let range = answered(&is_range);
    let hourly = answered(&|r| is_range(r) && !is_backfill(r));
    let backfill = answered(&|r| is_range(r) && is_backfill(r));
    let interval = 60.0 / per_min as f64;
    json!({
        "mode": report.mode.as_str(),
        "status": report.status.as_str(),
        "per_min": per_min,
        "api_calls": report.api_calls,
        "calls": report.calls,
        "backfill": report.backfill,
        "rows": report.rows,
        "pairs": report.pairs,
        "failures": report.failures.len(),
        "retries": report.retries,
        "rate_limited": report.rate_limited,
        "served": log.len(),
        "served_429": log.iter().filter(|(_, r)| r.status == 429).count(),
        "served_range": range.len(),
        "served_backfill": backfill.len(),
        "wall_seconds": round(wall),
        "duration_ms": report.duration_ms,
        "seconds": {
            "first_to_last_call": span(&all),
            "first_to_last_range_call": span(&range),
            "hourly_range_calls": span(&hourly),
            "backfill_range_calls": span(&backfill),
        },
        // The pace alone: one interval between consecutive calls.
        "pace_floor_seconds": {
            "all_calls": round(interval * (all.len().max(1) - 1) as f64),
            "range_calls": round(interval * (range.len().max(1) - 1) as f64),
        },
        "poll_ms": POLL.as_millis() as u64,
    })
}

pub async fn run(admin: &str, per_min: u32, second_per_min: Option<u32>) -> Value {
    let url = crate::write_path::fresh_database(admin, "bench_first_run").await;
    let sim = Arc::new(
        simulator::start(
            SimulatorConfig {
                rate_limit_per_min: Some(per_min),
                ..SimulatorConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .expect("simulator"),
    );
    let state = AppState::new(config(&url, &sim.base_url(), per_min))
        .await
        .expect("state");
    state.db.migrate().await.expect("migrate");

    let recorder = Recorder::start(sim.clone());
    let started = Instant::now();
    let first = Ingester::new(&state.config, &state.secrets, &state.db)
        .run(request(Mode::Full), None)
        .await;
    let wall = started.elapsed().as_secs_f64();
    let log = recorder.finish().await;
    let first = describe(&first, wall, &log, per_min);

    // The second run: paced against the same simulator, or with the rate lifted against an
    // unlimited one (counts only).
    let second_per_min = second_per_min.unwrap_or(100_000);
    let paced = second_per_min == per_min;
    let (second_sim, limit) = if paced {
        sim.clear_requests();
        (sim.clone(), per_min)
    } else {
        let unlimited =
            simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .expect("simulator");
        (Arc::new(unlimited), second_per_min)
    };
    let config2 = config(&url, &second_sim.base_url(), limit);
    let recorder = Recorder::start(second_sim.clone());
    let started = Instant::now();
    let second = Ingester::new(&config2, &state.secrets, &state.db)
        .run(request(Mode::Incremental), None)
        .await;
    let wall = started.elapsed().as_secs_f64();
    let log = recorder.finish().await;
    let mut second = describe(&second, wall, &log, limit);
    second["paced"] = json!(paced);
    if paced {
        // A daily run's budget: one interval per call after the first, plus 3 s.
        let calls = second["api_calls"].as_u64().unwrap_or(0).max(1);
        let budget = 60.0 / per_min as f64 * (calls - 1) as f64 + 3.0;
        second["budget_seconds"] = json!(round(budget));
        second["within_budget"] = json!(wall <= budget);
    }

    json!({
        "per_min": per_min,
        "simulator_rate_limit_per_min": per_min,
        "simulator_burst": SimulatorConfig { rate_limit_per_min: Some(per_min), ..SimulatorConfig::default() }.bucket_size(),
        "first": first,
        "second": second,
    })
}
