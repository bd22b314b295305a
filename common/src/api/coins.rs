//! `GET /api/coins` and `GET /api/coins/{id}`.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::CoinId;
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{CachedRead, ETag, Envelope, NotFound, PublicCache};
use super::state::ApiState;
use crate::domain::{is_stale, latest_price};
use crate::state::AppState;

/// A tracked coin.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CoinSummary {
    /// CoinGecko's id.
    #[schema(example = "bitcoin")]
    id: String,
    #[schema(example = "btc")]
    symbol: String,
    #[schema(example = "Bitcoin")]
    name: String,
    /// Null until the coin's metadata has been fetched.
    #[schema(required = true)]
    image_url: Option<String>,
}

/// The tracked coins that have been ingested, in configured order.
///
/// Coins appear once an ingestion has stored them (an empty list before the first run). The
/// query string is ignored. Cached 5 minutes; conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/coins",
    tag = "data",
    operation_id = "listCoins",
    responses(
        (status = 200, description = "The coins.", body = Envelope<Vec<CoinSummary>>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        CachedRead,
    ),
)]
pub(super) async fn list(State(api): State<ApiState>) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let client = state.db.client().await?;
    let coins: Vec<CoinSummary> = queries::coins(&client, &state.config.tracked_coins.pinned)
        .await?
        .into_iter()
        .map(|r| CoinSummary {
            id: r.id,
            symbol: r.symbol,
            name: r.name,
            image_url: r.image_url,
        })
        .collect();
    Reply::ok(StatusCode::OK, &coins, CachePolicy::Public)
}

/// The newest price in one currency: the live quote (at CoinGecko's `last_updated_at`) or the
/// newest stored hour, whichever is newer.
#[derive(Serialize, ToSchema)]
pub(super) struct Latest {
    /// In the pair's currency.
    #[schema(exclusive_minimum = 0)]
    price: f64,
    /// The time of the price (UTC): the quote's update time or the hour's start.
    at: DateTime<Utc>,
    /// The price is older than `STALE_AFTER_MINUTES` (120 by default).
    stale: bool,
}

/// A coin with its metadata and latest prices.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CoinDetail {
    #[schema(example = "bitcoin")]
    id: String,
    symbol: String,
    name: String,
    /// Plain text (no HTML); empty when unknown.
    description: String,
    #[schema(required = true)]
    image_url: Option<String>,
    #[schema(required = true)]
    website_url: Option<String>,
    /// One key per tracked currency; null until that pair has a price.
    #[schema(schema_with = latest_by_currency)]
    latest: BTreeMap<String, Option<Latest>>,
}

/// `{"<currency>": Latest | null}` (utoipa cannot derive a map of nullable values).
fn latest_by_currency() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{ObjectBuilder, Ref, RefOr};
    let value = OneOfBuilder::new()
        .item(Ref::from_schema_name("Latest"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build();
    ObjectBuilder::new()
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z]{2,10}$")),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::OneOf(
            value,
        )))))
        .build()
}

/// One coin with its metadata and latest price per tracked currency.
///
/// `description` is plain text (CoinGecko's HTML with tags removed and entities decoded).
/// `latest` has one key per tracked currency; its value is null until that pair has a price.
/// 404 for ids that are not tracked or not yet ingested (and for ids that cannot be coin
/// ids). Cached 5 minutes; conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/coins/{id}",
    tag = "data",
    operation_id = "getCoin",
    params(CoinId),
    responses(
        (status = 200, description = "The coin.", body = Envelope<CoinDetail>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        (status = 404, response = NotFound),
        CachedRead,
    ),
)]
pub(super) async fn detail(
    State(api): State<ApiState>,
    CoinId(id): CoinId,
) -> Result<Reply, ApiError> {
    let (state, id) = (&*api.app, id.as_str());
    ensure_tracked(state, id)?;
    let client = state.db.client().await?;
    let now = Utc::now();
    let Some(coin) = queries::coin(&client, id).await? else {
        return Err(unknown_coin());
    };
    let latest = queries::latest_per_currency(&client, id, &state.config.tracked_currencies)
        .await?
        .into_iter()
        .map(|r| {
            let latest = latest_price(r.price_at, r.quote).map(|l| Latest {
                price: l.price,
                at: l.at,
                stale: is_stale(l.at, now, state.config.stale_after),
            });
            (r.currency, latest)
        })
        .collect();
    let detail = CoinDetail {
        id: coin.id,
        symbol: coin.symbol,
        name: coin.name,
        description: plain_text(&coin.description),
        image_url: coin.image_url,
        website_url: coin.website_url,
        latest,
    };
    Reply::ok(StatusCode::OK, &detail, CachePolicy::Public)
}

/// 404 unless `id` is one of the configured coins.
pub(super) fn ensure_tracked(state: &AppState, id: &str) -> Result<(), ApiError> {
    if state.config.tracked_coins.pinned.iter().any(|c| c == id) {
        Ok(())
    } else {
        Err(unknown_coin())
    }
}

pub(super) fn unknown_coin() -> ApiError {
    ApiError::NotFound("unknown coin id; GET /api/coins lists the tracked coins".into())
}

/// CoinGecko's HTML description as plain text: tags removed (line breaks kept for `<br>`
/// and paragraphs), entities decoded, `\r\n` normalised, blank runs collapsed.
pub fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let opens_tag = rest[start + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match rest[start..].find('>').filter(|_| opens_tag) {
            Some(end) => {
                let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
                if tag.starts_with("br") || tag == "/p" || tag == "p" || tag.starts_with("p ") {
                    text.push('\n');
                }
                rest = &rest[start + end + 1..];
            }
            None => {
                // A lone '<' is text, not a tag.
                text.push('<');
                rest = &rest[start + 1..];
            }
        }
    }
    text.push_str(rest);
    let decoded = html_escape::decode_html_entities(&text)
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let mut out = String::with_capacity(decoded.len());
    let mut blank_lines = 0;
    for line in decoded.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(line.trim_start());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn strips_tags_and_decodes_entities() {
        let html = "Bitcoin is <a href=\"https://bitcoin.org\">money</a> &amp; more.\r\n\r\n<b>Second</b> &lt;paragraph&gt;";
        assert_eq!(
            plain_text(html),
            "Bitcoin is money & more.\n\nSecond <paragraph>"
        );
        assert_eq!(plain_text(""), "");
        assert_eq!(plain_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(plain_text("<script>x</script>y<br/>z"), "xy\nz");
    }
}
