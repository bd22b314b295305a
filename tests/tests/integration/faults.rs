//! Ingestion under faults: a hostile upstream, a database that crashes mid-run, connections
//! killed between runs, and many concurrent runs. Every outcome is accounted for exactly and
//! no wrong or duplicate row is ever stored.

use std::sync::Arc;
use std::time::Duration;

use common::ingest::{
    FailureCode, Ingester, Mode, PairStatus, RunReport, RunRequest, Status, Trigger,
};
use common::state::AppState;
use integration_tests::harness::{after_ok_pairs, fixed_now};
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
async fn a_hostile_upstream_ends_partial_with_exact_accounting_and_no_wrong_row() {
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
    let h = Harness::start_fixed(sim, &[]).await;
    let report = h.run(Mode::Full, false).await;
    // The faults are drawn from the seed and the request's number, and one run's requests
    // come in one order: the same outcome every time. With seed 7, 48 of the 147 calls were
    // retries, and dogecoin/eur failed all four of its attempts; the 99 first attempts are
    // the coins list, 11 metadata calls, 44 hourly windows and the backfills of the 43
    // pairs written.
    assert_eq!(report.status, Status::Partial, "{:?}", report.failures);
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.pairs.skipped),
        (43, 1, 0)
    );
    assert_eq!((report.api_calls, report.retries), (147, 48));
    assert_eq!((report.backfill.ok, report.backfill.failed), (43, 0));
    let failures: Vec<_> = report
        .failures
        .iter()
        .map(|f| (f.coin.as_deref(), f.currency.as_deref(), f.code))
        .collect();
    assert_eq!(
        failures,
        [(Some("dogecoin"), Some("eur"), FailureCode::Upstream5xx)]
    );
    let dogecoin_eur: Vec<u16> = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("/dogecoin/") && r.query.contains("vs_currency=eur"))
        .map(|r| r.status)
        .collect();
    // Four attempts: a 503, a 200 whose body was cut off, two more 503s.
    assert_eq!(dogecoin_eur, [503, 200, 503, 503]);
    // The hourly rows of the 43 pairs written (seed 7 leaves other hours empty than the
    // default seed); the clean run below matches them pair by pair.
    assert_eq!(
        table_digest(&h.db.client().await, None).await.hourly,
        91_601
    );
    let client = h.db.client().await;
    assert_accounted(&report, &client, 44).await;
    assert_rows_match_clean_run(&h, &report, 7).await;
}

#[tokio::test]
async fn a_429_storm_in_html_is_backed_off_and_a_long_retry_after_beyond_the_deadline_fails_the_pair_cleanly(
) {
    // The CDN's HTML 429 page, no Retry-After: exponential backoff, then success.
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                storm: 3,
                storm_html: true,
                ..Faults::default()
            },
            ..SimulatorConfig::default()
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
    // The coins list took 3 retries; then metadata, the two pairs and their two backfills.
    assert_eq!((report.api_calls, report.retries), (6 + 3, 3));
    assert_eq!((report.pairs.ok, report.rows.hourly), (2, 2 * 2131));

    // Retry-After: 119 with a deadline 5 s away: not waited for; the run stops cleanly.
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                storm: 1000,
                storm_retry_after: Some(119),
                ..Faults::default()
            },
            ..SimulatorConfig::default()
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
    // One call (the coins list) answered 429; without it no pair can be fetched, and both
    // fail with the reason.
    assert_eq!((report.api_calls, report.rate_limited), (1, 1));
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.pairs.skipped),
        (0, 2, 0)
    );
    assert_accounted(&report, &h.db.client().await, 2).await;
    let failures: Vec<_> = report
        .failures
        .iter()
        .map(|f| (f.coin.as_deref(), f.currency.as_deref(), f.code))
        .collect();
    assert_eq!(
        failures,
        [
            (None, None, FailureCode::RateLimited),
            (Some("bitcoin"), Some("usd"), FailureCode::RateLimited),
            (Some("bitcoin"), Some("eur"), FailureCode::RateLimited),
        ]
    );
    for f in &report.failures {
        assert!(f.message.contains("Retry-After 119s"), "{f:?}");
    }
}

