//! A run's lifecycle, all of it: the cron route's claim, the run lock, the run recorded as
//! started, and the run finished (its report completed, recorded and logged in one line).
//!
//! [`RunGuard`] is what the ingester holds: [`RunGuard::acquire`] takes the lock,
//! [`RunGuard::start`] records the run as started, and [`RunGuard::finish`] ends every run,
//! whichever step it stopped at. Reading recorded runs back is [`super::run_records`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio::time::Instant;
use tokio_postgres::Error;

use super::report::{
    EarlierAttempt, Failure, FailureCode, Mode, RunKind, RunReport, RunStatus, Status, Trigger,
};
use crate::db::{Database, DbError};

/// How long an accepted run waits for the run lock: a run that took it a moment earlier
/// finds the accepted run's claim and gives way at once.
pub const ACCEPTED_RUN_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The advisory lock key that serialises ingestion runs ("crypto-db" in ASCII).
pub const LOCK_KEY: i64 = 0x6372_7970_746f_6462;
/// The lock of live-quote refreshes ("crypto-lq"): separate, so a refresh neither waits for
/// nor blocks a history run.
pub const LATEST_LOCK_KEY: i64 = 0x6372_7970_746f_6c71;

/// The run lock, held by one pooled connection. Release it with [`RunLock::release`]; a lock
/// that is dropped unreleased (a panic, a cancelled future) takes its connection out of the
/// pool, and closing the session is what frees a session-level advisory lock.
pub struct RunLock {
    client: Option<deadpool_postgres::Object>,
    key: i64,
}

