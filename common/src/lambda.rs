//! Shared wiring for the HTTP Lambdas: build the state once per container, then hand
//! every invocation to [`Api::handle`].

use std::convert::Infallible;
use std::sync::Arc;

use crate::api::{Api, AppState, Endpoint};

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
