//! The ingester: what one run does between taking the lock and finishing (reference data,
//! metadata, then every pair stalest first, each written in its own transaction, then the
//! history backfill). Its lifecycle (lock, start, finish) is [`super::lifecycle`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use super::latest;
use super::lifecycle::RunGuard;
use super::messages;
use super::plan::{self, window_start, Budget, PairNewest};
use super::report::{
    CallCounts, FailureCode, Mode, Pair, PairResult, PairStatus, RunKind, RunReport, Trigger,
};
use super::store::{self, PairRows, Window, WriteOptions};
use crate::coingecko::{
    CgError, ClientEvent, CoinGecko, CoinGeckoEndpoint, CoinListEntry, RetryPolicy,
};
use crate::config::Config;
use crate::db::{Database, DbError};
use crate::domain::{currency_name, daily_snapshots, normalise};
use crate::secrets::Secrets;

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

/// A tracked coin whose pairs cannot be fetched this run, and why.
struct UnavailableCoin {
    coin: String,
    code: FailureCode,
    message: String,
}

/// Why one pair could not be written.
struct PairFailure {
    code: FailureCode,
    message: String,
}

impl PairFailure {
    fn upstream(e: CgError) -> Self {
        PairFailure {
            code: e.code(),
            message: e.to_string(),
        }
    }

