//! `GET /api/coins` and `GET /api/coins/{id}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;
use super::queries;
use super::response::{CachePolicy, Reply};
use crate::domain::{is_stale, latest_price};
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinSummary {
    id: String,
    symbol: String,
    name: String,
    image_url: Option<String>,
}

/// The tracked coins that have been ingested, in configured order.
pub(super) async fn list(state: &AppState) -> Result<Reply, ApiError> {
    let client = state.db.client().await?;
    let coins: Vec<CoinSummary> = queries::coins(&client, &state.config.tracked_coins)
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

/// The newest price in one currency: the live quote or the newest stored hour, whichever is
/// newer, with its own time and whether it is older than `STALE_AFTER_MINUTES`.
#[derive(Serialize)]
struct Latest {
    price: f64,
    at: DateTime<Utc>,
    stale: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinDetail {
    id: String,
    symbol: String,
    name: String,
    description: String,
    image_url: Option<String>,
    website_url: Option<String>,
    latest: BTreeMap<String, Option<Latest>>,
}

/// One coin with its metadata (description as plain text) and latest price per currency.
pub(super) async fn detail(state: &AppState, id: &str) -> Result<Reply, ApiError> {
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
    if state.config.tracked_coins.iter().any(|c| c == id) {
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
