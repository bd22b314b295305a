//! `GET /api/currencies`.

use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::queries;
use super::response::{CachePolicy, Reply};
use crate::domain::currency_name;
use crate::state::AppState;

#[derive(Serialize)]
struct Currency {
    code: String,
    name: String,
}

/// The configured currencies in order, named as stored (or by code before any ingestion).
pub(super) async fn list(state: &AppState) -> Result<Reply, ApiError> {
    let client = state.db.client().await?;
    let currencies: Vec<Currency> =
        queries::currency_names(&client, &state.config.tracked_currencies)
            .await?
            .into_iter()
            .map(|row| Currency {
                name: row.name.unwrap_or_else(|| currency_name(&row.code)),
                code: row.code,
            })
            .collect();
    Reply::ok(StatusCode::OK, &currencies, CachePolicy::Public)
}

/// The `currency` parameter: a tracked code, `usd` by default.
pub(super) fn currency_param(state: &AppState, value: Option<&str>) -> Result<String, ApiError> {
    let tracked = &state.config.tracked_currencies;
    let code = value.unwrap_or("usd");
    if tracked.iter().any(|c| c == code) {
        Ok(code.to_owned())
    } else {
        Err(ApiError::InvalidParameter(format!(
            "currency must be one of {}",
            tracked.join(", ")
        )))
    }
}
