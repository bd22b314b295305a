//! A run's life in `ingestion_runs`, against real PostgreSQL: two triggers racing in either
//! order give one run and one skip (never a failed run), an accepted run is not closed as
//! interrupted while it may still start, a Lambda retry keeps what the first attempt
//! recorded, and database failures keep their cause.

use std::time::Duration;

use common::api::{app, route, ApiState};
use common::db::DbError;
use common::ingest::lifecycle::{claim_run, LOCK_KEY};
use common::ingest::{FailureCode, Mode, RunRequest, Status, Trigger};
use integration_tests::http::expect_data;
use integration_tests::{get, send, Harness};
use simulator::{Faults, SimulatorConfig};
use uuid::Uuid;

const VARS: [(&str, &str); 2] = [
    ("TRACKED_COINS", "bitcoin,ethereum"),
    ("TRACKED_CURRENCIES", "usd,eur"),
];

fn request(trigger: Trigger, run_id: Option<Uuid>) -> RunRequest {
    RunRequest {
        mode: Mode::Full,
        clean_first: false,
        trigger,
        run_id,
    }
}

/// Every run as (id, trigger, status, attempt), oldest first.
async fn rows(h: &Harness) -> Vec<(Uuid, String, String, i32)> {
    h.db.client()
        .await
        .query(
            "SELECT id, trigger, status, attempt FROM ingestion_runs ORDER BY started_at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("id"),
                r.get("trigger"),
                r.get("status"),
                r.get("attempt"),
            )
        })
        .collect()
}

/// Waits (at most 5 s) until the count `sql` selects is above zero.
async fn wait_for_count(client: &tokio_postgres::Client, sql: &str) {
    for _ in 0..200 {
        let count: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
        if count > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("still nothing after 5 s: {sql}");
}

/// What the cron route does before it launches a run: the claim, committed.
async fn claim(h: &Harness) -> Uuid {
    let id = Uuid::new_v4();
    let mut client = h.state.db.client().await.unwrap();
    assert!(claim_run(&mut client, id, Trigger::Http, Mode::Full)
        .await
        .unwrap());
    id
}

#[tokio::test]
async fn a_scheduled_run_gives_way_to_an_accepted_run_that_has_not_started() {
    let h = Harness::start(SimulatorConfig::default(), &VARS).await;
    let accepted = claim(&h).await;

    let scheduled = h
        .ingester()
        .run(request(Trigger::Schedule, None), None)
        .await;
    assert_eq!(
        scheduled.status,
        Status::Skipped,
        "{:?}",
        scheduled.failures
    );
    let claimed = rows(&h).await;
    assert!(
        claimed.contains(&(accepted, "http".into(), "running".into(), 0)),
        "the accepted run is still waiting to start, not interrupted: {claimed:?}"
    );

    let run = h
        .ingester()
        .run(request(Trigger::Http, Some(accepted)), None)
        .await;
    assert_eq!(run.status, Status::Succeeded, "{:?}", run.failures);
    assert_eq!(run.attempt, 1);
    let statuses: Vec<(String, String, i32)> = rows(&h)
        .await
        .into_iter()
        .map(|(_, trigger, status, attempt)| (trigger, status, attempt))
        .collect();
    assert_eq!(
        statuses,
        [
            ("http".into(), "succeeded".into(), 1),
            ("schedule".into(), "skipped".into(), 1)
        ]
    );
}

#[tokio::test]
async fn a_claim_committing_while_a_scheduled_run_starts_makes_that_run_skip() {
    for commit in [true, false] {
        let h = Harness::start(SimulatorConfig::default(), &VARS).await;
        // The cron route's claim, inserted and not yet committed.
        let mut claimant = h.db.client().await;
        let tx = claimant.transaction().await.unwrap();
        let accepted = Uuid::new_v4();
        tx.execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, attempt)
             VALUES ($1, 'http', 'full', 'running', now(), 0)",
            &[&accepted],
        )
        .await
        .unwrap();

        let ingester = h.ingester();
        let scheduled = ingester.run(request(Trigger::Schedule, None), None);
        let observer = h.db.client().await;
        let commit_when_blocked = async {
            // The scheduled run's insert waits on the claim's row lock: then the claim ends.
            let waiting = "SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock'";
            wait_for_count(&observer, waiting).await;
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        };
        let (report, ()) = tokio::join!(scheduled, commit_when_blocked);
        if commit {
            assert_eq!(report.status, Status::Skipped, "{:?}", report.failures);
            let claimed = rows(&h).await;
            assert!(
                claimed.contains(&(accepted, "http".into(), "running".into(), 0)),
                "{claimed:?}"
            );
        } else {
            assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
        }
    }
}

