//! `GET /api/health`: database reachability and the data's [`Freshness`]: the newest history
//! run and the newest live refresh, each judged on its own.

use axum::extract::State;
use chrono::Utc;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::response::ErrorBody;
use super::response::{CachePolicy, Reply};
use super::schema::{EdgeCache, Envelope, Forbidden, Internal, NoStore};
use super::state::ApiState;
use crate::ingest::call_budget::{self, BudgetStatus};
use crate::ingest::freshness::Freshness;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Health {
    /// `ok`, or `unreachable` in the 503's `data`.
    #[schema(pattern = "^(ok|unreachable)$")]
    database: &'static str,
    #[serde(flatten)]
    freshness: Freshness,
    /// The month's CoinGecko calls against `COINGECKO_MONTHLY_CALLS` (UTC month, from the
    /// recorded runs); null when the database is unreachable.
    #[schema(required = true)]
    budget: Option<BudgetStatus>,
    /// The server's crate version.
    #[schema(example = "0.1.0")]
    version: &'static str,
}

/// The 503 of health: the error envelope and `data` saying what is down (the database; the
/// runs are then unknown). Without `data` when a configured origin verification secret is
/// unavailable, as on every route.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct HealthUnavailable {
    /// Always false.
    success: bool,
    error: ErrorBody<'static>,
    #[schema(required = false)]
    data: Health,
}

/// Database reachability, the newest history run and the newest live refresh, and the
/// month's CoinGecko call budget.
///
/// 200 while the database answers, with `status` `ok` or `degraded`; 503 with the error
/// envelope **and** `data` (saying what is down) when it does not. `lastIngestion` is the
/// newest history run (`full`/`incremental`), `lastLiveRefresh` the newest live refresh
/// (`latest`), skipped runs left out; each is judged on its own, so one never hides the
/// other's failure. `degraded` when the newest history run is missing, failed or older than
/// 26 hours, or (live refresh on: `liveEveryMinutes` not null) the newest live refresh is
/// missing, failed or older than three live intervals. A 200 is cached by CloudFront for 10 s
/// and by browsers not at all (no ETag); a 503 is never cached. The query string is ignored.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "status",
    operation_id = "getHealth",
    responses(
        (status = 200, description = "The database answers.", body = Envelope<Health>,
            headers(("Cache-Control" = inline(EdgeCache)))),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
        (status = 503, description = "The database is unreachable (with `data`), or the origin verification secret is configured but unavailable (without).",
            body = HealthUnavailable, headers(("Cache-Control" = inline(NoStore)))),
    ),
)]
pub(super) async fn health(State(api): State<ApiState>) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let version = env!("CARGO_PKG_VERSION");
    let live_every = state.config.live_every;
    let monthly = state.config.coingecko.monthly_calls.into();
    let read = async {
        let client = state.db.client().await?;
        let now = Utc::now();
        let freshness = Freshness::read(&client, live_every, now).await?;
        let budget = call_budget::month_status(&client, monthly, now).await?;
        Ok::<_, ApiError>((freshness, budget))
    };
    match read.await {
        Ok((freshness, budget)) => Reply::ok(
            StatusCode::OK,
            &Health {
                database: "ok",
                freshness,
                budget: Some(budget),
                version,
            },
            CachePolicy::Edge,
        ),
        // What is known without the database: nothing about the runs.
        Err(error @ ApiError::DatabaseUnavailable(_)) => Reply::error_with_data(
            &error,
            &Health {
                database: "unreachable",
                freshness: Freshness::unknown(live_every),
                budget: None,
                version,
            },
        ),
        Err(other) => Err(other),
    }
}
