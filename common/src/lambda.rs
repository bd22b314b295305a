//! Shared wiring for the HTTP Lambdas: build the state once per container, then serve one
//! route behind the API's edge with `lambda_http`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::api::{self, ApiState, Routes};
use crate::state::AppState;

/// Runs an HTTP Lambda serving `route` (one of [`api::route`]). Configuration errors end the
/// init phase with a message naming the variable; after that every request gets an `Ok`
/// response.
pub async fn serve_http(route: fn() -> Routes) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let state = AppState::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    run(route(), ApiState::new(Arc::new(state))).await
}

/// Serves `routes` with `state` on the Lambda runtime.
pub async fn run(routes: Routes, state: ApiState) -> Result<(), lambda_http::Error> {
    lambda_http::run(api::app(routes, state)).await
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
