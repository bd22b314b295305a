//! The tracked set with `top:N`: the ranking from `/coins/markets` (the simulator's ranked
//! universe drifts day to day), pinned coins outside it, and the market data a first run
//! stores in a handful of calls.

use std::collections::BTreeSet;

use chrono::Duration;
use common::ingest::Mode;
use common::state::AppState;
use integration_tests::{fast_ingester, Harness};
use simulator::{SimulatorConfig, RANKED_BELOW_250};

const PINNED: &str =
    "bitcoin,ethereum,tether,binancecoin,solana,ripple,usd-coin,cardano,dogecoin,tron,avalanche-2";

/// `top:100`, the original's eleven and a coin ranked far below, in two currencies; a
/// budget that leaves nothing for depth, so a run is its ranking and the pinned refresh.
fn vars(tracked: &str) -> Vec<(&str, &str)> {
    vec![
        ("TRACKED_COINS", tracked),
        ("TRACKED_CURRENCIES", "usd,eur"),
        ("COINGECKO_MONTHLY_CALLS", "60"),
        ("LIVE_EVERY_MINUTES", "0"),
    ]
}

async fn tracked(client: &tokio_postgres::Client) -> BTreeSet<String> {
    client
        .query("SELECT id FROM coins WHERE tracked", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The simulator walks its universe's prices once per process (a few seconds in a debug
/// build): done before the run, so no call of the run times out on it.
async fn warm_up(h: &Harness) {
    reqwest::Client::new()
        .get(format!(
            "{}/coins/markets?vs_currency=usd&per_page=1",
            h.sim.base_url()
        ))
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    h.sim.clear_requests();
}

#[tokio::test]
async fn a_first_run_stores_a_complete_market_table_after_a_handful_of_calls() {
    let list = format!("top:100,{PINNED},{RANKED_BELOW_250}");
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars(&list)).await;
    warm_up(&h).await;
    let report = h.run(Mode::Full, false).await;
    let calls = &report.calls;
    assert_eq!(
        (calls.coins_list, calls.markets),
        (1, 4),
        "one page and the coin outside the top 100, in each currency"
    );
    let first: Vec<String> = h
        .sim
        .requests()
        .iter()
        .take(5)
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        first,
        [
            "/coins/list",
            "/coins/markets",
            "/coins/markets",
            "/coins/markets",
            "/coins/markets"
        ]
    );

    let client = h.db.client().await;
    let coins = tracked(&client).await;
    assert_eq!(
        coins.len(),
        101,
        "the top 100 (the eleven among them) and the pinned outsider"
    );
    let row = client
        .query_one(
            "SELECT rank, tracked FROM coins WHERE id = $1",
            &[&RANKED_BELOW_250],
        )
        .await
        .unwrap();
    assert!(row.get::<_, i32>(0) > 250 && row.get::<_, bool>(1));
    // Every tracked coin has its market data in both currencies after those five calls.
    let complete: i64 = client
        .query_one(
            "SELECT count(*) FROM price_latest l JOIN coins c ON c.id = l.coin_id
              WHERE c.tracked AND l.price > 0 AND l.change_24h IS NOT NULL
                AND l.change_7d IS NOT NULL AND json_array_length(l.sparkline) >= 150
                AND l.market_cap IS NOT NULL AND l.volume_24h IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(complete >= 2 * 101 - 4, "{complete} of 202 pairs complete");
    let images: i64 = client
        .query_one(
            "SELECT count(*) FROM coin_metadata m JOIN coins c ON c.id = m.coin_id
              WHERE c.tracked AND m.image_url IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(images, 101);
}

#[tokio::test]
async fn coins_enter_and_leave_the_top_n_and_the_leavers_keep_their_rows() {
    let list = format!("top:100,{PINNED},{RANKED_BELOW_250}");
    let vars = vars(&list);
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars).await;
    warm_up(&h).await;
    h.run(Mode::Full, false).await;
    let client = h.db.client().await;
    let day_one = tracked(&client).await;
    // The first run spent the budget; the next one runs in a month of its own.
    client
        .execute(
            "UPDATE ingestion_runs SET started_at = started_at - interval '40 days',
                    finished_at = finished_at - interval '40 days'",
            &[],
        )
        .await
        .unwrap();

    // The next day, against a simulator whose clock is a day later.
    let tomorrow = h.now + Duration::days(1);
    let sim = simulator::start(
        SimulatorConfig {
            now_ms: Some(tomorrow.timestamp_millis()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sim.base_url();
    let mut next = vars.clone();
    next.extend([
        ("COINGECKO_BASE_URL", base.as_str()),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
    ]);
    let state = AppState::new(h.db.config(&next)).await.unwrap();
    // A ranking resolved today is not resolved again; a day later it is.
    client
        .execute(
            "UPDATE coins SET ranked_at = ranked_at - interval '21 hours'",
            &[],
        )
        .await
        .unwrap();
    fast_ingester(&state, tomorrow)
        .run(
            common::ingest::RunRequest {
                mode: Mode::Incremental,
                clean_first: false,
                trigger: common::ingest::Trigger::Manual,
                run_id: None,
            },
            None,
        )
        .await;
    let day_two = tracked(&client).await;

    let entered: Vec<_> = day_two.difference(&day_one).collect();
    let left: Vec<_> = day_one.difference(&day_two).collect();
    assert!(
        !entered.is_empty() && !left.is_empty(),
        "{entered:?} / {left:?}"
    );
    assert_eq!(day_two.len(), 101);
    for pinned in PINNED.split(',').chain([RANKED_BELOW_250]) {
        assert!(day_two.contains(pinned), "{pinned} stays tracked");
    }
    for coin in left {
        let kept: i64 = client
            .query_one(
                "SELECT count(*) FROM price_latest WHERE coin_id = $1",
                &[coin],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(kept, 2, "{coin} left the top 100 and keeps its rows");
    }
}

#[tokio::test]
async fn a_top_n_run_without_pinned_coins_succeeds_when_nothing_failed() {
    // No pinned pair to refresh: the first run ranks and backfills the three coins, the
    // second finds the ranking fresh and nothing due. Neither failed.
    let mut vars = vars("top:3");
    vars.retain(|(name, _)| *name != "COINGECKO_MONTHLY_CALLS");
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars).await;
    warm_up(&h).await;
    let first = h.run(Mode::Incremental, false).await;
    assert_eq!(first.calls.markets, 2, "{first:?}");
    assert_eq!(first.pairs.ok + first.pairs.failed, 0, "no pinned pair");
    assert!(
        first.deferred.is_empty() && first.rows.hourly > 0,
        "{first:?}"
    );
    assert_eq!(first.status, common::ingest::Status::Succeeded, "{first:?}");
    let second = h.run(Mode::Incremental, false).await;
    assert_eq!(second.calls.markets, 0, "the ranking is fresh");
    assert_eq!(
        second.status,
        common::ingest::Status::Succeeded,
        "{second:?}"
    );
}
