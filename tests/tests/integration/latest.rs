//! Live quotes (mode `latest`): one `/simple/price` call into `price_latest`, what CoinGecko
//! really sends (ids left out, nulls, integer prices, seconds), and a lock of their own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::api::{app, route, ApiState};
use common::ingest::lifecycle::{LATEST_LOCK_KEY, LOCK_KEY};
use common::ingest::{FailureCode, Mode, PairStatus, RunRequest, Status, Trigger};
use integration_tests::{count_runs, event, fixed_now, json_body, request, send, Harness};
use simulator::SimulatorConfig;

const VARS: [(&str, &str); 2] = [
    ("TRACKED_COINS", "bitcoin,tether,tron"),
    ("TRACKED_CURRENCIES", "usd,eur"),
];

fn latest() -> RunRequest {
    RunRequest {
        mode: Mode::Latest,
        clean_first: false,
        trigger: Trigger::Manual,
        run_id: None,
    }
}

/// Each pair's stored quote: (coin, currency, price, volume, last update).
async fn stored(h: &Harness) -> Vec<(String, String, f64, Option<f64>, DateTime<Utc>)> {
    h.db.client()
        .await
        .query(
            "SELECT coin_id, currency_code, price, volume_24h, last_updated_at
               FROM price_latest ORDER BY coin_id, currency_code",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

#[tokio::test]
async fn one_call_stores_every_quote_as_coingecko_sends_it() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    h.sim.clear_requests();

    let report = h.ingester().run(latest(), None).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(report.mode, Mode::Latest);
    assert_eq!(
        report.api_calls, 1,
        "one /simple/price call for 3 coins x 2 currencies"
    );
    assert_eq!((report.pairs.ok, report.pairs.failed), (6, 0));
    assert_eq!(report.rows.latest, 6);
    let calls = h.sim.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/simple/price");
    assert!(
        calls[0].query.contains("ids=bitcoin%2Ctether%2Ctron"),
        "{}",
        calls[0].query
    );

    let quotes = stored(&h).await;
    assert_eq!(quotes.len(), 6);
    let now = fixed_now();
    for (coin, currency, price, volume, at) in &quotes {
        assert!(*price > 0.0, "{coin}/{currency}");
        // Seconds, read as seconds: the simulator quotes 20 s before its fixed now, and the
        // lagging coin three hours before.
        let expected = if coin == "tether" {
            now - chrono::Duration::hours(3)
        } else {
            now - chrono::Duration::seconds(20)
        };
        assert_eq!(*at, expected, "{coin}/{currency}");
        // The simulator sends tron's 24 h volume as null.
        assert_eq!(volume.is_none(), coin == "tron", "{coin}/{currency}");
    }
    // Bitcoin's price came as an integer and was stored as that number.
    let (_, _, btc_usd, _, _) = &quotes[0];
    assert_eq!(btc_usd.fract(), 0.0);

    // The run is recorded with its mode, never as running.
    let row =
        h.db.client()
            .await
            .query_one(
                "SELECT mode, status FROM ingestion_runs WHERE id = $1",
                &[&report.run_id],
            )
            .await
            .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("latest".into(), "succeeded".into())
    );
}

#[tokio::test]
async fn ids_coingecko_leaves_out_are_reported_and_the_rest_is_stored() {
    let vars = [
        ("TRACKED_COINS", "bitcoin,tron"),
        ("TRACKED_CURRENCIES", "usd"),
    ];
    let h = Harness::start_fixed(SimulatorConfig::default(), &vars).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    // A coin stored by an earlier configuration that CoinGecko's quotes do not know.
    h.db.client()
        .await
        .batch_execute("INSERT INTO coins (id, symbol, name) VALUES ('gone-coin', 'gone', 'Gone')")
        .await
        .unwrap();
    let state = common::state::AppState::new(h.db.config(&[
        ("COINGECKO_BASE_URL", &h.sim.base_url()),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ("TRACKED_COINS", "bitcoin,gone-coin,tron"),
        ("TRACKED_CURRENCIES", "usd"),
    ]))
    .await
    .unwrap();
    let report = integration_tests::fast_ingester(&state, fixed_now())
        .run(latest(), None)
        .await;
    assert_eq!(report.status, Status::Partial);
    assert_eq!((report.pairs.ok, report.pairs.failed), (2, 1));
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(failure.code, FailureCode::NoQuote);
    assert_eq!(failure.coin.as_deref(), Some("gone-coin"));
    assert!(
        failure.message.contains("left \"gone-coin\" out"),
        "{}",
        failure.message
    );
    let statuses: Vec<(&str, PairStatus)> = report
        .pair_results
        .iter()
        .map(|p| (p.coin.as_str(), p.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("bitcoin", PairStatus::Ok),
            ("gone-coin", PairStatus::Failed),
            ("tron", PairStatus::Ok)
        ]
    );
}

