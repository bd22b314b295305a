//! The run report (returned by the Lambda and the CLI, stored in `ingestion_runs.report`)
//! and its CloudWatch metrics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::FailureCode;

/// How far back a run fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The last 90 days of every pair.
    Full,
    /// From 48 hours before each pair's newest stored hour (at least 2 days).
    #[default]
    Incremental,
    /// Live quotes only: one `/simple/price` call into `price_latest`; no history.
    Latest,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The EventBridge schedule.
    Schedule,
    /// A direct invoke with a JSON payload.
    Manual,
    /// `POST /api/cron/fetch-data`.
    Http,
    /// `crypto-dashboard ingest`.
    Cli,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every pair was written.
    Succeeded,
    /// Some pairs failed or were left for the next run.
    Partial,
    /// Nothing could be done (database unreachable, every pair failed).
    Failed,
    /// Another run held the lock.
    Skipped,
}

/// The two kinds of run, reported apart (health, the runs route, `status`): one never hides
/// the other's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// History runs: modes `full` and `incremental`.
    History,
    /// Live quote refreshes: mode `latest`.
    Live,
}

impl Mode {
    /// The lowercase name stored in `ingestion_runs.mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
            Mode::Latest => "latest",
        }
    }

    /// Whether a run of this mode is a history run or a live refresh.
    pub fn kind(self) -> RunKind {
        match self {
            Mode::Full | Mode::Incremental => RunKind::History,
            Mode::Latest => RunKind::Live,
        }
    }
}

impl Trigger {
    /// The lowercase name stored in `ingestion_runs.trigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Http => "http",
            Trigger::Cli => "cli",
        }
    }
}

impl Status {
    /// The lowercase name stored in `ingestion_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Partial => "partial",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// A run as stored in `ingestion_runs.status`: running, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Accepted or under way; its report is not written yet.
    Running,
    Succeeded,
    Partial,
    Failed,
    Skipped,
}

impl From<Status> for RunStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Succeeded => RunStatus::Succeeded,
            Status::Partial => RunStatus::Partial,
            Status::Failed => RunStatus::Failed,
            Status::Skipped => RunStatus::Skipped,
        }
    }
}

impl RunStatus {
    /// The lowercase name stored in `ingestion_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// How one pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PairStatus {
    /// Fetched and written.
    Ok,
    /// Not written; the run's `failures` has one entry for it.
    Failed,
    /// Left for the next run (the deadline was near).
    Skipped,
}

impl PairStatus {
    /// The lowercase name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Ok => "ok",
            PairStatus::Failed => "failed",
            PairStatus::Skipped => "skipped",
        }
    }
}

/// A (coin, currency) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub coin: String,
    pub currency: String,
}

/// Pairs by outcome (of their hourly window, or of their history backfill).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PairCounts {
    pub ok: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl PairCounts {
    /// No pair counted.
    pub fn is_empty(&self) -> bool {
        *self == PairCounts::default()
    }
}

/// Rows inserted or changed (unchanged rows are not rewritten and not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowCounts {
    pub hourly: u64,
    pub daily: u64,
    pub metadata: u64,
    /// Live quotes written (mode `latest`; absent from older reports).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latest: u64,
    /// Daily snapshot rows written by the history backfill (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot: u64,
    /// Hourly rows pruned by `HOURLY_RETENTION_DAYS` (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pruned: u64,
}

/// CoinGecko requests of the run (attempts, retries included) by endpoint; they add up to
/// `apiCalls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    /// `/coins/list`.
    pub coins_list: u64,
    /// `/coins/{id}` (metadata).
    pub coin: u64,
    /// `/coins/{id}/market_chart/range` for the hourly window.
    pub range: u64,
    /// `/coins/{id}/market_chart/range` for the year of daily snapshots.
    pub backfill: u64,
    /// `/simple/price` (mode `latest`).
    pub simple_price: u64,
    /// `/coins/markets` (the ranking, and the market data of coins new to the table).
    #[serde(default)]
    pub markets: u64,
}

