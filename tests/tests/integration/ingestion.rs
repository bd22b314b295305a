//! Ingestion end to end: real PostgreSQL, the CoinGecko simulator over real HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use common::ingest::{self, FailureCode, Mode, PairStatus, RunRequest, Status, Trigger};
use integration_tests::harness::FIXED_NOW_SECS;
use integration_tests::{event, table_digest, Harness};
use simulator::{Faults, SimulatorConfig};

const PAIRS: u32 = 44;
/// Hourly rows of a full run of the default simulator (seed 42) at the fixed now, all 44
/// pairs: 44 x 2139 hours = 94,116, less 104 coin-hours the simulator leaves empty times the
/// 4 currencies of each coin (416). The first test derives it again from the simulator.
const HOURLY_ROWS: i64 = 93_700;
/// Hourly rows of one pair at the fixed now: 2139 hours less the coin's empty ones (8 for
/// bitcoin, 9 for ethereum, 4 for dogecoin).
const BITCOIN_HOURLY: i64 = 2131;
const ETHEREUM_HOURLY: i64 = 2130;
const DOGECOIN_HOURLY: i64 = 2135;
/// bitcoin and ethereum in the 4 default currencies.
const BITCOIN_ETHEREUM_HOURLY: u64 = 4 * (BITCOIN_HOURLY + ETHEREUM_HOURLY) as u64;

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

/// Hourly means computed here from the simulator's own answer for one pair, independently
/// of the ingester: every positive price grouped by UTC hour (hour number -> mean).
async fn expected_hours(
    base_url: &str,
    coin: &str,
    currency: &str,
    from: i64,
    to: i64,
) -> BTreeMap<i64, f64> {
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
    hours
        .into_iter()
        .map(|(hour, prices)| (hour, prices.iter().sum::<f64>() / prices.len() as f64))
        .collect()
}

