//! The monthly call budget (`COINGECKO_MONTHLY_CALLS`): counted from the recorded runs of
//! the UTC month, never passed by one run or by runs at the same time, and what it leaves
//! for later is in the report. Also the quote-built hours live quotes add to the history.

use chrono::{DateTime, Duration, Utc};
use common::coingecko::Quote;
use common::domain::HourlyPrice;
use common::ingest::call_budget::month_start;
use common::ingest::{store, DeferReason, DeferredWork, Mode, RunRequest, Trigger, WriteOptions};
use integration_tests::{Harness, TestDb};
use simulator::SimulatorConfig;

fn vars(monthly: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("TRACKED_COINS", "bitcoin,tether,tron"),
        ("TRACKED_CURRENCIES", "usd,eur"),
        ("COINGECKO_MONTHLY_CALLS", monthly),
        // No live refreshes to keep calls for: the history run may spend the whole month.
        ("LIVE_EVERY_MINUTES", "0"),
    ]
}

fn live() -> RunRequest {
    RunRequest {
        mode: Mode::Latest,
        clean_first: false,
        trigger: Trigger::Manual,
        run_id: None,
    }
}

/// The calls recorded by the runs started in the month of `h.now`.
async fn recorded_spend(h: &Harness) -> i64 {
    h.db.client()
        .await
        .query_one(
            "SELECT coalesce(sum(calls), 0)::int8 FROM ingestion_runs WHERE started_at >= $1",
            &[&month_start(Utc::now())],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_run_at_the_cap_spends_what_is_left_defers_the_rest_and_the_next_spends_nothing() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars("6")).await;
    // A run of last month does not count against this one.
    h.db.client()
        .await
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, calls)
             VALUES (gen_random_uuid(), 'cli', 'full', 'succeeded', $1, $1, 5000)",
            &[&(month_start(Utc::now()) - Duration::hours(1))],
        )
        .await
        .unwrap();

    let first = h.run(Mode::Full, false).await;
    assert_eq!(first.api_calls, 6, "{first:?}");
    let budget = first.budget.expect("a run that called reports the budget");
    assert_eq!((budget.monthly, budget.spent, budget.remaining), (6, 6, 0));
    let range = first
        .deferred
        .iter()
        .find(|d| d.work == DeferredWork::Range)
        .expect("pairs left for later");
    assert_eq!(range.reason, DeferReason::Budget);
    assert_eq!(
        u64::from(first.pairs.ok) + range.count,
        6,
        "every pair is written or deferred"
    );
    assert_eq!(recorded_spend(&h).await, 6);

    let second = h.run(Mode::Incremental, false).await;
    assert_eq!(second.api_calls, 0, "{second:?}");
    assert!(second
        .deferred
        .iter()
        .all(|d| d.reason == DeferReason::Budget));
    let quotes = h.ingester().run(live(), None).await;
    assert_eq!(quotes.api_calls, 0);
    assert_eq!(
        quotes
            .deferred
            .iter()
            .map(|d| (d.work, d.count))
            .collect::<Vec<_>>(),
        [(DeferredWork::Quotes, 6)]
    );
    assert_eq!(h.sim.requests().len(), 6, "no request past the cap");
    assert_eq!(recorded_spend(&h).await, 6);
}

#[tokio::test]
async fn runs_at_the_same_time_never_pass_the_cap_together() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars("3")).await;
    let ingester = h.ingester();
    let (history, quotes) = tokio::join!(h.run(Mode::Full, false), ingester.run(live(), None));
    assert!(
        history.api_calls + quotes.api_calls <= 3,
        "{} + {} calls",
        history.api_calls,
        quotes.api_calls
    );
    assert_eq!(
        h.sim.requests().len() as u64,
        history.api_calls + quotes.api_calls
    );
    assert!(recorded_spend(&h).await <= 3);
    // Unused reservations were given back: the record is what was spent.
    assert_eq!(
        recorded_spend(&h).await as u64,
        history.api_calls + quotes.api_calls
    );
}

#[tokio::test]
async fn distinct_quotes_build_their_hour_and_a_range_point_replaces_it() {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar');
             INSERT INTO coins (id, symbol, name) VALUES ('bitcoin', 'btc', 'Bitcoin');",
        )
        .await
        .unwrap();
    let three_hours_ago = (Utc::now() - Duration::hours(3)).timestamp();
    let hour = DateTime::from_timestamp(three_hours_ago - three_hours_ago % 3600, 0).unwrap();
    let quote = |minutes: i64, price: f64| Quote {
        coin: "bitcoin".into(),
        currency: "usd".into(),
        price: Some(price),
        market_cap: None,
        volume_24h: None,
        change_24h: None,
        last_updated_at: Some(hour + Duration::minutes(minutes)),
    };
    let stored = || async {
        let row = db
            .client()
            .await
            .query_one(
                "SELECT price, source, quotes FROM price_hourly WHERE ts = $1",
                &[&hour],
            )
            .await
            .unwrap();
        let day: (f64, i32) = {
            let d = db
                .client()
                .await
                .query_one("SELECT price, sample_count FROM price_daily", &[])
                .await
                .unwrap();
            (d.get(0), d.get(1))
        };
        (
            row.get::<_, f64>(0),
            row.get::<_, String>(1),
            row.get::<_, Option<i32>>(2),
            day,
        )
    };
    let mut pooled = db.database().await.client().await.unwrap();
    // Each refresh folds its quote, then stores it as the latest (as the live run does).
    for (minutes, price) in [(5, 100.0), (15, 110.0), (15, 110.0)] {
        let q = [quote(minutes, price)];
        store::fold_quotes(&pooled, &q).await.unwrap();
        store::upsert_latest(&pooled, &q, Utc::now()).await.unwrap();
    }
    assert_eq!(
        stored().await,
        (105.0, "quote".into(), Some(2), (105.0, 1)),
        "the mean of two distinct quotes (the repeated one counts once)"
    );

    // A range call's point for the same hour.
    let point = HourlyPrice {
        ts: hour,
        price: 99.0,
        samples: 1,
    };
    store::write_pair(
        &mut pooled,
        "bitcoin",
        "usd",
        &[point],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let later = [quote(30, 500.0)];
    store::fold_quotes(&pooled, &later).await.unwrap();
    let (price, source, quotes, _) = stored().await;
    assert_eq!(
        (price, source.as_str(), quotes),
        (99.0, "range", None),
        "a quote never replaces CoinGecko's own hourly point"
    );
}