/// Work a run left for later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeferredWork {
    /// Live quotes of some coins (`/simple/price` calls not made).
    Quotes,
    /// The ranking (`/coins/markets` pages not fetched).
    Ranking,
    /// Pinned pairs' range refresh.
    Range,
    /// Coins' metadata (`/coins/{id}`).
    Metadata,
    /// Pairs' 90 days of hourly history.
    HourlyBackfill,
    /// Pairs' year of daily history.
    DailyBackfill,
}

/// Why work was left for later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeferReason {
    /// The month's call budget left no call for it.
    Budget,
    /// The run's deadline left no time for it.
    Deadline,
}

/// `count` items of `work` left for a later run, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deferred {
    pub work: DeferredWork,
    pub reason: DeferReason,
    /// Pairs (quotes, range, backfills), coins (metadata) or pages (ranking).
    pub count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One failure: a pair, a coin's metadata (`currency` null), or the run itself (`coin` null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    #[schema(required = true)]
    pub coin: Option<String>,
    #[schema(required = true)]
    pub currency: Option<String>,
    /// What failed, e.g. `HTTP_STATUS`, `DATABASE_UNAVAILABLE`.
    #[schema(value_type = String)]
    pub code: FailureCode,
    pub message: String,
}

/// The outcome of one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairResult {
    pub coin: String,
    pub currency: String,
    pub status: PairStatus,
    #[schema(required = true)]
    pub from: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub to: Option<DateTime<Utc>>,
    pub hourly_rows: u64,
    pub daily_rows: u64,
    /// Daily snapshot rows the pair's backfill wrote (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot_rows: u64,
    pub duration_ms: u64,
}

impl PairResult {
    /// The result of a pair that was never fetched.
    pub fn unstarted(pair: &Pair, status: PairStatus) -> Self {
        PairResult {
            coin: pair.coin.clone(),
            currency: pair.currency.clone(),
            status,
            from: None,
            to: None,
            hourly_rows: 0,
            daily_rows: 0,
            snapshot_rows: 0,
            duration_ms: 0,
        }
    }
}

/// The JSON run report (docs/operating.md shows one; the runs route serves them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub mode: Mode,
    pub clean_first: bool,
    pub status: Status,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub api_calls: u64,
    /// `apiCalls` by endpoint (absent from older reports).
    #[serde(default)]
    pub calls: CallCounts,
    /// The month's call budget after this run (absent from runs that made no call and from
    /// older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::call_budget::BudgetStatus>,
    /// What the budget or the deadline left for later runs (empty when nothing).
    #[serde(default)]
    pub deferred: Vec<Deferred>,
    pub retries: u64,
    pub rate_limited: u64,
    pub pairs: PairCounts,
    /// Pairs whose history backfill (one daily range call) ran, by outcome; absent when no
    /// pair needed one. A failed backfill has one entry in `failures` (`coin` set, `currency`
    /// null, the message naming it).
    #[serde(default, skip_serializing_if = "PairCounts::is_empty")]
    pub backfill: PairCounts,
    pub rows: RowCounts,
    pub failures: Vec<Failure>,
    /// True when the prices came from the built-in CoinGecko simulator.
    pub simulated: bool,
    /// Quote timestamps more than a minute ahead of the fetch, stored as the fetch time
    /// (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clamped_timestamps: u64,
    /// Which start of this run this is: 2 and more when Lambda retried an accepted run
    /// (same `runId`); 1 in older reports.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// What the earlier starts of this run ended with, oldest first (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<EarlierAttempt>,
    pub pair_results: Vec<PairResult>,
}

fn first_attempt() -> u32 {
    1
}

/// An earlier start of a run that Lambda retried: how it ended and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EarlierAttempt {
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
    /// True when the attempt never recorded its end (its container died); a later run
    /// closed it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    #[serde(default)]
    pub failures: Vec<Failure>,
}

