//! The `ingestion_runs` table, all of its SQL: claiming a run for the cron route, recording a
//! run as started and finished, and reading runs back for the API and the CLI.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Error;
use uuid::Uuid;

use super::report::{
    EarlierAttempt, Failure, FailureCode, Mode, RunKind, RunReport, RunStatus, Trigger,
};
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
        run_id: row.try_get("id")?,
        trigger: row.try_get("trigger")?,
        mode: row.try_get("mode")?,
        status: row.try_get("status")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        simulated: row.try_get("simulated")?,
    })
}

/// The newest history run and the newest live refresh that did something (skipped runs left
/// out: a run that gave way to another says nothing about how fresh the data is), in one
/// statement, each read from the top of `ingestion_runs_kind_idx`.
pub async fn newest_of_each_kind(
    client: &impl GenericClient,
) -> Result<(Option<RunSummary>, Option<RunSummary>), tokio_postgres::Error> {
    let newest = |live: bool| {
        format!(
            "(SELECT {SUMMARY_COLUMNS} FROM ingestion_runs
               WHERE (mode = 'latest') = {live} AND status <> 'skipped'
               ORDER BY (mode = 'latest'), started_at DESC LIMIT 1)"
        )
    };
    let sql = format!("{} UNION ALL {}", newest(false), newest(true));
    let (mut history, mut live) = (None, None);
    for row in client.query(&sql, &[]).await? {
        let run = summary(&row)?;
        match run.mode.kind() {
            RunKind::History => history = Some(run),
            RunKind::Live => live = Some(run),
        }
    }
    Ok((history, live))
}

/// The newest `limit` runs (of `kind`, or of both) with their stored reports.
pub async fn recent(
    client: &impl GenericClient,
    limit: i64,
    kind: Option<RunKind>,
) -> Result<Vec<(RunSummary, Option<serde_json::Value>)>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, report FROM ingestion_runs
          WHERE $2::bool IS NULL OR (mode = 'latest') = $2
          ORDER BY started_at DESC LIMIT $1"
    );
    let live = kind.map(|k| k == RunKind::Live);
    client
        .query(&sql, &[&limit, &live])
        .await?
        .iter()
        .map(|r| Ok((summary(r)?, r.try_get("report")?)))
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

/// How long an accepted run (the cron route's claim, `attempt` 0) may take to start. Until
/// then a run that takes the lock gives way to it; after it, the claim is closed as
/// interrupted (its invoke was lost). The ingest function's longest run.
pub const CLAIM_EXPIRY_MINUTES: i32 = 15;

/// What recording a run as started found.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// The run is recorded as `running`: its `attempt`-th start, after the `earlier` ones.
    Started {
        attempt: u32,
        earlier: Vec<EarlierAttempt>,
    },
    /// A run accepted by the cron route is about to start: this one gives way (skips).
    GaveWay,
}

/// Records a run as started; the caller holds the run lock. In one transaction:
/// - `running` rows no live run stands behind are closed as failed (`interrupted`): runs that
///   were started (the lock holder knows no other run is alive) and accepted runs past their
///   start window;
/// - an accepted run still within its window (committed, or committing now) wins: this run
///   gives way;
/// - otherwise the run's row is inserted, or, for an accepted run or a retry of one (same
///   id), moved to its next attempt, keeping what the earlier attempt recorded.
pub async fn start_run(
    client: &mut deadpool_postgres::Object,
    report: &RunReport,
) -> Result<Start, Error> {
    let tx = client.transaction().await?;
    let started = start_in(&tx, report).await;
    match started {
        Ok(start) => {
            tx.commit().await?;
            Ok(start)
        }
        // A claim committed while this run moved its own row to `running` (a retry of an
        // accepted run): the claim wins, as it would have a moment earlier.
        Err(e) if is_second_running_run(&e) => Ok(Start::GaveWay),
        Err(e) => Err(e),
    }
}

