//! Messages a run report shows an operator: what went wrong and what to change.

use crate::coingecko::{CgError, CoinListEntry};

/// "unknown coin id" with the closest ids CoinGecko does know.
pub fn unknown_coin(id: &str, list: &[CoinListEntry]) -> String {
    let mut scored: Vec<(f64, &str)> = list
        .iter()
        .map(|c| (strsim::jaro_winkler(id, &c.id), c.id.as_str()))
        .filter(|(score, _)| *score > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let closest: Vec<&str> = scored.iter().take(3).map(|(_, id)| *id).collect();
    if closest.is_empty() {
        format!("TRACKED_COINS names {id:?}, which CoinGecko's /coins/list does not know")
    } else {
        format!(
            "TRACKED_COINS names {id:?}, which CoinGecko's /coins/list does not know; closest ids: {}",
            closest.join(", ")
        )
    }
}

/// A coin that was never stored while `/coins/list` cannot be read.
pub fn not_stored_and_no_list(error: &CgError) -> String {
    format!("not stored yet and /coins/list is unavailable: {error}")
}

/// The coins list could not be read (the run goes on with stored coins).
pub fn coins_list_failed(error: &CgError) -> String {
    format!("/coins/list: {error}")
}

/// The API key secret could not be read.
pub fn api_key_unreadable(error: &impl std::fmt::Display) -> String {
    format!("the CoinGecko API key could not be read: {error}")
}

/// The live quotes could not be fetched.
pub fn quotes_failed(error: &CgError) -> String {
    format!("/simple/price: {error}")
}

/// A `/coins/markets` call failed: the ranking or the market data of one currency waits.
pub fn markets_failed(currency: &str, error: &CgError) -> String {
    format!("/coins/markets in {currency}: {error}; the stored ranking and quotes stay")
}

/// CoinGecko's quotes left a tracked coin out (it does so silently for unknown ids).
pub fn quote_left_out(coin: &str) -> String {
    format!("CoinGecko's /simple/price answer left {coin:?} out; check TRACKED_COINS")
}

/// A quote without a usable price.
pub fn quote_without_price(coin: &str, currency: &str) -> String {
    format!("CoinGecko's quote of {coin} has no {currency} price")
}

/// A quote of a coin that no history run has stored yet.
pub fn quote_of_unstored_coin(coin: &str) -> String {
    format!("{coin} is not stored yet: its quote is kept once a history run has fetched it")
}

/// CoinGecko answered, but without one usable price.
pub fn no_usable_price(dropped: usize) -> String {
    format!("CoinGecko returned no usable price in the window ({dropped} points dropped)")
}

/// A backfill answer without one usable 00:00 UTC price (the pair is tried again next run).
pub fn no_daily_price(points: usize) -> String {
    format!(
        "CoinGecko returned no usable 00:00 UTC daily price for the backfill ({points} points); \
         the next run tries again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_coin_suggests_close_ids() {
        let list = ["bitcoin", "bitcoin-cash", "ethereum", "wrapped-bitcoin"]
            .map(|id| CoinListEntry {
                id: id.into(),
                symbol: "x".into(),
                name: "X".into(),
            })
            .to_vec();
        let msg = unknown_coin("bitcoinn", &list);
        assert!(msg.contains("closest ids: bitcoin"), "{msg}");
        assert!(msg.contains("TRACKED_COINS"));
        let msg = unknown_coin("zzzz", &list);
        assert!(!msg.contains("closest"), "{msg}");
    }
}
