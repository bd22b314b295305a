//! The tracked set: the `top:N` largest coins by market cap, resolved from `/coins/markets`
//! at least once a day, plus the pinned ids. The same calls give every tracked coin its
//! price, market cap, volume, 1 h / 24 h / 7 d change and 7-day sparkline in each tracked
//! currency, so a first run shows a complete market table after a handful of calls.

use chrono::{DateTime, Duration, Utc};

use super::messages;
use super::report::{DeferReason, DeferredWork, FailureCode, RunReport};
use super::store;
use crate::coingecko::{CgError, CoinGecko, MarketEntry, MarketsPage, MARKETS_PAGE};
use crate::db::DbError;

/// A ranking older than this is resolved again by the next history run.
pub const RANKING_MAX_AGE: Duration = Duration::hours(20);

/// The coins a run follows: the pinned ids (configured order), then the ranked ones that are
/// not pinned, largest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracked {
    pub pinned: Vec<String>,
    pub ranked: Vec<String>,
}

impl Tracked {
    /// Every tracked coin: pinned first, then by rank.
    pub fn coins(&self) -> Vec<String> {
        self.pinned.iter().chain(&self.ranked).cloned().collect()
    }
}

/// How the top `n` is fetched: the number of pages and their size (the fewest pages, of
/// equal size, so no call fetches coins past the N-th).
pub fn ranking_pages(n: u32) -> (u32, u32) {
    let pages = n.div_ceil(MARKETS_PAGE).max(1);
    (pages, n.div_ceil(pages))
}

/// The `/coins/markets` calls one ranking makes: its pages in every currency, plus one call
/// per currency for pinned coins outside the top N (at most `pinned_outside` of them).
pub fn ranking_calls(n: u32, currencies: usize, pinned_outside: usize) -> u64 {
    let (pages, _) = ranking_pages(n);
    let extra = pinned_outside.div_ceil(MARKETS_PAGE as usize) as u64;
    (u64::from(pages) + extra) * currencies as u64
}

/// Whether the stored ranking is older than [`RANKING_MAX_AGE`] (or was never resolved).
pub async fn ranking_due(
    client: &impl deadpool_postgres::GenericClient,
    now: DateTime<Utc>,
) -> Result<bool, tokio_postgres::Error> {
    Ok(store::ranked_at(client)
        .await?
        .is_none_or(|at| now - at >= RANKING_MAX_AGE))
}

/// Resolves the top `n` from `/coins/markets` in every currency (the first currency's order
/// is the ranking), fetches the pinned coins outside it by id, and stores coins, ranks, images
/// and market data, the ranking as of `now` (the run's start). Returns the ranked ids (largest first), or `None` when the first
/// currency's ranking could not be fetched (the stored ranking stays).
pub async fn resolve(
    report: &mut RunReport,
    client: &deadpool_postgres::Object,
    gecko: &CoinGecko,
    n: u32,
    pinned: &[String],
    currencies: &[String],
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    let (pages, per_page) = ranking_pages(n);
    let mut ranked: Option<Vec<String>> = None;
    for (index, currency) in currencies.iter().enumerate() {
        let mut entries: Vec<MarketEntry> = Vec::new();
        for page in 1..=pages {
            match gecko
                .markets(currency, MarketsPage::Ranked { page, per_page })
                .await
            {
                Ok(answer) => {
                    let last = answer.len() < per_page as usize;
                    entries.extend(answer);
                    if last {
                        break;
                    }
                }
                Err(e) => {
                    let left = u64::from(pages - page + 1);
                    record_markets_failure(report, currency, &e, left);
                    break;
                }
            }
        }
        // Pages are taken at different instants of a moving ranking: a coin that climbed
        // between two calls is on both pages. Its first (higher) place counts.
        first_of_each(&mut entries);
        entries.truncate(n as usize);
        let top: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        if index == 0 {
            if entries.is_empty() {
                return None;
            }
            ranked = Some(top.clone());
        }
        let outside: Vec<String> = pinned
            .iter()
            .filter(|id| !top.contains(id))
            .cloned()
            .collect();
        for chunk in outside.chunks(MARKETS_PAGE as usize) {
            match gecko.markets(currency, MarketsPage::Ids(chunk)).await {
                Ok(answer) => entries.extend(answer),
                Err(e) => record_markets_failure(report, currency, &e, 1),
            }
        }
        first_of_each(&mut entries);
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let ranked_at = (index == 0).then_some(now);
        let written = match store::upsert_markets(client, currency, &entries, ranked_at).await {
            Ok(()) => {
                store::refresh_market(
                    client,
                    &ids,
                    std::slice::from_ref(currency),
                    store::Wrote::Hours,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            let e = DbError::from(e);
            report.record_failure(None, e.failure_code(), e.to_string());
        }
    }
    ranked
}

/// Keeps the first entry of each coin id, in order (one upsert may not touch a row twice).
fn first_of_each(entries: &mut Vec<MarketEntry>) {
    let mut seen = std::collections::HashSet::new();
    entries.retain(|e| seen.insert(e.id.clone()));
}

/// A `/coins/markets` call that failed: a deferral when the budget or the deadline stopped
/// it, else a failure of the run.
fn record_markets_failure(report: &mut RunReport, currency: &str, e: &CgError, calls: u64) {
    match e.code() {
        FailureCode::BudgetSpent => report.defer(DeferredWork::Ranking, DeferReason::Budget, calls),
        FailureCode::Deadline => report.defer(DeferredWork::Ranking, DeferReason::Deadline, calls),
        code => {
            tracing::warn!(%currency, error = %e, "/coins/markets failed");
            report.record_failure(None, code, messages::markets_failed(currency, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coin_on_two_pages_keeps_its_first_place() {
        let entry = |id: &str, rank: u32| -> MarketEntry {
            serde_json::from_value(serde_json::json!({
                "id": id, "symbol": id, "name": id, "market_cap_rank": rank
            }))
            .unwrap()
        };
        // Page 1 then page 2, taken after `climber` moved up from 251 to 250.
        let mut entries = vec![
            entry("first", 1),
            entry("climber", 250),
            entry("climber", 251),
        ];
        entries.push(entry("next", 252));
        first_of_each(&mut entries);
        let kept: Vec<(&str, Option<u32>)> =
            entries.iter().map(|e| (e.id.as_str(), e.rank)).collect();
        assert_eq!(
            kept,
            [
                ("first", Some(1)),
                ("climber", Some(250)),
                ("next", Some(252))
            ]
        );
    }

    #[test]
    fn the_top_n_takes_the_fewest_equal_pages() {
        assert_eq!(ranking_pages(100), (1, 100));
        assert_eq!(ranking_pages(250), (1, 250));
        assert_eq!(ranking_pages(300), (2, 150));
        assert_eq!(ranking_pages(1000), (4, 250));
        assert_eq!(ranking_pages(1), (1, 1));
    }

    #[test]
    fn a_ranking_costs_its_pages_and_the_pinned_outside_in_every_currency() {
        assert_eq!(ranking_calls(100, 4, 0), 4);
        assert_eq!(ranking_calls(100, 4, 3), 8);
        assert_eq!(ranking_calls(1000, 4, 0), 16);
    }
}
