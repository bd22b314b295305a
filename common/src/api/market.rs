//! `GET /api/market`: the dashboard's overview of every tracked coin in one request.

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;
use serde_json::value::RawValue;

use super::currencies::currency_param;
use super::error::ApiError;
use super::queries;
use super::query::Query;
use super::response::{CachePolicy, Reply};
use crate::domain::{is_stale, latest_price};
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarketRow {
    id: String,
    symbol: String,
    name: String,
    image_url: Option<String>,
    /// The newest price: the live quote or the latest hourly price, whichever is newer; null
    /// before the pair's first ingestion.
    price: Option<f64>,
    /// The time of `price`.
    updated_at: Option<DateTime<Utc>>,
    /// `price` is older than `STALE_AFTER_MINUTES`.
    stale: bool,
    /// The live quote's 24 h change when the quote is the newer price, else the percent
    /// change against the last hourly price at least 24 hours older.
    change24h: Option<f64>,
    /// Percent change against the last hourly price at least 7 days older.
    change7d: Option<f64>,
    /// From the live quote; null without one.
    market_cap: Option<f64>,
    /// From the live quote; null without one.
    volume24h: Option<f64>,
    /// Hourly prices of the 7 days up to the latest hour, oldest first, in single precision:
    /// the JSON the ingester prepared, sent as it is.
    sparkline7d: Box<RawValue>,
}

/// Every tracked coin with price, 24 h and 7 d change and sparkline in `currency`.
pub(super) async fn market(state: &AppState, raw_query: Option<&str>) -> Result<Reply, ApiError> {
    let query = Query::parse(raw_query)?;
    let currency = currency_param(state, query.one("currency")?)?;
    let client = state.db.client().await?;
    let rows = queries::market(&client, &state.config.tracked_coins, &currency).await?;
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
