//! The CoinGecko simulator behaves like the real API where a client can tell.

use std::time::Duration;

use common::coingecko::{CgError, CoinGecko, RetryPolicy};
use common::ingest::FailureCode;
use integration_tests::config_from;
use secrecy::SecretString;
use simulator::{self, Faults, SimPlan, SimulatorConfig};

async fn start(config: SimulatorConfig) -> simulator::RunningSimulator {
    simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The default simulator with its clock fixed at `now`.
async fn start_at(now: chrono::DateTime<chrono::Utc>) -> simulator::RunningSimulator {
    start(SimulatorConfig {
        now_ms: Some(now.timestamp_millis()),
        ..SimulatorConfig::default()
    })
    .await
}

fn client(base: &str, plan: &str, key: Option<&str>, per_min: &str) -> CoinGecko {
    let config = config_from(&[
        ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
        ("COINGECKO_BASE_URL", base),
        ("COINGECKO_API_PLAN", plan),
        ("COINGECKO_API_KEY", key.unwrap_or("unused")),
        ("COINGECKO_RATE_LIMIT_PER_MIN", per_min),
    ]);
    let policy = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    CoinGecko::new(
        &config.coingecko,
        key.map(|k| SecretString::from(k.to_owned())),
        policy,
    )
}

#[tokio::test]
async fn key_headers_are_checked_like_the_real_hosts() {
    let demo = start(SimulatorConfig {
        plan: SimPlan::Demo("CG-demo".into()),
        ..SimulatorConfig::default()
    })
    .await;
    client(&demo.base_url(), "demo", Some("CG-demo"), "1000")
        .ping()
        .await
        .unwrap();
    let err = client(&demo.base_url(), "pro", Some("CG-pro"), "1000")
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, CgError::Api { code: 10010, .. }), "{err}");
    let err = client(&demo.base_url(), "demo", Some("wrong"), "1000")
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, CgError::Api { code: 10002, .. }), "{err}");

    let pro = start(SimulatorConfig {
        plan: SimPlan::Pro("CG-pro".into()),
        ..SimulatorConfig::default()
    })
    .await;
    client(&pro.base_url(), "pro", Some("CG-pro"), "1000")
        .ping()
        .await
        .unwrap();
    let err = client(&pro.base_url(), "demo", Some("CG-demo"), "1000")
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, CgError::Api { code: 10011, .. }), "{err}");
}

#[tokio::test]
async fn more_than_365_days_back_is_error_10012_on_public_plans() {
    let now = integration_tests::harness::fixed_now();
    let sim = start_at(now).await;
    let gecko = client(&sim.base_url(), "public", None, "1000");
    let now = now.timestamp();
    let err = gecko
        .market_chart_range("bitcoin", "usd", now - 365 * 86_400 - 1, now)
        .await
        .unwrap_err();
    assert_eq!(err.code(), FailureCode::CoinGecko(10012));
    // Exactly 365 days back is allowed: more than 90 days come daily, at midnights.
    let points = gecko
        .market_chart_range("bitcoin", "usd", now - 365 * 86_400, now)
        .await
        .unwrap();
    assert_eq!(points.len(), 365 + 1, "365 midnights and the trailing now");
    assert_eq!(points.last().unwrap().0, now * 1000);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200]);
}