#[tokio::test]
async fn a_claim_while_a_scheduled_run_holds_the_lock_loses() {
    // A slow simulator keeps the scheduled run going while the cron route tries to claim.
    let sim = SimulatorConfig {
        faults: Faults {
            slow_rate: 1.0,
            slow: Duration::from_millis(100),
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    };
    let h = Harness::start(sim, &VARS).await;
    let ingester = h.ingester();
    let scheduled = ingester.run(request(Trigger::Schedule, None), None);
    let try_claim = async {
        // Once the scheduled run is recorded as running, a claim must lose (the route's 409).
        let client = h.db.client().await;
        let running = "SELECT count(*) FROM ingestion_runs WHERE status = 'running'";
        wait_for_count(&client, running).await;
        let mut pooled = h.state.db.client().await.unwrap();
        claim_run(&mut pooled, Uuid::new_v4(), Trigger::Http, Mode::Full)
            .await
            .unwrap()
    };
    let (report, claimed) = tokio::join!(scheduled, try_claim);
    assert!(!claimed, "the claim lost to the running run");
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    let statuses: Vec<String> = rows(&h).await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, ["succeeded"]);
}

#[tokio::test]
async fn an_accepted_run_waits_a_moment_for_a_run_that_is_giving_way() {
    let h = Harness::start(SimulatorConfig::default(), &VARS).await;
    let accepted = claim(&h).await;
    // Another session holds the run lock for a moment, as a run giving way does.
    let holder = h.db.client().await;
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .unwrap();
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder
            .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
            .await
            .unwrap();
    };
    let ingester = h.ingester();
    let (report, ()) = tokio::join!(
        ingester.run(request(Trigger::Http, Some(accepted)), None),
        release
    );
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
}

