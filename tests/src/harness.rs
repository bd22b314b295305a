//! The ingestion harness: a migrated database, a running CoinGecko simulator on a fixed
//! clock, and the one application state (one pool) pointing at both.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::ingest::{IngestEvent, PairStatus, ProgressSink};
use common::state::AppState;

use crate::database::TestDb;

/// The fixed "now" of runs whose numbers are pinned: 2025-11-28T02:20:34Z, 20 minutes into
/// an hour. Simulator and ingester both read it, so a run at this instant asks for the same
/// windows and stores the same rows whatever the date the tests run on. Nothing in a run
/// compares it with the wall clock: the metadata's age compares the wall clock with the
/// database's `now()`, both real.
pub const FIXED_NOW_SECS: i64 = 1_764_296_434;

/// [`FIXED_NOW_SECS`] as an instant.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::from_timestamp(FIXED_NOW_SECS, 0).expect("a valid instant")
}

/// A migrated database, a running CoinGecko simulator and the state pointing at both.
pub struct Harness {
    pub db: TestDb,
    pub sim: simulator::RunningSimulator,
    /// The one state (and pool) of this harness: clone the `Arc` for an [`common::api::Api`]
    /// or a [`common::ingest::launcher::LocalLauncher`] rather than building another.
    pub state: Arc<AppState>,
    /// The fixed "now" of the simulator and the ingester.
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Harness {
    /// Starts everything; `sim` is adjusted to the fixed clock, `extra` adds variables.
    pub async fn start(sim: simulator::SimulatorConfig, extra: &[(&str, &str)]) -> Harness {
        // A fixed instant, not on the hour, shared by simulator and ingester.
        Self::start_at(
            sim,
            extra,
            chrono::Utc::now() - chrono::Duration::seconds(5),
        )
        .await
    }

    /// [`Harness::start`] with the default simulator injecting `faults`.
    pub async fn with_faults(faults: simulator::Faults, extra: &[(&str, &str)]) -> Harness {
        let sim = simulator::SimulatorConfig {
            faults,
            ..Default::default()
        };
        Self::start(sim, extra).await
    }

    /// [`Harness::start_at`] the constant [`fixed_now`]: runs whose row and call counts are
    /// the same on every day.
    pub async fn start_fixed(sim: simulator::SimulatorConfig, extra: &[(&str, &str)]) -> Harness {
        Self::start_at(sim, extra, fixed_now()).await
    }

    /// [`Harness::start`] with a given fixed "now" (to reproduce another harness's run).
    pub async fn start_at(
        mut sim: simulator::SimulatorConfig,
        extra: &[(&str, &str)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Harness {
        let db = TestDb::migrated().await;
        sim.now_ms = Some(now.timestamp_millis());
        let sim = simulator::start(sim, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let base = sim.base_url();
        let mut vars = vec![
            ("COINGECKO_BASE_URL", base.as_str()),
            ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ];
        vars.extend_from_slice(extra);
        let state = AppState::new(db.config(&vars)).await.expect("state");
        Harness {
            db,
            sim,
            state: Arc::new(state),
            now,
        }
    }

    /// An ingester with fast retries and the harness's fixed clock.
    pub fn ingester(&self) -> common::ingest::Ingester<'_> {
        fast_ingester(&self.state, self.now)
    }

    /// Runs one ingestion without a deadline.
    pub async fn run(
        &self,
        mode: common::ingest::Mode,
        clean_first: bool,
    ) -> common::ingest::RunReport {
        self.ingester()
            .run(
                common::ingest::RunRequest {
                    mode,
                    clean_first,
                    trigger: common::ingest::Trigger::Manual,
                    run_id: None,
                },
                None,
            )
            .await
    }
}

/// An ingester over `state` with [`fast_retry`] and a clock fixed at `now`.
pub fn fast_ingester(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> common::ingest::Ingester<'_> {
    common::ingest::Ingester {
        retry: fast_retry(),
        clock: Arc::new(move || now),
        ..common::ingest::Ingester::new(&state.config, &state.secrets, &state.db)
    }
}

/// Retries that keep tests fast: millisecond backoff, short timeouts.
pub fn fast_retry() -> common::coingecko::RetryPolicy {
    common::coingecko::RetryPolicy {
        max_retries: 3,
        min_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(20),
        max_retry_after: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(2),
    }
}

/// A progress sink that fires `signal` once, right after the `n`th pair that ended `ok`
/// (the sink runs inside the run, so the run has not gone on to write anything else yet).
pub fn after_ok_pairs(n: u32, signal: Arc<tokio::sync::Notify>) -> ProgressSink {
    let done = std::sync::atomic::AtomicU32::new(0);
    Arc::new(move |event| {
        if let IngestEvent::PairFinished { result, .. } = event {
            if result.status == PairStatus::Ok
                && done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n
            {
                // A stored permit: the waiter gets it even if it starts waiting later.
                signal.notify_one();
            }
        }
    })
}

/// Waits (at most 20 s) until no run of `client`'s database is `running`.
pub async fn wait_for_runs_to_finish(client: &tokio_postgres::Client) {
    for _ in 0..400 {
        let running: i64 = client
            .query_one(
                "SELECT count(*) FROM ingestion_runs WHERE status = 'running'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if running == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("a run was still running after 20 s");
}