#[tokio::test]
async fn the_rate_limit_is_enforced_with_retry_after() {
    let sim = start(SimulatorConfig {
        rate_limit_per_min: Some(2),
        ..SimulatorConfig::default()
    })
    .await;
    // The client's own limiter is set far above the simulator's.
    let gecko = client(&sim.base_url(), "public", None, "100000");
    gecko.ping().await.unwrap();
    gecko.ping().await.unwrap();
    // Two tokens a minute, both spent: the next one comes in 30 s (less the milliseconds
    // since, rounded up to whole seconds).
    let err = gecko.ping().await.unwrap_err();
    assert_eq!(
        err,
        CgError::RateLimited {
            retry_after: Some(Duration::from_secs(30))
        }
    );
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn both_path_prefixes_answer_and_every_response_is_marked_simulated() {
    let sim = start(SimulatorConfig::default()).await;
    let root = format!("http://{}", sim.addr);
    for (url, status) in [
        (format!("{root}/ping"), 200),
        (format!("{root}/api/v3/ping"), 200),
        (format!("{root}/api/v3/coins/not-a-coin"), 404),
    ] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), status, "{url}");
        assert_eq!(
            response.headers()["x-crypto-dashboard-simulator"],
            "1",
            "{url}"
        );
    }
    let list: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("{root}/coins/list"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in common::config::DEFAULT_COINS {
        assert!(ids.contains(&id), "{id} missing from /coins/list");
    }
    // The universe: the known coins (the 11 tracked by default among them) and generated
    // ones, sorted.
    assert!(ids.len() >= simulator::UNIVERSE_SIZE, "{}", ids.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let gecko = client(&sim.base_url(), "public", None, "1000");
    assert!(matches!(
        gecko.coin("not-a-coin").await,
        Err(CgError::NotFound(_))
    ));
    let info = gecko.coin("ethereum").await.unwrap();
    assert!(info.description.contains("simulated"));
}

#[tokio::test]
async fn the_huge_body_fault_streams_exactly_n_mib_of_well_formed_json_in_chunks() {
    let sim = start(SimulatorConfig {
        faults: Faults {
            huge_body_mb: 2,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let response = reqwest::get(format!(
        "{}/coins/bitcoin/market_chart/range?vs_currency=usd&from={}&to={now}",
        sim.base_url(),
        now - 86_400
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    assert_eq!(response.content_length(), None);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 2 * 1024 * 1024);
    let chart: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let prices = chart["prices"].as_array().unwrap();
    assert!(prices.len() > 50_000, "{}", prices.len());
    assert!(prices.iter().all(|p| p[0].is_i64() && p[1].is_f64()));
    assert_eq!(chart["market_caps"], serde_json::json!([]));
}

/// GET `url`: its status and JSON body.
async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

/// The ids of a `/coins/markets` answer, in order.
fn ids_of(markets: &serde_json::Value) -> Vec<String> {
    markets
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_listed_coin_is_answered_by_every_endpoint() {
    let now = integration_tests::harness::fixed_now();
    let sim = start_at(now).await;
    let base = sim.base_url();
    let (_, list) = get_json(&format!("{base}/coins/list")).await;
    let ids = ids_of(&list);
    let (status, quotes) = get_json(&format!(
        "{base}/simple/price?vs_currencies=usd&ids={}",
        ids.join(",")
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        quotes.as_object().unwrap().len(),
        ids.len(),
        "a quote for each"
    );
    let (_, markets) = get_json(&format!(
        "{base}/coins/markets?vs_currency=usd&per_page=250&page=3"
    ))
    .await;
    let now = now.timestamp();
    for id in ids_of(&markets).iter().step_by(25) {
        let (status, coin) = get_json(&format!("{base}/coins/{id}")).await;
        assert_eq!((status, coin["id"].as_str()), (200, Some(id.as_str())));
        let (status, chart) = get_json(&format!(
            "{base}/coins/{id}/market_chart/range?vs_currency=usd&from={}&to={now}",
            now - 2 * 86_400
        ))
        .await;
        let points = chart["prices"].as_array().unwrap().len();
        assert!(
            status == 200 && (45..=52).contains(&points),
            "{id}: {points}"
        );
    }
}

#[tokio::test]
async fn coins_markets_pages_the_ranking_and_refuses_a_bad_currency() {
    let sim = start(SimulatorConfig {
        now_ms: Some(integration_tests::harness::fixed_now().timestamp_millis()),
        faults: Faults {
            storm: 1,
            storm_retry_after: Some(7),
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let markets = format!("{}/coins/markets", sim.base_url());
    // The faults apply as to every endpoint: the first request meets the storm.
    let response = reqwest::get(format!("{markets}?vs_currency=usd"))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");

    let (status, page) = get_json(&format!("{markets}?vs_currency=usd&per_page=250&page=1")).await;
    assert_eq!(status, 200);
    let ranks: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["market_cap_rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, (1..=250).collect::<Vec<u64>>());
    let (status, past_the_end) =
        get_json(&format!("{markets}?vs_currency=usd&per_page=250&page=5")).await;
    assert_eq!((status, past_the_end), (200, serde_json::json!([])));
    let (status, body) = get_json(&format!("{markets}?vs_currency=doubloons")).await;
    assert_eq!(
        (status, body),
        (400, serde_json::json!({"error": "invalid vs_currency"}))
    );
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 200, 400]);
}

#[tokio::test]
async fn markets_prices_are_the_simple_price_quotes_at_the_same_instant() {
    let now = integration_tests::harness::fixed_now();
    let sim = start_at(now).await;
    let base = sim.base_url();
    let (_, page) = get_json(&format!(
        "{base}/coins/markets?vs_currency=jpy&per_page=50&page=2&sparkline=true"
    ))
    .await;
    let ids = ids_of(&page);
    let (_, quotes) = get_json(&format!(
        "{base}/simple/price?vs_currencies=jpy&include_market_cap=true&ids={}",
        ids.join(",")
    ))
    .await;
    for item in page.as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        assert_eq!(item["current_price"], quotes[id]["jpy"], "{id}");
        assert_eq!(item["market_cap"], quotes[id]["jpy_market_cap"], "{id}");
        let week = item["sparkline_in_7d"]["price"].as_array().unwrap().len();
        assert!((160..=175).contains(&week), "{id}: {week}");
    }
}

#[tokio::test]
async fn coins_enter_and_leave_the_top_100_from_one_day_to_the_next() {
    let today = integration_tests::harness::fixed_now();
    let mut tops = Vec::new();
    for now in [today, today + chrono::Duration::days(1)] {
        let sim = start_at(now).await;
        let base = sim.base_url();
        let (_, top) = get_json(&format!("{base}/coins/markets?vs_currency=usd")).await;
        let top = ids_of(&top);
        for id in common::config::DEFAULT_COINS {
            assert!(top.iter().any(|c| c == id), "{now}: {id} left the top 100");
        }
        let (_, pinned) = get_json(&format!(
            "{base}/coins/markets?vs_currency=usd&ids={}",
            simulator::RANKED_BELOW_250
        ))
        .await;
        let rank = pinned[0]["market_cap_rank"].as_u64().unwrap();
        assert!(rank > 250, "{now}: ranked {rank}");
        tops.push(top);
    }
    let entered: Vec<&String> = tops[1].iter().filter(|c| !tops[0].contains(c)).collect();
    let left: Vec<&String> = tops[0].iter().filter(|c| !tops[1].contains(c)).collect();
    assert!(!entered.is_empty(), "no coin entered the top 100");
    assert_eq!(entered.len(), left.len(), "{entered:?} {left:?}");
}
