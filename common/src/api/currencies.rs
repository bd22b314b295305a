//! `GET /api/currencies`.

use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{CachedRead, ETag, Envelope, PublicCache};
use super::state::ApiState;
use crate::domain::currency_name;
use crate::state::AppState;

/// A tracked currency.
#[derive(Serialize, ToSchema)]
pub(super) struct Currency {
    #[schema(pattern = "^[a-z]{2,10}$", example = "usd")]
    code: String,
    #[schema(example = "US Dollar")]
    name: String,
}

/// The tracked currencies, in configured order.
///
/// Named as stored by the last ingestion (or by a built-in name before any). The query string
/// is ignored. Cached 5 minutes; conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/currencies",
    tag = "data",
    operation_id = "listCurrencies",
    responses(
        (status = 200, description = "The currencies.", body = Envelope<Vec<Currency>>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        CachedRead,
    ),
)]
pub(super) async fn list(State(api): State<ApiState>) -> Result<Reply, ApiError> {
    let state = &*api.app;
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
