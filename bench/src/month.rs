//! A simulated month at the defaults (`top:100` plus the original's eleven, 4 currencies,
//! 10,000 calls a month, live quotes every 10 minutes, the daily run at 02:00 UTC) against
//! the simulator, on the schedule's clock: before each run the simulator's clock and the
//! ingester's (windows, the run's recorded start, the month its calls count in) move to the
//! run's time. Time is compressed [`SPEEDUP`] times: the client paces at 30 x SPEEDUP calls a
//! minute and a history run gets 15 minutes / SPEEDUP before its deadline, so it makes the
//! calls a real daily run could.
//!
//! Measured: the month's calls (from the recorded runs, by endpoint), the oldest quote at any
//! live refresh (the time since our last refresh of that pair, and CoinGecko's own quote age),
//! and the day every tracked pair had its 90 hourly days and its year of daily points.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Timelike, Utc};
use common::config::Config;
use common::ingest::{store, Ingester, Mode, PairStatus, RunReport, RunRequest, Trigger};
use common::state::AppState;
use serde_json::{json, Value};
use simulator::SimulatorConfig;

/// How much faster than real time the month runs.
const SPEEDUP: u32 = 60;

/// The ingest function's timeout.
const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn config(url: &str, base_url: &str) -> Config {
    let (url, base_url) = (url.to_owned(), base_url.to_owned());
    let per_min = (30 * SPEEDUP).to_string();
    Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "COINGECKO_BASE_URL" => Some(base_url.clone()),
        "COINGECKO_RATE_LIMIT_PER_MIN" => Some(per_min.clone()),
        _ => None,
    })
    .expect("config")
}