impl RunReport {
    /// An empty report of a run of `request` starting now.
    pub fn new(run_id: Uuid, trigger: Trigger, mode: Mode, clean_first: bool) -> Self {
        let now = Utc::now();
        RunReport {
            run_id,
            trigger,
            mode,
            clean_first,
            status: Status::Failed,
            started_at: now,
            finished_at: now,
            duration_ms: 0,
            api_calls: 0,
            calls: CallCounts::default(),
            budget: None,
            deferred: Vec::new(),
            retries: 0,
            rate_limited: 0,
            pairs: PairCounts::default(),
            backfill: PairCounts::default(),
            rows: RowCounts::default(),
            failures: Vec::new(),
            simulated: false,
            clamped_timestamps: 0,
            attempt: 1,
            earlier_attempts: Vec::new(),
            pair_results: Vec::new(),
        }
    }

    /// Records `count` items of `work` left for later for `reason` (merged with an entry of
    /// the same work and reason).
    pub fn defer(&mut self, work: DeferredWork, reason: DeferReason, count: u64) {
        if count == 0 {
            return;
        }
        match self
            .deferred
            .iter_mut()
            .find(|d| d.work == work && d.reason == reason)
        {
            Some(d) => d.count += count,
            None => self.deferred.push(Deferred {
                work,
                reason,
                count,
            }),
        }
    }

    /// A pair written: `result` carries its window, rows and duration.
    pub fn record_ok(&mut self, result: PairResult) {
        debug_assert_eq!(result.status, PairStatus::Ok);
        self.pairs.ok += 1;
        self.rows.hourly += result.hourly_rows;
        self.rows.daily += result.daily_rows;
        self.pair_results.push(result);
    }

    /// A pair's backfill written: `rows` daily snapshots, added to the pair's result.
    pub fn record_backfilled(&mut self, pair: &Pair, rows: u64) {
        self.backfill.ok += 1;
        self.rows.snapshot += rows;
        if let Some(result) = self
            .pair_results
            .iter_mut()
            .find(|r| r.coin == pair.coin && r.currency == pair.currency)
        {
            result.snapshot_rows += rows;
        }
    }

    /// A pair's backfill that failed; the pair's own result stays as it was.
    pub fn record_backfill_failed(&mut self, pair: &Pair, code: FailureCode, message: &str) {
        self.backfill.failed += 1;
        self.record_failure(
            Some(pair.coin.clone()),
            code,
            format!(
                "history backfill of {} in {}: {message}",
                pair.coin, pair.currency
            ),
        );
    }

    /// A pair that failed (before or after its fetch): its result and one failure entry.
    pub fn record_failed(&mut self, mut result: PairResult, code: FailureCode, message: String) {
        result.status = PairStatus::Failed;
        result.hourly_rows = 0;
        result.daily_rows = 0;
        self.pairs.failed += 1;
        self.failures.push(Failure {
            coin: Some(result.coin.clone()),
            currency: Some(result.currency.clone()),
            code,
            message,
        });
        self.pair_results.push(result);
    }

    /// A pair left for the next run.
    pub fn record_skipped(&mut self, pair: &Pair) {
        self.pairs.skipped += 1;
        self.pair_results
            .push(PairResult::unstarted(pair, PairStatus::Skipped));
    }

    /// Every pair of `coins` x `currencies` failed for one reason (a secret, the database).
    pub fn fail_all(
        &mut self,
        coins: &[String],
        currencies: &[String],
        code: FailureCode,
        message: &str,
    ) {
        for coin in coins {
            for currency in currencies {
                let pair = Pair {
                    coin: coin.clone(),
                    currency: currency.clone(),
                };
                self.record_failed(
                    PairResult::unstarted(&pair, PairStatus::Failed),
                    code,
                    message.to_owned(),
                );
            }
        }
    }

    /// A failure of the run itself or of one coin's metadata (`coin`), not of a pair.
    pub fn record_failure(&mut self, coin: Option<String>, code: FailureCode, message: String) {
        self.failures.push(Failure {
            coin,
            currency: None,
            code,
            message,
        });
    }

