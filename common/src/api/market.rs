//! `GET /api/market`: the dashboard's overview of every tracked coin in one request.

use axum::extract::State;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::currencies::currency_param;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{CachedRead, CurrencyCode, ETag, Envelope, InvalidParameter, PublicCache};
use super::state::ApiState;
use crate::domain::{is_stale, latest_price};

/// One coin of the overview.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MarketRow {
    id: String,
    symbol: String,
    name: String,
    #[schema(required = true)]
    image_url: Option<String>,
    /// The newest price: the live quote or the latest hourly price, whichever is newer; null
    /// before the pair's first ingestion.
    #[schema(exclusive_minimum = 0)]
    #[schema(required = true)]
    price: Option<f64>,
    /// The time of `price`.
    #[schema(required = true)]
    updated_at: Option<DateTime<Utc>>,
    /// `price` is older than `STALE_AFTER_MINUTES` (120 by default); false without a price.
    stale: bool,
    /// The live quote's 24 h change when the quote is the newer price, else the percent
    /// change against the last hourly price at least 24 hours older (4 decimals).
    #[schema(required = true)]
    change24h: Option<f64>,
    /// Percent change against the last hourly price at least 7 days older (4 decimals).
    #[schema(required = true)]
    change7d: Option<f64>,
    /// From the live quote; null without one.
    #[schema(minimum = 0)]
    #[schema(required = true)]
    market_cap: Option<f64>,
    /// From the live quote; null without one.
    #[schema(minimum = 0)]
    #[schema(required = true)]
    volume24h: Option<f64>,
    /// Hourly prices of the 7 days up to the latest hour, oldest first, in single precision:
    /// the JSON the ingester prepared, sent as it is (a drawing, not a price record: the
    /// prices route has every digit).
    #[schema(value_type = Vec<f64>)]
    sparkline7d: Box<RawValue>,
}

/// The query string of the market route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MarketParams {
    /// A tracked currency code (`TRACKED_CURRENCIES`); `usd` by default.
    #[param(value_type = Option<CurrencyCode>, inline, example = "eur")]
    currency: Option<String>,
}

/// The dashboard's overview of every tracked coin in one currency.
///
/// Per ingested coin, in configured order: the newest price (the live quote or the latest
/// hourly price, whichever is newer) with its own time and a stale mark, percent change
/// against the last price at least 24 hours / 7 days older (rounded to 4 decimals; null
/// without such a price; the 24-hour change is the live quote's when the quote is newer),
/// market cap and 24-hour volume from the live quote, and the hourly prices of the 7 days up
/// to the latest hour (oldest first). `price`, `updatedAt` and the changes are null (and
/// `sparkline7d` empty) before the pair's first ingestion. Cached 5 minutes; conditional with
/// `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/market",
    tag = "data",
    operation_id = "getMarket",
    params(MarketParams),
    responses(
        (status = 200, description = "One row per ingested tracked coin.", body = Envelope<Vec<MarketRow>>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        (status = 400, response = InvalidParameter),
        CachedRead,
    ),
)]
pub(super) async fn market(
    State(api): State<ApiState>,
    ApiQuery(params): ApiQuery<MarketParams>,
) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let currency = currency_param(state, params.currency.as_deref())?;
    let client = state.db.client().await?;
    let rows = queries::market(&client, &state.config.tracked_coins.pinned, &currency).await?;
    let change = |now: Option<f64>, then: Option<f64>| match (now, then) {
        (Some(now), Some(then)) if then > 0.0 => Some(round4((now - then) / then * 100.0)),
        _ => None,
    };
    let now = Utc::now();
    let market = rows
        .into_iter()
        .map(|r| -> Result<MarketRow, ApiError> {
            let hour_price = r.latest.map(|(price, _)| price);
            let latest = latest_price(r.latest, r.quote);
            let change24h = match latest.and_then(|l| l.change_24h) {
                Some(quoted) => Some(round4(quoted)),
                None => change(hour_price, r.price_24h_before),
            };
            Ok(MarketRow {
                id: r.coin.id,
                symbol: r.coin.symbol,
                name: r.coin.name,
                image_url: r.coin.image_url,
                price: latest.map(|l| l.price),
                updated_at: latest.map(|l| l.at),
                stale: latest.is_some_and(|l| is_stale(l.at, now, state.config.stale_after)),
                change24h,
                change7d: change(hour_price, r.price_7d_before),
                market_cap: r.market_cap,
                volume24h: r.volume_24h,
                sparkline7d: RawValue::from_string(r.sparkline)
                    .map_err(|e| ApiError::Internal(Box::new(e)))?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Reply::ok(StatusCode::OK, &market, CachePolicy::Public)
}

/// A percentage as the route sends it: 4 decimals.
fn round4(percent: f64) -> f64 {
    (percent * 1e4).round() / 1e4
}
