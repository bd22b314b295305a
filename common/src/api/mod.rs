//! The HTTP API: one [`Api`] value routes a request, runs the endpoint's handler and maps
//! the result to the envelope, caching and CORS headers. Every Lambda and the local server
//! call [`Api::handle`]; a Lambda built for one route serves only that route.
//!
//! - `router`: method + path to an [`Endpoint`] (405 and 404 decided here).
//! - one module per route: `health`, `coins` (list and detail), `currencies`, `prices`,
//!   `market`, `runs` (ingestion runs), `cron` (the authenticated trigger).
//! - `queries`: the read SQL the handlers use.
//! - `query`: the query-string parser (repeated, non-UTF-8 and unknown parameters).
//! - `secret_check`: the bearer token and the CloudFront origin header.
//! - [`error`](ApiError) and [`response`](Reply): one error type mapped to status and
//!   envelope, the success envelope, ETag/304, cache headers and CORS.

mod coins;
mod cron;
mod currencies;
mod error;
mod health;
mod market;
mod prices;
mod queries;
mod query;
mod response;
mod router;
mod runs;
mod secret_check;

use std::sync::Arc;

pub use coins::plain_text;
pub use error::ApiError;
pub use prices::{parse_prices_query, Interval, PricesQuery};
pub use query::Query;
pub use response::{error_response, strong_etag, CachePolicy, Cors, Reply, Request, Response};
pub use router::{match_route, Endpoint, Route};
pub use secret_check::{MIN_SECRET_BYTES, ORIGIN_VERIFY_HEADER};

use crate::ingest::launcher::IngestLauncher;
use crate::state::AppState;

/// The router plus state; cheap to clone.
#[derive(Clone)]
pub struct Api {
    state: Arc<AppState>,
    launcher: Option<Arc<dyn IngestLauncher>>,
    serves: Option<Vec<Endpoint>>,
    cors: Cors,
}

impl Api {
    /// An API serving every endpoint (the local server).
    pub fn new(state: Arc<AppState>) -> Self {
        let cors = Cors::new(state.config.cors_allowed_origins.clone());
        Api {
            state,
            launcher: None,
            serves: None,
            cors,
        }
    }

    /// Restricts the API to `endpoints` (a per-route Lambda); other paths answer 404.
    pub fn serving(mut self, endpoints: &[Endpoint]) -> Self {
        self.serves = Some(endpoints.to_vec());
        self
    }

    /// How the cron route starts runs (without one it answers 503).
    pub fn with_launcher(mut self, launcher: Arc<dyn IngestLauncher>) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Answers one request. Never fails: every error becomes an envelope with its status.
    #[tracing::instrument(name = "http", skip_all, fields(method = %request.method(), path = %request.uri().path(), status))]
    pub async fn handle(&self, request: Request) -> Response {
        let mut response = if let Err(error) = self.verify_origin(&request).await {
            response::error_response(&error)
        } else if request.method() == http::Method::OPTIONS {
            self.cors.preflight(&request)
        } else {
            match self.dispatch(&request).await {
                Ok(reply) => response::reply_response(&request, reply),
                Err(error) => response::error_response(&error),
            }
        };
        if request.method() != http::Method::OPTIONS {
            self.cors.apply(&request, &mut response);
        }
        tracing::Span::current().record("status", response.status().as_u16());
        response
    }

    /// With origin verification configured, only requests carrying CloudFront's
    /// `X-Origin-Verify` secret get through; the rest are 403 (the execute-api URL is public).
    async fn verify_origin(&self, request: &Request) -> Result<(), ApiError> {
        let Some(source) = &self.state.config.origin_verify_secret else {
            return Ok(());
        };
        let expected =
            secret_check::expected(&self.state, source, "origin verification secret").await?;
        let given = request
            .headers()
            .get(ORIGIN_VERIFY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if secret_check::matches(given, &expected) {
            Ok(())
        } else {
            tracing::warn!("request without a valid origin header (not through CloudFront)");
            Err(ApiError::Forbidden(
                "requests must come through the dashboard's CloudFront distribution".into(),
            ))
        }
    }

    async fn dispatch(&self, request: &Request) -> Result<Reply, ApiError> {
        let route = match_route(request.method(), request.uri().path())?;
        if let Some(serves) = &self.serves {
            if !serves.contains(&route.endpoint) {
                return Err(ApiError::NotFound(
                    "this function does not serve that route".into(),
                ));
            }
        }
        let state = &*self.state;
        let query = request.uri().query();
        let coin = route.coin_id.as_deref().unwrap_or_default();
        match route.endpoint {
            Endpoint::Health => health::health(state).await,
            Endpoint::CoinsList => coins::list(state).await,
            Endpoint::CoinDetail => coins::detail(state, coin).await,
            Endpoint::Currencies => currencies::list(state).await,
            Endpoint::Prices => prices::prices(state, coin, query).await,
            Endpoint::Market => market::market(state, query).await,
            Endpoint::IngestionRuns => runs::list(state, query).await,
            Endpoint::CronTrigger => cron::trigger(state, self.launcher.as_deref(), request).await,
        }
    }
}
