//! [`Transport`]: the HTTP side of one run's CoinGecko calls. It paces them to the plan's
//! rate, retries with backoff and jitter (or `Retry-After`), keeps every call and wait within
//! the run's deadline, reads each body into its endpoint's cap, strips a UTF-8 BOM, counts
//! calls, and deserializes the JSON into whatever type the caller names. It knows no endpoint's
//! JSON: the typed calls in `client` do.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::endpoint::{CoinGeckoEndpoint, KIB, MIB};
use super::error::{client_error, CgError};
use crate::config::CoinGeckoConfig;

/// Response header by which the built-in simulator marks its (synthetic) data.
pub const SIMULATOR_HEADER: &str = "x-crypto-dashboard-simulator";

/// Retry and timeout settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First backoff delay (doubled each retry, with jitter).
    pub min_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` we are willing to honour.
    pub max_retry_after: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// Something the client is doing, for progress displays.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// Waiting `Duration` before retrying (`rate_limited` when CoinGecko asked us to).
    Waiting {
        wait: Duration,
        rate_limited: bool,
        reason: String,
    },
}

/// `bytes` as `N MiB` or `N KiB`.
fn size_text(bytes: usize) -> String {
    if bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / KIB)
    }
}

/// Counters of one run's calls.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    by_endpoint: [AtomicU64; CoinGeckoEndpoint::ALL.len()],
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

impl CallStats {
    /// HTTP requests sent (attempts, including retries).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// HTTP requests sent to one endpoint (attempts, including retries).
    pub fn calls_to(&self, endpoint: CoinGeckoEndpoint) -> u64 {
        self.by_endpoint[endpoint as usize].load(Ordering::Relaxed)
    }
    /// Retries made after a failed attempt.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    /// 429 answers received.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

/// The calls a run may still make: its share of the month's budget, granted by the run in
/// chunks. Every attempt (retries included) takes one; with none left no request is sent.
#[derive(Debug, Default)]
pub struct CallAllowance(AtomicU64);

impl CallAllowance {
    /// Adds `calls` to what may still be made.
    pub fn grant(&self, calls: u64) {
        self.0.fetch_add(calls, Ordering::Relaxed);
    }

    /// The calls that may still be made.
    pub fn left(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Takes one call; false when none is left.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Observer of [`ClientEvent`]s.
pub type EventSink = Arc<dyn Fn(ClientEvent) + Send + Sync>;

/// The HTTP client of one run: its rate budget, retry policy, deadline and counters.
pub(super) struct Transport {
    http: reqwest::Client,
    base_url: String,
    key: Option<(&'static str, SecretString)>,
    limiter: DefaultDirectRateLimiter,
    policy: RetryPolicy,
    deadline: Option<Instant>,
    allowance: Option<Arc<CallAllowance>>,
    stats: CallStats,
    simulated: AtomicBool,
    events: Option<EventSink>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.base_url)
            .field("key_header", &self.key.as_ref().map(|(h, _)| *h))
            .finish()
    }
}

impl Transport {
    /// A client for `config` with `api_key` (already resolved from env or Secrets Manager).
    pub(super) fn new(
        config: &CoinGeckoConfig,
        api_key: Option<SecretString>,
        policy: RetryPolicy,
    ) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("crypto-dashboard/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(5).min(policy.request_timeout))
            // A redirect would carry the Pro key header to whatever host it names. CoinGecko
            // does not redirect API calls, so a 3xx is an error, not a hop.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with static settings always builds");
        // A steady pace with no burst: at 30/min one call every 2 s, which never trips
        // CoinGecko's per-minute window.
        let per_min = NonZeroU32::new(config.rate_limit_per_min.max(1)).expect("at least 1");
        let period = Duration::from_secs(60) / per_min.get();
        let quota = Quota::with_period(period.max(Duration::from_micros(1)))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::MIN);
        let key = match (config.plan.key_header(), api_key) {
            (Some(header), Some(key)) => Some((header, key)),
            _ => None,
        };
        Transport {
            http,
            base_url: config.base_url.clone(),
            key,
            limiter: RateLimiter::direct(quota),
            policy,
            deadline: None,
            allowance: None,
            stats: CallStats::default(),
            simulated: AtomicBool::new(false),
            events: None,
        }
    }

    /// The deadline no call, retry wait or request runs past (see `CoinGecko::with_deadline`).
    pub(super) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sends no request beyond `allowance` (see `CoinGecko::with_allowance`).
    pub(super) fn with_allowance(mut self, allowance: Arc<CallAllowance>) -> Self {
        self.allowance = Some(allowance);
        self
    }

    /// Reports waits (rate limits, backoff) to `sink`.
    pub(super) fn with_events(mut self, sink: Option<EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// This run's counters.
    pub(super) fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// True once any response came from the built-in simulator.
    pub(super) fn is_simulated(&self) -> bool {
        self.simulated.load(Ordering::Relaxed)
    }

    /// `GET path?query` on `endpoint`, retried while the error allows and the deadline leaves
    /// time, and its JSON body as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: CoinGeckoEndpoint,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CgError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.max_retries)
            .with_jitter();
        (|| self.attempt::<T>(endpoint, path, query))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(CgError::is_retryable)
            .adjust(|error, delay| self.retry_delay(error, delay))
            .notify(|error, wait| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                let rate_limited = matches!(error, CgError::RateLimited { .. });
                tracing::warn!(%path, error = %error, wait_ms = wait.as_millis() as u64, "retrying CoinGecko call");
                if let Some(sink) = &self.events {
                    sink(ClientEvent::Waiting {
                        wait,
                        rate_limited,
                        reason: error.to_string(),
                    });
                }
            })
            .await
    }

    /// The wait before the next attempt: `Retry-After` (capped) for 429s, else the backoff;
    /// `None` (give up) when the wait plus a whole request would pass the deadline.
    fn retry_delay(&self, error: &CgError, backoff: Option<Duration>) -> Option<Duration> {
        let backoff = backoff?;
        let wait = match error {
            CgError::RateLimited {
                retry_after: Some(after),
            } => {
                if *after > self.policy.max_retry_after {
                    return None;
                }
                *after
            }
            _ => backoff,
        };
        match self.deadline {
            Some(deadline) if Instant::now() + wait + self.policy.request_timeout > deadline => {
                None
            }
            _ => Some(wait),
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: CoinGeckoEndpoint,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CgError> {
        let mut timeout = self.policy.request_timeout;
        if let Some(deadline) = self.deadline {
            tokio::time::timeout_at(deadline, self.limiter.until_ready())
                .await
                .map_err(|_| CgError::Deadline)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CgError::Deadline);
            }
            timeout = timeout.min(left);
        } else {
            self.limiter.until_ready().await;
        }
        if self.allowance.as_ref().is_some_and(|a| !a.take()) {
            return Err(CgError::BudgetSpent);
        }
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.stats.by_endpoint[endpoint as usize].fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .get(format!("{}{path}", self.base_url))
            .query(query)
            .timeout(timeout);
        if let Some((header, key)) = &self.key {
            request = request.header(*header, key.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(e, timeout))?;
        let status = response.status();
        if response.headers().contains_key(SIMULATOR_HEADER) {
            self.simulated.store(true, Ordering::Relaxed);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(CgError::RateLimited { retry_after });
        }
        if status.is_redirection() {
            return Err(CgError::Rejected {
                status: status.as_u16(),
                message: "CoinGecko answered with a redirect, which is not followed (it would \
                          carry the API key to another address); check COINGECKO_BASE_URL"
                    .into(),
            });
        }
        if status.is_server_error() {
            return Err(CgError::Server {
                status: status.as_u16(),
                content_type,
            });
        }
        let body = self
            .read_body(response, endpoint.body_cap(), &content_type, timeout)
            .await?;
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        if status.is_client_error() {
            return Err(client_error(status.as_u16(), &content_type, body));
        }
        serde_json::from_slice(body).map_err(|e| CgError::Malformed {
            status: status.as_u16(),
            detail: if content_type.contains("json") {
                format!("invalid JSON ({e})")
            } else {
                "expected a JSON body".into()
            },
            content_type,
            too_large: false,
        })
    }

    /// The body, read chunk by chunk into at most `cap` bytes. One that announces more, or
    /// goes on past it, is refused there: buffered whole, a body of hundreds of MB once took
    /// the ingester past 1.5 GB.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        cap: usize,
        content_type: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, CgError> {
        let status = response.status().as_u16();
        let too_large = |detail: String| CgError::Malformed {
            status,
            content_type: content_type.to_owned(),
            detail,
            too_large: true,
        };
        let announced = response.content_length().unwrap_or(0);
        if announced > cap as u64 {
            return Err(too_large(format!(
                "Content-Length {announced} is over the {} this endpoint can need; not read",
                size_text(cap)
            )));
        }
        let mut body = Vec::with_capacity(announced as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e, timeout))?
        {
            if body.len() + chunk.len() > cap {
                return Err(too_large(format!(
                    "the body is over the {} this endpoint can need; not read past it",
                    size_text(cap)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, e: reqwest::Error, timeout: Duration) -> CgError {
        if e.is_timeout() {
            CgError::Timeout(timeout)
        } else if e.is_body() || e.is_decode() {
            CgError::Malformed {
                status: e.status().map(|s| s.as_u16()).unwrap_or(200),
                content_type: "unknown".into(),
                detail: "the body was cut off".into(),
                too_large: false,
            }
        } else {
            // reqwest's message names the URL; ours carries no key (keys go in headers).
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg = format!("{msg}: {s}");
                source = s.source();
            }
            CgError::Connection(msg)
        }
    }
}
