//! What the simulator stands in for: the plan and key it checks, the coins it knows, its
//! seed, the rate limit it enforces, its fixed "now" and the faults it injects.

use std::time::Duration;

/// Which CoinGecko host and key the simulator stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimPlan {
    /// api.coingecko.com without a key (a Demo key is accepted, a Pro key is error 10010).
    Public,
    /// api.coingecko.com requiring this Demo key.
    Demo(String),
    /// pro-api.coingecko.com requiring this Pro key (a Demo key is error 10011).
    Pro(String),
}

/// Faults to inject, for tests and demos. Rates are probabilities per request (or per
/// price value for `null_rate`), drawn from the seeded generator so runs are repeatable.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests answered 500/502/503 with a JSON body.
    pub error_rate: f64,
    /// Share of requests answered 503 with a CDN HTML page.
    pub html_rate: f64,
    /// Share of requests whose JSON body is cut off.
    pub truncate_rate: f64,
    /// Share of price values sent as `null`.
    pub null_rate: f64,
    /// Share of requests delayed by `slow`.
    pub slow_rate: f64,
    pub slow: Duration,
    /// The first `storm` requests are answered 429.
    pub storm: u32,
    /// `Retry-After` seconds sent with storm 429s (`None`: no header).
    pub storm_retry_after: Option<u64>,
    /// Storm 429s come as the CDN's HTML page instead of CoinGecko's JSON.
    pub storm_html: bool,
    /// The first `fail_first` market-chart requests are answered 500.
    pub fail_first: u32,
    /// Market-chart requests for these coins always fail with 500.
    pub fail_coins: Vec<String>,
    /// Market-chart requests over 90 days (the daily answers a history backfill asks for)
    /// always fail with 500.
    pub fail_daily_ranges: bool,
    /// Market-chart requests are answered 200 with a well-formed JSON body of this many MiB
    /// (0: off), sent chunked and made as it goes out, never held whole.
    pub huge_body_mb: u32,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Ids to serve besides the built-in universe (known and generated coins); entries that
    /// are no CoinGecko id, such as `top:100`, are ignored.
    pub coins: Vec<String>,
    /// Seed of the price walks and fault draws.
    pub seed: u64,
    pub plan: SimPlan,
    /// Requests per minute before 429s (`None`: unlimited).
    pub rate_limit_per_min: Option<u32>,
    /// How many requests may come at once (the token bucket's size); a minute's worth when
    /// `None`. A small burst makes any client that does not pace itself meet 429s.
    pub rate_limit_burst: Option<u32>,
    pub faults: Faults,
    /// A fixed "now" in unix milliseconds (tests); the real clock when `None`.
    pub now_ms: Option<i64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            coins: common::config::DEFAULT_COINS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            seed: 42,
            plan: SimPlan::Public,
            rate_limit_per_min: None,
            rate_limit_burst: None,
            faults: Faults::default(),
            now_ms: None,
        }
    }
}

impl SimulatorConfig {
    /// The token bucket's size: the burst, else a minute's worth of requests.
    pub fn bucket_size(&self) -> f64 {
        self.rate_limit_burst
            .or(self.rate_limit_per_min)
            .unwrap_or(0) as f64
    }

    /// "Now" in unix milliseconds: the fixed one, else the real clock.
    pub fn now(&self) -> i64 {
        self.now_ms
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
    }
}