/// Daily averages from hourly means: the mean of the hours of each UTC day, with their
/// count (day number -> (mean, hours)).
fn expected_daily(hours: &BTreeMap<i64, f64>) -> BTreeMap<i64, (f64, i64)> {
    let mut days: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (hour, mean) in hours {
        days.entry(hour.div_euclid(24)).or_default().push(*mean);
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

/// Stored rows of one table, per pair: (coin, currency) -> [(hour or day number, price,
/// sample count)].
type StoredRows = BTreeMap<(String, String), Vec<(i64, f64, i64)>>;

async fn stored(client: &tokio_postgres::Client, sql: &str) -> StoredRows {
    let mut out = StoredRows::new();
    for row in client.query(sql, &[]).await.unwrap() {
        out.entry((row.get(0), row.get(1)))
            .or_default()
            .push((row.get(2), row.get(3), row.get(4)));
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * 1e-12
}

#[tokio::test]
async fn a_full_run_writes_every_pair_and_every_row_matches_an_independent_computation() {
    // 2025-11-28T02:20:34Z: the window starts at 2025-08-31T00:00Z, the first UTC midnight
    // within 90 days, and holds 89 whole days and the hours 00, 01 and 02 of the 28th.
    let h = Harness::start_fixed(SimulatorConfig::default(), &[]).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.pairs.skipped),
        (PAIRS, 0, 0)
    );
    assert!(report.simulated);
    assert_eq!(report.rows.metadata, 11);
    // The coins list, the metadata of 11 coins, one hourly window and one year of daily
    // snapshots per pair (backfill.rs checks those): nothing retried.
    assert_eq!(
        (report.api_calls, report.retries, report.rate_limited),
        (1 + 11 + 44 + 44, 0, 0)
    );
    let requests = h.sim.requests();
    assert_eq!(requests.len(), 100, "{requests:?}");
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");

    let client = h.db.client().await;
    let digest = table_digest(&client, None).await;
    // 44 pairs x 2139 hours (89 x 24 + 3) = 94,116, less the hours the simulator leaves
    // empty: a seeded draw per coin and hour (under 0.4 %, 104 coin-hours here), the same
    // for the 4 currencies of a coin. The per-pair check below derives the same number
    // from the simulator's answers.
    assert_eq!(digest.hourly, HOURLY_ROWS, "{digest:?}");
    assert_eq!(digest.hourly as u64, report.rows.hourly);
    // 89 whole days and today of hourly averages for each pair, and the 275 days of the
    // year before them.
    assert_eq!(digest.daily, 44 * 365);
    assert_eq!(report.rows.daily, 44 * 90);
    assert_eq!(report.rows.snapshot, 44 * 275);

    // Each pair asked for the full window ending at the fixed now.
    let full_start = ingest::window_start(Mode::Full, None, h.now).timestamp();
    assert_eq!(full_start, 1_756_598_400, "2025-08-31T00:00:00Z");
    let ranges: Vec<_> = range_requests(&h)
        .into_iter()
        .filter(|r| {
            query_param(&r.query, "from") != Some(ingest::backfill_start(365, h.now).timestamp())
        })
        .collect();
    assert_eq!(ranges.len(), 44);
    for r in &ranges {
        assert_eq!(
            (query_param(&r.query, "from"), query_param(&r.query, "to")),
            (Some(full_start), Some(FIXED_NOW_SECS)),
            "{}",
            r.query
        );
    }

    // Every pair, every row: the hourly means and the daily averages the ingester stored
    // equal those computed here from the simulator's own answers.
    let hourly = stored(
        &client,
        "SELECT coin_id, currency_code, (extract(epoch FROM ts) / 3600)::bigint, price, 1::bigint
           FROM price_hourly ORDER BY 1, 2, 3",
    )
    .await;
    let daily = stored(
        &client,
        "SELECT coin_id, currency_code, (date - DATE '1970-01-01')::bigint, price, sample_count::bigint
           FROM price_daily WHERE source = 'hourly' ORDER BY 1, 2, 3",
    )
    .await;
    let mut pairs = 0;
    let mut expected_total = 0;
    for coin in &h.state.config.tracked_coins.pinned {
        for currency in &h.state.config.tracked_currencies {
            pairs += 1;
            let key = (coin.clone(), currency.clone());
            let hours = expected_hours(
                &h.sim.base_url(),
                coin,
                currency,
                full_start,
                FIXED_NOW_SECS,
            )
            .await;
            expected_total += hours.len() as i64;
            let got = &hourly[&key];
            assert_eq!(got.len(), hours.len(), "{coin}/{currency} hourly rows");
            for ((hour, price, _), (want_hour, want)) in got.iter().zip(&hours) {
                assert_eq!(hour, want_hour, "{coin}/{currency}");
                assert!(
                    close(*price, *want),
                    "{coin}/{currency} hour {hour}: {price} != {want}"
                );
            }
            let days = expected_daily(&hours);
            let got = &daily[&key];
            assert_eq!(got.len(), days.len(), "{coin}/{currency} daily rows");
            for ((day, price, samples), (want_day, (want, want_samples))) in got.iter().zip(&days) {
                assert_eq!(day, want_day, "{coin}/{currency}");
                assert!(
                    close(*price, *want),
                    "{coin}/{currency} day {day}: {price} != {want}"
                );
                assert_eq!(samples, want_samples, "{coin}/{currency} day {day}");
            }
        }
    }
    assert_eq!(pairs, PAIRS);
    assert_eq!(hourly.len(), 44, "no other pair stored");
    assert_eq!(expected_total, HOURLY_ROWS);
}

#[tokio::test]
async fn a_second_identical_run_changes_nothing_and_incremental_runs_fetch_short_windows() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &[]).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let client = h.db.client().await;
    let first = table_digest(&client, None).await;
    assert_eq!((first.hourly, first.daily), (HOURLY_ROWS, 44 * 365));

    let again = h.run(Mode::Full, false).await;
    assert_eq!(again.status, Status::Succeeded);
    assert_eq!(table_digest(&client, None).await, first);
    // The coins list and one range per pair; no metadata call, no second backfill.
    assert_eq!((again.api_calls, again.pairs.ok), (1 + 44, PAIRS));
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
    assert_eq!(
        (incremental.api_calls, incremental.pairs.ok),
        (1 + 44, PAIRS)
    );
    assert_eq!((incremental.rows.hourly, incremental.rows.daily), (0, 0));
    assert_eq!(table_digest(&client, None).await, first);
    let ranges = range_requests(&h);
    assert_eq!(ranges.len(), 44);
    // The newest stored hour is 02:00 of the fixed now: the window starts 48 hours before
    // it (2025-11-26T02:00:00Z) and ends at now, 48 h 20 min 34 s.
    let newest_hour = FIXED_NOW_SECS - FIXED_NOW_SECS % 3600;
    for r in ranges {
        assert_eq!(
            (query_param(&r.query, "from"), query_param(&r.query, "to")),
            (Some(newest_hour - 48 * 3600), Some(FIXED_NOW_SECS)),
            "{}",
            r.query
        );
        assert_eq!(newest_hour - 48 * 3600, 1_764_122_400);
    }
}

#[tokio::test]
async fn two_concurrent_runs_one_works_the_other_is_skipped() {
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                slow_rate: 1.0,
                slow: Duration::from_millis(30),
                ..Faults::default()
            },
            ..SimulatorConfig::default()
        },
        &[("TRACKED_COINS", "bitcoin,ethereum")],
    )
    .await;
    let (a, b) = tokio::join!(h.run(Mode::Full, false), h.run(Mode::Full, false));
    let mut statuses = [a.status, b.status];
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(statuses, [Status::Skipped, Status::Succeeded]);
    let (worked, skipped) = if a.status == Status::Skipped {
        (&b, &a)
    } else {
        (&a, &b)
    };
    assert_eq!(skipped.api_calls, 0);
    assert_eq!(
        (
            skipped.pairs.ok,
            skipped.pairs.failed,
            skipped.pairs.skipped
        ),
        (0, 0, 0)
    );
    // Two coins in the 4 default currencies, all of it done by the one that worked.
    assert_eq!(
        (worked.pairs.ok, worked.rows.hourly, worked.rows.daily),
        (8, BITCOIN_ETHEREUM_HOURLY, 8 * 90)
    );

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
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                storm: 2,
                storm_retry_after: Some(1),
                fail_first: 2,
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
    // list + metadata + 2 pairs + their 2 backfills, plus the four retried attempts.
    assert_eq!(report.api_calls, 6 + 4);
    let statuses: Vec<u16> = h.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200, 200, 500, 500, 200, 200, 200, 200]);
    assert_eq!(
        (report.pairs.ok, report.rows.hourly),
        (2, 2 * BITCOIN_HOURLY as u64)
    );
}

