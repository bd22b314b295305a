//! Ingestion under faults: a hostile upstream, a database that crashes mid-run, connections
//! killed between runs, and many concurrent runs. Every outcome is accounted for exactly and
//! no wrong or duplicate row is ever stored.

use std::sync::Arc;
use std::time::Duration;

use common::ingest::{
    FailureCode, Ingester, Mode, PairStatus, RunReport, RunRequest, Status, Trigger,
};
use common::state::AppState;
use integration_tests::{config_from, fast_retry, table_digest, Harness, PrivateCluster};
use simulator::{self, Faults, SimulatorConfig};

fn full() -> RunRequest {
    RunRequest {
        mode: Mode::Full,
        clean_first: false,
        trigger: Trigger::Manual,
        run_id: None,
    }
}

/// Exact accounting: every pair is ok, failed or skipped; every failed pair has one failure;
/// the stored run says the same as the returned report.
async fn assert_accounted(report: &RunReport, client: &tokio_postgres::Client, pairs: u32) {
    let p = &report.pairs;
    assert_eq!(p.ok + p.failed + p.skipped, pairs, "{p:?}");
    let pair_failures = report
        .failures
        .iter()
        .filter(|f| f.currency.is_some())
        .count() as u32;
    assert_eq!(pair_failures, p.failed, "{:?}", report.failures);
    assert_eq!(
        report
            .pair_results
            .iter()
            .filter(|r| r.status == PairStatus::Ok)
            .count() as u32,
        p.ok
    );
    let stored: serde_json::Value = client
        .query_one(
            "SELECT report FROM ingestion_runs WHERE id = $1",
            &[&report.run_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["pairs"]["ok"], p.ok);
    assert_eq!(stored["pairs"]["failed"], p.failed);
    assert_eq!(stored["status"], report.status.as_str());
}

/// The rows of the pairs that succeeded must equal those of an undisturbed run of the same
/// simulator (seed) at the same instant.
async fn assert_rows_match_clean_run(faulty: &Harness, report: &RunReport, seed: u64) {
    let clean = Harness::start_at(
        SimulatorConfig {
            seed,
            ..SimulatorConfig::default()
        },
        &[],
        faulty.now,
    )
    .await;
    assert_eq!(clean.run(Mode::Full, false).await.status, Status::Succeeded);
    let (a, b) = (faulty.db.client().await, clean.db.client().await);
    for r in report
        .pair_results
        .iter()
        .filter(|r| r.status == PairStatus::Ok)
    {
        let pair = Some((r.coin.as_str(), r.currency.as_str()));
        assert_eq!(
            table_digest(&a, pair).await,
            table_digest(&b, pair).await,
            "{}/{}",
            r.coin,
            r.currency
        );
    }
    for r in report
        .pair_results
        .iter()
        .filter(|r| r.status != PairStatus::Ok)
    {
        let pair = Some((r.coin.as_str(), r.currency.as_str()));
        assert_eq!(
            table_digest(&a, pair).await.hourly,
            0,
            "a failed pair wrote nothing"
        );
    }
}

#[tokio::test]
async fn a_hostile_upstream_ends_succeeded_or_partial_with_exact_accounting_and_no_wrong_row() {
    let sim = SimulatorConfig {
        seed: 7,
        faults: Faults {
            error_rate: 0.15,
            html_rate: 0.1,
            truncate_rate: 0.1,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    };
    let h = Harness::start(sim, &[]).await;
    let report = h.run(Mode::Full, false).await;
    assert!(
        matches!(report.status, Status::Succeeded | Status::Partial),
        "{report:?}"
    );
    assert!(report.retries > 0, "faults were met and retried");
    let client = h.db.client().await;
    assert_accounted(&report, &client, 44).await;
    for f in report.failures.iter().filter(|f| f.currency.is_some()) {
        assert!(
            [FailureCode::Upstream5xx, FailureCode::MalformedBody].contains(&f.code),
            "{f:?}"
        );
    }
    assert_rows_match_clean_run(&h, &report, 7).await;
}

#[tokio::test]
async fn a_429_storm_in_html_is_backed_off_and_a_long_retry_after_beyond_the_deadline_fails_the_pair_cleanly(
) {
    // The CDN's HTML 429 page, no Retry-After: exponential backoff, then success.
    let h = Harness::with_faults(
        Faults {
            storm: 3,
            storm_html: true,
            ..Faults::default()
        },
        &[
            ("TRACKED_COINS", "bitcoin"),
            ("TRACKED_CURRENCIES", "usd,eur"),
        ],
    )
    .await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(report.rate_limited, 3);

    // Retry-After: 119 with a deadline 5 s away: not waited for; the run stops cleanly.
    let h = Harness::with_faults(
        Faults {
            storm: 1000,
            storm_retry_after: Some(119),
            ..Faults::default()
        },
        &[
            ("TRACKED_COINS", "bitcoin"),
            ("TRACKED_CURRENCIES", "usd,eur"),
        ],
    )
    .await;
    let ingester = Ingester {
        retry: common::coingecko::RetryPolicy {
            max_retry_after: Duration::from_secs(120),
            ..fast_retry()
        },
        reserve: Duration::ZERO,
        ..h.ingester()
    };
    let started = std::time::Instant::now();
    let report = ingester
        .run(
            full(),
            Some(tokio::time::Instant::now() + Duration::from_secs(5)),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait 119 s"
    );
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.pairs.ok, 0);
    assert_accounted(&report, &h.db.client().await, 2).await;
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.code == FailureCode::RateLimited && f.message.contains("119")),
        "{:?}",
        report.failures
    );
}

