//! Lambda for `POST /api/cron/fetch-data`: wiring only. Runs are started by invoking the
//! ingest function asynchronously (`INGEST_FUNCTION_NAME`).

use std::sync::Arc;

use common::api::{route, ApiState};
use common::state::AppState;
use cron_trigger::LambdaLauncher;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    common::telemetry::init();
    let state = AppState::from_env().await?;
    common::lambda::require_origin_verification(&state.config, |name| std::env::var(name).ok())?;
    let Some(function) = state.config.ingest_function_name.clone() else {
        tracing::error!("INGEST_FUNCTION_NAME is not set: the cron trigger needs the ingest function's name or ARN");
        return Err(
            "INGEST_FUNCTION_NAME is not set (e.g. crypto-dashboard-IngestFunction-ABC123)".into(),
        );
    };
    let launcher = Arc::new(LambdaLauncher::from_env(function).await);
    let state = ApiState::new(Arc::new(state)).with_launcher(launcher);
    common::lambda::run(route::cron_trigger(), state).await
}
