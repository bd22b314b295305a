//! `GET /api/coins` and `GET /api/coins/{id}`.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{ApiQuery, Bounded, CoinId};
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{CachedRead, ETag, Envelope, InvalidParameter, NotFound, PublicCache};
use super::state::ApiState;
use crate::domain::{is_stale, latest_price};

/// A stored coin.
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
    /// CoinGecko's market-cap rank when last resolved; null when unranked.
    #[schema(required = true, minimum = 1, example = 1)]
    rank: Option<i32>,
    /// Whether runs refresh the coin (false: it left the tracked set; its history stays).
    tracked: bool,
}

impl From<queries::CoinRow> for CoinSummary {
    fn from(r: queries::CoinRow) -> CoinSummary {
        CoinSummary {
            id: r.id,
            symbol: r.symbol,
            name: r.name,
            image_url: r.image_url,
            rank: r.rank,
            tracked: r.tracked,
        }
    }
}

/// The query string of the coins route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CoinsParams {
    /// Finds stored coins (tracked or not) whose id, symbol or name holds it, ignoring case:
    /// an exact symbol first, then prefixes, then the rest. At most 100 characters; empty
    /// lists the tracked coins.
    #[param(max_length = 100, example = "bit")]
    q: Option<String>,
    /// How many coins, a whole number from 1 to 250; 50 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 250, example = 20)]
    limit: Option<Bounded<1, 250>>,
}

/// The `q` parameter: at most 100 characters, trimmed, `None` when blank.
pub(super) fn search_param(q: Option<String>) -> Result<Option<String>, ApiError> {
    match q {
        Some(q) if q.chars().count() > 100 => Err(ApiError::InvalidParameter(
            "q must be at most 100 characters".into(),
        )),
        q => Ok(q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty())),
    }
}

/// The tracked coins by rank, or the stored coins `q` finds.
///
/// Without `q`: the tracked coins by CoinGecko's market-cap rank, unranked ones (pinned coins
/// outside the top N) after them in the configured order; an empty list before the first
/// run. With `q`: stored coins, tracked or not, whose id, symbol or name holds `q` (ignoring
/// case): an exact symbol first, then prefixes, then the rest, each group by rank. At most
/// `limit` coins. Cached 5 minutes; conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/coins",
    tag = "data",
    operation_id = "listCoins",
    params(CoinsParams),
    responses(
        (status = 200, description = "The coins.", body = Envelope<Vec<CoinSummary>>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        (status = 400, response = InvalidParameter),
        CachedRead,
    ),
)]
pub(super) async fn list(
    State(api): State<ApiState>,
    ApiQuery(params): ApiQuery<CoinsParams>,
) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let limit = params.limit.map_or(50, |Bounded(n)| n);
    let q = search_param(params.q)?;
    let client = state.db.client().await?;
    let rows = match q.as_deref() {
        None => queries::tracked_coins(&client, limit).await?,
        Some(text) => queries::search_coins(&client, text, limit).await?,
    };
    let coins: Vec<CoinSummary> = rows.into_iter().map(CoinSummary::from).collect();
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
    /// CoinGecko's market-cap rank when last resolved; null when unranked.
    #[schema(required = true, minimum = 1)]
    rank: Option<i32>,
    /// Whether runs refresh the coin (false: it left the tracked set; its history stays).
    tracked: bool,
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
/// A coin that left the tracked set is still served (`tracked: false`). 404 for ids not
/// stored (and for ids that cannot be coin ids). Cached 5 minutes; conditional with `If-None-Match`.
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
        rank: coin.rank,
        tracked: coin.tracked,
        latest,
    };
    Reply::ok(StatusCode::OK, &detail, CachePolicy::Public)
}

pub(super) fn unknown_coin() -> ApiError {
    ApiError::NotFound("unknown coin id; GET /api/coins lists the tracked coins, GET /api/coins?q= finds stored ones".into())
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
