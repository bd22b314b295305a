//! The `ingestion_runs` table, all of its SQL: claiming a run for the cron route, recording a
//! run as started and finished, and reading runs back for the API and the CLI.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Error;
use uuid::Uuid;

use super::report::{FailureCode, Mode, RunReport, RunStatus, Trigger};
use super::store::run_in_progress;

/// Reads the lowercase names the table stores (its CHECK constraints allow no others) into
/// the enums, through their serde names.
macro_rules! from_text_column {
    ($($ty:ty),*) => {$(
        impl<'a> tokio_postgres::types::FromSql<'a> for $ty {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let text = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
                Ok(serde_json::from_value(serde_json::Value::String(text.to_owned()))?)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    )*};
}

from_text_column!(Trigger, Mode, RunStatus);

/// A run as the health route and the runs route show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub mode: Mode,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// True when the prices came from the built-in simulator.
    pub simulated: bool,
}

const SUMMARY_COLUMNS: &str = "id, trigger, mode, status, started_at, finished_at, simulated";

fn summary(row: &tokio_postgres::Row) -> Result<RunSummary, Error> {
    Ok(RunSummary {
        run_id: row.try_get(0)?,
        trigger: row.try_get(1)?,
        mode: row.try_get(2)?,
        status: row.try_get(3)?,
        started_at: row.try_get(4)?,
        finished_at: row.try_get(5)?,
        simulated: row.try_get(6)?,
    })
}

/// The most recently started run, if any.
pub async fn latest(
    client: &impl GenericClient,
) -> Result<Option<RunSummary>, tokio_postgres::Error> {
    let sql =
        format!("SELECT {SUMMARY_COLUMNS} FROM ingestion_runs ORDER BY started_at DESC LIMIT 1");
    client
        .query_opt(&sql, &[])
        .await?
        .as_ref()
        .map(summary)
        .transpose()
}

/// The newest `limit` runs with their stored reports.
pub async fn recent(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<(RunSummary, Option<serde_json::Value>)>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, report FROM ingestion_runs ORDER BY started_at DESC LIMIT $1"
    );
    client
        .query(&sql, &[&limit])
        .await?
        .iter()
        .map(|r| Ok((summary(r)?, r.try_get(7)?)))
        .collect()
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
                .and_then(|c| c.parse::<FailureCode>().ok())
                .is_some_and(FailureCode::is_internal);
            if internal {
                failure["message"] = "an internal error; see the ingest function's logs".into();
            }
        }
    }
    report
}

/// How long a `running` row that no session backs with the lock (an accepted run whose
/// invoke was lost, or a run killed mid-way) blocks new requests: the ingest function's
/// longest run.
pub const CLAIM_EXPIRY_MINUTES: i32 = 15;

/// Records a run as started. Runs left `running` by a crashed container (or accepted and
/// never started) are closed as failed first: whoever holds the lock knows no other run is
/// alive.
pub async fn start_run(client: &impl GenericClient, report: &RunReport) -> Result<(), Error> {
    client
        .execute(
            "UPDATE ingestion_runs SET status = 'failed', finished_at = greatest(started_at, now()),
                    report = coalesce(report, '{}'::jsonb) || '{\"interrupted\": true}'::jsonb
              WHERE status = 'running' AND id <> $1",
            &[&report.run_id],
        )
        .await?;
    insert_run(client, report, RunStatus::Running, None).await
}

/// Claims the right to start a run for the cron route, atomically: records `run_id` as
/// `running` unless a run holds the lock or another accepted run is waiting to start (at
/// most one `running` row exists; see migration V3). Returns false when the claim lost.
pub async fn claim_run(
    client: &mut deadpool_postgres::Object,
    run_id: uuid::Uuid,
    trigger: Trigger,
    mode: Mode,
) -> Result<bool, Error> {
    let tx = client.transaction().await?;
    if run_in_progress(&tx).await? {
        return Ok(false);
    }
    // An accepted run that never started (its invoke was lost) stops blocking after a while.
    tx.execute(
        "UPDATE ingestion_runs SET status = 'failed', finished_at = greatest(started_at, now()),
                report = '{\"interrupted\": true}'::jsonb
          WHERE status = 'running' AND started_at < now() - make_interval(mins => $1)",
        &[&CLAIM_EXPIRY_MINUTES],
    )
    .await?;
    let inserted = tx
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at)
             VALUES ($1, $2, $3, 'running', now())
             ON CONFLICT DO NOTHING",
            &[&run_id, &trigger.as_str(), &mode.as_str()],
        )
        .await?;
    tx.commit().await?;
    Ok(inserted == 1)
}

/// Withdraws a claim whose run could not be launched (nothing ran, so nothing is kept).
pub async fn withdraw_claim(client: &impl GenericClient, run_id: uuid::Uuid) -> Result<(), Error> {
    client
        .execute(
            "DELETE FROM ingestion_runs WHERE id = $1 AND status = 'running' AND report IS NULL",
            &[&run_id],
        )
        .await?;
    Ok(())
}

/// Records a finished run (insert or update of its row).
pub async fn finish_run(client: &impl GenericClient, report: &RunReport) -> Result<(), Error> {
    insert_run(
        client,
        report,
        report.status.into(),
        Some(report.finished_at),
    )
    .await
}

async fn insert_run(
    client: &impl GenericClient,
    report: &RunReport,
    status: RunStatus,
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    // A running run has no report yet: its counters are not known until it ends.
    let json =
        finished_at.map(|_| serde_json::to_value(report).expect("a report always serialises"));
    client
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, report, simulated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at,
                 report = EXCLUDED.report, simulated = EXCLUDED.simulated",
            &[
                &report.run_id,
                &report.trigger.as_str(),
                &report.mode.as_str(),
                &status.as_str(),
                &report.started_at,
                &finished_at,
                &json,
                &report.simulated,
            ],
        )
        .await?;
    Ok(())
}