#[tokio::test]
async fn quotes_of_coins_no_history_run_has_stored_wait_for_one() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    let report = h.ingester().run(latest(), None).await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.pairs.failed, 6);
    assert!(report
        .failures
        .iter()
        .all(|f| f.code == FailureCode::NoQuote && f.message.contains("not stored yet")));
    assert!(stored(&h).await.is_empty());
}

#[tokio::test]
async fn live_quotes_and_history_runs_never_wait_for_each_other() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let holder = h.db.client().await;

    // A history run holds its lock: a refresh goes ahead.
    holder
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .unwrap();
    assert_eq!(
        h.ingester().run(latest(), None).await.status,
        Status::Succeeded
    );
    // ... while a second history run is skipped.
    assert_eq!(
        h.run(Mode::Incremental, false).await.status,
        Status::Skipped
    );
    holder
        .query_one("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .unwrap();

    // A refresh holds its lock: a history run goes ahead, a second refresh is skipped.
    holder
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LATEST_LOCK_KEY])
        .await
        .unwrap();
    assert_eq!(
        h.run(Mode::Incremental, false).await.status,
        Status::Succeeded
    );
    assert_eq!(
        h.ingester().run(latest(), None).await.status,
        Status::Skipped
    );
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(60)
}

/// The stored live refreshes, oldest first: (trigger, mode, status).
async fn live_runs(h: &Harness) -> Vec<(String, String, String)> {
    h.db.client()
        .await
        .query(
            "SELECT trigger, mode, status FROM ingestion_runs
              WHERE mode = 'latest' ORDER BY started_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn the_live_quotes_events_run_refreshes_and_the_cron_route_refuses_one() {
    let h = Harness::start_fixed(
        SimulatorConfig::default(),
        &[
            VARS[0],
            VARS[1],
            ("CRON_SECRET", "latest-cron-secret-0123456789abcdefgh"),
        ],
    )
    .await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    // The live schedule sends EventBridge's own event (no Input): a scheduled refresh. A
    // hand-made invoke is manual.
    for (file, trigger) in [
        ("live-quotes-scheduled.json", "schedule"),
        ("live-quotes-manual.json", "manual"),
    ] {
        let payload: serde_json::Value = serde_json::from_str(&event(file)).unwrap();
        let report = live_quotes_function::handle(&h.state, payload, deadline())
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (&report["mode"], &report["trigger"], &report["status"]),
            (&"latest".into(), &trigger.into(), &"succeeded".into()),
            "{file}"
        );
        assert_eq!(report["rows"]["latest"], 6, "{file}");
    }
    let recorded = |trigger: &str| {
        (
            trigger.to_owned(),
            "latest".to_owned(),
            "succeeded".to_owned(),
        )
    };
    assert_eq!(
        live_runs(&h).await,
        [recorded("schedule"), recorded("manual")],
        "stored as they ran"
    );

    let api = app(route::all(), ApiState::new(Arc::clone(&h.state)));
    let r = send(
        &api,
        request(
            "POST",
            "/api/cron/fetch-data",
            &[(
                "authorization",
                "Bearer latest-cron-secret-0123456789abcdefgh",
            )],
            r#"{"mode":"latest"}"#,
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_body(&r)["error"]["code"], "INVALID_PARAMETER");
}

#[tokio::test]
async fn each_run_function_refuses_the_other_ones_modes_before_doing_anything() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    for payload in [
        serde_json::json!({"mode": "full", "cleanFirst": true}),
        serde_json::json!({"mode": "incremental"}),
    ] {
        let err = live_quotes_function::handle(&h.state, payload.clone(), deadline())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("runs on the ingest function"),
            "{payload}: {err}"
        );
    }
    let err = ingest_function::handle(&h.state, serde_json::json!({"mode": "latest"}), deadline())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("runs on the live-quotes function"), "{err}");
    assert_eq!(count_runs(&h.db.client().await).await, 0, "nothing ran");
    assert!(h.sim.requests().is_empty(), "no CoinGecko call");
}