/// The figures of `days` simulated days from `start`.
pub async fn run(admin: &str, days: u32) -> Value {
    let url = crate::write_path::fresh_database(admin, "bench_month").await;
    // A month of 31 days, in the past (runs are recorded at their simulated start).
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let sim = simulator::start(
        SimulatorConfig {
            now_ms: Some(start.timestamp_millis()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator");
    let state = AppState::new(config(&url, &sim.base_url()))
        .await
        .expect("state");
    state.db.migrate().await.expect("migrate");
    let client = state.db.client().await.expect("client");
    let currencies = state.config.tracked_currencies.clone();

    let began = Instant::now();
    let mut last_refresh: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    let (mut oldest_refresh, mut oldest_quote) =
        (chrono::Duration::zero(), chrono::Duration::zero());
    let mut backfilled_on: Option<u32> = None;
    let (mut history_runs, mut live_runs, mut deferred) = (0u32, 0u32, 0u64);
    let mut history_calls = Vec::new();
    let mut tracked_before: HashSet<String> = HashSet::new();
    let steps = days * 24 * 6;
    for step in 0..steps {
        let at = start + chrono::Duration::minutes(10 * i64::from(step));
        sim.set_now(at.timestamp_millis());
        let clock: common::ingest::Clock = Arc::new(move || at);
        let ingester = Ingester {
            clock: clock.clone(),
            wall: clock,
            reserve: Duration::from_secs(10) / SPEEDUP,
            ..Ingester::new(&state.config, &state.secrets, &state.db)
        };
        if at.hour() == 2 && at.minute() == 0 {
            let deadline = tokio::time::Instant::now() + RUN_TIMEOUT / SPEEDUP;
            let report = ingester
                .run(request(Mode::Incremental), Some(deadline))
                .await;
            history_runs += 1;
            deferred += report.deferred.iter().map(|d| d.count).sum::<u64>();
            history_calls.push(report.api_calls);
            if backfilled_on.is_none() && fully_backfilled(&client, &state, &currencies).await {
                backfilled_on =
                    Some(at.timestamp() as u32 / 86_400 - start.timestamp() as u32 / 86_400 + 1);
            }
        }
        // The oldest quote just before this refresh, once the first history run has ranked.
        // A coin that just entered the top N got its market data from the ranking itself.
        let tracked = tracked_coins(&client).await;
        for coin in tracked.difference(&tracked_before) {
            for currency in &currencies {
                last_refresh.insert((coin.clone(), currency.clone()), at);
            }
        }
        tracked_before = tracked;
        if history_runs > 0 {
            let (refresh, quote) = oldest(&client, &last_refresh, at).await;
            oldest_refresh = oldest_refresh.max(refresh);
            oldest_quote = oldest_quote.max(quote);
        }
        let report = ingester.run(request(Mode::Latest), None).await;
        live_runs += 1;
        deferred += report.deferred.iter().map(|d| d.count).sum::<u64>();
        record_refreshes(&report, at, &mut last_refresh);
    }

    let calls = month_calls(&client).await;
    json!({
        "days": days,
        "speedup": SPEEDUP,
        "wallSeconds": began.elapsed().as_secs(),
        "historyRuns": history_runs,
        "liveRuns": live_runs,
        "calls": calls,
        "historyRunCalls": history_calls,
        "deferredItems": deferred,
        "oldestRefreshMinutes": oldest_refresh.num_minutes(),
        "oldestQuoteMinutes": oldest_quote.num_minutes(),
        "backfilledOnDay": backfilled_on,
    })
}

fn request(mode: Mode) -> RunRequest {
    RunRequest {
        mode,
        clean_first: false,
        trigger: Trigger::Schedule,
        run_id: None,
    }
}

/// Remembers when each pair's quote was refreshed.
fn record_refreshes(
    report: &RunReport,
    at: DateTime<Utc>,
    last: &mut HashMap<(String, String), DateTime<Utc>>,
) {
    for r in report
        .pair_results
        .iter()
        .filter(|r| r.status == PairStatus::Ok)
    {
        last.insert((r.coin.clone(), r.currency.clone()), at);
    }
}

/// The longest time since our last refresh of a tracked pair (never refreshed: since the
/// month began), and the oldest `last_updated_at` CoinGecko gave a tracked pair, at `at`.
async fn oldest(
    client: &deadpool_postgres::Object,
    last: &HashMap<(String, String), DateTime<Utc>>,
    at: DateTime<Utc>,
) -> (chrono::Duration, chrono::Duration) {
    let rows = client
        .query(
            "SELECT c.id AS coin, v.code AS currency, l.last_updated_at
               FROM coins c CROSS JOIN currencies v
               LEFT JOIN price_latest l ON l.coin_id = c.id AND l.currency_code = v.code
              WHERE c.tracked",
            &[],
        )
        .await
        .expect("tracked pairs");
    let mut refresh = chrono::Duration::zero();
    let mut quote = chrono::Duration::zero();
    for row in rows {
        let pair: (String, String) = (row.get("coin"), row.get("currency"));
        let updated: Option<DateTime<Utc>> = row.get("last_updated_at");
        if let Some(when) = last.get(&pair) {
            refresh = refresh.max(at - *when);
        }
        if let Some(updated) = updated {
            quote = quote.max(at - updated);
        }
    }
    (refresh, quote)
}

/// The tracked coins.
async fn tracked_coins(client: &deadpool_postgres::Object) -> HashSet<String> {
    client
        .query("SELECT id FROM coins WHERE tracked", &[])
        .await
        .expect("tracked")
        .iter()
        .map(|r| r.get("id"))
        .collect()
}

/// Whether every tracked pair has CoinGecko's hourly points and its year of daily points.
async fn fully_backfilled(
    client: &deadpool_postgres::Object,
    state: &AppState,
    currencies: &[String],
) -> bool {
    let tracked: Vec<String> = client
        .query("SELECT id FROM coins WHERE tracked ORDER BY id", &[])
        .await
        .expect("tracked")
        .iter()
        .map(|r| r.get("id"))
        .collect();
    let shallow = store::pairs_without_range_hours(client, &tracked, currencies)
        .await
        .expect("depth");
    let pairs: Vec<common::ingest::Pair> = tracked
        .iter()
        .flat_map(|coin| {
            currencies.iter().map(|currency| common::ingest::Pair {
                coin: coin.clone(),
                currency: currency.clone(),
            })
        })
        .collect();
    let short = store::pairs_to_backfill(client, &pairs, state.config.history.days)
        .await
        .expect("backfill");
    shallow.is_empty() && short.is_empty()
}

/// The month's calls from the recorded runs, in total and by endpoint.
async fn month_calls(client: &deadpool_postgres::Object) -> Value {
    let row = client
        .query_one(
            "SELECT sum(calls)::int8 AS total,
                    sum((report -> 'calls' ->> 'coinsList')::int8)::int8 AS coins_list,
                    sum((report -> 'calls' ->> 'markets')::int8)::int8 AS markets,
                    sum((report -> 'calls' ->> 'coin')::int8)::int8 AS coin,
                    sum((report -> 'calls' ->> 'range')::int8)::int8 AS range,
                    sum((report -> 'calls' ->> 'backfill')::int8)::int8 AS depth,
                    sum((report -> 'calls' ->> 'simplePrice')::int8)::int8 AS simple_price
               FROM ingestion_runs",
            &[],
        )
        .await
        .expect("calls");
    let get = |name: &str| row.get::<_, Option<i64>>(name).unwrap_or(0);
    json!({
        "total": get("total"),
        "coinsList": get("coins_list"),
        "markets": get("markets"),
        "coin": get("coin"),
        "range": get("range"),
        "depth": get("depth"),
        "simplePrice": get("simple_price"),
    })
}
