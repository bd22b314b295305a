//! Ingest Lambda: wiring only. State is built once per container; each invocation runs one
//! ingestion until the Lambda deadline and returns the run report.

use std::sync::Arc;

use common::ingest::{self, Status};
use common::state::AppState;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    common::telemetry::init();
    let state = Arc::new(AppState::from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let request = ingest::invocation::run_request(event.payload)?;
            let deadline = common::lambda::deadline_from_epoch_ms(event.context.deadline);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            tracing::info!(mode = ?request.mode, remaining_ms = remaining.as_millis() as u64, "ingestion invoked");
            let ingester = ingest::Ingester::new(&state.config, &state.secrets, &state.db);
            let report = ingester.run(request, Some(deadline)).await;
            // CloudWatch turns this line into metrics (Embedded Metric Format).
            println!("{}", report.emf_line("ingest"));
            if report.status == Status::Failed {
                // An error makes Lambda retry and then use the on-failure destination.
                let codes: Vec<String> = report.failures.iter().map(|f| f.code.to_string()).collect();
                return Err(Error::from(format!(
                    "ingestion run {} failed: {}",
                    report.run_id,
                    codes.join(", ")
                )));
            }
            Ok::<_, Error>(serde_json::to_value(&report)?)
        }
    }))
    .await
}
