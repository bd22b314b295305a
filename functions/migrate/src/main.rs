//! Migrate Lambda: wiring only. Invoked by CloudFormation on every deploy (custom resource)
//! or by hand with `{}`.

use std::sync::Arc;
use std::time::Duration;

use common::state::AppState;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    common::telemetry::init();
    let state = Arc::new(AppState::from_env().await?);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (state, http) = (state.clone(), http.clone());
        async move {
            let deadline = common::lambda::deadline_from_epoch_ms(event.context.deadline);
            let time_left = deadline.saturating_duration_since(tokio::time::Instant::now());
            migrate::handle(&state, &http, event.payload, time_left)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
