//! `GET /api/ingestion/runs`: recent runs with sanitised reports.

use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{ApiQuery, Bounded};
use super::response::{CachePolicy, Reply};
use super::schema::{EdgeCache, Envelope, Failures, InvalidParameter};
use super::state::ApiState;
use crate::ingest::run_records::{self, RunSummary};
use crate::ingest::RunKind;

/// A recorded run and its stored report.
#[derive(Serialize, ToSchema)]
pub(super) struct Run {
    #[serde(flatten)]
    summary: RunSummary,
    /// The JSON run report (also returned by the ingest function and `crypto-dashboard
    /// ingest`), sanitised. While the run is in progress it is the report as of its start
    /// (`status` `failed`, counters zero).
    #[schema(value_type = Option<crate::ingest::RunReport>)]
    #[schema(required = true)]
    report: Option<serde_json::Value>,
}

/// The query string of the runs route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RunsParams {
    /// How many runs, a whole number from 1 to 100; 20 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 5)]
    limit: Option<Bounded<1, 100>>,
    /// `history` (full and incremental runs) or `live` (live refreshes); both kinds when
    /// absent.
    #[param(inline, example = "history")]
    mode: Option<RunKind>,
}

/// Recent ingestion runs with their (sanitised) reports, newest first.
///
/// Reports are sanitised: failure messages about our own infrastructure (codes starting with
/// `DATABASE` or `SECRET`) are replaced by a generic text. Cached by CloudFront for 10 s and by
/// browsers not at all (no ETag).
#[utoipa::path(
    get,
    path = "/api/ingestion/runs",
    tag = "status",
    operation_id = "listIngestionRuns",
    params(RunsParams),
    responses(
        (status = 200, description = "The runs.", body = Envelope<Vec<Run>>,
            headers(("Cache-Control" = inline(EdgeCache)))),
        (status = 400, response = InvalidParameter),
        Failures,
    ),
)]
pub(super) async fn list(
    State(api): State<ApiState>,
    ApiQuery(params): ApiQuery<RunsParams>,
) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let limit = params.limit.map_or(20, |Bounded(n)| n);
    let kind = params.mode;
    let client = state.db.client().await?;
    let runs: Vec<Run> = run_records::recent(&client, limit, kind)
        .await?
        .into_iter()
        .map(|(summary, report)| Run {
            summary,
            report: report.map(run_records::sanitise_report),
        })
        .collect();
    Reply::ok(StatusCode::OK, &runs, CachePolicy::Edge)
}
