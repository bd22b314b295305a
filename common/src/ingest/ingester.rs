//! The ingester: what one run does between taking the lock and finishing (reference data,
//! metadata, then every pair stalest first, each written in its own transaction, then the
//! history backfill). Its lifecycle (lock, start, finish) is [`super::lifecycle`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use super::call_budget::CallBudget;
use super::call_plan;
use super::latest;
use super::lifecycle::RunGuard;
use super::messages;
use super::plan::{self, window_start, Budget, PairNewest};
use super::report::{
    CallCounts, DeferReason, DeferredWork, FailureCode, Mode, Pair, PairResult, PairStatus,
    RunKind, RunReport, Trigger,
};
use super::store::{self, PairRows, Window, WriteOptions};
use super::tracking::{self, Tracked};
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
    /// When the run is recorded as started, which decides the month its calls count in;
    /// [`Utc::now`] unless a simulated month moves it.
    pub wall: Clock,
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
            wall: Arc::new(Utc::now),
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
        let mut report = RunReport::new(
            request.run_id.unwrap_or_else(Uuid::new_v4),
            request.trigger,
            request.mode,
            request.clean_first,
        );
        report.started_at = (self.wall)();
        let mut run = RunGuard::new(report);
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

    /// The run's work, while it holds the lock: for a history run the reference data and the
    /// ranking, metadata, the pinned pairs and the depth of every tracked pair; for live quotes
    /// the one refresh. Every call comes out of the month's budget; each outcome, and what the
    /// budget or the deadline left for later, is in the report.
    async fn work(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        deadline: Option<Instant>,
    ) {
        let currencies = &self.config.tracked_currencies;
        let pinned = &self.config.tracked_coins.pinned;
        let stored = match self.stored_tracked(client).await {
            Ok(stored) => stored,
            Err(e) => {
                let failure = PairFailure::database(e);
                report.fail_all(pinned, currencies, failure.code, &failure.message);
                return;
            }
        };
        let api_key = match &self.config.coingecko.api_key {
            None => None,
            Some(source) => match self.secrets.resolve(source).await {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::error!(error = %e, "the CoinGecko API key could not be read");
                    let message = messages::api_key_unreadable(&e);
                    let coins = stored.coins();
                    report.fail_all(&coins, currencies, FailureCode::SecretUnavailable, &message);
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
        // The month is the wall clock's, as the recorded runs' start times are.
        let now = report.started_at;
        let mut calls = CallBudget::new(report.run_id, self.config.coingecko.monthly_calls, now);
        let gecko = CoinGecko::new(&self.config.coingecko, api_key, self.retry.clone())
            // The client stops a reserve early, so the run always has time to write and record.
            .with_deadline(
                deadline.map(|d| d.checked_sub(self.reserve).unwrap_or_else(Instant::now)),
            )
            .with_allowance(calls.allowance())
            .with_events(events);
        let mut depth_calls = 0;
        match report.mode.kind() {
            RunKind::Live => {
                let coins = self.due_quotes(&stored.coins(), now);
                let want = simple_price_calls(&coins) * self.attempts();
                // With nothing granted the client sends nothing, and the refresh records the
                // quotes as deferred.
                self.reserve_calls(report, client, &mut calls, want, 0)
                    .await;
                latest::refresh(report, client, &gecko, &coins, currencies).await;
            }
            RunKind::History => {
                depth_calls = self
                    .history(report, client, &gecko, &mut calls, stored, deadline, now)
                    .await;
            }
        }
        match calls.settle(client).await {
            Ok(status) => report.budget = Some(status),
            Err(e) => {
                let failure = PairFailure::database(e);
                report.record_failure(None, failure.code, failure.message);
            }
        }
        record_calls(report, &gecko, depth_calls);
    }

    /// The coins whose quotes the live refresh at `now` fetches: the first `/simple/price` call
    /// (pinned coins, then the largest) every time, the others in turn as the month's plan
    /// spaces them ([`call_plan::CallPlan::due`]).
    fn due_quotes(&self, coins: &[String], now: DateTime<Utc>) -> Vec<String> {
        let chunks = crate::coingecko::id_chunks(coins);
        let Some(every) = self
            .config
            .live_every
            .map(|d| d.as_secs() / 60)
            .filter(|m| *m > 0)
        else {
            return coins.to_vec();
        };
        let plan = call_plan::configured(self.config, coins.len() as u64, chunks.len() as u64);
        let slot = now.timestamp().max(0) as u64 / 60 / every;
        chunks
            .iter()
            .enumerate()
            .filter(|(index, _)| plan.due(*index, slot))
            .flat_map(|(_, chunk)| chunk.iter().cloned())
            .collect()
    }

    /// The tracked set as the last ranking left it: the pinned ids and, with `top:N`, the
    /// stored tracked coins by rank.
    async fn stored_tracked(
        &self,
        client: &deadpool_postgres::Object,
    ) -> Result<Tracked, tokio_postgres::Error> {
        let pinned = self.config.tracked_coins.pinned.clone();
        let ranked = match self.config.tracked_coins.top {
            Some(_) => store::tracked_ranked(client, &pinned).await?,
            None => Vec::new(),
        };
        Ok(Tracked { pinned, ranked })
    }

    /// The most requests one call may take (its retries included): what a step reserves for
    /// each call it plans. The run gives back what it did not use.
    fn attempts(&self) -> u64 {
        self.retry.max_retries as u64 + 1
    }

    /// Tops the run's allowance up to `want` calls, keeping `keep` of the month for work that
    /// comes first; false (and nothing reserved) when not one call is left. A database error
    /// is recorded and counts as no call.
    async fn reserve_calls(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        calls: &mut CallBudget,
        want: u64,
        keep: u64,
    ) -> bool {
        match calls.reserve(client, want, keep).await {
            Ok(left) => left > 0,
            Err(e) => {
                let failure = PairFailure::database(e);
                report.record_failure(None, failure.code, failure.message);
                false
            }
        }
    }

    /// A history run: reference data and the ranking, the pinned pairs' metadata and range
    /// refresh, then depth (pinned first, then by rank). Returns the range calls made for
    /// depth.
    #[allow(clippy::too_many_arguments)]
    async fn history(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        calls: &mut CallBudget,
        stored: Tracked,
        deadline: Option<Instant>,
        now: DateTime<Utc>,
    ) -> u64 {
        let currencies = &self.config.tracked_currencies;
        let pinned = &self.config.tracked_coins.pinned;
        // What the month's remaining live refreshes will take, tiers as the plan spaces them.
        let coins = stored.coins();
        let live =
            call_plan::configured(self.config, coins.len() as u64, simple_price_calls(&coins));
        let ahead = call_plan::MonthAhead::new(now, self.config.live_every);
        let keep_live = ahead.live_calls(&live.tiers);
        let ranking = match self.config.tracked_coins.top {
            Some(n) => match tracking::ranking_due(&*client, now).await {
                Ok(true) => Some(n),
                Ok(false) => None,
                Err(e) => {
                    let failure = PairFailure::database(e);
                    report.record_failure(None, failure.code, failure.message);
                    None
                }
            },
            None => None,
        };
        let ranking_calls = ranking.map_or(0, |n| {
            tracking::ranking_calls(n, currencies.len(), pinned.len())
        });
        let want = (1 + ranking_calls) * self.attempts();
        self.reserve_calls(report, client, calls, want, keep_live)
            .await;
        let mut budget = Budget::new(
            deadline,
            self.reserve,
            self.config.coingecko.rate_limit_per_min,
        );

        let (known, unavailable) = self.reference_data(report, client, gecko).await;
        // Pairs of coins that cannot be fetched are failed with the reason, not dropped.
        for u in &unavailable {
            report.fail_all(
                std::slice::from_ref(&u.coin),
                currencies,
                u.code,
                &u.message,
            );
        }
        let ranked = match ranking {
            Some(n) => tracking::resolve(report, client, gecko, n, &known, currencies, now)
                .await
                .map(|top| top.into_iter().filter(|id| !known.contains(id)).collect())
                .unwrap_or(stored.ranked),
            None => stored.ranked,
        };
        let tracked = Tracked {
            pinned: known,
            ranked,
        };
        let changed = match store::set_tracked(&*client, &tracked.coins()).await {
            Ok(changed) => {
                store::refresh_market(&*client, &changed, currencies, store::Wrote::Hours).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = changed {
            let failure = PairFailure::database(e);
            report.record_failure(None, failure.code, failure.message);
        }

        // The pinned pairs' metadata and range refresh, before any depth.
        let pinned_calls = (tracked.pinned.len() * (currencies.len() + 1)) as u64;
        self.reserve_calls(
            report,
            client,
            calls,
            pinned_calls * self.attempts(),
            keep_live,
        )
        .await;
        self.refresh_metadata(report, client, gecko, &tracked.pinned, &budget)
            .await;
        self.fetch_pairs(report, client, gecko, &tracked.pinned, &mut budget)
            .await;

        // Depth: what is left of the month after its live quotes and daily runs.
        // Every pinned coin counted outside the top N (an upper bound).
        let daily_calls = call_plan::history_run_calls(
            self.config.tracked_coins.top,
            currencies.len() as u64,
            pinned.len() as u64,
            pinned.len() as u64,
        );
        let keep = keep_live + ahead.days_after_today() * daily_calls;
        let before = gecko.stats().calls_to(CoinGeckoEndpoint::MarketChartRange);
        let mut depth = Depth {
            calls,
            keep,
            budget: &mut budget,
        };
        self.depth(report, client, gecko, &tracked.ranked, &mut depth)
            .await;
        gecko.stats().calls_to(CoinGeckoEndpoint::MarketChartRange) - before
    }

    /// Upserts currencies and the pinned coins; returns the pinned coins that exist in the
    /// database and those whose pairs cannot be fetched.
    async fn reference_data(
        &self,
        report: &mut RunReport,
        client: &deadpool_postgres::Object,
        gecko: &CoinGecko,
    ) -> (Vec<String>, Vec<UnavailableCoin>) {
        let tracked = &self.config.tracked_coins.pinned;
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
                report.defer(DeferredWork::Range, DeferReason::Deadline, 1);
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
                Err(PairFailure { code, message }) if deferral(code).is_some() => {
                    let reason = deferral(code).expect("matched");
                    report.defer(DeferredWork::Range, reason, 1);
                    report.record_skipped(&pair);
                    result.status = PairStatus::Skipped;
                    Some(message)
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

    /// The depth phase's work in spend order: the holes in the hours of the pinned pairs
    /// written this run and those pairs that need their year of daily points, then coin by
    /// coin in rank order each ranked coin's 90 hourly days (pairs without CoinGecko's hourly
    /// points) or the holes in its hours, its year of daily points and its description (never
    /// fetched).
    async fn depth_items(
        &self,
        report: &RunReport,
        client: &deadpool_postgres::Object,
        ranked: &[String],
    ) -> Result<Vec<DepthItem>, tokio_postgres::Error> {
        let currencies = &self.config.tracked_currencies;
        let days = self.config.history.days;
        let daily = plan::backfills(days);
        let written: Vec<Pair> = report
            .pair_results
            .iter()
            .filter(|r| r.status == PairStatus::Ok)
            .map(|r| Pair {
                coin: r.coin.clone(),
                currency: r.currency.clone(),
            })
            .collect();
        let mut items: Vec<DepthItem> = Vec::new();
        let pinned_holes = store::holes(client, &written).await?;
        items.extend(
            pinned_holes
                .into_iter()
                .map(|(p, since)| DepthItem::Hole(p, since)),
        );
        if daily {
            let pinned = store::pairs_to_backfill(client, &written, days).await?;
            items.extend(pinned.into_iter().map(DepthItem::Daily));
        }
        let shallow = store::pairs_without_range_hours(client, ranked, currencies).await?;
        let pairs: Vec<Pair> = ranked
            .iter()
            .flat_map(|coin| {
                currencies.iter().map(|currency| Pair {
                    coin: coin.clone(),
                    currency: currency.clone(),
                })
            })
            .collect();
        let holes = store::holes(client, &pairs).await?;
        let short = if daily {
            store::pairs_to_backfill(client, &pairs, days).await?
        } else {
            Vec::new()
        };
        let undescribed = store::never_described(client, ranked).await?;
        for coin in ranked {
            let of = |pairs: &[Pair]| -> Vec<Pair> {
                pairs.iter().filter(|p| p.coin == *coin).cloned().collect()
            };
            items.extend(of(&shallow).into_iter().map(DepthItem::Hourly));
            items.extend(
                holes
                    .iter()
                    .filter(|(p, _)| p.coin == *coin && !shallow.contains(p))
                    .map(|(p, since)| DepthItem::Hole(p.clone(), *since)),
            );
            items.extend(of(&short).into_iter().map(DepthItem::Daily));
            if undescribed.contains(coin) {
                items.push(DepthItem::Metadata(coin.clone()));
            }
        }
        Ok(items)
    }

    /// The depth phase: each item of [`Self::depth_items`] while the deadline leaves time and
    /// the month's budget a call (reserved in chunks, keeping `depth.keep` for work that comes
    /// first); the rest is deferred with the reason. Returns the range calls it made.
    async fn depth(
        &self,
        report: &mut RunReport,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        ranked: &[String],
        depth: &mut Depth<'_>,
    ) {
        let items = match self.depth_items(report, client, ranked).await {
            Ok(items) => items,
            Err(e) => {
                let failure = PairFailure::database(e);
                report.record_failure(None, failure.code, failure.message);
                return;
            }
        };
        for (index, item) in items.iter().enumerate() {
            if depth.budget.next_pair_out_of_time() {
                defer_depth(report, &items[index..], DeferReason::Deadline);
                return;
            }
            if depth.calls.left() < self.attempts() {
                let (calls, keep) = (&mut *depth.calls, depth.keep);
                if !self
                    .reserve_calls(report, client, calls, DEPTH_CHUNK * self.attempts(), keep)
                    .await
                {
                    defer_depth(report, &items[index..], DeferReason::Budget);
                    return;
                }
            }
            self.emit(IngestEvent::Step(item.to_string()));
            let started = Instant::now();
            let outcome = self.depth_item(client, gecko, item).await;
            depth.budget.pair_took(started.elapsed());
            match (outcome, item) {
                (Ok(rows), DepthItem::Hourly(_) | DepthItem::Hole(..)) => {
                    report.rows.hourly += rows
                }
                (Ok(rows), DepthItem::Daily(pair)) => report.record_backfilled(pair, rows),
                (Ok(rows), DepthItem::Metadata(_)) => report.rows.metadata += rows,
                (Err(PairFailure { code, .. }), _) if deferral(code).is_some() => {
                    let reason = deferral(code).expect("matched");
                    defer_depth(report, &items[index..], reason);
                    return;
                }
                (Err(PairFailure { code, message }), item) => {
                    tracing::warn!(%item, %code, %message, "depth not fetched");
                    match item {
                        DepthItem::Daily(pair) => {
                            report.record_backfill_failed(pair, code, &message)
                        }
                        DepthItem::Hourly(Pair { coin, .. })
                        | DepthItem::Hole(Pair { coin, .. }, _)
                        | DepthItem::Metadata(coin) => {
                            report.record_failure(Some(coin.clone()), code, message)
                        }
                    }
                }
            }
        }
    }

    /// Fetches and stores one depth item; returns the rows it wrote.
    async fn depth_item(
        &self,
        client: &mut deadpool_postgres::Object,
        gecko: &CoinGecko,
        item: &DepthItem,
    ) -> Result<u64, PairFailure> {
        match item {
            DepthItem::Hourly(pair) => {
                let now = (self.clock)();
                let window = Window {
                    from: window_start(Mode::Full, None, now),
                    to: now,
                };
                self.fetch_and_write(client, gecko, pair, window, WriteOptions::default())
                    .await
                    .map(|rows| rows.hourly)
            }
            DepthItem::Hole(pair, since) => {
                let now = (self.clock)();
                let window = Window {
                    from: (*since).max(window_start(Mode::Full, None, now)),
                    to: now,
                };
                let rows = self
                    .fetch_and_write(client, gecko, pair, window, WriteOptions::default())
                    .await?;
                store::hole_filled(&*client, pair, *since)
                    .await
                    .map_err(PairFailure::database)?;
                Ok(rows.hourly)
            }
            DepthItem::Daily(pair) => {
                self.fetch_snapshots(client, gecko, pair, self.config.history.days)
                    .await
            }
            DepthItem::Metadata(id) => match gecko.coin(id).await {
                Ok(info) => store::upsert_metadata(&*client, &info)
                    .await
                    .map_err(PairFailure::database),
                Err(e) => Err(PairFailure::upstream(e)),
            },
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

/// Calls (each with its retries) the depth phase reserves at a time.
const DEPTH_CHUNK: u64 = 10;

/// The `/simple/price` calls one refresh of `coins` takes.
fn simple_price_calls(coins: &[String]) -> u64 {
    crate::coingecko::id_chunks(coins).len() as u64
}

/// The depth phase's limits: the run's calls (with the month's `keep` for work that comes
/// first) and its time.
struct Depth<'b> {
    calls: &'b mut CallBudget,
    keep: u64,
    budget: &'b mut Budget,
}

/// One item of the depth phase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DepthItem {
    /// A pair's 90 days of CoinGecko's hourly points (one full-window range call).
    Hourly(Pair),
    /// The hours a pair went without quotes, after its newest hour before them (one range
    /// call from there, within the 90 days).
    Hole(Pair, DateTime<Utc>),
    /// A pair's year of daily points (one range call over `HISTORY_DAYS`).
    Daily(Pair),
    /// A coin's description and website (`/coins/{id}`).
    Metadata(String),
}

impl std::fmt::Display for DepthItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DepthItem::Hourly(p) => write!(f, "90 days of {} in {}", p.coin, p.currency),
            DepthItem::Hole(p, since) => {
                write!(f, "the hours of {} in {} after {since}", p.coin, p.currency)
            }
            DepthItem::Daily(p) => write!(f, "a year of {} in {}", p.coin, p.currency),
            DepthItem::Metadata(id) => write!(f, "metadata of {id}"),
        }
    }
}

/// Records `items` as left for later for `reason`, by kind of work.
fn defer_depth(report: &mut RunReport, items: &[DepthItem], reason: DeferReason) {
    for item in items {
        let work = match item {
            DepthItem::Hourly(_) | DepthItem::Hole(..) => DeferredWork::HourlyBackfill,
            DepthItem::Daily(_) => {
                report.backfill.skipped += 1;
                DeferredWork::DailyBackfill
            }
            DepthItem::Metadata(_) => DeferredWork::Metadata,
        };
        report.defer(work, reason, 1);
    }
}

/// Why an item was left for later, when its failure was the budget or the deadline.
fn deferral(code: FailureCode) -> Option<DeferReason> {
    match code {
        FailureCode::BudgetSpent => Some(DeferReason::Budget),
        FailureCode::Deadline => Some(DeferReason::Deadline),
        _ => None,
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
        markets: stats.calls_to(CoinGeckoEndpoint::Markets),
    };
    report.retries = stats.retries();
    report.rate_limited = stats.rate_limited();
    report.simulated = gecko.is_simulated();
}
