//! The recorded runs read back: the `ingestion_runs` rows as the health route, the runs route
//! and the CLI show them. Writing those rows (claim, start, finish) is the run's lifecycle,
//! [`super::lifecycle`].

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Error;
use uuid::Uuid;

use super::report::{FailureCode, Mode, RunKind, RunStatus, Trigger};

/// Reads the lowercase names the table stores (its CHECK constraints allow no others) into
/// the enums, through their serde names (also what [`super::lifecycle`] reads a run's status
/// with).
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
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub mode: Mode,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    /// Null while the run is in progress.
    #[schema(required = true)]
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
