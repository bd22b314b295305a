//! Live quotes (mode `latest`): one `/simple/price` call for every tracked coin and
//! currency, written to `price_latest`. The run takes a lock of its own
//! ([`super::lifecycle::LATEST_LOCK_KEY`]), so it neither waits for nor blocks a history
//! run.

use chrono::{DateTime, Duration, Utc};

use super::messages;
use super::report::{
    DeferReason, DeferredWork, FailureCode, Pair, PairResult, PairStatus, RunReport,
};
use super::store;
use crate::coingecko::{CoinGecko, Quote};

/// How far ahead of the fetch a quote's `last_updated_at` may be (clock skew) before it is
/// taken for an error and replaced by the fetch time.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(1);

/// Replaces every `last_updated_at` more than [`MAX_CLOCK_SKEW`] after `fetched_at` (clock
/// skew or an upstream bug: a price cannot be from the future) by `fetched_at`; returns how
/// many it replaced.
pub fn clamp_future_times(quotes: &mut [Quote], fetched_at: DateTime<Utc>) -> u64 {
    let mut clamped = 0;
    for at in quotes.iter_mut().filter_map(|q| q.last_updated_at.as_mut()) {
        if *at > fetched_at + MAX_CLOCK_SKEW {
            *at = fetched_at;
            clamped += 1;
        }
    }
    clamped
}

/// Fetches and stores the quotes, recording every pair as ok or failed (`NO_QUOTE` when
/// CoinGecko left the coin out or sent no price; the run goes on).
pub async fn refresh(
    report: &mut RunReport,
    client: &mut deadpool_postgres::Object,
    gecko: &CoinGecko,
    coins: &[String],
    currencies: &[String],
) {
    let mut quotes = match gecko.simple_price(coins, currencies).await {
        Ok(quotes) => quotes,
        Err(e) if e.code() == FailureCode::BudgetSpent => {
            tracing::warn!("live quotes deferred: the month's call budget is spent");
            let pairs = (coins.len() * currencies.len()) as u64;
            report.defer(DeferredWork::Quotes, DeferReason::Budget, pairs);
            for coin in coins {
                for currency in currencies {
                    report.record_skipped(&Pair {
                        coin: coin.clone(),
                        currency: currency.clone(),
                    });
                }
            }
            return;
        }
        Err(e) => {
            report.fail_all(coins, currencies, e.code(), &messages::quotes_failed(&e));
            return;
        }
    };
    let fetched_at = Utc::now();
    report.clamped_timestamps = clamp_future_times(&mut quotes.quotes, fetched_at);
    if report.clamped_timestamps > 0 {
        tracing::warn!(
            quotes = report.clamped_timestamps,
            "quote times ahead of the fetch were stored as the fetch time"
        );
    }
    let written = match write(client, &quotes.quotes, fetched_at).await {
        Ok(written) => written,
        Err(e) => {
            let e = crate::db::DbError::from(e);
            report.fail_all(coins, currencies, e.failure_code(), &e.to_string());
            return;
        }
    };
    report.rows.latest = written.len() as u64;
    for coin in coins {
        for currency in currencies {
            let pair = Pair {
                coin: coin.clone(),
                currency: currency.clone(),
            };
            if written.contains(&pair) {
                report.record_ok(PairResult::unstarted(&pair, PairStatus::Ok));
                continue;
            }
            let message = if quotes.missing.contains(coin) {
                messages::quote_left_out(coin)
            } else if quotes
                .quotes
                .iter()
                .any(|q| q.coin == *coin && q.currency == *currency && q.price.is_some())
            {
                messages::quote_of_unstored_coin(coin)
            } else {
                messages::quote_without_price(coin, currency)
            };
            report.record_failed(
                PairResult::unstarted(&pair, PairStatus::Failed),
                FailureCode::NoQuote,
                message,
            );
        }
    }
}

/// Folds the quotes into their hours, then stores them as the pairs' live quotes, in one
/// transaction; returns the pairs written.
async fn write(
    client: &mut deadpool_postgres::Object,
    quotes: &[Quote],
    fetched_at: DateTime<Utc>,
) -> Result<Vec<Pair>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    store::fold_quotes(&tx, quotes).await?;
    let written = store::upsert_latest(&tx, quotes, fetched_at).await?;
    let mut coins: Vec<String> = written.iter().map(|p| p.coin.clone()).collect();
    let mut currencies: Vec<String> = written.iter().map(|p| p.currency.clone()).collect();
    coins.sort();
    coins.dedup();
    currencies.sort();
    currencies.dedup();
    store::refresh_market(&tx, &coins, &currencies, store::Wrote::Quotes).await?;
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_times_beyond_a_minute_ahead_become_the_fetch_time() {
        let fetched = Utc::now();
        let quote = |ahead: Option<Duration>| Quote {
            coin: "bitcoin".into(),
            currency: "usd".into(),
            price: Some(1.0),
            market_cap: None,
            volume_24h: None,
            change_24h: None,
            last_updated_at: ahead.map(|d| fetched + d),
        };
        let mut quotes = vec![
            quote(Some(Duration::hours(2))),
            quote(Some(Duration::seconds(61))),
            quote(Some(Duration::seconds(60))),
            quote(Some(Duration::minutes(-5))),
            quote(None),
        ];
        assert_eq!(clamp_future_times(&mut quotes, fetched), 2);
        let times: Vec<_> = quotes.iter().map(|q| q.last_updated_at).collect();
        assert_eq!(
            times,
            vec![
                Some(fetched),
                Some(fetched),
                Some(fetched + Duration::seconds(60)),
                Some(fetched - Duration::minutes(5)),
                None
            ]
        );
    }
}