    fn database(e: tokio_postgres::Error) -> Self {
        let e = DbError::from(e);
        PairFailure {
            code: e.failure_code(),
            message: e.to_string(),
        }
    }
}

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

    /// Runs once: takes the lock, records the run as started, does its work, and finishes
    /// it; a run that cannot take a step goes straight to the same finish. Never panics on
    /// bad input or faults: every outcome is in the report.
    #[tracing::instrument(name = "ingest", skip_all, fields(mode = ?request.mode, trigger = ?request.trigger))]
    pub async fn run(&self, request: RunRequest, deadline: Option<Instant>) -> RunReport {
        let mut run = RunGuard::new(RunReport::new(
            request.run_id.unwrap_or_else(Uuid::new_v4),
            request.trigger,
            request.mode,
            request.clean_first,
        ));
        // A pre-assigned id is a run the cron route accepted.
        if run.acquire(self.db, request.run_id.is_some()).await {
            // From here on every path releases the lock (and a panic drops the guard, which
            // closes the connection, which releases it too).
            if let Some((report, client)) = run.start().await {
                self.emit(IngestEvent::Started {
                    run_id: report.run_id,
                });
                self.work(report, client, deadline).await;
            }
        }
        run.finish().await
    }

    /// The run's work, while it holds the lock: reference data, metadata, the pairs and the
    /// backfill (or, for live quotes, the one refresh), each outcome in the report.
    async fn work(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        deadline: Option<Instant>,
    ) {
        let (coins, currencies) = (&self.config.tracked_coins, &self.config.tracked_currencies);
        let api_key = match &self.config.coingecko.api_key {
            None => None,
            Some(source) => match self.secrets.resolve(source).await {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::error!(error = %e, "the CoinGecko API key could not be read");
                    let message = messages::api_key_unreadable(&e);
                    report.fail_all(coins, currencies, FailureCode::SecretUnavailable, &message);
                    return;
                }
            },
        };
        let events = self.progress.clone().map(|sink| {
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
        match report.mode.kind() {
            RunKind::Live => {
                latest::refresh(report, client, &gecko, coins, currencies).await;
                record_calls(report, &gecko, 0);
                return;
            }
            RunKind::History => {}
        }
        let mut budget = Budget::new(
            deadline,
            self.reserve,
            self.config.coingecko.rate_limit_per_min,
        );

        let (known, unavailable) = self.reference_data(report, client, &gecko).await;
        // Pairs of coins that cannot be fetched are failed with the reason, not dropped.
        for u in &unavailable {
            report.fail_all(
                std::slice::from_ref(&u.coin),
                currencies,
                u.code,
                &u.message,
            );
        }
        self.refresh_metadata(report, client, &gecko, &known, &budget)
            .await;
        self.fetch_pairs(report, client, &gecko, &known, &mut budget)
            .await;
        let range_calls = gecko.stats().calls_to(CoinGeckoEndpoint::MarketChartRange);
        self.backfill(report, client, &gecko, &mut budget).await;
        let backfill_calls =
            gecko.stats().calls_to(CoinGeckoEndpoint::MarketChartRange) - range_calls;

        record_calls(report, &gecko, backfill_calls);
    }

    /// Upserts currencies and coins; returns the tracked coins that exist in the database
    /// and those whose pairs cannot be fetched.
    async fn reference_data(
        &self,
        report: &mut RunReport,
        client: &deadpool_postgres::Object,
        gecko: &CoinGecko,
    ) -> (Vec<String>, Vec<UnavailableCoin>) {
        let tracked = &self.config.tracked_coins;
        let mut unavailable = Vec::new();
        let currencies = &self.config.tracked_currencies;
        let names: Vec<String> = currencies.iter().map(|c| currency_name(c)).collect();
        if let Err(e) = store::upsert_currencies(client, currencies, &names).await {
            let failure = PairFailure::database(e);
            report.record_failure(None, failure.code, failure.message);
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
                            let message = messages::unknown_coin(id, &list);
                            tracing::warn!(coin = %id, "{message}");
                            unavailable.push(UnavailableCoin {
                                coin: id.clone(),
                                code: FailureCode::UnknownCoin,
                                message,
                            });
                        }
                    }
                }
                if let Err(e) = store::upsert_coins(client, &found).await {
                    let failure = PairFailure::database(e);
                    report.record_failure(None, failure.code, failure.message);
                }
                (found.into_iter().map(|(c, _)| c.id).collect(), unavailable)
            }
            Err(e) => {
                // Keep going with the coins stored by earlier runs.
                tracing::warn!(error = %e, "coins list unavailable; using stored coins");
                report.record_failure(None, e.code(), messages::coins_list_failed(&e));
                let stored = store::reorder_coins(client, tracked)
                    .await
                    .unwrap_or_default();
                for coin in tracked.iter().filter(|c| !stored.contains(c)) {
                    unavailable.push(UnavailableCoin {
                        coin: coin.clone(),
                        code: e.code(),
                        message: messages::not_stored_and_no_list(&e),
                    });
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
        budget: &Budget,
    ) {
        let stale = match store::stale_metadata(client, known, METADATA_MAX_AGE).await {
            Ok(ids) => ids,
            Err(e) => {
                let failure = PairFailure::database(e);
                report.record_failure(None, failure.code, failure.message);
                return;
            }
        };
        for id in stale {
            if budget.out_of_time(Duration::ZERO) {
                break;
            }
            self.emit(IngestEvent::Step(format!("metadata of {id}")));
            let result = match gecko.coin(&id).await {
                Ok(info) => store::upsert_metadata(client, &info)
                    .await
                    .map_err(PairFailure::database),
                Err(e) => Err(PairFailure::upstream(e)),
            };
            match result {
                Ok(n) => report.rows.metadata += n,
                Err(failure) => {
                    tracing::warn!(coin = %id, message = %failure.message, "metadata not refreshed");
                    report.record_failure(Some(id), failure.code, failure.message);
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
        budget: &mut Budget,
    ) {
        let currencies = &self.config.tracked_currencies;
        let pairs = match store::newest_hours(&*client, known, currencies).await {
            Ok(p) => plan::stalest_first(p),
            Err(e) => {
                let failure = PairFailure::database(e);
                report.fail_all(known, currencies, failure.code, &failure.message);
                return;
            }
        };
        self.emit(IngestEvent::Planned { pairs: pairs.len() });

        for (index, PairNewest { pair, newest }) in pairs.into_iter().enumerate() {
            if budget.next_pair_out_of_time() {
                report.record_skipped(&pair);
                self.emit(IngestEvent::PairFinished {
                    index,
                    result: PairResult::unstarted(&pair, PairStatus::Skipped),
                    error: Some("left for the next run (deadline)".into()),
                });
                continue;
            }
            self.emit(IngestEvent::PairStarted {
                index,
                coin: pair.coin.clone(),
                currency: pair.currency.clone(),
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
            let window = Window {
                from: window_start(mode, newest, now),
                to: now,
            };
            let options = WriteOptions {
                clean_window: report.clean_first.then_some(window),
                prune_before: self
                    .config
                    .history
                    .hourly_retention_days
                    .map(|days| now - chrono::Duration::days(days.into())),
            };
            let outcome = self
                .fetch_and_write(client, gecko, &pair, window, options)
                .await;
            let elapsed = pair_started.elapsed();
            budget.pair_took(elapsed);
            let mut result = PairResult::unstarted(&pair, PairStatus::Ok);
            result.from = Some(window.from);
            result.to = Some(window.to);
            result.duration_ms = elapsed.as_millis() as u64;
            let error = match outcome {
                Ok(rows) => {
                    result.hourly_rows = rows.hourly;
                    result.daily_rows = rows.daily;
                    report.rows.pruned += rows.pruned;
                    report.record_ok(result.clone());
                    None
                }
                Err(PairFailure { code, message }) => {
                    tracing::warn!(coin = %pair.coin, currency = %pair.currency, %code, %message, "pair failed");
                    report.record_failed(result.clone(), code, message.clone());
                    result.status = PairStatus::Failed;
                    Some(message)
                }
            };
            self.emit(IngestEvent::PairFinished {
                index,
                result,
                error,
            });
        }
    }

    async fn fetch_and_write(
        &self,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        pair: &Pair,
        window: Window,
        options: WriteOptions,
    ) -> Result<PairRows, PairFailure> {
        let (coin, currency) = (pair.coin.as_str(), pair.currency.as_str());
        let points = gecko
            .market_chart_range(
                coin,
                currency,
                window.from.timestamp(),
                window.to.timestamp(),
            )
            .await
            .map_err(PairFailure::upstream)?;
        let normalised = normalise(
            &points,
            window.from.timestamp_millis(),
            window.to.timestamp_millis(),
        );
        if normalised.hours.is_empty() {
            return Err(PairFailure {
                code: FailureCode::NoData,
                message: messages::no_usable_price(normalised.dropped),
            });
        }
        if normalised.unusable_hours > 0 {
            tracing::warn!(
                %coin,
                %currency,
                hours = normalised.unusable_hours,
                "hours without a finite average were dropped"
            );
        }
        store::write_pair(client, coin, currency, &normalised.hours, options)
            .await
            .map_err(PairFailure::database)
    }

    /// The history backfill: one daily range call over `HISTORY_DAYS` for each pair written
    /// this run whose daily history is shallower (see [`store::pairs_to_backfill`]), after
    /// every pair's hours, so a near deadline costs depth, never fresh prices.
    async fn backfill(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        budget: &mut Budget,
    ) {
        let days = self.config.history.days;
        if !plan::backfills(days) {
            return;
        }
        let written: Vec<Pair> = report
            .pair_results
            .iter()
            .filter(|r| r.status == PairStatus::Ok)
            .map(|r| Pair {
                coin: r.coin.clone(),
                currency: r.currency.clone(),
            })
            .collect();
        let pairs = match store::pairs_to_backfill(&*client, &written, days).await {
            Ok(pairs) => pairs,
            Err(e) => {
                let failure = PairFailure::database(e);
                report.record_failure(None, failure.code, failure.message);
                return;
            }
        };
        for pair in pairs {
            if budget.next_pair_out_of_time() {
                report.backfill.skipped += 1;
                continue;
            }
            self.emit(IngestEvent::Step(format!(
                "{days} days of {} in {}",
                pair.coin, pair.currency
            )));
            let started = Instant::now();
            let outcome = self.fetch_snapshots(client, gecko, &pair, days).await;
            budget.pair_took(started.elapsed());
            match outcome {
                Ok(rows) => report.record_backfilled(&pair, rows),
                Err(PairFailure { code, message }) => {
                    tracing::warn!(coin = %pair.coin, currency = %pair.currency, %code, %message, "history backfill failed");
                    report.record_backfill_failed(&pair, code, &message);
                }
            }
        }
    }

    async fn fetch_snapshots(
        &self,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        pair: &Pair,
        days: u32,
    ) -> Result<u64, PairFailure> {
        let now = (self.clock)();
        let from = plan::backfill_start(days, now);
        let points = gecko
            .market_chart_range(
                &pair.coin,
                &pair.currency,
                from.timestamp(),
                now.timestamp(),
            )
            .await
            .map_err(PairFailure::upstream)?;
        let snapshots = daily_snapshots(&points, from.timestamp_millis(), now.timestamp_millis());
        if snapshots.is_empty() {
            return Err(PairFailure {
                code: FailureCode::NoData,
                message: messages::no_daily_price(points.len()),
            });
        }
        store::write_snapshots(client, pair, &snapshots, days, Utc::now())
            .await
            .map_err(PairFailure::database)
    }
}

/// The client's counters in the report; `backfill_calls` of its range calls were the backfill's.
fn record_calls(report: &mut RunReport, gecko: &CoinGecko, backfill_calls: u64) {
    let stats = gecko.stats();
    report.api_calls = stats.calls();
    report.calls = CallCounts {
        coins_list: stats.calls_to(CoinGeckoEndpoint::CoinsList),
        coin: stats.calls_to(CoinGeckoEndpoint::Coin),
        range: stats.calls_to(CoinGeckoEndpoint::MarketChartRange) - backfill_calls,
        backfill: backfill_calls,
        simple_price: stats.calls_to(CoinGeckoEndpoint::SimplePrice),
    };
    report.retries = stats.retries();
    report.rate_limited = stats.rate_limited();
    report.simulated = gecko.is_simulated();
}