    /// How the run ended, from its pairs, rows and failures: succeeded when nothing failed and
    /// nothing was left (a `top:N` run without pinned pairs and nothing due included); failed
    /// when something failed or was left and no price was written; partial otherwise (a pair,
    /// a backfill, or a step outside the pairs failed or was left: the coins list, the
    /// ranking, metadata, the currencies, backfill planning). A skipped run stays skipped.
    pub fn outcome(&self) -> Status {
        if self.status == Status::Skipped {
            return Status::Skipped;
        }
        let (p, r) = (&self.pairs, &self.rows);
        let flawless = self.failures.is_empty()
            && p.failed == 0
            && p.skipped == 0
            && self.backfill.failed == 0
            && self.backfill.skipped == 0;
        // Prices written: a pair, or depth's hours and days (coin descriptions do not count).
        let wrote = p.ok > 0 || r.hourly + r.daily + r.latest + r.snapshot > 0;
        if flawless {
            Status::Succeeded
        } else if !wrote {
            Status::Failed
        } else {
            Status::Partial
        }
    }

    /// The report as CloudWatch Embedded Metric Format: one JSON line that CloudWatch turns
    /// into metrics in the `CryptoDashboard` namespace when a Lambda prints it.
    pub fn emf_line(&self, function: &str) -> String {
        let metrics = [
            ("PairsOk", self.pairs.ok as u64, "Count"),
            ("PairsFailed", self.pairs.failed as u64, "Count"),
            ("PairsSkipped", self.pairs.skipped as u64, "Count"),
            ("RowsHourly", self.rows.hourly, "Count"),
            ("RowsDaily", self.rows.daily, "Count"),
            ("RowsSnapshot", self.rows.snapshot, "Count"),
            ("ApiCalls", self.api_calls, "Count"),
            ("Retries", self.retries, "Count"),
            ("RateLimited", self.rate_limited, "Count"),
            ("DurationMs", self.duration_ms, "Milliseconds"),
        ];
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": self.finished_at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "CryptoDashboard",
                    "Dimensions": [["Function"]],
                    "Metrics": metrics.iter().map(|(n, _, u)| serde_json::json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
                }],
            },
            "Function": function,
            "runId": self.run_id,
            "status": self.status,
        });
        for (name, value, _) in metrics {
            doc[name] = value.into();
        }
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(coin: &str, currency: &str) -> Pair {
        Pair {
            coin: coin.into(),
            currency: currency.into(),
        }
    }

    fn report() -> RunReport {
        RunReport::new(Uuid::nil(), Trigger::Manual, Mode::Full, false)
    }

    /// ok + failed + skipped = recorded pairs, one failure entry per failed pair.
    fn assert_invariant(r: &RunReport) {
        let p = &r.pairs;
        assert_eq!((p.ok + p.failed + p.skipped) as usize, r.pair_results.len());
        let failed_pairs = r.failures.iter().filter(|f| f.currency.is_some()).count();
        assert_eq!(failed_pairs, p.failed as usize);
        for status in [PairStatus::Ok, PairStatus::Failed, PairStatus::Skipped] {
            let n = r.pair_results.iter().filter(|x| x.status == status).count() as u32;
            let counted = match status {
                PairStatus::Ok => p.ok,
                PairStatus::Failed => p.failed,
                PairStatus::Skipped => p.skipped,
            };
            assert_eq!(n, counted, "{status:?}");
        }
    }

    #[test]
    fn every_recorded_pair_is_counted_once_and_each_failure_has_its_entry() {
        let mut r = report();
        // A `top:N` run without pinned pairs, its ranking fresh and its depth done.
        assert_eq!(
            r.outcome(),
            Status::Succeeded,
            "nothing due, nothing failed"
        );
        let mut failing = report();
        failing.record_failure(None, FailureCode::Timeout, "the ranking".into());
        assert_eq!(failing.outcome(), Status::Failed, "failed, nothing written");
        failing.rows.metadata = 1;
        assert_eq!(
            failing.outcome(),
            Status::Failed,
            "failed, only descriptions written"
        );
        failing.rows.hourly = 1;
        assert_eq!(failing.outcome(), Status::Partial, "failed, prices written");
        let mut ok = PairResult::unstarted(&pair("bitcoin", "usd"), PairStatus::Ok);
        ok.hourly_rows = 24;
        ok.daily_rows = 2;
        r.record_ok(ok);
        assert_eq!(r.outcome(), Status::Succeeded);
        r.record_skipped(&pair("bitcoin", "eur"));
        assert_eq!(r.outcome(), Status::Partial);
        let started = PairResult::unstarted(&pair("ethereum", "usd"), PairStatus::Ok);
        r.record_failed(started, FailureCode::Timeout, "slow".into());
        r.fail_all(
            &["tether".into()],
            &["usd".into(), "eur".into()],
            FailureCode::UnknownCoin,
            "no",
        );
        r.record_failure(
            Some("tether".into()),
            FailureCode::NotFound,
            "metadata".into(),
        );
        r.record_failure(None, FailureCode::RateLimited, "/coins/list".into());
        assert_invariant(&r);
        assert_eq!((r.pairs.ok, r.pairs.failed, r.pairs.skipped), (1, 3, 1));
        assert_eq!((r.rows.hourly, r.rows.daily), (24, 2));
        assert_eq!(r.outcome(), Status::Partial);
    }

    #[test]
    fn a_run_without_a_written_pair_failed_and_a_skipped_run_stays_skipped() {
        let mut r = report();
        r.fail_all(
            &["bitcoin".into()],
            &["usd".into()],
            FailureCode::SecretUnavailable,
            "x",
        );
        assert_invariant(&r);
        assert_eq!(r.outcome(), Status::Failed);
        let mut skipped = report();
        skipped.status = Status::Skipped;
        assert_eq!(skipped.outcome(), Status::Skipped);
    }

    #[test]
    fn a_failure_outside_the_pairs_makes_the_run_partial() {
        // Every pair written, but a step outside the pairs failed: the coins list, one coin's
        // metadata, the currency upsert or the backfill planning.
        for (coin, code) in [
            (None, FailureCode::Upstream5xx),
            (Some("bitcoin".to_owned()), FailureCode::NotFound),
            (None, FailureCode::DatabaseError),
        ] {
            let mut r = report();
            r.record_ok(PairResult::unstarted(
                &pair("bitcoin", "usd"),
                PairStatus::Ok,
            ));
            assert_eq!(r.outcome(), Status::Succeeded);
            r.record_failure(coin, code, "failed".into());
            assert_eq!(r.outcome(), Status::Partial, "{code}");
            assert_invariant(&r);
        }
    }

    #[test]
    fn statuses_and_codes_serialise_as_before() {
        let mut r = report();
        r.fail_all(
            &["bitcoin".into()],
            &["usd".into()],
            FailureCode::CoinGecko(10012),
            "range",
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["pairResults"][0]["status"], "failed");
        assert_eq!(json["failures"][0]["code"], "COINGECKO_10012");
        assert_eq!(serde_json::to_value(RunStatus::Running).unwrap(), "running");
        let back: RunReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let now = Utc::now();
        let report = RunReport {
            run_id: Uuid::nil(),
            trigger: Trigger::Schedule,
            mode: Mode::Incremental,
            clean_first: false,
            status: Status::Partial,
            started_at: now,
            finished_at: now,
            duration_ms: 1234,
            api_calls: 50,
            calls: CallCounts::default(),
            budget: None,
            deferred: Vec::new(),
            retries: 2,
            rate_limited: 1,
            pairs: PairCounts {
                ok: 43,
                failed: 1,
                skipped: 0,
            },
            backfill: PairCounts::default(),
            rows: RowCounts::default(),
            failures: vec![],
            simulated: false,
            clamped_timestamps: 0,
            attempt: 1,
            earlier_attempts: vec![],
            pair_results: vec![],
        };
        let doc: serde_json::Value = serde_json::from_str(&report.emf_line("ingest")).unwrap();
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} has no value");
        }
        assert_eq!(doc["PairsFailed"], 1);
        assert_eq!(doc["Function"], "ingest");
    }
}
