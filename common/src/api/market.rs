//! `GET /api/market`: the dashboard's overview of every tracked coin in one request.

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;

use super::currencies::currency_param;
use super::error::ApiError;
use super::queries;
use super::query::Query;
use super::response::{CachePolicy, Reply};
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarketRow {
    id: String,
    symbol: String,
    name: String,
    image_url: Option<String>,
    /// Latest hourly price; null before the first ingestion of this pair.
    price: Option<f64>,
    /// Percent change against the last price at least 24 hours older.
    change24h: Option<f64>,
    /// Percent change against the last price at least 7 days older.
    change7d: Option<f64>,
    /// Hourly prices of the 7 days up to the latest, oldest first.
    sparkline7d: Vec<f64>,
    updated_at: Option<DateTime<Utc>>,
}

/// Every tracked coin with price, 24 h and 7 d change and sparkline in `currency`.
pub(super) async fn market(state: &AppState, raw_query: Option<&str>) -> Result<Reply, ApiError> {
    let query = Query::parse(raw_query)?;
    let currency = currency_param(state, query.one("currency")?)?;
    let client = state.db.client().await?;
    let rows = queries::market(&client, &state.config.tracked_coins, &currency).await?;
    let change = |now: Option<f64>, then: Option<f64>| match (now, then) {
        (Some(now), Some(then)) if then > 0.0 => {
            Some(((now - then) / then * 100.0 * 1e4).round() / 1e4)
        }
        _ => None,
    };
    let market: Vec<MarketRow> = rows
        .into_iter()
        .map(|r| {
            let price = r.latest.map(|(price, _)| price);
            MarketRow {
                id: r.coin.id,
                symbol: r.coin.symbol,
                name: r.coin.name,
                image_url: r.coin.image_url,
                price,
                updated_at: r.latest.map(|(_, at)| at),
                change24h: change(price, r.price_24h_before),
                change7d: change(price, r.price_7d_before),
                sparkline7d: r.sparkline,
            }
        })
        .collect();
    Reply::ok(StatusCode::OK, &market, CachePolicy::Public)
}
