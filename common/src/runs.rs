//! The `ingestion_runs` table: recording runs and reading them back.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use uuid::Uuid;

/// A run as the health route and the runs route show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub run_id: Uuid,
    pub trigger: String,
    pub mode: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// True when the prices came from the built-in simulator.
    pub simulated: bool,
}

const SUMMARY_COLUMNS: &str = "id, trigger, mode, status, started_at, finished_at, simulated";

fn summary(row: &tokio_postgres::Row) -> RunSummary {
    RunSummary {
        run_id: row.get(0),
        trigger: row.get(1),
        mode: row.get(2),
        status: row.get(3),
        started_at: row.get(4),
        finished_at: row.get(5),
        simulated: row.get(6),
    }
}

/// The most recently started run, if any.
pub async fn latest(
    client: &impl GenericClient,
) -> Result<Option<RunSummary>, tokio_postgres::Error> {
    let sql =
        format!("SELECT {SUMMARY_COLUMNS} FROM ingestion_runs ORDER BY started_at DESC LIMIT 1");
    Ok(client.query_opt(&sql, &[]).await?.as_ref().map(summary))
}

/// The newest `limit` runs with their stored reports.
pub async fn recent(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<(RunSummary, Option<serde_json::Value>)>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, report FROM ingestion_runs ORDER BY started_at DESC LIMIT $1"
    );
    Ok(client
        .query(&sql, &[&limit])
        .await?
        .iter()
        .map(|r| (summary(r), r.get(7)))
        .collect())
}

/// A report fit for the public API: failure messages about our own infrastructure (database,
/// secrets) are replaced by their code, which is all a reader needs; CoinGecko's messages
/// stay, since they say what to fix.
pub fn sanitise_report(mut report: serde_json::Value) -> serde_json::Value {
    if let Some(failures) = report.get_mut("failures").and_then(|f| f.as_array_mut()) {
        for failure in failures {
            let internal = failure
                .get("code")
                .and_then(|c| c.as_str())
                .is_some_and(|c| c.starts_with("DATABASE") || c.starts_with("SECRET"));
            if internal {
                failure["message"] = "an internal error; see the ingest function's logs".into();
            }
        }
    }
    report
}