impl RunLock {
    /// Tries to take the run lock on `client`'s session: `Ok(Err(client))` gives the connection
    /// back when another session holds the lock.
    pub async fn try_acquire(
        client: deadpool_postgres::Object,
        key: i64,
    ) -> Result<Result<RunLock, deadpool_postgres::Object>, Error> {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1) AS locked", &[&key])
            .await?
            .try_get("locked")?;
        Ok(if locked {
            Ok(RunLock {
                client: Some(client),
                key,
            })
        } else {
            Err(client)
        })
    }

    /// [`RunLock::try_acquire`], trying again every 100 ms for up to `wait` while another
    /// session holds the lock.
    pub async fn acquire_within(
        mut client: deadpool_postgres::Object,
        key: i64,
        wait: Duration,
    ) -> Result<Result<RunLock, deadpool_postgres::Object>, Error> {
        let until = Instant::now() + wait;
        loop {
            match Self::try_acquire(client, key).await? {
                Err(held) if Instant::now() < until => {
                    client = held;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// The connection holding the lock.
    pub fn client(&mut self) -> &mut deadpool_postgres::Object {
        self.client.as_mut().expect("present until released")
    }

    /// Releases the lock and returns the connection to the pool. A connection whose unlock
    /// failed (or found no lock to release) is discarded instead, so no pooled session can
    /// keep the lock.
    pub async fn release(mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        match client
            .query_one("SELECT pg_advisory_unlock($1) AS unlocked", &[&self.key])
            .await
            .and_then(|row| row.try_get::<_, bool>("unlocked"))
        {
            Ok(true) => {}
            outcome => {
                tracing::warn!(
                    error = ?outcome.err().map(|e| e.to_string()),
                    "the run lock could not be released; discarding its connection"
                );
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            tracing::warn!("run lock dropped unreleased; closing its connection");
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// True while some session holds the run lock.
pub async fn run_in_progress(client: &impl GenericClient) -> Result<bool, Error> {
    let (hi, lo) = ((LOCK_KEY >> 32) as i32, LOCK_KEY as i32);
    // Advisory locks on a bigint key appear in pg_locks split into two 32-bit halves, per
    // database.
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid::bigint = ($1::int::bigint & 4294967295) AND objid::bigint = ($2::int::bigint & 4294967295)
                 AND objsubid = 1) AS in_progress",
            &[&hi, &lo],
        )
        .await?
        .try_get("in_progress")
}

/// One run from its first moment to its record: its report, when it began, and the
/// connection it holds (with the run lock, once taken). [`RunGuard::finish`] is the way out
/// of every step; a guard dropped unfinished (a panic, a cancelled future) drops its lock,
/// which closes the lock's connection (see [`RunLock`]).
pub struct RunGuard {
    report: RunReport,
    began: Instant,
    connection: Connection,
}

/// The connection a [`RunGuard`] holds.
enum Connection {
    /// None yet, or none to be had (the database is unavailable): the run is not recorded.
    None,
    /// Another run holds the lock: this connection records the skipped run.
    Unlocked(deadpool_postgres::Object),
    /// The run lock, and the connection holding it.
    Locked(RunLock),
}

impl RunGuard {
    /// A run of `report` beginning now.
    pub fn new(report: RunReport) -> Self {
        RunGuard {
            report,
            began: Instant::now(),
            connection: Connection::None,
        }
    }

    /// Takes the run lock of the run's kind (live quotes take a lock of their own: they never
    /// wait for or block a history run). An `accepted` run (the cron route answered with its
    /// id) may find the lock held by a run that is giving way to it: it waits a moment
    /// ([`ACCEPTED_RUN_LOCK_WAIT`]) for the lock to be released. False when the run cannot
    /// go on: the report says why (skipped, or the database failed).
    pub async fn acquire(&mut self, db: &Database, accepted: bool) -> bool {
        let client = match db.client().await {
            Ok(c) => c,
            Err(e) => {
                let report = &mut self.report;
                report.record_failure(None, FailureCode::DatabaseUnavailable, e.to_string());
                return false;
            }
        };
        let key = match self.report.mode.kind() {
            RunKind::History => LOCK_KEY,
            RunKind::Live => LATEST_LOCK_KEY,
        };
        let wait = if accepted {
            ACCEPTED_RUN_LOCK_WAIT
        } else {
            Duration::ZERO
        };
        match RunLock::acquire_within(client, key, wait).await {
            Ok(Ok(lock)) => {
                self.connection = Connection::Locked(lock);
                true
            }
            Ok(Err(client)) => {
                self.report.status = Status::Skipped;
                tracing::info!("another ingestion run holds the lock; skipping");
                self.connection = Connection::Unlocked(client);
                false
            }
            Err(e) => {
                let message = DbError::from(e).to_string();
                let report = &mut self.report;
                report.record_failure(None, FailureCode::DatabaseUnavailable, message);
                false
            }
        }
    }

    /// Records the run as started (see `start_run`): a history run as `running`, giving way
    /// to a run the cron route accepted; a live-quote refresh as `running` too (one of each
    /// kind may run, migration V9), so the calls it reserves are on record. Returns what the run's
    /// work needs, the report and the connection holding the lock; `None` when the run cannot
    /// go on (no lock, gave way, or could not be recorded: the report says which).
    pub async fn start(&mut self) -> Option<(&mut RunReport, &mut deadpool_postgres::Object)> {
        let Connection::Locked(lock) = &mut self.connection else {
            return None;
        };
        let report = &mut self.report;
        let start = match report.mode.kind() {
            RunKind::History => start_run(lock.client(), report).await,
            RunKind::Live => start_live(lock.client(), report).await,
        };
        match start {
            Ok(Start::Started { attempt, earlier }) => {
                report.attempt = attempt;
                report.earlier_attempts = earlier;
                Some((report, lock.client()))
            }
            Ok(Start::GaveWay) => {
                report.status = Status::Skipped;
                tracing::info!("a run accepted by the cron route is about to start; skipping");
                None
            }
            Err(e) => {
                let e = DbError::from(e);
                tracing::error!(error = %e, "could not record the run as started");
                report.record_failure(None, e.failure_code(), e.to_string());
                // `finish` still tries to close the row (an accepted run's row exists already).
                None
            }
        }
    }

    /// Ends the run, whichever step it reached: completes the report (times, status),
    /// records it on the connection the run holds (none when the database is gone), logs one
    /// summary line, then releases the lock.
    pub async fn finish(self) -> RunReport {
        let RunGuard {
            report,
            began,
            connection,
        } = self;
        match connection {
            Connection::None => complete(report, began, None).await,
            Connection::Unlocked(client) => complete(report, began, Some(&client)).await,
            Connection::Locked(mut lock) => {
                let report = complete(report, began, Some(lock.client())).await;
                lock.release().await;
                report
            }
        }
    }
}

/// Completes the report, records it (unless the database is gone) and logs one summary line.
async fn complete(
    mut report: RunReport,
    began: Instant,
    client: Option<&deadpool_postgres::Object>,
) -> RunReport {
    report.finished_at = Utc::now().max(report.started_at);
    report.duration_ms = began.elapsed().as_millis() as u64;
    report.status = report.outcome();
    if let Some(client) = client {
        if let Err(e) = finish_run(client, &report).await {
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
        rows_snapshot = report.rows.snapshot,
        backfills_ok = report.backfill.ok,
        backfills_failed = report.backfill.failed,
        rows_metadata = report.rows.metadata,
        simulated = report.simulated,
        "ingestion run finished"
    );
    report
}

/// How long an accepted run (the cron route's claim, `attempt` 0) may take to start. Until
/// then a run that takes the lock gives way to it; after it, the claim is closed as
/// interrupted (its invoke was lost). The ingest function's longest run.
pub const CLAIM_EXPIRY_MINUTES: i32 = 15;

/// What recording a run as started found.
#[derive(Debug, Clone, PartialEq)]
enum Start {
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
async fn start_run(
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

/// Records a live refresh as `running` (so the calls it reserves are on record while it
/// runs). It holds the live lock, so a live refresh still `running` is one whose container
/// died: it is closed as failed (`interrupted`) first.
async fn start_live(client: &impl GenericClient, report: &RunReport) -> Result<Start, Error> {
    client
        .execute(
            "UPDATE ingestion_runs SET status = 'failed', finished_at = greatest(started_at, now()),
                    report = coalesce(report, '{}'::jsonb) || '{\"interrupted\": true}'::jsonb
              WHERE status = 'running' AND mode = 'latest'",
            &[],
        )
        .await?;
    client
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, attempt)
             VALUES ($1, $2, $3, 'running', $4, 1)",
            &[
                &report.run_id,
                &report.trigger.as_str(),
                &report.mode.as_str(),
                &report.started_at,
            ],
        )
        .await?;
    Ok(Start::Started {
        attempt: 1,
        earlier: Vec::new(),
    })
}

async fn start_in(tx: &impl GenericClient, report: &RunReport) -> Result<Start, Error> {
    close_interrupted(tx, Some(report.run_id), true).await?;
    let accepted_waiting: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ingestion_runs
                             WHERE status = 'running' AND mode <> 'latest' AND id <> $1)
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

/// Closes as failed (`interrupted`) the `running` rows, other than `except`, that no live run
/// stands behind: accepted runs past their start window, and, when `started_too` (the caller
/// holds the run lock, so no other run is alive), every run that was started.
async fn close_interrupted(
    client: &impl GenericClient,
    except: Option<uuid::Uuid>,
    started_too: bool,
) -> Result<u64, Error> {
    client
        .execute(
            "UPDATE ingestion_runs SET status = 'failed', finished_at = greatest(started_at, now()),
                    report = coalesce(report, '{}'::jsonb) || '{\"interrupted\": true}'::jsonb
              WHERE status = 'running' AND mode <> 'latest' AND id IS DISTINCT FROM $1
                AND ((attempt > 0 AND $2) OR started_at < now() - make_interval(mins => $3))",
            &[&except, &started_too, &CLAIM_EXPIRY_MINUTES],
        )
        .await
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
    close_interrupted(&tx, None, false).await?;
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

/// Records a finished run with its report: updates its row (a history run's, recorded at its
/// start), or inserts one (a live refresh, a skipped run).
async fn finish_run(client: &impl GenericClient, report: &RunReport) -> Result<(), Error> {
    let status = RunStatus::from(report.status);
    let json = serde_json::to_value(report).expect("a report always serialises");
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
                &report.finished_at,
                &json,
                &report.simulated,
            ],
        )
        .await?;
    Ok(())
}