#[tokio::test]
async fn a_retry_of_an_accepted_run_keeps_what_each_earlier_attempt_recorded() {
    // Every range request of the first attempt fails (4 pairs x 4 tries); the retry's pass.
    let faults = Faults {
        fail_first: 16,
        ..Faults::default()
    };
    let h = Harness::with_faults(faults, &VARS).await;
    let accepted = claim(&h).await;

    let first = h
        .ingester()
        .run(request(Trigger::Http, Some(accepted)), None)
        .await;
    assert_eq!(first.status, Status::Failed, "{:?}", first.pair_results);
    assert_eq!(first.failures.len(), 4);
    // Lambda retries the event: the same payload, the same runId.
    let second = h
        .ingester()
        .run(request(Trigger::Http, Some(accepted)), None)
        .await;
    assert_eq!(second.status, Status::Succeeded, "{:?}", second.failures);
    assert_eq!(second.run_id, accepted);
    assert_eq!(second.attempt, 2);
    assert_eq!(second.earlier_attempts.len(), 1);
    let earlier = &second.earlier_attempts[0];
    assert_eq!(earlier.attempt, 1);
    assert_eq!(earlier.status, common::ingest::RunStatus::Failed);
    assert_eq!(earlier.failures, first.failures);
    assert_eq!(earlier.started_at, first.started_at);
    assert!(!earlier.interrupted);

    // What the row keeps is what the runs route serves.
    let stored: serde_json::Value =
        h.db.client()
            .await
            .query_one(
                "SELECT report FROM ingestion_runs WHERE id = $1",
                &[&accepted],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(stored["attempt"], 2);
    assert_eq!(stored["earlierAttempts"][0]["status"], "failed");
    assert_eq!(
        stored["earlierAttempts"][0]["failures"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // A third start after an attempt whose container died mid-run (its row left running).
    h.db.client()
        .await
        .execute(
            "UPDATE ingestion_runs SET status = 'running', finished_at = NULL WHERE id = $1",
            &[&accepted],
        )
        .await
        .unwrap();
    let third = h
        .ingester()
        .run(request(Trigger::Http, Some(accepted)), None)
        .await;
    assert_eq!(third.attempt, 3);
    let attempts: Vec<(u32, bool)> = third
        .earlier_attempts
        .iter()
        .map(|a| (a.attempt, a.interrupted))
        .collect();
    assert_eq!(attempts, [(1, false), (2, true)]);
    assert_eq!(
        third.earlier_attempts[1].status,
        common::ingest::RunStatus::Failed
    );
    assert_eq!(rows(&h).await.len(), 1, "one row for all three attempts");
}

#[tokio::test]
async fn a_started_run_that_died_is_closed_as_interrupted_by_the_next_run() {
    let h = Harness::start(SimulatorConfig::default(), &VARS).await;
    let dead = Uuid::new_v4();
    h.db.client()
        .await
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, attempt)
             VALUES ($1, 'schedule', 'incremental', 'running', now() - interval '1 minute', 1)",
            &[&dead],
        )
        .await
        .unwrap();
    let run = h.ingester().run(request(Trigger::Manual, None), None).await;
    assert_eq!(run.status, Status::Succeeded, "{:?}", run.failures);
    let report: serde_json::Value =
        h.db.client()
            .await
            .query_one(
                "SELECT report FROM ingestion_runs WHERE id = $1 AND status = 'failed'",
                &[&dead],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(report["interrupted"], true);
}

#[tokio::test]
async fn database_failures_keep_their_sqlstate_and_constraint_but_not_values() {
    let h = Harness::start(SimulatorConfig::default(), &VARS).await;
    // Every hourly row breaks a constraint; the server's DETAIL would quote the row.
    h.db.client()
        .await
        .batch_execute(
            "ALTER TABLE price_hourly ADD CONSTRAINT test_rejects_every_price CHECK (price < 0)",
        )
        .await
        .unwrap();
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.failures.len(), 4, "{:?}", report.failures);
    for failure in &report.failures {
        assert_eq!(failure.code, FailureCode::DatabaseConstraint, "{failure:?}");
        let message = &failure.message;
        assert!(message.contains("SQLSTATE 23514"), "{message}");
        assert!(message.contains("test_rejects_every_price"), "{message}");
        assert!(message.contains("price_hourly"), "{message}");
        assert!(!message.contains("Failing row"), "no values: {message}");
        assert!(!message.contains("db error"), "{message}");
    }

    // The public runs route hides the message and keeps the specific code.
    let api = app(route::ingestion_runs(), ApiState::new(h.state.clone()));
    let runs = expect_data(&send(&api, get("/api/ingestion/runs?limit=1")).await, 200);
    let failure = &runs[0]["report"]["failures"][0];
    assert_eq!(failure["code"], "DATABASE_CONSTRAINT");
    assert!(!failure["message"]
        .as_str()
        .unwrap()
        .contains("test_rejects"));

    // The error as logs show it (the same Display), for a unique violation.
    let client = h.state.db.client().await.unwrap();
    let id = Uuid::new_v4();
    let insert = "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at)
                  VALUES ($1, 'cli', 'full', 'succeeded', now())";
    client.execute(insert, &[&id]).await.unwrap();
    let e = DbError::from(client.execute(insert, &[&id]).await.unwrap_err());
    assert_eq!(e.failure_code(), FailureCode::DatabaseConstraint);
    let text = e.to_string();
    assert!(text.contains("SQLSTATE 23505"), "{text}");
    assert!(text.contains("ingestion_runs_pkey"), "{text}");
    assert!(
        !text.contains(&id.to_string()),
        "no parameter values: {text}"
    );
}
