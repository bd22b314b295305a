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
    let sim = start(SimulatorConfig {
        now_ms: Some(now.timestamp_millis()),
        ..SimulatorConfig::default()
    })
    .await;
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
    // The 20 coins the simulator knows (the 11 tracked by default among them), sorted.
    assert_eq!(ids.len(), 20, "{ids:?}");
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
