//! The run report (returned by the Lambda and the CLI, stored in `ingestion_runs.report`)
//! and its CloudWatch metrics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How far back a run fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The last 90 days of every pair.
    Full,
    /// From 48 hours before each pair's newest stored hour (at least 2 days).
    #[default]
    Incremental,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl Mode {
    /// The lowercase name stored in `ingestion_runs.mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
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

/// Pairs by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCounts {
    pub ok: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// Rows inserted or changed (unchanged rows are not rewritten and not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub hourly: u64,
    pub daily: u64,
    pub metadata: u64,
}

/// One failure: a pair, a coin's metadata (`currency` null), or the run itself (`coin` null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub coin: Option<String>,
    pub currency: Option<String>,
    pub code: String,
    pub message: String,
}

/// The outcome of one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairResult {
    pub coin: String,
    pub currency: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub hourly_rows: u64,
    pub daily_rows: u64,
    pub duration_ms: u64,
}

/// The JSON run report of SPEC "Ingestion".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub retries: u64,
    pub rate_limited: u64,
    pub pairs: PairCounts,
    pub rows: RowCounts,
    pub failures: Vec<Failure>,
    /// True when the prices came from the built-in CoinGecko simulator.
    pub simulated: bool,
    pub pair_results: Vec<PairResult>,
}

impl RunReport {
    /// The report as CloudWatch Embedded Metric Format: one JSON line that CloudWatch turns
    /// into metrics in the `CryptoDashboard` namespace when a Lambda prints it.
    pub fn emf_line(&self, function: &str) -> String {
        let metrics = [
            ("PairsOk", self.pairs.ok as u64, "Count"),
            ("PairsFailed", self.pairs.failed as u64, "Count"),
            ("PairsSkipped", self.pairs.skipped as u64, "Count"),
            ("RowsHourly", self.rows.hourly, "Count"),
            ("RowsDaily", self.rows.daily, "Count"),
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
            retries: 2,
            rate_limited: 1,
            pairs: PairCounts {
                ok: 43,
                failed: 1,
                skipped: 0,
            },
            rows: RowCounts::default(),
            failures: vec![],
            simulated: false,
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
