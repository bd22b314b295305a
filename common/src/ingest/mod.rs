//! One ingestion run (README "What one run does", docs/architecture.md): lock, reference data, metadata, then every
//! (coin, currency) pair stalest first, each written in its own transaction.
//!
//! The run holds one pooled connection from start to end: the advisory lock is a session
//! lock, and one connection is all a Lambda with `DB_POOL_MAX_SIZE=1` has.
//!
//! - [`ingester`]: the orchestration ([`Ingester`]): what a run does while it holds the lock.
//! - [`lifecycle`]: a run's lifecycle ([`lifecycle::RunGuard`]): the cron route's claim, the
//!   run lock, the run recorded as started and as finished.
//! - [`plan`]: windows, order and the deadline budget.
//! - [`call_budget`]: the monthly CoinGecko call budget, reserved under a lock per run.
//! - [`call_plan`]: the month's plan within it: live-quote tiers, daily runs, days to backfill.
//! - [`tracking`]: the tracked set: the top N by market cap from `/coins/markets`, plus pinned ids.
//! - [`store`]: the writes of prices and coins (set-based upserts, the daily recompute).
//! - [`run_records`]: the recorded runs read back (health, the runs route, the CLI).
//! - [`report`]: the run report and its outcome types.
//! - [`messages`]: what a report tells an operator.
//! - [`latest`]: live quotes (mode `latest`).
//! - [`freshness`]: how fresh the data is, from the newest run of each kind.
//! - [`invocation`]: the ingest function's payloads.
//! - [`launcher`]: starting a run without waiting for it.

pub mod call_budget;
pub mod call_plan;
pub mod freshness;
pub mod ingester;
pub mod invocation;
pub mod latest;
pub mod launcher;
pub mod lifecycle;
pub mod messages;
pub mod plan;
pub mod report;
pub mod run_records;
pub mod store;
pub mod tracking;

pub use ingester::{Clock, IngestEvent, Ingester, ProgressSink, RunRequest, METADATA_MAX_AGE};
pub use plan::{
    backfill_start, window_start, Budget, PairNewest, FULL_WINDOW, INCREMENTAL_OVERLAP, MIN_WINDOW,
};
pub use report::{
    DeferReason, Deferred, DeferredWork, EarlierAttempt, Failure, FailureCode, Mode, Pair,
    PairCounts, PairResult, PairStatus, RowCounts, RunKind, RunReport, RunStatus, Status, Trigger,
};
pub use store::{PairRows, Window, WriteOptions};