#[tokio::test]
async fn the_live_quotes_function_errs_when_the_refresh_could_do_nothing() {
    // The database is unreachable: an error, which Lambda hands to the on-failure
    // destination (no retry: the next schedule is the retry) and the failure alarm counts.
    let url = integration_tests::unreachable_database_url();
    let config =
        integration_tests::config_from(&[("DATABASE_URL", &url), ("DB_CONNECT_TIMEOUT_SECS", "1")]);
    let down = common::state::AppState::new(config).await.unwrap();
    let payload: serde_json::Value =
        serde_json::from_str(&event("live-quotes-scheduled.json")).unwrap();
    let err = live_quotes_function::handle(&down, payload, deadline())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(mode latest) failed"), "{err}");
    assert!(err.contains("DATABASE_UNAVAILABLE"), "{err}");
}

/// The simulator's quotes are 20 s old and the newest stored hour starts on the hour: in the
/// first seconds of an hour that hour is the newer price, and near its end the hour may turn
/// while a test runs. Waits until a minute into an hour with minutes to spare.
async fn away_from_the_turn_of_the_hour() {
    let into_hour = Utc::now().timestamp().rem_euclid(3600) as u64;
    let wait = match into_hour {
        0..60 => 60 - into_hour,
        3300.. => 3600 - into_hour + 60,
        _ => 0,
    };
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
}

#[tokio::test]
async fn the_market_and_the_coin_page_show_the_newer_of_the_quote_and_the_hour() {
    // A real clock: the quotes are seconds old (not stale), the lagging coin's three hours.
    away_from_the_turn_of_the_hour().await;
    let h = Harness::start(SimulatorConfig::default(), &VARS).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    assert_eq!(
        h.ingester().run(latest(), None).await.status,
        Status::Succeeded
    );
    let client = h.db.client().await;
    let quote = |coin: &str| {
        let coin = coin.to_owned();
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT price, last_updated_at, change_24h, market_cap, volume_24h
                       FROM price_latest WHERE coin_id = $1 AND currency_code = 'usd'",
                    &[&coin],
                )
                .await
                .unwrap()
        }
    };
    let newest_hour = |coin: &str| {
        let coin = coin.to_owned();
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT price, ts FROM price_hourly WHERE coin_id = $1 AND currency_code = 'usd'
                      ORDER BY ts DESC LIMIT 1",
                    &[&coin],
                )
                .await
                .unwrap()
        }
    };
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let api = app(route::all(), ApiState::new(Arc::clone(&h.state)));
    let market = json_body(&send(&api, integration_tests::get("/api/market?currency=usd")).await);
    let rows = market["data"].as_array().unwrap();

    // Bitcoin's quote is newer than its newest hour: price, time and 24 h change are the
    // quote's.
    let btc = quote("bitcoin").await;
    let btc_at: DateTime<Utc> = btc.get(1);
    assert_eq!(rows[0]["id"], "bitcoin");
    assert_eq!(rows[0]["price"], btc.get::<_, f64>(0));
    assert_eq!(rows[0]["updatedAt"], rfc(btc_at));
    assert_eq!(
        rows[0]["change24h"],
        (btc.get::<_, f64>(2) * 1e4).round() / 1e4
    );
    assert_eq!(rows[0]["marketCap"], btc.get::<_, f64>(3));
    assert_eq!(rows[0]["volume24h"], btc.get::<_, f64>(4));
    assert_eq!(rows[0]["stale"], false);

    // Tether's quote lags by three hours: the newest hour wins, the quote still gives the
    // market cap.
    let usdt_hour = newest_hour("tether").await;
    let usdt_quote = quote("tether").await;
    assert!(usdt_hour.get::<_, DateTime<Utc>>(1) > usdt_quote.get::<_, DateTime<Utc>>(1));
    assert_eq!(rows[1]["id"], "tether");
    assert_eq!(rows[1]["price"], usdt_hour.get::<_, f64>(0));
    assert_eq!(rows[1]["updatedAt"], rfc(usdt_hour.get(1)));
    assert_eq!(rows[1]["marketCap"], usdt_quote.get::<_, f64>(3));
    assert_eq!(rows[1]["stale"], false);

    // Tron's 24 h volume came as null.
    assert!(rows[2]["volume24h"].is_null());

    // The coin page agrees.
    let detail = json_body(&send(&api, integration_tests::get("/api/coins/bitcoin")).await);
    assert_eq!(
        detail["data"]["latest"]["usd"]["price"],
        btc.get::<_, f64>(0)
    );
    assert_eq!(detail["data"]["latest"]["usd"]["at"], rfc(btc_at));
    assert_eq!(detail["data"]["latest"]["usd"]["stale"], false);
}

