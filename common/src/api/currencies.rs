//! `GET /api/currencies`.

use http::StatusCode;
use serde::Serialize;

use super::{ApiError, AppState, CachePolicy, Reply};
use crate::domain::currency_name;

#[derive(Serialize)]
struct Currency {
    code: String,
    name: String,
}

/// The configured currencies in order, named as stored (or by code before any ingestion).
pub(super) async fn list(state: &AppState) -> Result<Reply, ApiError> {
    let client = state.db.client().await?;
    let rows = client
        .query(
            "SELECT t.code, c.name FROM unnest($1::text[]) WITH ORDINALITY AS t(code, ord)
               LEFT JOIN currencies c ON c.code = t.code ORDER BY t.ord",
            &[&state.config.tracked_currencies],
        )
        .await?;
    let currencies: Vec<Currency> = rows
        .iter()
        .map(|r| {
            let code: String = r.get(0);
            let name: Option<String> = r.get(1);
            Currency {
                name: name.unwrap_or_else(|| currency_name(&code)),
                code,
            }
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
