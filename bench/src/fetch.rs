//! The fetch phase against the rate budget: 44 range calls (11 coins x 4 currencies,
//! 90 days each) through the real client at `per_min`, against the simulator enforcing the
//! same limit. The budget: 43 intervals of 60/per_min seconds, plus 3 s.

use std::time::{Duration, Instant};

use common::coingecko::{CoinGecko, RetryPolicy};
use common::config::{ApiPlan, CoinGeckoConfig, DEFAULT_COINS, DEFAULT_CURRENCIES};
use serde_json::{json, Value};
use simulator::{self, SimulatorConfig};

pub async fn run(per_min: u32) -> Value {
    let sim = simulator::start(
        SimulatorConfig {
            rate_limit_per_min: Some(per_min),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator");
    let config = CoinGeckoConfig {
        plan: ApiPlan::Public,
        api_key: None,
        base_url: sim.base_url(),
        rate_limit_per_min: per_min,
    };
    let client = CoinGecko::new(&config, None, RetryPolicy::default());
    let to = chrono::Utc::now().timestamp();
    let from = to - 90 * 86_400;
    let started = Instant::now();
    let mut points = 0;
    for coin in DEFAULT_COINS {
        for cur in DEFAULT_CURRENCIES {
            points += client
                .market_chart_range(coin, cur, from, to)
                .await
                .expect("range call")
                .len();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let budget = Duration::from_secs(60) / per_min * 43 + Duration::from_secs(3);
    let served_429 = sim.requests().iter().filter(|r| r.status == 429).count();
    json!({
        "per_min": per_min,
        "calls": client.stats().calls(),
        "points": points,
        "seconds": crate::stats::round(elapsed),
        "budget_seconds": budget.as_secs_f64(),
        "within_budget": elapsed <= budget.as_secs_f64(),
        "rate_limited": client.stats().rate_limited(),
        "served_429": served_429,
    })
}
