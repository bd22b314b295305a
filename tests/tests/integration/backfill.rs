//! The year of history: the backfill's daily snapshots, computed again here from the
//! simulator's own answers; hourly averages winning over snapshots; the backfill made once;
//! its failure leaving the hours alone; the optional hourly retention; a deeper history on Pro.

use std::collections::BTreeMap;

use common::domain::{DailySnapshot, HourlyPrice};
use common::ingest::store::{self, WriteOptions};
use common::ingest::{FailureCode, Mode, Pair, Status};
use integration_tests::harness::FIXED_NOW_SECS;
use integration_tests::{table_digest, Harness, TestDb};
use simulator::{Faults, SimulatorConfig};

const PAIRS: u32 = 44;
const DAY_SECS: i64 = 86_400;
/// The backfill window at the fixed now (2025-11-28T02:20:34Z): 365 days less the hour of
/// margin, from 2024-11-28T03:20:34Z, so its first daily point is 2024-11-29 00:00.
const BACKFILL_FROM: i64 = FIXED_NOW_SECS - 365 * DAY_SECS + 3600;
/// The first day of the hourly window (2025-08-31) as days since the epoch.
const FIRST_HOURLY_DAY: i64 = 20_331;

/// A stored snapshot: day number, price, sample count.
type Snapshot = (i64, f64, i32);

fn query_param(query: &str, name: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

/// The simulator's 00:00 UTC prices of a pair over the backfill window (day number ->
/// price), read here over HTTP, independently of the ingester.
async fn midnight_prices(base_url: &str, coin: &str, currency: &str) -> BTreeMap<i64, f64> {
    let url = format!(
        "{base_url}/coins/{coin}/market_chart/range?vs_currency={currency}&from={BACKFILL_FROM}&to={FIXED_NOW_SECS}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap();
    body["prices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
        .filter(|(ms, price)| ms % (DAY_SECS * 1000) == 0 && *price > 0.0)
        .map(|(ms, price)| (ms / (DAY_SECS * 1000), price))
        .collect()
}

#[tokio::test]
async fn a_first_run_backfills_a_year_of_snapshots_and_later_runs_only_fetch_hours() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &[]).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.pairs.ok, PAIRS);
    assert_eq!(report.backfill.ok, PAIRS);
    // The coins list, 11 coins' metadata, 44 hourly windows and 44 backfills: 100 calls.
    assert_eq!(report.api_calls, 100);
    let calls = &report.calls;
    assert_eq!(
        (
            calls.coins_list,
            calls.coin,
            calls.range,
            calls.backfill,
            calls.simple_price
        ),
        (1, 11, 44, 44, 0)
    );
    let backfills: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with("/range") && query_param(&r.query, "from") == Some(BACKFILL_FROM)
        })
        .collect();
    assert_eq!(backfills.len(), 44);
    assert!(backfills
        .iter()
        .all(|r| query_param(&r.query, "to") == Some(FIXED_NOW_SECS) && r.status == 200));

    // Every snapshot stored equals the simulator's 00:00 UTC price of its day, for the days
    // before the hourly window only: 2024-11-29 to 2025-08-30, 275 days a pair.
    let client = h.db.client().await;
    let rows = client
        .query(
            "SELECT coin_id, currency_code, (date - DATE '1970-01-01')::bigint, price, sample_count
               FROM price_daily WHERE source = 'snapshot' ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap();
    let mut stored: BTreeMap<(String, String), Vec<Snapshot>> = BTreeMap::new();
    for r in &rows {
        stored
            .entry((r.get(0), r.get(1)))
            .or_default()
            .push((r.get(2), r.get(3), r.get(4)));
    }
    assert_eq!(stored.len(), 44);
    let mut total = 0;
    for ((coin, currency), got) in &stored {
        let want: Vec<(i64, f64)> = midnight_prices(&h.sim.base_url(), coin, currency)
            .await
            .into_iter()
            .filter(|(day, _)| *day < FIRST_HOURLY_DAY)
            .collect();
        assert_eq!(want.len(), 275, "{coin}/{currency}");
        assert_eq!(got.len(), want.len(), "{coin}/{currency}");
        for ((day, price, samples), (want_day, want_price)) in got.iter().zip(&want) {
            assert_eq!((day, samples), (want_day, &1), "{coin}/{currency}");
            assert_eq!(price, want_price, "{coin}/{currency} day {day}");
        }
        total += got.len() as u64;
    }
    assert_eq!(report.rows.snapshot, total);
    assert_eq!(total, 44 * 275);
    // A year a pair: 275 snapshot days and the hourly window's 90 days of averages.
    let digest = table_digest(&client, None).await;
    assert_eq!(digest.daily, 44 * 365);
    let hourly_days: i64 = client
        .query_one(
            "SELECT count(*) FROM price_daily WHERE source = 'hourly' AND date >= '2025-08-31'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(hourly_days, 44 * 90);

    // The next runs make only the coins list and the 44 hourly calls, and change nothing.
    for mode in [Mode::Incremental, Mode::Full] {
        let next = h.run(mode, false).await;
        assert_eq!(next.status, Status::Succeeded, "{:?}", next.failures);
        assert_eq!(next.api_calls, 1 + 44, "{mode:?}");
        assert_eq!((next.calls.range, next.calls.backfill), (44, 0));
        assert_eq!(next.backfill.ok, 0);
        assert_eq!(table_digest(&client, None).await, digest);
    }
}

#[tokio::test]
async fn a_failing_backfill_keeps_the_hours_ends_partial_and_is_tried_again() {
    let faults = Faults {
        fail_daily_ranges: true,
        ..Faults::default()
    };
    let sim = SimulatorConfig {
        faults,
        coins: vec!["bitcoin".into()],
        ..SimulatorConfig::default()
    };
    let env = [("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")];
    let h = Harness::start_fixed(sim, &env).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Partial);
    assert_eq!((report.pairs.ok, report.pairs.failed), (1, 0));
    assert_eq!((report.backfill.ok, report.backfill.failed), (0, 1));
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = &report.failures[0];
    assert_eq!(
        (
            failure.coin.as_deref(),
            failure.currency.as_deref(),
            failure.code
        ),
        (Some("bitcoin"), None, FailureCode::Upstream5xx)
    );
    assert!(
        failure
            .message
            .starts_with("history backfill of bitcoin in usd: "),
        "{}",
        failure.message
    );
    let client = h.db.client().await;
    let digest = table_digest(&client, Some(("bitcoin", "usd"))).await;
    assert_eq!((digest.hourly, digest.daily), (2131, 90));

    // Nothing recorded the failed backfill as done: the next run asks again.
    let again = h.run(Mode::Incremental, false).await;
    assert_eq!(again.backfill.failed, 1);
    assert_eq!(again.calls.backfill, 4, "the first attempt and 3 retries");
}

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

