//! A CoinGecko API v3 simulator for offline development, demos and tests.
//!
//! It serves `/ping`, `/coins/list`, `/coins/markets`, `/coins/{id}`,
//! `/coins/{id}/market_chart/range` and `/simple/price` (also under `/api/v3`) for a universe of
//! [`UNIVERSE_SIZE`] coins with deterministic synthetic prices: a seeded mean-reverting random
//! walk per coin from a realistic level, one factor per currency, and market caps whose ranks
//! drift from day to day (coins enter and leave the top 100; [`RANKED_BELOW_250`] never comes
//! near). It reproduces the real API's behaviour that matters to a client: granularity chosen
//! by window (5-minutely for one day ending now, hourly up to 90 days, daily beyond),
//! timestamps off the hour, occasional gaps and duplicates, a trailing "now" sample, the
//! 365-day limit (10012), key header checks (10002/10010/10011), an enforced rate limit
//! answering the real 429 body with `Retry-After`, live quotes with their quirks (unknown ids
//! left out, integer prices, nulls, seconds, one coin's quote hours old), unranked coins in
//! the markets, and injectable faults. Every response carries
//! [`SIMULATOR_HEADER`](common::coingecko::SIMULATOR_HEADER): its data is **simulated**.
//!
//! - [`config`]: what to simulate: plan, coins, seed, rate limit, faults.
//! - [`server`]: request handling, key checks, the rate limit and fault injection.
//! - [`universe`]: the coins, their supplies and market caps, the ranking at an instant.
//! - [`walk`]: the price walk (memoised) and the seeded hashes.
//! - [`model`]: the per-coin endpoints' bodies: list, detail, quotes and charts.
//! - [`markets`]: `/coins/markets`, the ranked pages.

mod config;
mod markets;
mod model;
mod server;
mod universe;
mod walk;

pub use config::{Faults, SimPlan, SimulatorConfig};
pub use server::LoggedRequest;
pub use universe::{RANKED_BELOW_250, UNIVERSE_SIZE};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use server::{handle, Bucket, Shared, NO_FIXED_NOW};

/// Every coin id of `config`'s universe by market cap at `now_ms` (unix milliseconds),
/// largest first, unranked coins last: the order `/coins/markets` pages it in.
pub fn ranked_ids(config: &SimulatorConfig, now_ms: i64) -> Vec<String> {
    universe::ranking(config, now_ms)
        .into_iter()
        .map(|r| r.coin.id)
        .collect()
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

    /// Moves the simulator's clock to `now_ms` (unix milliseconds): every answer from then on
    /// is the market at that instant (a simulated month runs through this).
    pub fn set_now(&self, now_ms: i64) {
        self.shared
            .now_ms
            .store(now_ms, std::sync::atomic::Ordering::Relaxed);
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
    let tokens = config.bucket_size();
    Arc::new(Shared {
        config,
        bucket: Mutex::new(Bucket {
            tokens,
            refreshed: Instant::now(),
        }),
        counters: Mutex::new((0, 0)),
        log: Mutex::new(Vec::new()),
        now_ms: std::sync::atomic::AtomicI64::new(NO_FIXED_NOW),
    })
}
