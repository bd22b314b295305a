//! One ingestion run (SPEC "Ingestion"): lock, reference data, metadata, then every
//! (coin, currency) pair stalest first, each written in its own transaction.
//!
//! The run holds one pooled connection from start to end: the advisory lock is a session
//! lock, and one connection is all a Lambda with `DB_POOL_MAX_SIZE=1` has.

pub mod invocation;
pub mod launcher;
pub mod report;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::coingecko::{CgError, ClientEvent, CoinGecko, CoinListEntry, RetryPolicy};
use crate::config::Config;
use crate::db::{Database, DbError};
use crate::domain::{currency_name, normalise};
use crate::secrets::Secrets;
pub use report::{Failure, Mode, PairCounts, PairResult, RowCounts, RunReport, Status, Trigger};
pub use store::PairRows;

/// The longest window fetched: CoinGecko answers hourly up to 90 days, daily beyond.
pub const FULL_WINDOW: chrono::Duration = chrono::Duration::days(90);
/// Incremental runs re-fetch this much before the newest stored hour.
pub const INCREMENTAL_OVERLAP: chrono::Duration = chrono::Duration::hours(48);
/// The shortest window asked for: a 1-day window ending now comes back 5-minutely.
pub const MIN_WINDOW: chrono::Duration = chrono::Duration::days(2);
/// Metadata older than this is fetched again.
pub const METADATA_MAX_AGE: chrono::Duration = chrono::Duration::days(7);

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub mode: Mode,
    pub clean_first: bool,
    pub trigger: Trigger,
    /// A pre-assigned id (the cron route answers with it before the run starts).
    pub run_id: Option<Uuid>,
}

/// Progress of a run, for terminal displays.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// The run holds the lock and is recorded as running.
    Started { run_id: Uuid },
    /// The pairs to fetch are known.
    Planned { pairs: usize },
    /// A pair is being fetched.
    PairStarted {
        index: usize,
        coin: String,
        currency: String,
    },
    /// A pair is done (ok, failed or skipped).
    PairFinished {
        index: usize,
        result: PairResult,
        error: Option<String>,
    },
    /// The client waits before retrying.
    Waiting {
        wait: Duration,
        rate_limited: bool,
        reason: String,
    },
    /// A preparatory step (coins list, metadata of one coin).
    Step(String),
}

/// Observer of [`IngestEvent`]s.
pub type ProgressSink = Arc<dyn Fn(IngestEvent) + Send + Sync>;

/// The ingester's idea of "now" (fixed in tests so two runs ask for the same windows).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a run needs besides the request.
pub struct Ingester<'a> {
    pub config: &'a Config,
    pub secrets: &'a Secrets,
    pub db: &'a Database,
    pub retry: RetryPolicy,
    /// No pair is started unless this much time is left before the deadline (on top of the
    /// time a pair has been taking), so the run can record itself.
    pub reserve: Duration,
    pub progress: Option<ProgressSink>,
    /// Where window ends come from; [`Utc::now`] unless a test fixes it.
    pub clock: Clock,
}

impl<'a> Ingester<'a> {
    /// An ingester with the default retry policy and a 10 s reserve.
    pub fn new(config: &'a Config, secrets: &'a Secrets, db: &'a Database) -> Self {
        Ingester {
            config,
            secrets,
            db,
            retry: RetryPolicy::default(),
            reserve: Duration::from_secs(10),
            progress: None,
            clock: Arc::new(Utc::now),
        }
    }

    fn emit(&self, event: IngestEvent) {
        if let Some(sink) = &self.progress {
            sink(event);
        }
    }