async fn start_in(tx: &impl GenericClient, report: &RunReport) -> Result<Start, Error> {
    tx.execute(
        "UPDATE ingestion_runs SET status = 'failed', finished_at = greatest(started_at, now()),
                report = coalesce(report, '{}'::jsonb) || '{\"interrupted\": true}'::jsonb
          WHERE status = 'running' AND id <> $1
            AND (attempt > 0 OR started_at < now() - make_interval(mins => $2))",
        &[&report.run_id, &CLAIM_EXPIRY_MINUTES],
    )
    .await?;
    let accepted_waiting: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ingestion_runs WHERE status = 'running' AND id <> $1)
                    AS accepted_waiting",
            &[&report.run_id],
        )
        .await?
        .try_get("accepted_waiting")?;
    if accepted_waiting {
        return Ok(Start::GaveWay);
    }
    let own = tx
        .query_opt(
            "SELECT attempt, status, started_at, finished_at, report FROM ingestion_runs
              WHERE id = $1 FOR UPDATE",
            &[&report.run_id],
        )
        .await?;
    let Some(own) = own else {
        // Waits for a claim inserted but not yet committed; if it commits, this run gives way.
        let inserted = tx
            .execute(
                "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, attempt)
                 VALUES ($1, $2, $3, 'running', $4, 1)
                 ON CONFLICT DO NOTHING",
                &[
                    &report.run_id,
                    &report.trigger.as_str(),
                    &report.mode.as_str(),
                    &report.started_at,
                ],
            )
            .await?;
        return Ok(if inserted == 1 {
            Start::Started {
                attempt: 1,
                earlier: Vec::new(),
            }
        } else {
            Start::GaveWay
        });
    };
    let earlier = earlier_attempts(&own)?;
    let attempt: i32 = tx
        .query_one(
            "UPDATE ingestion_runs SET status = 'running', attempt = attempt + 1,
                    finished_at = NULL, report = NULL
              WHERE id = $1 RETURNING attempt",
            &[&report.run_id],
        )
        .await?
        .try_get("attempt")?;
    Ok(Start::Started {
        attempt: u32::try_from(attempt).unwrap_or(1),
        earlier,
    })
}

/// What a run's row says of its earlier attempts: none for an accepted run not yet started,
/// else those its last report carried and the last one itself (still `running`: its
/// container died, so it failed, interrupted).
fn earlier_attempts(row: &tokio_postgres::Row) -> Result<Vec<EarlierAttempt>, Error> {
    let attempt: i32 = row.try_get("attempt")?;
    if attempt < 1 {
        return Ok(Vec::new());
    }
    /// The parts of a stored report an earlier attempt keeps.
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Stored {
        started_at: Option<DateTime<Utc>>,
        interrupted: bool,
        failures: Vec<Failure>,
        earlier_attempts: Vec<EarlierAttempt>,
    }
    let report: Option<serde_json::Value> = row.try_get("report")?;
    let stored: Stored = report
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default();
    let status: RunStatus = row.try_get("status")?;
    let interrupted = stored.interrupted || status == RunStatus::Running;
    let mut earlier = stored.earlier_attempts;
    earlier.push(EarlierAttempt {
        attempt: attempt as u32,
        status: if status == RunStatus::Running {
            RunStatus::Failed
        } else {
            status
        },
        started_at: stored.started_at.unwrap_or(row.try_get("started_at")?),
        finished_at: row.try_get("finished_at")?,
        interrupted,
        failures: stored.failures,
    });
    Ok(earlier)
}

/// True when a statement failed because another run is already `running` (migration V3's
/// one-running-run index).
pub fn is_second_running_run(e: &Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.constraint() == Some("ingestion_runs_one_running_idx"))
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
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, attempt)
             VALUES ($1, $2, $3, 'running', now(), 0)
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
            "DELETE FROM ingestion_runs WHERE id = $1 AND status = 'running' AND attempt = 0",
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
