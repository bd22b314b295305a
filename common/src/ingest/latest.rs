//! Live quotes (mode `latest`): one `/simple/price` call for every tracked coin and
//! currency, written to `price_latest`. The run takes a lock of its own
//! ([`store::LATEST_LOCK_KEY`]), so it neither waits for nor blocks a history run.

use chrono::Utc;

use super::messages;
use super::report::{FailureCode, Pair, PairResult, PairStatus, RunReport};
use super::store;
use crate::coingecko::CoinGecko;

/// Fetches and stores the quotes, recording every pair as ok or failed (`NO_QUOTE` when
/// CoinGecko left the coin out or sent no price; the run goes on).
pub async fn refresh(
    report: &mut RunReport,
    client: &deadpool_postgres::Object,
    gecko: &CoinGecko,
    coins: &[String],
    currencies: &[String],
) {
    let fetched_at = Utc::now();
    let quotes = match gecko.simple_price(coins, currencies).await {
        Ok(quotes) => quotes,
        Err(e) => {
            report.fail_all(coins, currencies, e.code(), &messages::quotes_failed(&e));
            return;
        }
    };
    let written = match store::upsert_latest(client, &quotes.quotes, fetched_at).await {
        Ok(written) => written,
        Err(e) => {
            let message = crate::db::DbError::from(e).to_string();
            report.fail_all(coins, currencies, FailureCode::DatabaseError, &message);
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