    /// Runs once. Never panics on bad input or faults: every outcome is in the report.
    #[tracing::instrument(name = "ingest", skip_all, fields(mode = ?request.mode, trigger = ?request.trigger))]
    pub async fn run(&self, request: RunRequest, deadline: Option<Instant>) -> RunReport {
        let started = Instant::now();
        let mut report = RunReport {
            run_id: request.run_id.unwrap_or_else(Uuid::new_v4),
            trigger: request.trigger,
            mode: request.mode,
            clean_first: request.clean_first,
            status: Status::Failed,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            duration_ms: 0,
            api_calls: 0,
            retries: 0,
            rate_limited: 0,
            pairs: PairCounts::default(),
            rows: RowCounts::default(),
            failures: Vec::new(),
            simulated: false,
            pair_results: Vec::new(),
        };

        let client = match self.db.client().await {
            Ok(c) => c,
            Err(e) => {
                report
                    .failures
                    .push(run_failure("DATABASE_UNAVAILABLE", &e.to_string()));
                return finish(report, started, None).await;
            }
        };
        let mut lock = match store::RunLock::try_acquire(client).await {
            Ok(Ok(lock)) => lock,
            Ok(Err(mut client)) => {
                report.status = Status::Skipped;
                tracing::info!("another ingestion run holds the lock; skipping");
                return finish(report, started, Some(&mut client)).await;
            }
            Err(e) => {
                report.failures.push(run_failure(
                    "DATABASE_UNAVAILABLE",
                    &DbError::from(e).to_string(),
                ));
                return finish(report, started, None).await;
            }
        };
        // From here on every path releases the lock (and a panic drops the guard, which
        // closes the connection, which releases it too).
        if let Err(e) = store::start_run(lock.client(), &report).await {
            let e = DbError::from(e);
            let code = if e.is_unavailable() {
                "DATABASE_UNAVAILABLE"
            } else {
                "DATABASE_ERROR"
            };
            tracing::error!(error = %e, "could not record the run as started");
            report.failures.push(run_failure(code, &e.to_string()));
            // Still try to close the row (an accepted run's row exists already).
            let report = finish(report, started, Some(lock.client())).await;
            lock.release().await;
            return report;
        }
        self.emit(IngestEvent::Started {
            run_id: report.run_id,
        });

        self.run_locked(&mut report, lock.client(), deadline).await;

        let report = finish(report, started, Some(lock.client())).await;
        lock.release().await;
        report
    }

    async fn run_locked(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        deadline: Option<Instant>,
    ) {
        let api_key = match &self.config.coingecko.api_key {
            None => None,
            Some(source) => match self.secrets.resolve(source).await {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::error!(error = %e, "the CoinGecko API key could not be read");
                    let message = format!("the CoinGecko API key could not be read: {e}");
                    for coin in &self.config.tracked_coins {
                        for currency in &self.config.tracked_currencies {
                            fail_pair(report, coin, currency, "SECRET_UNAVAILABLE", &message);
                        }
                    }
                    return;
                }
            },
        };
        let progress = self.progress.clone();
        let events = progress.map(|sink| {
            Arc::new(
                move |ClientEvent::Waiting {
                          wait,
                          rate_limited,
                          reason,
                      }| {
                    sink(IngestEvent::Waiting {
                        wait,
                        rate_limited,
                        reason,
                    })
                },
            ) as crate::coingecko::EventSink
        });
        let gecko = CoinGecko::new(&self.config.coingecko, api_key, self.retry.clone())
            // The client stops a reserve early, so the run always has time to write and record.
            .with_deadline(
                deadline.map(|d| d.checked_sub(self.reserve).unwrap_or_else(Instant::now)),
            )
            .with_events(events);

        let (known, unavailable) = self.reference_data(report, client, &gecko).await;
        // Pairs of coins that cannot be fetched are failed with the reason, not dropped.
        for (coin, code, message) in &unavailable {
            for currency in &self.config.tracked_currencies {
                fail_pair(report, coin, currency, code, message);
            }
        }
        self.refresh_metadata(report, client, &gecko, &known, deadline)
            .await;
        self.fetch_pairs(report, client, &gecko, &known, deadline)
            .await;

