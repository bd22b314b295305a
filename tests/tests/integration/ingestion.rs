//! Ingestion end to end: real PostgreSQL, the CoinGecko simulator over real HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use common::ingest::{self, FailureCode, Mode, PairStatus, RunRequest, Status, Trigger};
use integration_tests::{event, table_digest, Harness};
use simulator::{Faults, SimulatorConfig};

const PAIRS: u32 = 44;

fn query_param(query: &str, name: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

/// The `/coins/{id}/market_chart/range` calls the simulator has seen.
fn range_requests(h: &Harness) -> Vec<simulator::LoggedRequest> {
    h.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/range"))
        .collect()
}

/// Daily averages computed here from the simulator's own answers, independently of the
/// ingester: mean per UTC hour, then mean of the hours of each UTC day.
async fn expected_daily(
    base_url: &str,
    coin: &str,
    currency: &str,
    from: i64,
    to: i64,
) -> BTreeMap<i64, (f64, i64)> {
    let url = format!(
        "{base_url}/coins/{coin}/market_chart/range?vs_currency={currency}&from={from}&to={to}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap();
    let mut hours: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for point in body["prices"].as_array().unwrap() {
        let (ms, price) = (point[0].as_i64().unwrap(), point[1].as_f64());
        if let Some(p) = price.filter(|p| *p > 0.0) {
            hours.entry(ms.div_euclid(3_600_000)).or_default().push(p);
        }
    }
    let mut days: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (hour, prices) in hours {
        days.entry(hour.div_euclid(24))
            .or_default()
            .push(prices.iter().sum::<f64>() / prices.len() as f64);
    }
    days.into_iter()
        .map(|(day, means)| {
            (
                day,
                (
                    means.iter().sum::<f64>() / means.len() as f64,
                    means.len() as i64,
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_full_run_writes_every_pair_and_daily_averages_match_an_independent_computation() {
    let h = Harness::start(SimulatorConfig::default(), &[]).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(report.pairs.ok, PAIRS);
    assert!(report.simulated);
    assert_eq!(report.rows.metadata, 11);
    assert!(report.api_calls >= 1 + 11 + 44);

    let client = h.db.client().await;
    let digest = table_digest(&client, None).await;
    // 44 pairs x (89 whole days + today's hours so far) x 24, less the simulator's rare
    // missing hours.
    assert!((93_000..=95_100).contains(&digest.hourly), "{digest:?}");
    assert_eq!(digest.hourly as u64, report.rows.hourly);
    assert_eq!(digest.daily as u64, report.rows.daily);
    // The window starts at the first UTC midnight within 90 days: 89 whole days and today.
    assert_eq!(digest.daily, 44 * 90);

    // Each pair asked for the full window ending at the fixed now.
    let full_start = ingest::window_start(Mode::Full, None, h.now).timestamp();
    let ranges = range_requests(&h);
    assert_eq!(ranges.len(), 44);
    for r in &ranges {
        let (from, to) = (
            query_param(&r.query, "from").unwrap(),
            query_param(&r.query, "to").unwrap(),
        );
        assert_eq!(from, full_start, "{}", r.query);
        assert_eq!(from % 86_400, 0, "a UTC midnight: {}", r.query);
        assert!(to - from > 89 * 86_400 && to - from <= 90 * 86_400);
        assert_eq!(to, h.now.timestamp());
    }

    for (coin, currency) in [
        ("bitcoin", "usd"),
        ("tether", "jpy"),
        ("avalanche-2", "gbp"),
        ("dogecoin", "eur"),
    ] {
        let r = ranges
            .iter()
            .find(|r| r.path.contains(&format!("/{coin}/")) && r.query.contains(currency))
            .unwrap();
        let (from, to) = (
            query_param(&r.query, "from").unwrap(),
            query_param(&r.query, "to").unwrap(),
        );
        let expected = expected_daily(&h.sim.base_url(), coin, currency, from, to).await;
        let rows = client
            .query(
                "SELECT (date - DATE '1970-01-01')::bigint, price, sample_count::bigint FROM price_daily
                  WHERE coin_id = $1 AND currency_code = $2 ORDER BY date",
                &[&coin, &currency],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), expected.len(), "{coin}/{currency}");
        for row in rows {
            let (day, price, samples): (i64, f64, i64) = (row.get(0), row.get(1), row.get(2));
            let (want, want_samples) = expected[&day];
            assert!(
                (price - want).abs() <= want * 1e-12,
                "{coin}/{currency} day {day}: {price} != {want}"
            );
            assert_eq!(samples, want_samples);
        }
    }
}

#[tokio::test]
async fn a_second_identical_run_changes_nothing_and_incremental_runs_fetch_short_windows() {
    let h = Harness::start(SimulatorConfig::default(), &[]).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let client = h.db.client().await;
    let first = table_digest(&client, None).await;

    let again = h.run(Mode::Full, false).await;
    assert_eq!(again.status, Status::Succeeded);
    assert_eq!(table_digest(&client, None).await, first);
    assert_eq!(
        (again.rows.hourly, again.rows.daily),
        (0, 0),
        "unchanged rows are not rewritten"
    );
    assert_eq!(
        again.rows.metadata, 0,
        "fresh metadata is not fetched again"
    );

    h.sim.clear_requests();
    let incremental = h.run(Mode::Incremental, false).await;
    assert_eq!(incremental.status, Status::Succeeded);
    assert_eq!(table_digest(&client, None).await, first);
    let ranges = range_requests(&h);
    assert_eq!(ranges.len(), 44);
    for r in ranges {
        let span = query_param(&r.query, "to").unwrap() - query_param(&r.query, "from").unwrap();
        // 48 h before the newest stored hour (the hour of "now") up to now: 48-49 hours.
        assert!(
            (48 * 3600..49 * 3600).contains(&span),
            "span {span}s: {}",
            r.query
        );
    }
}

#[tokio::test]
async fn two_concurrent_runs_one_works_the_other_is_skipped() {
    let h = Harness::with_faults(
        Faults {
            slow_rate: 1.0,
            slow: Duration::from_millis(30),
            ..Faults::default()
        },
        &[("TRACKED_COINS", "bitcoin,ethereum")],
    )
    .await;
    let (a, b) = tokio::join!(h.run(Mode::Full, false), h.run(Mode::Full, false));
    let mut statuses = [a.status, b.status];
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(statuses, [Status::Skipped, Status::Succeeded]);
    let skipped = if a.status == Status::Skipped { &a } else { &b };
    assert_eq!(skipped.api_calls, 0);
    assert_eq!(skipped.pairs.ok + skipped.pairs.failed, 0);

    let client = h.db.client().await;
    let recorded: Vec<String> = client
        .query("SELECT status FROM ingestion_runs ORDER BY status", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, ["skipped", "succeeded"]);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_the_run_succeeds() {
    let h = Harness::with_faults(
        Faults {
            storm: 2,
            storm_retry_after: Some(1),
            fail_first: 2,
            ..Faults::default()
        },
        &[
            ("TRACKED_COINS", "bitcoin"),
            ("TRACKED_CURRENCIES", "usd,eur"),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(report.rate_limited, 2);
    assert_eq!(
        report.retries, 4,
        "two 429s and two 500s, each retried once"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 was honoured twice"
    );
    // list + metadata + 2 pairs, plus the four retried attempts.
    assert_eq!(report.api_calls, 4 + 4);
}

#[tokio::test]
async fn a_pair_failing_persistently_ends_the_run_partial_with_the_others_written() {
    let h = Harness::with_faults(
        Faults {
            fail_coins: vec!["dogecoin".into()],
            ..Faults::default()
        },
        &[],
    )
    .await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Partial);
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.pairs.skipped),
        (40, 4, 0)
    );
    let failed: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.currency.is_some())
        .collect();
    assert_eq!(failed.len(), 4);
    for f in failed {
        assert_eq!(f.coin.as_deref(), Some("dogecoin"));
        assert_eq!(f.code, FailureCode::Upstream5xx);
        assert!(f.message.contains("HTTP 500"), "{}", f.message);
    }
    let client = h.db.client().await;
    assert_eq!(
        table_digest(&client, Some(("dogecoin", "usd")))
            .await
            .hourly,
        0
    );
    assert!(table_digest(&client, Some(("bitcoin", "usd"))).await.hourly > 2000);
    let stored: serde_json::Value = client
        .query_one(
            "SELECT report FROM ingestion_runs WHERE id = $1",
            &[&report.run_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["status"], "partial");
    assert_eq!(stored["pairs"]["failed"], 4);
}

#[tokio::test]
async fn clean_first_with_a_failing_upstream_keeps_the_old_rows() {
    let h = Harness::start(
        SimulatorConfig::default(),
        &[
            ("TRACKED_COINS", "bitcoin,ethereum"),
            ("TRACKED_CURRENCIES", "usd"),
        ],
    )
    .await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let client = h.db.client().await;
    let before = table_digest(&client, Some(("bitcoin", "usd"))).await;
    assert!(before.hourly > 2000);

    // Same database, an upstream that now fails for bitcoin.
    let failing = simulator::start(
        SimulatorConfig {
            now_ms: Some(h.now.timestamp_millis()),
            faults: Faults {
                fail_coins: vec!["bitcoin".into()],
                ..Faults::default()
            },
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = failing.base_url();
    let state = common::state::AppState::new(h.db.config(&[
        ("COINGECKO_BASE_URL", &base),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd"),
    ]))
    .await
    .unwrap();
    let now = h.now;
    let ingester = common::ingest::Ingester {
        retry: integration_tests::fast_retry(),
        clock: std::sync::Arc::new(move || now),
        ..common::ingest::Ingester::new(&state.config, &state.secrets, &state.db)
    };
    let request = RunRequest {
        mode: Mode::Full,
        clean_first: true,
        trigger: Trigger::Manual,
        run_id: None,
    };
    let report = ingester.run(request, None).await;
    assert_eq!(report.status, Status::Partial);
    assert_eq!((report.pairs.ok, report.pairs.failed), (1, 1));
    assert_eq!(
        table_digest(&client, Some(("bitcoin", "usd"))).await,
        before,
        "failed fetch left rows intact"
    );

    // cleanFirst with the default (incremental) mode still fetches the full window, so
    // replacing a pair's rows never shrinks its history to two days.
    h.sim.clear_requests();
    let request = RunRequest {
        mode: Mode::Incremental,
        clean_first: true,
        trigger: Trigger::Manual,
        run_id: None,
    };
    assert_eq!(
        h.ingester().run(request, None).await.status,
        Status::Succeeded
    );
    let full_start = ingest::window_start(Mode::Full, None, h.now).timestamp();
    for r in range_requests(&h) {
        assert_eq!(
            query_param(&r.query, "from").unwrap(),
            full_start,
            "{}",
            r.query
        );
    }
    assert_eq!(
        table_digest(&client, Some(("bitcoin", "usd"))).await,
        before
    );
}

#[tokio::test]
async fn a_short_deadline_ends_partial_and_the_next_run_completes_the_rest() {
    // 300 requests/min: one call every 200 ms. The deadline leaves room for a few pairs only.
    let h = Harness::start(
        SimulatorConfig::default(),
        &[
            ("COINGECKO_RATE_LIMIT_PER_MIN", "300"),
            ("TRACKED_COINS", "bitcoin,ethereum,solana"),
            ("TRACKED_CURRENCIES", "usd,eur,gbp,jpy"),
        ],
    )
    .await;
    let ingester = common::ingest::Ingester {
        reserve: Duration::ZERO,
        ..h.ingester()
    };
    let request = RunRequest {
        mode: Mode::Incremental,
        clean_first: false,
        trigger: Trigger::Schedule,
        run_id: None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2000);
    let first = ingester.run(request.clone(), Some(deadline)).await;
    assert_eq!(first.status, Status::Partial, "{first:?}");
    assert!(
        first.pairs.ok >= 1 && first.pairs.skipped >= 1,
        "{:?}",
        first.pairs
    );
    assert_eq!(first.pairs.ok + first.pairs.skipped, 12);
    let done_first: Vec<_> = first
        .pair_results
        .iter()
        .filter(|p| p.status == PairStatus::Ok)
        .map(|p| (p.coin.clone(), p.currency.clone()))
        .collect();

    let second = h.ingester().run(request, None).await;
    assert_eq!(second.status, Status::Succeeded);
    // The pairs left over were never fetched, so they are the stalest and go first.
    let order: Vec<_> = second
        .pair_results
        .iter()
        .map(|p| (p.coin.clone(), p.currency.clone()))
        .collect();
    let leftover = 12 - done_first.len();
    assert!(
        order[..leftover].iter().all(|p| !done_first.contains(p)),
        "{order:?}"
    );
    let client = h.db.client().await;
    let empty: i64 = client
        .query_one(
            "SELECT count(*) FROM unnest(ARRAY['bitcoin','ethereum','solana']) c
              CROSS JOIN unnest(ARRAY['usd','eur','gbp','jpy']) v
              WHERE NOT EXISTS (SELECT 1 FROM price_hourly p WHERE p.coin_id = c AND p.currency_code = v)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(empty, 0, "every pair has data after the second run");
}

#[tokio::test]
async fn the_ingest_function_accepts_each_payload_in_events() {
    let h = Harness::start(
        SimulatorConfig::default(),
        &[("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")],
    )
    .await;
    for (file, mode, clean, trigger) in [
        (
            "ingest-scheduled.json",
            Mode::Incremental,
            false,
            Trigger::Schedule,
        ),
        ("ingest-full.json", Mode::Full, true, Trigger::Manual),
        (
            "ingest-incremental.json",
            Mode::Incremental,
            false,
            Trigger::Manual,
        ),
    ] {
        let payload: serde_json::Value = serde_json::from_str(&event(file)).unwrap();
        let request = ingest::invocation::run_request(payload).unwrap();
        assert_eq!(
            (request.mode, request.clean_first, request.trigger),
            (mode, clean, trigger),
            "{file}"
        );
        let report = h.ingester().run(request, None).await;
        assert_eq!(
            report.status,
            Status::Succeeded,
            "{file}: {:?}",
            report.failures
        );
        assert_eq!(report.trigger, trigger);
    }
}

#[tokio::test]
async fn an_unreachable_database_fails_the_run_with_a_clear_reason() {
    let url = integration_tests::unreachable_database_url();
    let config =
        integration_tests::config_from(&[("DATABASE_URL", &url), ("DB_CONNECT_TIMEOUT_SECS", "1")]);
    let state = common::state::AppState::new(config).await.unwrap();
    let report = common::ingest::Ingester::new(&state.config, &state.secrets, &state.db)
        .run(
            RunRequest {
                mode: Mode::Incremental,
                clean_first: false,
                trigger: Trigger::Schedule,
                run_id: None,
            },
            None,
        )
        .await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.failures[0].code, FailureCode::DatabaseUnavailable);
    assert!(!report.failures[0].message.contains("supersecret"));
}
