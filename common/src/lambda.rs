//! Shared wiring for the HTTP Lambdas: build the state once per container, then hand
//! every invocation to [`Api::handle`].

use std::convert::Infallible;
use std::sync::Arc;

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::api::{Api, Endpoint};
use crate::state::AppState;

/// Runs an HTTP Lambda serving `endpoints`. Configuration errors end the init phase with a
/// message naming the variable; after that every request gets an `Ok` response.
pub async fn serve_http(endpoints: &[Endpoint]) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let state = AppState::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    let api = Api::new(Arc::new(state)).serving(endpoints);
    run_api(api).await
}

/// Serves `api` on the Lambda runtime.
pub async fn run_api(api: Api) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |request| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(api.handle(request).await) }
    }))
    .await
}

/// Converts a Lambda deadline (milliseconds since the epoch) into a monotonic instant.
/// Values too small to be an epoch time (before 2001) are read as milliseconds from now:
/// the `cargo lambda watch` emulator sends its timeout that way.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    if deadline_ms < 1_000_000_000_000 {
        return Instant::now() + Duration::from_millis(deadline_ms);
    }
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
