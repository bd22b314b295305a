//! A CoinGecko API v3 simulator for offline development, demos and tests.
//!
//! It serves `/ping`, `/coins/list`, `/coins/{id}` and `/coins/{id}/market_chart/range`
//! (also under `/api/v3`) with deterministic synthetic prices: a seeded mean-reverting
//! random walk per coin from a realistic level, one factor per currency. It reproduces the
//! real API's behaviour that matters to a client: granularity chosen by window (5-minutely
//! for one day ending now, hourly up to 90 days, daily beyond), timestamps off the hour,
//! occasional gaps and duplicates, a trailing "now" sample, the 365-day limit (10012), key
//! header checks (10002/10010/10011), an enforced rate limit answering the real 429 body with
//! `Retry-After`, and injectable faults. Every response carries
//! [`SIMULATOR_HEADER`](common::coingecko::SIMULATOR_HEADER): its data is **simulated**.
//!
//! - [`server`]: request handling, key checks, the rate limit and fault injection.
//! - [`model`]: the synthetic coins and their prices.

mod model;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server::{handle, Bucket, Shared};

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
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Coins with data (besides a few well-known extras in `/coins/list`).
    pub coins: Vec<String>,
    /// Seed of the price walks and fault draws.
    pub seed: u64,
    pub plan: SimPlan,
    /// Requests per minute before 429s (`None`: unlimited).
    pub rate_limit_per_min: Option<u32>,
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
            faults: Faults::default(),
            now_ms: None,
        }
    }
}

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub path: String,
    pub query: String,
    pub status: u16,
}

/// A running simulator; stops when dropped.
pub struct RunningSimulator {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl RunningSimulator {
    /// The base URL to put in `COINGECKO_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap().clear();
    }
}

/// Starts the simulator on `addr` (port 0 picks a free port) in the background.
pub async fn start(config: SimulatorConfig, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = shared(config);
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningSimulator {
        addr,
        shared,
        _shutdown: tx,
    })
}

/// Serves until `shutdown` resolves (the CLI's `simulate-coingecko`).
pub async fn serve(
    config: SimulatorConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared(config));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn shared(config: SimulatorConfig) -> Arc<Shared> {
    let tokens = config.rate_limit_per_min.unwrap_or(0) as f64;
    Arc::new(Shared {
        config,
        bucket: Mutex::new(Bucket {
            tokens,
            refreshed: Instant::now(),
        }),
        counters: Mutex::new((0, 0)),
        log: Mutex::new(Vec::new()),
    })
}