#[tokio::test]
async fn a_pair_failing_persistently_ends_the_run_partial_with_the_others_written() {
    let h = Harness::start_fixed(
        SimulatorConfig {
            faults: Faults {
                fail_coins: vec!["dogecoin".into()],
                ..Faults::default()
            },
            ..SimulatorConfig::default()
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
    assert_eq!(
        table_digest(&client, Some(("bitcoin", "usd"))).await.hourly,
        BITCOIN_HOURLY
    );
    // Everything but dogecoin's 4 pairs.
    assert_eq!(
        table_digest(&client, None).await.hourly,
        HOURLY_ROWS - 4 * DOGECOIN_HOURLY
    );
    // Each dogecoin pair was tried once and retried 3 times (fast_retry), all answered 500.
    let dogecoin: Vec<u16> = range_requests(&h)
        .iter()
        .filter(|r| r.path.contains("/dogecoin/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(dogecoin, [500; 16]);
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
    let h = Harness::start_fixed(
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
    // 90 days of hours and 275 backfilled days before them.
    assert_eq!((before.hourly, before.daily), (BITCOIN_HOURLY, 365));

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
    let h = Harness::start_fixed(
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
    // How many pairs fit before the deadline depends on the machine's speed (that is what a
    // deadline is about); everything else follows from that number k exactly.
    let k = first.pairs.ok as usize;
    assert!((1..12).contains(&k), "{:?}", first.pairs);
    assert_eq!(
        (first.pairs.failed, first.pairs.skipped),
        (0, 12 - k as u32)
    );
    let configured: Vec<(String, String)> = ["bitcoin", "ethereum", "solana"]
        .iter()
        .flat_map(|c| {
            ["usd", "eur", "gbp", "jpy"]
                .iter()
                .map(move |v| (c.to_string(), v.to_string()))
        })
        .collect();
    let statuses: Vec<_> = first
        .pair_results
        .iter()
        .map(|p| ((p.coin.clone(), p.currency.clone()), p.status))
        .collect();
    let expected: Vec<_> = configured
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let status = if i < k {
                PairStatus::Ok
            } else {
                PairStatus::Skipped
            };
            (pair.clone(), status)
        })
        .collect();
    assert_eq!(statuses, expected, "the first k pairs in configured order");

    let second = h.ingester().run(request, None).await;
    assert_eq!(second.status, Status::Succeeded);
    assert_eq!((second.pairs.ok, second.pairs.skipped), (12, 0));
    // The pairs left over were never fetched, so they are the stalest and go first, in
    // configured order; then the k fetched ones, equally fresh, in configured order.
    let order: Vec<_> = second
        .pair_results
        .iter()
        .map(|p| (p.coin.clone(), p.currency.clone()))
        .collect();
    let expected: Vec<_> = configured[k..]
        .iter()
        .chain(&configured[..k])
        .cloned()
        .collect();
    assert_eq!(order, expected);
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
    let h = Harness::start_fixed(
        SimulatorConfig::default(),
        &[("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")],
    )
    .await;
    // The scheduled run finds no data and fetches the full window and the year before it;
    // the full one with cleanFirst deletes that window and writes it again (the year is
    // there already); the incremental one finds nothing changed.
    for (file, mode, clean, trigger, rows) in [
        (
            "ingest-scheduled.json",
            Mode::Incremental,
            false,
            Trigger::Schedule,
            (BITCOIN_HOURLY as u64, 90, 275),
        ),
        (
            "ingest-full.json",
            Mode::Full,
            true,
            Trigger::Manual,
            (BITCOIN_HOURLY as u64, 90, 0),
        ),
        (
            "ingest-incremental.json",
            Mode::Incremental,
            false,
            Trigger::Manual,
            (0, 0, 0),
        ),
    ] {
        let payload: serde_json::Value = serde_json::from_str(&event(file)).unwrap();
        let request = ingest::invocation::run_request(payload, ingest_function::SCHEDULED).unwrap();
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
        assert_eq!(report.pairs.ok, 1, "{file}");
        let written = (report.rows.hourly, report.rows.daily, report.rows.snapshot);
        assert_eq!(written, rows, "{file}");
    }
    let digest = table_digest(&h.db.client().await, None).await;
    assert_eq!((digest.hourly, digest.daily), (BITCOIN_HOURLY, 365));
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
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].code, FailureCode::DatabaseUnavailable);
    assert!(!report.failures[0].message.contains("supersecret"));
    assert_eq!(
        (report.pairs.ok, report.pairs.failed, report.api_calls),
        (0, 0, 0)
    );
}