#[tokio::test]
async fn a_database_crash_mid_run_fails_clearly_and_the_next_run_restores_exactly_the_undisturbed_tables(
) {
    let cluster = PrivateCluster::start();
    let url = cluster.migrated_database("crashy").await;
    let now = fixed_now();
    let sim = simulator::start(
        SimulatorConfig {
            now_ms: Some(now.timestamp_millis()),
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
    // The server crashes right after the 10th pair is written: the sink fires inside the
    // run, which then waits on the simulator for the 11th pair while the crash happens (the
    // test runs on one thread), so pairs 11 to 44 all meet the dead server.
    const CRASH_AFTER: u32 = 10;
    let written = Arc::new(tokio::sync::Notify::new());
    let crashing = Ingester {
        retry: fast_retry(),
        clock: Arc::new(move || now),
        progress: Some(after_ok_pairs(CRASH_AFTER, written.clone())),
        ..Ingester::new(&state.config, &state.secrets, &state.db)
    };
    let run = crashing.run(full(), None);
    let crash = async {
        written.notified().await;
        cluster.crash();
    };
    let (report, ()) = tokio::join!(run, crash);
    assert_eq!(report.status, Status::Partial, "{:?}", report.failures);
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.pairs.skipped),
        (CRASH_AFTER, 44 - CRASH_AFTER, 0)
    );
    let pair_failures: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.currency.is_some())
        .collect();
    assert_eq!(pair_failures.len(), (44 - CRASH_AFTER) as usize);
    // The exact cause: the connection is gone (not a statement that failed).
    for f in &pair_failures {
        assert_eq!(f.code, FailureCode::DatabaseUnavailable, "{f:?}");
    }
    // The pairs that finished are the first 10 in configured order (none was fetched before).
    let ok: Vec<_> = report
        .pair_results
        .iter()
        .filter(|p| p.status == PairStatus::Ok)
        .map(|p| (p.coin.as_str(), p.currency.as_str()))
        .collect();
    assert_eq!(
        ok,
        [
            ("bitcoin", "usd"),
            ("bitcoin", "eur"),
            ("bitcoin", "gbp"),
            ("bitcoin", "jpy"),
            ("ethereum", "usd"),
            ("ethereum", "eur"),
            ("ethereum", "gbp"),
            ("ethereum", "jpy"),
            ("tether", "usd"),
            ("tether", "eur"),
        ]
    );

    let ingester = Ingester {
        retry: fast_retry(),
        clock: Arc::new(move || now),
        ..Ingester::new(&state.config, &state.secrets, &state.db)
    };

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
    let h = Harness::start_fixed(
        SimulatorConfig::default(),
        &[("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")],
    )
    .await;
    let first = h.run(Mode::Full, false).await;
    assert_eq!(first.status, Status::Succeeded);
    assert_eq!((first.rows.hourly, first.rows.daily), (2131, 90));
    let killed: i64 = h
        .db
        .client()
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&h.db.name],
        )
        .await
        .unwrap()
        .len() as i64;
    assert!(killed >= 1, "the pool's connections were there to kill");
    let next = h.run(Mode::Incremental, false).await;
    assert_eq!(next.status, Status::Succeeded, "{:?}", next.failures);
    assert_eq!(
        (next.pairs.ok, next.rows.hourly, next.rows.daily),
        (1, 0, 0),
        "the same data again: nothing to change"
    );
}

#[tokio::test]
async fn of_five_concurrent_runs_exactly_one_does_the_work() {
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                slow_rate: 1.0,
                slow: Duration::from_millis(20),
                ..Faults::default()
            },
            ..SimulatorConfig::default()
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
    for r in reports.iter().filter(|r| r.status == Status::Skipped) {
        assert_eq!((r.api_calls, r.pairs.ok, r.pairs.failed), (0, 0, 0));
    }
    // bitcoin (2131 hours) and ethereum (2130) in two currencies, each row written once, and
    // a year of days a pair (90 of hours, 275 backfilled).
    let digest = table_digest(&h.db.client().await, None).await;
    assert_eq!(
        (digest.hourly, digest.daily),
        (2 * 2131 + 2 * 2130, 4 * 365)
    );
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