        report.api_calls = gecko.stats().calls();
        report.retries = gecko.stats().retries();
        report.rate_limited = gecko.stats().rate_limited();
        report.simulated = gecko.is_simulated();
    }

    /// Upserts currencies and coins; returns the tracked coins that exist in the database.
    async fn reference_data(
        &self,
        report: &mut RunReport,
        client: &deadpool_postgres::Object,
        gecko: &CoinGecko,
    ) -> (Vec<String>, Vec<(String, String, String)>) {
        let tracked = &self.config.tracked_coins;
        // Tracked coins whose pairs cannot be fetched, with the code and reason.
        let mut unavailable = Vec::new();
        let currencies = &self.config.tracked_currencies;
        let names: Vec<String> = currencies.iter().map(|c| currency_name(c)).collect();
        if let Err(e) = store::upsert_currencies(client, currencies, &names).await {
            report
                .failures
                .push(run_failure("DATABASE_ERROR", &DbError::from(e).to_string()));
        }
        self.emit(IngestEvent::Step("coins list".into()));
        match gecko.coins_list().await {
            Ok(list) => {
                let by_id: HashMap<&str, &CoinListEntry> =
                    list.iter().map(|c| (c.id.as_str(), c)).collect();
                let mut found = Vec::new();
                for (order, id) in tracked.iter().enumerate() {
                    match by_id.get(id.as_str()) {
                        Some(entry) => found.push(((*entry).clone(), order as i32)),
                        None => {
                            let message = unknown_coin_message(id, &list);
                            tracing::warn!(coin = %id, "{message}");
                            unavailable.push((id.clone(), "UNKNOWN_COIN".to_owned(), message));
                        }
                    }
                }
                if let Err(e) = store::upsert_coins(client, &found).await {
                    report
                        .failures
                        .push(run_failure("DATABASE_ERROR", &DbError::from(e).to_string()));
                }
                (found.into_iter().map(|(c, _)| c.id).collect(), unavailable)
            }
            Err(e) => {
                // Keep going with the coins stored by earlier runs.
                tracing::warn!(error = %e, "coins list unavailable; using stored coins");
                report.failures.push(Failure {
                    coin: None,
                    currency: None,
                    code: e.code(),
                    message: format!("/coins/list: {e}"),
                });
                let stored = store::reorder_coins(client, tracked)
                    .await
                    .unwrap_or_default();
                for coin in tracked.iter().filter(|c| !stored.contains(c)) {
                    unavailable.push((
                        coin.clone(),
                        e.code(),
                        format!("not stored yet and /coins/list is unavailable: {e}"),
                    ));
                }
                (stored, unavailable)
            }
        }
    }

    async fn refresh_metadata(
        &self,
        report: &mut RunReport,
        client: &deadpool_postgres::Object,
        gecko: &CoinGecko,
        known: &[String],
        deadline: Option<Instant>,
    ) {
        let stale = match store::stale_metadata(client, known, METADATA_MAX_AGE).await {
            Ok(ids) => ids,
            Err(e) => {
                report
                    .failures
                    .push(run_failure("DATABASE_ERROR", &DbError::from(e).to_string()));
                return;
            }
        };
        for id in stale {
            if self.out_of_time(deadline, Duration::ZERO) {
                break;
            }
            self.emit(IngestEvent::Step(format!("metadata of {id}")));
            let result = match gecko.coin(&id).await {
                Ok(info) => store::upsert_metadata(client, &info)
                    .await
                    .map_err(|e| ("DATABASE_ERROR".to_owned(), DbError::from(e).to_string())),
                Err(e) => Err((e.code(), e.to_string())),
            };
            match result {
                Ok(n) => report.rows.metadata += n,
                Err((code, message)) => {
                    tracing::warn!(coin = %id, %message, "metadata not refreshed");
                    report.failures.push(Failure {
                        coin: Some(id),
                        currency: None,
                        code,
                        message,
                    });
                }
            }
        }
    }

    async fn fetch_pairs(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        known: &[String],
        deadline: Option<Instant>,
    ) {
        let currencies = &self.config.tracked_currencies;
        let mut pairs = match store::newest_hours(&*client, known, currencies).await {
            Ok(p) => p,
            Err(e) => {
                let message = DbError::from(e).to_string();
                for coin in known {
                    for currency in currencies {
                        fail_pair(report, coin, currency, "DATABASE_ERROR", &message);
                    }
                }
                return;
            }
        };
        // Stalest first (never fetched before all), ties in configured order (stable sort).
        pairs.sort_by_key(|(_, _, newest)| newest.map(|t| t.timestamp()).unwrap_or(i64::MIN));
        self.emit(IngestEvent::Planned { pairs: pairs.len() });

        let mut spent = Duration::ZERO;
        let mut done = 0u32;
        for (index, (coin, currency, newest)) in pairs.into_iter().enumerate() {
            // Budget for the next pair: the average so far, or one rate period plus a margin.
            let expected = if done == 0 {
                Duration::from_secs(60) / self.config.coingecko.rate_limit_per_min.max(1)
                    + Duration::from_millis(500)
            } else {
                spent / done
            };
            if self.out_of_time(deadline, expected) {
                report.pairs.skipped += 1;
                let result = pair_result(&coin, &currency, "skipped", None, None);
                self.emit(IngestEvent::PairFinished {
                    index,
                    result: result.clone(),
                    error: Some("left for the next run (deadline)".into()),
                });
                report.pair_results.push(result);
                continue;
            }
            self.emit(IngestEvent::PairStarted {
                index,
                coin: coin.clone(),
                currency: currency.clone(),
            });
            let pair_started = Instant::now();
            let now = (self.clock)();
            // Replacing a pair's rows with only a short incremental window would erase its
            // history: cleanFirst always fetches the full window.
            let mode = if report.clean_first {
                Mode::Full
            } else {
                report.mode
            };
            let from = window_start(mode, newest, now);
            let outcome = self
                .fetch_and_write(
                    client,
                    gecko,
                    &coin,
                    &currency,
                    from,
                    now,
                    report
                        .clean_first
                        .then_some(store::Window { from, to: now }),
                )
                .await;
            let elapsed = pair_started.elapsed();
            spent += elapsed;
            done += 1;
            let mut result = pair_result(&coin, &currency, "ok", Some(from), Some(now));
            result.duration_ms = elapsed.as_millis() as u64;
            let error = match outcome {
                Ok(rows) => {
                    report.pairs.ok += 1;
                    report.rows.hourly += rows.hourly;
                    report.rows.daily += rows.daily;
                    result.hourly_rows = rows.hourly;
                    result.daily_rows = rows.daily;
                    None
                }
                Err((code, message)) => {
                    report.pairs.failed += 1;
                    result.status = "failed".into();
                    tracing::warn!(%coin, %currency, %code, %message, "pair failed");
                    report.failures.push(Failure {
                        coin: Some(coin.clone()),
                        currency: Some(currency.clone()),
                        code,
                        message: message.clone(),
                    });
                    Some(message)
                }
            };
            self.emit(IngestEvent::PairFinished {
                index,
                result: result.clone(),
                error,
            });
            report.pair_results.push(result);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_and_write(
        &self,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        coin: &str,
        currency: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        clean_first: Option<store::Window>,
    ) -> Result<PairRows, (String, String)> {
        let points = gecko
            .market_chart_range(coin, currency, from.timestamp(), to.timestamp())
            .await
            .map_err(|e: CgError| (e.code(), e.to_string()))?;
        let normalised = normalise(&points, from.timestamp_millis(), to.timestamp_millis());
        if normalised.hours.is_empty() {
            return Err((
                "NO_DATA".into(),
                format!(
                    "CoinGecko returned no usable price in the window ({} points dropped)",
                    normalised.dropped
                ),
            ));
        }
        if normalised.unusable_hours > 0 {
            tracing::warn!(
                %coin,
                %currency,
                hours = normalised.unusable_hours,
                "hours without a finite average were dropped"
            );
        }
        store::write_pair(client, coin, currency, &normalised.hours, clean_first)
            .await
            .map_err(|e| ("DATABASE_ERROR".into(), DbError::from(e).to_string()))
    }

    fn out_of_time(&self, deadline: Option<Instant>, expected: Duration) -> bool {
        deadline.is_some_and(|d| Instant::now() + self.reserve + expected > d)
    }
}

/// Records a pair that failed before it could be fetched.
fn fail_pair(report: &mut RunReport, coin: &str, currency: &str, code: &str, message: &str) {
    report.pairs.failed += 1;
    report
        .pair_results
        .push(pair_result(coin, currency, "failed", None, None));
    report.failures.push(Failure {
        coin: Some(coin.to_owned()),
        currency: Some(currency.to_owned()),
        code: code.to_owned(),
        message: message.to_owned(),
    });
}

/// The first instant to fetch for a pair whose newest stored hour is `newest`.
///
/// A full window starts at the first UTC midnight within the last 90 days, so its first day
/// is a whole day (a window starting at "now - 90 days" would store a first day of a few
/// hours that no later run corrects). An incremental window re-fetches 48 hours before the
/// newest stored hour, is never shorter than 2 days, and never starts before the full one.
pub fn window_start(
    mode: Mode,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let earliest = next_utc_midnight(now - FULL_WINDOW);
    match (mode, newest) {
        (Mode::Full, _) | (Mode::Incremental, None) => earliest,
        (Mode::Incremental, Some(newest)) => {
            (newest - INCREMENTAL_OVERLAP).clamp(earliest, now - MIN_WINDOW)
        }
    }
}

/// `t` if it is a UTC midnight, else the next one.
fn next_utc_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    if midnight == t {
        t
    } else {
        midnight + chrono::Duration::days(1)
    }
}