#[tokio::test]
async fn a_database_crash_mid_run_fails_clearly_and_the_next_run_restores_exactly_the_undisturbed_tables(
) {
    let cluster = PrivateCluster::start();
    let url = cluster.migrated_database("crashy").await;
    let sim = simulator::start(
        SimulatorConfig {
            faults: Faults {
                slow_rate: 1.0,
                slow: Duration::from_millis(60),
                ..Faults::default()
            },
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sim.base_url();
    let config = config_from(&[
        ("DATABASE_URL", &url),
        ("COINGECKO_BASE_URL", &base),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ("DB_CONNECT_TIMEOUT_SECS", "2"),
    ]);
    let state = AppState::new(config).await.unwrap();
    let now = chrono::Utc::now();
    let ingester = Ingester {
        retry: fast_retry(),
        clock: Arc::new(move || now),
        ..Ingester::new(&state.config, &state.secrets, &state.db)
    };

    let run = ingester.run(full(), None);
    let crash = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster.crash();
    };
    let (report, ()) = tokio::join!(run, crash);
    assert_ne!(report.status, Status::Succeeded, "the crash must show");
    assert!(
        report.pairs.ok > 0 && report.pairs.failed > 0,
        "{:?}",
        report.pairs
    );
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.code == FailureCode::DatabaseError),
        "{:?}",
        report.failures
    );

    cluster.restart();
    let next = ingester.run(full(), None).await;
    assert_eq!(next.status, Status::Succeeded, "{:?}", next.failures);
    let client = integration_tests::connect(&url).await;
    let statuses: Vec<(String, bool)> = client
        .query(
            "SELECT status, report ? 'interrupted' FROM ingestion_runs ORDER BY started_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get::<_, Option<bool>>(1).unwrap_or(false)))
        .collect();
    assert_eq!(
        statuses,
        [("failed".to_owned(), true), ("succeeded".to_owned(), false)],
        "the crashed run is closed as interrupted"
    );

    // The undisturbed reference: same simulator, same clock, its own database.
    let reference_url = cluster.migrated_database("reference").await;
    let reference = AppState::new(config_from(&[
        ("DATABASE_URL", &reference_url),
        ("COINGECKO_BASE_URL", &base),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
    ]))
    .await
    .unwrap();
    let reference_run = Ingester {
        retry: fast_retry(),
        clock: Arc::new(move || now),
        ..Ingester::new(&reference.config, &reference.secrets, &reference.db)
    }
    .run(full(), None)
    .await;
    assert_eq!(reference_run.status, Status::Succeeded);
    let reference_client = integration_tests::connect(&reference_url).await;
    assert_eq!(
        table_digest(&client, None).await,
        table_digest(&reference_client, None).await
    );
}

#[tokio::test]
async fn connections_killed_between_runs_do_not_fail_the_next_run() {
    let h = Harness::start(
        SimulatorConfig::default(),
        &[("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")],
    )
    .await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    h.db.client()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&h.db.name],
        )
        .await
        .unwrap();
    assert_eq!(
        h.run(Mode::Incremental, false).await.status,
        Status::Succeeded
    );
}

#[tokio::test]
async fn of_five_concurrent_runs_exactly_one_does_the_work() {
    let h = Harness::with_faults(
        Faults {
            slow_rate: 1.0,
            slow: Duration::from_millis(20),
            ..Faults::default()
        },
        &[
            ("TRACKED_COINS", "bitcoin,ethereum"),
            ("TRACKED_CURRENCIES", "usd,eur"),
        ],
    )
    .await;
    let reports = futures_join_all((0..5).map(|_| h.run(Mode::Full, false))).await;
    let worked: Vec<_> = reports
        .iter()
        .filter(|r| r.status == Status::Succeeded)
        .collect();
    let skipped = reports
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .count();
    assert_eq!((worked.len(), skipped), (1, 4));
    assert_eq!(worked[0].pairs.ok, 4);
    let digest = table_digest(&h.db.client().await, None).await;
    assert_eq!(
        digest.hourly as u64, worked[0].rows.hourly,
        "no row written twice"
    );
}

/// `join_all` without a dependency: the futures run concurrently on this task.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                outputs[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("completed")).collect()
}