#[tokio::test]
async fn a_price_older_than_the_limit_is_marked_stale() {
    // The fixed clock is long past: every price is older than any limit.
    let h = Harness::start_fixed(
        SimulatorConfig::default(),
        &[VARS[0], VARS[1], ("STALE_AFTER_MINUTES", "10080")],
    )
    .await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let api = app(route::all(), ApiState::new(Arc::clone(&h.state)));
    let market = json_body(&send(&api, integration_tests::get("/api/market")).await);
    assert!(!market["data"].as_array().unwrap().is_empty(), "{market}");
    for row in market["data"].as_array().unwrap() {
        assert_eq!(row["stale"], true, "{}", row["id"]);
    }
    let detail = json_body(&send(&api, integration_tests::get("/api/coins/tron")).await);
    assert_eq!(detail["data"]["latest"]["eur"]["stale"], true);
}

#[tokio::test]
async fn quote_times_from_the_future_are_stored_as_the_fetch_time_and_counted() {
    // The simulator's clock runs two hours ahead of this machine's: its quotes are "from the
    // future" (tether's lags three hours, so it is an hour old).
    let ahead = Utc::now() + chrono::Duration::hours(2);
    let h = Harness::start_at(SimulatorConfig::default(), &VARS, ahead).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);

    let before = Utc::now();
    let report = h.ingester().run(latest(), None).await;
    let after = Utc::now();
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(
        report.clamped_timestamps, 4,
        "bitcoin and tron, in usd and eur"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["clampedTimestamps"], 4);
    for (coin, currency, _, _, at) in stored(&h).await {
        if coin == "tether" {
            // CoinGecko's times are whole seconds.
            let lagging = ahead - chrono::Duration::hours(3);
            assert_eq!(at.timestamp(), lagging.timestamp(), "{coin}/{currency}");
        } else {
            // Stored to the microsecond.
            let before = before - chrono::Duration::milliseconds(1);
            assert!(before <= at && at <= after, "{coin}/{currency}: {at}");
        }
    }
}

/// Every market row as the route reads it, with the hours its sparkline spans and the object
/// the route sends.
async fn market_rows(client: &impl tokio_postgres::GenericClient) -> Vec<String> {
    client
        .query(
            "SELECT concat_ws(' ', coin_id, currency_code, price, price_at, change_1h, change_24h,
                              change_7d, sparkline::text, sparkline_from, sparkline_to, row_json)
               FROM market_summary ORDER BY coin_id, currency_code",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_live_refresh_redraws_only_the_last_sparkline_point_as_a_full_refresh_would() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let mut client = h.db.client().await;
    // Every 10 minutes for three hours: the quote's hour is the sparkline's last, then the
    // next one (the oldest point leaves the week).
    let mut last_points = std::collections::BTreeSet::new();
    for step in 1..=18 {
        let at = h.now + chrono::Duration::minutes(10 * step);
        h.sim.set_now(at.timestamp_millis());
        let report = integration_tests::fast_ingester(&h.state, at)
            .run(latest(), None)
            .await;
        assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
        let live = market_rows(&client).await;
        let tx = client.transaction().await.unwrap();
        tx.execute("SELECT refresh_market_summaries()", &[])
            .await
            .unwrap();
        assert_eq!(live, market_rows(&tx).await, "after the refresh at {at}");
        tx.rollback().await.unwrap();
        last_points.extend(live);
    }
    assert!(last_points.len() > 6 * 10, "the rows moved with the quotes");
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>, i32)> = client
        .query(
            "SELECT sparkline_from, sparkline_to, cardinality(sparkline)
               FROM market_summary WHERE coin_id = 'bitcoin'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    for (from, to, points) in spans {
        assert_eq!((to - from).num_hours() + 1, 168, "a full week");
        assert_eq!(points, 168);
    }

    // The live case builds on the stored row: an older hour changed behind its back stays as
    // drawn until a refresh that reads the week (every history run's).
    client
        .execute(
            "UPDATE price_hourly SET price = price * 2
              WHERE coin_id = 'bitcoin' AND currency_code = 'usd'
                AND ts = (SELECT sparkline_from + interval '10 hours' FROM market_summary
                           WHERE coin_id = 'bitcoin' AND currency_code = 'usd')",
            &[],
        )
        .await
        .unwrap();
    let at = h.now + chrono::Duration::minutes(190);
    h.sim.set_now(at.timestamp_millis());
    integration_tests::fast_ingester(&h.state, at)
        .run(latest(), None)
        .await;
    let live = market_rows(&client).await;
    client
        .execute("SELECT refresh_market_summaries()", &[])
        .await
        .unwrap();
    let read_again = market_rows(&client).await;
    let differ: Vec<_> = live
        .iter()
        .zip(&read_again)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split(' ').take(2).collect::<Vec<_>>().join("/"))
        .collect();
    assert_eq!(differ, ["bitcoin/usd"]);
}