fn pair_result(
    coin: &str,
    currency: &str,
    status: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> PairResult {
    PairResult {
        coin: coin.to_owned(),
        currency: currency.to_owned(),
        status: status.to_owned(),
        from,
        to,
        hourly_rows: 0,
        daily_rows: 0,
        duration_ms: 0,
    }
}

fn run_failure(code: &str, message: &str) -> Failure {
    Failure {
        coin: None,
        currency: None,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// "unknown coin id" with the closest ids CoinGecko does know.
pub fn unknown_coin_message(id: &str, list: &[CoinListEntry]) -> String {
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

/// Completes the report, records it (unless the database is gone) and logs one summary line.
async fn finish(
    mut report: RunReport,
    started: Instant,
    client: Option<&mut deadpool_postgres::Object>,
) -> RunReport {
    report.finished_at = Utc::now().max(report.started_at);
    report.duration_ms = started.elapsed().as_millis() as u64;
    if report.status != Status::Skipped {
        let p = &report.pairs;
        report.status = if p.ok == 0 && (p.failed > 0 || !report.failures.is_empty()) {
            Status::Failed
        } else if p.failed > 0 || p.skipped > 0 {
            Status::Partial
        } else if p.ok == 0 {
            Status::Failed
        } else {
            Status::Succeeded
        };
    }
    if let Some(client) = client {
        if let Err(e) = store::finish_run(&*client, &report).await {
            tracing::error!(error = %DbError::from(e), "could not record the run");
        }
    }
    tracing::info!(
        run_id = %report.run_id,
        status = report.status.as_str(),
        mode = report.mode.as_str(),
        trigger = report.trigger.as_str(),
        duration_ms = report.duration_ms,
        api_calls = report.api_calls,
        retries = report.retries,
        rate_limited = report.rate_limited,
        pairs_ok = report.pairs.ok,
        pairs_failed = report.pairs.failed,
        pairs_skipped = report.pairs.skipped,
        rows_hourly = report.rows.hourly,
        rows_daily = report.rows.daily,
        rows_metadata = report.rows.metadata,
        simulated = report.simulated,
        "ingestion run finished"
    );
    report
}

/// A UTC instant from unix seconds (for tests and the simulator).
pub fn utc_from_secs(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_spec() {
        // 2025-11-24T16:00:00Z
        let now = utc_from_secs(1_764_000_000);
        // Full: the first UTC midnight within 90 days, 2025-08-27T00:00:00Z (89 days 16 h).
        let full_start = utc_from_secs(1_756_252_800);
        assert_eq!(full_start.to_rfc3339(), "2025-08-27T00:00:00+00:00");
        assert_eq!(window_start(Mode::Full, Some(now), now), full_start);
        assert_eq!(window_start(Mode::Incremental, None, now), full_start);
        let newest = now - chrono::Duration::hours(30);
        assert_eq!(
            window_start(Mode::Incremental, Some(newest), now),
            newest - INCREMENTAL_OVERLAP
        );
        // Fresh data: never a window under 2 days.
        assert_eq!(
            window_start(Mode::Incremental, Some(now), now),
            now - MIN_WINDOW
        );
        // Very old data: never more than the full window.
        let ancient = now - chrono::Duration::days(400);
        assert_eq!(
            window_start(Mode::Incremental, Some(ancient), now),
            full_start
        );
        // Exactly 90 days after a midnight, the window starts at that midnight.
        let at_midnight = full_start + FULL_WINDOW;
        assert_eq!(window_start(Mode::Full, None, at_midnight), full_start);
    }

    #[test]
    fn unknown_coin_suggests_close_ids() {
        let list = ["bitcoin", "bitcoin-cash", "ethereum", "wrapped-bitcoin"]
            .map(|id| CoinListEntry {
                id: id.into(),
                symbol: "x".into(),
                name: "X".into(),
            })
            .to_vec();
        let msg = unknown_coin_message("bitcoinn", &list);
        assert!(msg.contains("closest ids: bitcoin"), "{msg}");
        assert!(msg.contains("TRACKED_COINS"));
    }
}
