//! Live-quotes Lambda: wiring only. State is built once per container; each invocation runs
//! one live-quote refresh until the Lambda deadline (see the library) and returns the report.

use std::sync::Arc;

use common::state::AppState;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    common::telemetry::init();
    let state = Arc::new(AppState::from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let deadline = common::lambda::deadline_from_epoch_ms(event.context.deadline);
            live_quotes_function::handle(&state, event.payload, deadline).await
        }
    }))
    .await
}
