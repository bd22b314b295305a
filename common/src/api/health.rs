//! `GET /api/health`: database reachability and the last ingestion run.

use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::response::{CachePolicy, Reply};
use crate::ingest::runs::{self, RunSummary};
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    database: &'static str,
    last_ingestion: Option<RunSummary>,
    version: &'static str,
}

/// 200 `{status: "ok", database: "ok", ...}` when the database answers; 503 with
/// `database: "unreachable"` (and the error envelope) when it does not. Never cached.
pub(super) async fn health(state: &AppState) -> Result<Reply, ApiError> {
    let version = env!("CARGO_PKG_VERSION");
    let last = match state.db.client().await {
        Ok(client) => runs::latest(&client).await.map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    match last {
        Ok(last_ingestion) => Reply::ok(
            StatusCode::OK,
            &Health {
                status: "ok",
                database: "ok",
                last_ingestion,
                version,
            },
            CachePolicy::NoStore,
        ),
        Err(error @ ApiError::DatabaseUnavailable(_)) => Reply::error_with_data(
            &error,
            &Health {
                status: "degraded",
                database: "unreachable",
                last_ingestion: None,
                version,
            },
        ),
        Err(other) => Err(other),
    }
}
