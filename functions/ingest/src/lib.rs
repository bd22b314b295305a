//! The ingest function's handler: one ingestion run until the Lambda deadline.
//!
//! It returns the run report, or an error when the run could do nothing (status `failed`:
//! database unreachable, every pair failed), so that Lambda retries the event and then sends
//! it to the on-failure destination (the SQS DLQ, whose alarm fires).

use common::ingest::{invocation, Ingester, Status};
use common::state::AppState;
use lambda_runtime::Error;
use tokio::time::Instant;

/// Runs the ingestion `payload` asks for (an EventBridge event or a manual payload).
pub async fn handle(
    state: &AppState,
    payload: serde_json::Value,
    deadline: Instant,
) -> Result<serde_json::Value, Error> {
    let request = invocation::run_request(payload)?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    tracing::info!(mode = ?request.mode, remaining_ms = remaining.as_millis() as u64, "ingestion invoked");
    let ingester = Ingester::new(&state.config, &state.secrets, &state.db);
    let report = ingester.run(request, Some(deadline)).await;
    // CloudWatch turns this line into metrics (Embedded Metric Format).
    println!("{}", report.emf_line("ingest"));
    if report.status == Status::Failed {
        let codes: Vec<String> = report.failures.iter().map(|f| f.code.to_string()).collect();
        return Err(Error::from(format!(
            "ingestion run {} failed: {}",
            report.run_id,
            codes.join(", ")
        )));
    }
    Ok(serde_json::to_value(&report)?)
}
