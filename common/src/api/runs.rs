//! `GET /api/ingestion/runs`: recent runs with sanitised reports.

use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::query::Query;
use super::response::{CachePolicy, Reply};
use crate::ingest::run_records::{self, RunSummary};
use crate::ingest::RunKind;
use crate::state::AppState;

#[derive(Serialize)]
struct Run {
    #[serde(flatten)]
    summary: RunSummary,
    report: Option<serde_json::Value>,
}

/// The newest runs first; `limit` 1-100, 20 by default; `mode` `history` (full and
/// incremental runs) or `live` (live refreshes), both by default. Never cached.
pub(super) async fn list(state: &AppState, raw_query: Option<&str>) -> Result<Reply, ApiError> {
    let query = Query::parse(raw_query)?;
    let limit = match query.one("limit")? {
        None => 20,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::InvalidParameter(
                    "limit must be a whole number from 1 to 100".into(),
                ))
            }
        },
    };
    let kind = match query.one("mode")? {
        None => None,
        Some("history") => Some(RunKind::History),
        Some("live") => Some(RunKind::Live),
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "mode must be history (full and incremental runs) or live (live refreshes)".into(),
            ))
        }
    };
    let client = state.db.client().await?;
    let runs: Vec<Run> = run_records::recent(&client, limit, kind)
        .await?
        .into_iter()
        .map(|(summary, report)| Run {
            summary,
            report: report.map(run_records::sanitise_report),
        })
        .collect();
    Reply::ok(StatusCode::OK, &runs, CachePolicy::NoStore)
}
