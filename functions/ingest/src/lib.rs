//! The ingest function's handler: one history run (`full` or `incremental`) until the Lambda
//! deadline. Its EventBridge schedule (daily, 02:00 UTC) runs incrementally with trigger
//! `schedule`; live quotes (mode `latest`) have a function of their own (`live-quotes`) and
//! are refused here, naming it.
//!
//! It returns the run report, or an error when the payload is not one of its own or the run
//! could do nothing (status `failed`: database unreachable, every pair failed), so that Lambda
//! retries the event and then sends it to the on-failure destination (the SQS DLQ, whose alarm
//! fires).

use common::ingest::{invocation, Mode};
use common::state::AppState;
use lambda_runtime::Error;
use tokio::time::Instant;

/// What this function's schedule runs.
pub const SCHEDULED: Mode = Mode::Incremental;

/// Runs the ingestion `payload` asks for (an EventBridge event or a manual payload).
pub async fn handle(
    state: &AppState,
    payload: serde_json::Value,
    deadline: Instant,
) -> Result<serde_json::Value, Error> {
    invocation::handle(state, payload, SCHEDULED, deadline).await
}
