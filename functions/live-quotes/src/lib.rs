//! The live-quotes function's handler: one live-quote refresh (mode `latest`: one
//! `/simple/price` call into `price_latest`). A function of its own, beside the ingest
//! function's history runs, so that a refresh never waits for or blocks a daily run: its own
//! reserved concurrency, a timeout for one call, no retries (the next schedule is the retry).
//!
//! Its EventBridge schedule sends the scheduled event itself, which runs `latest` with trigger
//! `schedule`; a manual invoke (`{}` or `{"mode": "latest"}`) runs it with trigger `manual`; a
//! history mode is refused, naming the ingest function. It returns the run report, or an error
//! when the refresh could do nothing (database unreachable, the quote call failed), which
//! Lambda hands to the on-failure destination and the failure alarm counts.

use common::ingest::{invocation, Mode};
use common::state::AppState;
use lambda_runtime::Error;
use tokio::time::Instant;

/// What this function's schedule runs.
pub const SCHEDULED: Mode = Mode::Latest;

/// Runs the refresh `payload` asks for (an EventBridge event or a manual payload).
pub async fn handle(
    state: &AppState,
    payload: serde_json::Value,
    deadline: Instant,
) -> Result<serde_json::Value, Error> {
    invocation::handle(state, payload, SCHEDULED, deadline).await
}