async fn daily_rows(client: &tokio_postgres::Client) -> Vec<(String, f64, i32, String)> {
    client
        .query(
            "SELECT date::text, price, sample_count, source FROM price_daily ORDER BY date",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test]
async fn hourly_averages_replace_snapshots_and_a_snapshot_never_replaces_an_average() {
    let (db, client) = TestDb::with_bitcoin_usd().await;
    let database = db.database().await;
    let mut pooled = database.client().await.unwrap();
    let pair = Pair {
        coin: "bitcoin".into(),
        currency: "usd".into(),
    };
    let pairs = std::slice::from_ref(&pair);
    let snapshots = |price: f64| -> Vec<DailySnapshot> {
        ["2025-03-01", "2025-03-02", "2025-03-03"]
            .iter()
            .map(|d| DailySnapshot {
                date: day(d),
                price,
            })
            .collect()
    };
    let now = chrono::Utc::now();
    assert_eq!(
        store::pairs_to_backfill(&pooled, pairs, 365).await.unwrap(),
        pairs
    );
    let written = store::write_snapshots(&mut pooled, &pair, &snapshots(50.0), 365, now)
        .await
        .unwrap();
    assert_eq!(written, 3);
    // A coin younger than a year keeps fewer than 365 days, yet is not backfilled again.
    assert!(store::pairs_to_backfill(&pooled, pairs, 365)
        .await
        .unwrap()
        .is_empty());
    // A deeper history (HISTORY_DAYS raised on Pro) asks again.
    assert_eq!(
        store::pairs_to_backfill(&pooled, pairs, 730).await.unwrap(),
        pairs
    );

    // Two hours of 2025-03-02 arrive: their average replaces that day's snapshot.
    let at = |h: u32| day("2025-03-02").and_hms_opt(h, 0, 0).unwrap().and_utc();
    let hours = [
        HourlyPrice {
            ts: at(0),
            price: 60.0,
            samples: 1,
        },
        HourlyPrice {
            ts: at(1),
            price: 70.0,
            samples: 1,
        },
    ];
    let rows = store::write_pair(
        &mut pooled,
        "bitcoin",
        "usd",
        &hours,
        WriteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((rows.hourly, rows.daily), (2, 1));
    let expected = |first: f64, third: f64| {
        vec![
            ("2025-03-01".to_owned(), first, 1, "snapshot".to_owned()),
            ("2025-03-02".to_owned(), 65.0, 2, "hourly".to_owned()),
            ("2025-03-03".to_owned(), third, 1, "snapshot".to_owned()),
        ]
    };
    assert_eq!(daily_rows(&client).await, expected(50.0, 50.0));

    // A later backfill updates snapshots but never the average.
    let written = store::write_snapshots(&mut pooled, &pair, &snapshots(55.0), 365, now)
        .await
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(daily_rows(&client).await, expected(55.0, 55.0));
    // The same snapshots again change nothing.
    let written = store::write_snapshots(&mut pooled, &pair, &snapshots(55.0), 365, now)
        .await
        .unwrap();
    assert_eq!(written, 0);
}

#[tokio::test]
async fn hourly_retention_prunes_old_hours_and_keeps_their_days() {
    let sim = SimulatorConfig {
        coins: vec!["bitcoin".into()],
        ..SimulatorConfig::default()
    };
    let env = [
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
        ("HOURLY_RETENTION_DAYS", "100"),
        ("HISTORY_DAYS", "90"),
    ];
    let h = Harness::start_fixed(sim, &env).await;
    let client = h.db.client().await;
    // A first run stores the 90-day window, all inside the 100 days kept.
    let first = h.run(Mode::Full, false).await;
    assert_eq!(first.status, Status::Succeeded, "{:?}", first.failures);
    assert_eq!((first.rows.pruned, first.calls.backfill), (0, 0));
    // Hours from an older run: 2025-08-01 (119 days before the fixed now) and 2025-08-20
    // (99 days before it, kept).
    client
        .batch_execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'bitcoin', 'usd', ts, 10
               FROM generate_series(timestamptz '2025-08-01 00:00Z', timestamptz '2025-08-01 23:00Z', interval '1 hour') ts;
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
                  VALUES ('bitcoin', 'usd', '2025-08-20 05:00Z', 12);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                  VALUES ('bitcoin', 'usd', '2025-08-01', 10, 24), ('bitcoin', 'usd', '2025-08-20', 12, 1);",
        )
        .await
        .unwrap();
    let before = table_digest(&client, None).await;
    let next = h.run(Mode::Incremental, false).await;
    assert_eq!(next.status, Status::Succeeded, "{:?}", next.failures);
    assert_eq!(next.rows.pruned, 24);
    let after = table_digest(&client, None).await;
    assert_eq!(after.hourly, before.hourly - 24);
    assert_eq!(after.daily, before.daily, "daily rows stay");
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM price_hourly WHERE ts = '2025-08-20 05:00Z'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn with_a_pro_key_the_history_goes_deeper_than_a_year() {
    let sim = SimulatorConfig {
        plan: simulator::SimPlan::Pro("pro-key-for-tests".into()),
        coins: vec!["bitcoin".into()],
        ..SimulatorConfig::default()
    };
    let env = [
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
        ("COINGECKO_API_PLAN", "pro"),
        ("COINGECKO_API_KEY", "pro-key-for-tests"),
        ("HISTORY_DAYS", "730"),
    ];
    let h = Harness::start_fixed(sim, &env).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!((report.calls.range, report.calls.backfill), (1, 1));
    let backfill = h
        .sim
        .requests()
        .into_iter()
        .find(|r| query_param(&r.query, "from") == Some(FIXED_NOW_SECS - 730 * DAY_SECS + 3600))
        .expect("a backfill over 730 days");
    assert_eq!(backfill.status, 200);
    // 730 midnights from 2023-11-29 to 2025-11-28: the last 90 days hourly, 640 snapshots.
    assert_eq!(report.rows.snapshot, 640);
    let digest = table_digest(&h.db.client().await, None).await;
    assert_eq!(digest.daily, 730);
}
