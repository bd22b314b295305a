//! `GET /api/health`: database reachability and the data's [`Freshness`]: the newest history
//! run and the newest live refresh, each judged on its own.

use chrono::Utc;
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::response::{CachePolicy, Reply};
use crate::ingest::freshness::Freshness;
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    database: &'static str,
    #[serde(flatten)]
    freshness: Freshness,
    version: &'static str,
}

/// 200 with `status` `ok` or `degraded` (see [`Freshness`]) when the database answers; 503
/// with `database: "unreachable"` (and the error envelope) when it does not. Never cached.
pub(super) async fn health(state: &AppState) -> Result<Reply, ApiError> {
    let version = env!("CARGO_PKG_VERSION");
    let live_every = state.config.live_every;
    let freshness = async {
        let client = state.db.client().await?;
        Ok::<_, ApiError>(Freshness::read(&client, live_every, Utc::now()).await?)
    };
    match freshness.await {
        Ok(freshness) => Reply::ok(
            StatusCode::OK,
            &Health {
                database: "ok",
                freshness,
                version,
            },
            CachePolicy::NoStore,
        ),
        // What is known without the database: nothing about the runs.
        Err(error @ ApiError::DatabaseUnavailable(_)) => Reply::error_with_data(
            &error,
            &Health {
                database: "unreachable",
                freshness: Freshness::unknown(live_every),
                version,
            },
        ),
        Err(other) => Err(other),
    }
}