#[tokio::test]
async fn hours_missed_while_no_quote_came_are_a_hole_the_next_history_run_fills() {
    let h = Harness::start_fixed(SimulatorConfig::default(), &VARS).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let client = h.db.client().await;
    let live = |at: DateTime<Utc>| {
        h.sim.set_now(at.timestamp_millis());
        let ingester = integration_tests::fast_ingester(&h.state, at);
        async move { ingester.run(latest(), None).await }
    };
    assert_eq!(live(h.now).await.status, Status::Succeeded);
    let holes = || async {
        client
            .query(
                "SELECT coin_id, currency_code, since FROM price_holes ORDER BY 1, 2",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect::<Vec<(String, String, DateTime<Utc>)>>()
    };
    // Quotes 10 minutes and 20 hours later leave no hole: hours come as quotes come.
    for later in [chrono::Duration::minutes(10), chrono::Duration::hours(20)] {
        assert_eq!(live(h.now + later).await.status, Status::Succeeded);
    }
    assert_eq!(holes().await, []);
    // Each pair's newest hour (its last quote's; CoinGecko updates some coins less often).
    let newest: std::collections::BTreeMap<(String, String), DateTime<Utc>> = client
        .query(
            "SELECT coin_id, currency_code, max(ts) FROM price_hourly GROUP BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();

    // Nothing runs for three days (as while a coin is out of the top N); then a quote.
    let back = h.now + chrono::Duration::hours(20 + 72);
    assert_eq!(live(back).await.status, Status::Succeeded);
    let found = holes().await;
    assert_eq!(found.len(), 6, "every pair: {found:?}");
    for (coin, currency, since) in &found {
        assert_eq!(
            *since,
            newest[&(coin.clone(), currency.clone())],
            "{found:?}"
        );
    }
    let newest = newest[&("tron".to_owned(), "eur".to_owned())];
    let missing = |since: DateTime<Utc>| {
        let client = &client;
        async move {
            let n: i64 = client
                .query_one(
                    "SELECT count(*) FROM generate_series($1::timestamptz, $2, interval '1 hour') AS g(ts)
                      WHERE NOT EXISTS (SELECT 1 FROM price_hourly
                                         WHERE coin_id = 'tron' AND currency_code = 'eur' AND ts = g.ts)",
                    &[&since, &back],
                )
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert!(
        missing(newest).await > 60,
        "the three days have no hours yet"
    );

    // The next history run refreshes the pinned pairs from 48 hours before their newest hour
    // (the quote's), then fills each hole from its start with one range call.
    let history = || async {
        integration_tests::fast_ingester(&h.state, back)
            .run(
                RunRequest {
                    mode: Mode::Incremental,
                    clean_first: false,
                    trigger: Trigger::Manual,
                    run_id: None,
                },
                None,
            )
            .await
    };
    let run = history().await;
    assert_eq!(run.status, Status::Succeeded, "{:?}", run.failures);
    assert_eq!(holes().await, []);
    assert_eq!(
        missing(newest).await,
        0,
        "every hour from the hole's start to now"
    );
    // The same hole is not fetched twice: the run after it finds none.
    let range_calls = |requests: Vec<simulator::LoggedRequest>| {
        requests
            .iter()
            .filter(|r| r.path.ends_with("/market_chart/range"))
            .count()
    };
    h.sim.clear_requests();
    let again = history().await;
    assert_eq!(again.status, Status::Succeeded, "{:?}", again.failures);
    assert_eq!(range_calls(h.sim.requests()), 6, "the pinned refresh alone");
}
