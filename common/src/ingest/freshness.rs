//! How fresh the data is, judged from the recorded runs: the newest history run and the
//! newest live refresh, each against its own limit, so one never hides the other's failure.
//! Health (`GET /api/health`) and `crypto-dashboard status` both report it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;

use super::report::RunStatus;
use super::run_records::{self, RunSummary};

/// A history run older than this is stale: the daily schedule plus two hours of slack.
pub const HISTORY_STALE_AFTER: Duration = Duration::from_secs(26 * 3600);
/// A live refresh older than this many live intervals is stale.
pub const LIVE_STALE_INTERVALS: u32 = 3;

/// `ok` when the database answers and both kinds of run are fine; `degraded` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// A run as health shows it: its summary and whether it is older than its limit (a history
/// run 26 hours, a live refresh three live intervals; measured from its end, or from its
/// start while it runs).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JudgedRun {
    #[serde(flatten)]
    pub run: RunSummary,
    /// Older than its limit.
    pub stale: bool,
}

/// Judges the newest run of one kind at `now`: stale when older than `stale_after` (measured
/// from its end, or from its start while it runs). Healthy unless it is missing, failed or
/// stale; `stale_after` None means this kind of run is switched off, which is always healthy.
pub fn judge(
    run: Option<RunSummary>,
    stale_after: Option<Duration>,
    now: DateTime<Utc>,
) -> (Option<JudgedRun>, bool) {
    let Some(run) = run else {
        return (None, stale_after.is_none());
    };
    let Some(limit) = stale_after else {
        return (Some(JudgedRun { run, stale: false }), true);
    };
    let at = run.finished_at.unwrap_or(run.started_at);
    let stale = (now - at).to_std().is_ok_and(|age| age > limit);
    let healthy = !stale && run.status != RunStatus::Failed;
    (Some(JudgedRun { run, stale }), healthy)
}

/// Both kinds of run, judged.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Freshness {
    /// `degraded` when the newest history run is missing, failed or stale, or (live refresh
    /// on) the newest live refresh is.
    pub status: HealthStatus,
    /// The newest history run (`full`/`incremental`, skipped runs left out); null before the
    /// first.
    #[schema(required = true)]
    pub last_ingestion: Option<JudgedRun>,
    /// The newest live refresh (`latest`, skipped runs left out); null before the first.
    #[schema(required = true)]
    pub last_live_refresh: Option<JudgedRun>,
    /// The live schedule's interval (`LIVE_EVERY_MINUTES`); null when live refresh is off.
    #[schema(minimum = 1)]
    #[schema(required = true)]
    pub live_every_minutes: Option<u64>,
}

impl Freshness {
    /// Nothing known about the runs (the database cannot be read): degraded.
    pub fn unknown(live_every: Option<Duration>) -> Freshness {
        Freshness {
            status: HealthStatus::Degraded,
            last_ingestion: None,
            last_live_refresh: None,
            live_every_minutes: live_every.map(|d| d.as_secs() / 60),
        }
    }

    /// Reads the newest run of each kind and judges both at `now`; `live_every` is the live
    /// schedule's interval (None: off).
    pub async fn read(
        client: &impl GenericClient,
        live_every: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<Freshness, tokio_postgres::Error> {
        let (history, live) = run_records::newest_of_each_kind(client).await?;
        let (last_ingestion, history_ok) = judge(history, Some(HISTORY_STALE_AFTER), now);
        let (last_live_refresh, live_ok) =
            judge(live, live_every.map(|d| d * LIVE_STALE_INTERVALS), now);
        Ok(Freshness {
            status: if history_ok && live_ok {
                HealthStatus::Ok
            } else {
                HealthStatus::Degraded
            },
            last_ingestion,
            last_live_refresh,
            live_every_minutes: live_every.map(|d| d.as_secs() / 60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Mode, Trigger};

    fn run(status: RunStatus, finished_minutes_ago: Option<i64>, now: DateTime<Utc>) -> RunSummary {
        let minutes = |m: i64| now - chrono::Duration::minutes(m);
        RunSummary {
            run_id: uuid::Uuid::nil(),
            trigger: Trigger::Schedule,
            mode: Mode::Incremental,
            status,
            started_at: minutes(finished_minutes_ago.unwrap_or(5) + 1),
            finished_at: finished_minutes_ago.map(minutes),
            simulated: false,
        }
    }

    #[test]
    fn a_run_is_healthy_unless_missing_failed_or_older_than_its_limit() {
        let now = Utc::now();
        let hour = Some(Duration::from_secs(3600));
        let cases = [
            (Some(run(RunStatus::Succeeded, Some(10), now)), true, false),
            (Some(run(RunStatus::Partial, Some(10), now)), true, false),
            (Some(run(RunStatus::Running, None, now)), true, false),
            (Some(run(RunStatus::Failed, Some(10), now)), false, false),
            (Some(run(RunStatus::Succeeded, Some(61), now)), false, true),
            // A run stuck `running` for longer than the limit is stale too.
            (
                Some(run(RunStatus::Running, None, now)).map(|mut r| {
                    r.started_at = now - chrono::Duration::hours(2);
                    r
                }),
                false,
                true,
            ),
        ];
        for (summary, healthy, stale) in cases {
            let status = summary.as_ref().map(|r| r.status);
            let (judged, ok) = judge(summary, hour, now);
            assert_eq!(ok, healthy, "{status:?}");
            assert_eq!(judged.unwrap().stale, stale, "{status:?}");
        }
        assert!(!judge(None, hour, now).1, "no run yet: not healthy");
    }

    #[test]
    fn a_kind_of_run_that_is_off_is_always_healthy() {
        let now = Utc::now();
        assert!(judge(None, None, now).1);
        let (judged, ok) = judge(Some(run(RunStatus::Failed, Some(9_000), now)), None, now);
        assert!(ok);
        assert!(!judged.unwrap().stale);
    }
}
