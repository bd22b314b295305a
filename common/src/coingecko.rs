//! CoinGecko API v3 client: the four endpoints the ingester uses, one rate budget per run,
//! retries that honour `Retry-After`, and errors that say how to fix them.
//!
//! Response quirks handled here (the `coingecko_client` integration tests replay them): a UTF-8
//! BOM before the JSON, `null` prices, HTML error pages from the CDN, and error bodies in two
//! shapes (`{"status":{...}}` and `{"error":{"status":{...}}}`, or `{"error":"..."}`). Every
//! body is read into a cap sized for its endpoint ([`Endpoint::body_cap`]), never whole.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::CoinGeckoConfig;
use crate::domain::FailureCode;
pub use crate::domain::RawPoint;

/// Response header by which the built-in simulator marks its (synthetic) data.
pub const SIMULATOR_HEADER: &str = "x-crypto-dashboard-simulator";

/// A failed CoinGecko call. [`CgError::code`] is the short code kept in run reports.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CgError {
    /// 429 after every retry, or a `Retry-After` longer than the time left.
    #[error("rate limited by CoinGecko (HTTP 429{})", retry_after_text(*.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx after every retry.
    #[error("CoinGecko answered HTTP {status} ({content_type})")]
    Server { status: u16, content_type: String },
    /// No answer within the request timeout.
    #[error("CoinGecko did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed (DNS, refused, reset).
    #[error("could not reach CoinGecko: {0}")]
    Connection(String),
    /// A documented CoinGecko error code; `fix` says what to change.
    #[error("CoinGecko error {code}: {message}. Fix: {fix}")]
    Api {
        code: u32,
        message: String,
        fix: &'static str,
    },
    /// 404: the coin id does not exist on CoinGecko.
    #[error("CoinGecko does not know this id: {0}")]
    NotFound(String),
    /// Another 4xx.
    #[error("CoinGecko rejected the request with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The body is not the JSON we expect (an HTML page, truncated or wrong shape), or is
    /// larger than its endpoint can need (`too_large`, never retried: it would come again).
    #[error("unexpected CoinGecko response: HTTP {status}, content-type {content_type}: {detail}")]
    Malformed {
        status: u16,
        content_type: String,
        detail: String,
        too_large: bool,
    },
    /// The run's deadline arrived before the call could be made or retried.
    #[error("stopped: the run's deadline does not leave time for this call")]
    Deadline,
}

fn retry_after_text(d: Option<Duration>) -> String {
    d.map(|d| format!(", Retry-After {}s", d.as_secs()))
        .unwrap_or_default()
}

impl CgError {
    /// Short code for reports and metrics.
    pub fn code(&self) -> FailureCode {
        match self {
            CgError::RateLimited { .. } => FailureCode::RateLimited,
            CgError::Server { .. } => FailureCode::Upstream5xx,
            CgError::Timeout(_) => FailureCode::Timeout,
            CgError::Connection(_) => FailureCode::Connection,
            CgError::Api { code, .. } => FailureCode::CoinGecko(*code),
            CgError::NotFound(_) => FailureCode::NotFound,
            CgError::Rejected { .. } => FailureCode::Http4xx,
            CgError::Malformed { .. } => FailureCode::MalformedBody,
            CgError::Deadline => FailureCode::Deadline,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CgError::RateLimited { .. }
                | CgError::Server { .. }
                | CgError::Timeout(_)
                | CgError::Connection(_)
                | CgError::Malformed {
                    too_large: false,
                    ..
                }
        )
    }
}

/// What to change for each documented CoinGecko error code.
fn fix_for(code: u32) -> Option<&'static str> {
    Some(match code {
        10002 => "the API key is missing or invalid: set COINGECKO_API_KEY (or COINGECKO_API_KEY_SECRET_ARN) and COINGECKO_API_PLAN=demo|pro to match it",
        10005 => "this endpoint is not in your CoinGecko plan: upgrade the plan or stop calling the endpoint",
        10010 => "a Pro key was sent to api.coingecko.com: set COINGECKO_API_PLAN=pro so requests go to pro-api.coingecko.com",
        10011 => "a Demo key was sent to pro-api.coingecko.com: set COINGECKO_API_PLAN=demo so requests go to api.coingecko.com",
        10012 => "the public and Demo plans only reach 365 days back: set HISTORY_DAYS to 365 or less, or COINGECKO_API_PLAN=pro with a Pro key",
        _ => return None,
    })
}

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

/// The CoinGecko endpoints the client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Ping,
    CoinsList,
    /// `/coins/{id}`.
    Coin,
    /// `/coins/{id}/market_chart/range`.
    MarketChartRange,
    SimplePrice,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Ping,
        Endpoint::CoinsList,
        Endpoint::Coin,
        Endpoint::MarketChartRange,
        Endpoint::SimplePrice,
    ];

    /// The endpoint a request path belongs to.
    fn of(path: &str) -> Endpoint {
        match path {
            "/ping" => Endpoint::Ping,
            "/coins/list" => Endpoint::CoinsList,
            "/simple/price" => Endpoint::SimplePrice,
            p if p.ends_with("/market_chart/range") => Endpoint::MarketChartRange,
            _ => Endpoint::Coin,
        }
    }

    /// The largest body this endpoint can plausibly need: a few times the largest real answer
    /// (sizes per item from recorded bodies). A larger one is refused unread past the cap.
    pub const fn body_cap(self) -> usize {
        match self {
            // `{"gecko_says":"(V3) To the Moon!"}` is 34 bytes.
            Endpoint::Ping => 64 * KIB,
            // 57 B a coin recorded (7,248 coins in 414 KB); today's ~17k coins are ~1-1.5 MB.
            Endpoint::CoinsList => 8 * MIB,
            // Bitcoin with every section on is 126 KB recorded (we ask for fewer); any other
            // `/coins/...` path lands here too, e.g. a `/coins/markets` page of 250 coins with
            // 7-day sparklines (~4 KB a coin, ~1 MB).
            Endpoint::Coin => 4 * MIB,
            // 103 B a sample recorded: 90 days hourly ~225 KB, 10 years daily ~380 KB, even
            // 90 days 5-minutely ~2.7 MB.
            Endpoint::MarketChartRange => 4 * MIB,
            // ~110 B a coin and currency: a full id chunk (~150 ids) in 60 currencies ~1 MB.
            Endpoint::SimplePrice => 4 * MIB,
        }
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

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
    by_endpoint: [AtomicU64; Endpoint::ALL.len()],
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

impl CallStats {
    /// HTTP requests sent (attempts, including retries).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// HTTP requests sent to one endpoint (attempts, including retries).
    pub fn calls_to(&self, endpoint: Endpoint) -> u64 {
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

/// One entry of `/coins/list`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct CoinListEntry {
    pub id: String,
    pub symbol: String,
    pub name: String,
}

/// The parts of `/coins/{id}` the dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinInfo {
    pub id: String,
    pub symbol: String,
    pub name: String,
    /// English description, raw (may hold HTML and `\r\n`).
    pub description: String,
    pub image_url: Option<String>,
    pub website_url: Option<String>,
}

/// The longest comma-separated id list put in one `/simple/price` URL, keeping the whole URL
/// well under 2,000 characters.
pub const MAX_QUERY_IDS_CHARS: usize = 1_500;

/// One coin's live quote in one currency. CoinGecko may send any of the numbers as null.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub coin: String,
    pub currency: String,
    pub price: Option<f64>,
    pub market_cap: Option<f64>,
    pub volume_24h: Option<f64>,
    /// Percent.
    pub change_24h: Option<f64>,
    /// When CoinGecko last updated this coin's quote (per coin: one can lag by hours).
    pub last_updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The answer of `/simple/price`: the quotes, and the requested ids it left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quotes {
    pub quotes: Vec<Quote>,
    pub missing: Vec<String>,
}

/// `ids` in groups whose comma-joined length stays within [`MAX_QUERY_IDS_CHARS`].
fn id_chunks(ids: &[String]) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let (mut start, mut len) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let added = id.len() + usize::from(i > start);
        if i > start && len + added > MAX_QUERY_IDS_CHARS {
            chunks.push(&ids[start..i]);
            (start, len) = (i, id.len());
        } else {
            len += added;
        }
    }
    if start < ids.len() {
        chunks.push(&ids[start..]);
    }
    chunks
}

/// Observer of [`ClientEvent`]s.
pub type EventSink = Arc<dyn Fn(ClientEvent) + Send + Sync>;

/// The client of one run: its rate budget, retry policy, deadline and counters.
pub struct CoinGecko {
    http: reqwest::Client,
    base_url: String,
    key: Option<(&'static str, SecretString)>,
    limiter: DefaultDirectRateLimiter,
    policy: RetryPolicy,
    deadline: Option<Instant>,
    stats: CallStats,
    simulated: AtomicBool,
    events: Option<EventSink>,
}

impl std::fmt::Debug for CoinGecko {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinGecko")
            .field("base_url", &self.base_url)
            .field("key_header", &self.key.as_ref().map(|(h, _)| *h))
            .finish()
    }
}

impl CoinGecko {
    /// A client for `config` with `api_key` (already resolved from env or Secrets Manager).
    pub fn new(
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
        CoinGecko {
            http,
            base_url: config.base_url.clone(),
            key,
            limiter: RateLimiter::direct(quota),
            policy,
            deadline: None,
            stats: CallStats::default(),
            simulated: AtomicBool::new(false),
            events: None,
        }
    }

    /// No call, retry wait or request will run past `deadline`: a retry is only made when its
    /// wait plus a whole request timeout fit before it, and every request's timeout is cut to
    /// the time left. Callers pass their deadline minus the time they need afterwards.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Reports waits (rate limits, backoff) to `sink`.
    pub fn with_events(mut self, sink: Option<EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// This run's counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// True once any response came from the built-in simulator.
    pub fn is_simulated(&self) -> bool {
        self.simulated.load(Ordering::Relaxed)
    }

    /// `GET /ping`.
    pub async fn ping(&self) -> Result<(), CgError> {
        self.get_json::<serde_json::Value>("/ping", &[])
            .await
            .map(|_| ())
    }

    /// `GET /coins/list`: every coin's id, symbol and name.
    pub async fn coins_list(&self) -> Result<Vec<CoinListEntry>, CgError> {
        self.get_json("/coins/list", &[]).await
    }

    /// `GET /coins/{id}` with localization, tickers, market, community and developer data off.
    pub async fn coin(&self, id: &str) -> Result<CoinInfo, CgError> {
        #[derive(Deserialize)]
        struct Full {
            id: String,
            symbol: String,
            name: String,
            #[serde(default)]
            description: Option<HashMap<String, Option<String>>>,
            #[serde(default)]
            image: Option<Images>,
            #[serde(default)]
            links: Option<Links>,
        }
        #[derive(Deserialize)]
        struct Images {
            large: Option<String>,
            small: Option<String>,
            thumb: Option<String>,
        }
        #[derive(Deserialize)]
        struct Links {
            #[serde(default)]
            homepage: Vec<Option<String>>,
        }
        let off = || "false".to_owned();
        let full: Full = self
            .get_json(
                &format!("/coins/{id}"),
                &[
                    ("localization", off()),
                    ("tickers", off()),
                    ("market_data", off()),
                    ("community_data", off()),
                    ("developer_data", off()),
                    ("sparkline", off()),
                ],
            )
            .await?;
        let non_empty =
            |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(CoinInfo {
            id: full.id,
            symbol: full.symbol,
            name: full.name,
            description: full
                .description
                .and_then(|mut d| d.remove("en").flatten())
                .unwrap_or_default(),
            image_url: full.image.and_then(|i| {
                non_empty(i.large)
                    .or(non_empty(i.small))
                    .or(non_empty(i.thumb))
            }),
            website_url: full
                .links
                .and_then(|l| l.homepage.into_iter().filter_map(non_empty).next()),
        })
    }

    /// `GET /simple/price`: the live quote of every id in every currency, with market cap,
    /// 24 h volume, 24 h change and the time of the quote. One call, split only where the
    /// URL would grow past [`MAX_QUERY_IDS_CHARS`]. Ids CoinGecko leaves out of its answer
    /// come back in [`Quotes::missing`]; a quote whose numbers are null keeps them as `None`.
    pub async fn simple_price(
        &self,
        ids: &[String],
        currencies: &[String],
    ) -> Result<Quotes, CgError> {
        let mut quotes = Quotes::default();
        for chunk in id_chunks(ids) {
            let answer: HashMap<String, HashMap<String, Option<f64>>> = self
                .get_json(
                    "/simple/price",
                    &[
                        ("ids", chunk.join(",")),
                        ("vs_currencies", currencies.join(",")),
                        ("include_market_cap", "true".into()),
                        ("include_24hr_vol", "true".into()),
                        ("include_24hr_change", "true".into()),
                        ("include_last_updated_at", "true".into()),
                        ("precision", "full".into()),
                    ],
                )
                .await?;
            for id in chunk {
                let Some(fields) = answer.get(id.as_str()) else {
                    quotes.missing.push(id.clone());
                    continue;
                };
                let field = |name: String| fields.get(&name).copied().flatten();
                // Seconds, not milliseconds (the range endpoints use milliseconds).
                let updated = field("last_updated_at".into())
                    .filter(|s| s.is_finite())
                    .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0));
                for vs in currencies {
                    quotes.quotes.push(Quote {
                        coin: id.clone(),
                        currency: vs.clone(),
                        price: field(vs.clone()),
                        market_cap: field(format!("{vs}_market_cap")),
                        volume_24h: field(format!("{vs}_24h_vol")),
                        change_24h: field(format!("{vs}_24h_change")),
                        last_updated_at: updated,
                    });
                }
            }
        }
        Ok(quotes)
    }

    /// `GET /coins/{id}/market_chart/range`: prices of `id` in `vs` between two instants
    /// (unix seconds). Granularity is CoinGecko's choice: hourly for 2-90 days.
    pub async fn market_chart_range(
        &self,
        id: &str,
        vs: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<RawPoint>, CgError> {
        #[derive(Deserialize)]
        struct Chart {
            prices: Vec<(f64, Option<f64>)>,
        }
        let chart: Chart = self
            .get_json(
                &format!("/coins/{id}/market_chart/range"),
                &[
                    ("vs_currency", vs.to_owned()),
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                ],
            )
            .await?;
        Ok(chart
            .prices
            .into_iter()
            .map(|(ms, p)| (ms as i64, p))
            .collect())
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CgError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.max_retries)
            .with_jitter();
        (|| self.attempt::<T>(path, query))
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
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let endpoint = Endpoint::of(path);
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

/// Interprets a 4xx body: a documented error code, "coin not found", or the status.
fn client_error(status: u16, content_type: &str, body: &[u8]) -> CgError {
    #[derive(Deserialize)]
    struct StatusBody {
        error_code: Option<u32>,
        error_message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Text(String),
        Nested { status: StatusBody },
    }
    #[derive(Deserialize)]
    struct Body {
        status: Option<StatusBody>,
        error: Option<ErrorField>,
    }
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let (code, message) = match parsed {
        Some(Body {
            status: Some(s), ..
        })
        | Some(Body {
            error: Some(ErrorField::Nested { status: s }),
            ..
        }) => (s.error_code, s.error_message.unwrap_or_default()),
        Some(Body {
            error: Some(ErrorField::Text(text)),
            ..
        }) => (None, text),
        _ => (None, format!("content-type {content_type}")),
    };
    if let Some(code) = code {
        if let Some(fix) = fix_for(code) {
            return CgError::Api { code, message, fix };
        }
    }
    if status == 404 {
        return CgError::NotFound(message);
    }
    CgError::Rejected { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_name_their_fix() {
        let body = br#"{"status":{"error_code":10012,"error_message":"Your request exceeds the allowed time range."}}"#;
        let e = client_error(401, "application/json", body);
        assert_eq!(e.code(), FailureCode::CoinGecko(10012));
        assert!(e.to_string().contains("365 days"), "{e}");
        let nested =
            br#"{"error":{"status":{"error_code":10010,"error_message":"pro key on public"}}}"#;
        assert!(client_error(400, "application/json", nested)
            .to_string()
            .contains("COINGECKO_API_PLAN=pro"));
        let e = client_error(
            401,
            "application/json",
            br#"{"status":{"error_code":10011,"error_message":"x"}}"#,
        );
        assert!(e.to_string().contains("COINGECKO_API_PLAN=demo"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn long_id_lists_are_split_and_short_ones_are_not() {
        let ids: Vec<String> = (0..11).map(|i| format!("coin-{i}")).collect();
        assert_eq!(id_chunks(&ids), vec![&ids[..]]);
        let many: Vec<String> = (0..400)
            .map(|i| format!("some-long-coin-id-{i:04}"))
            .collect();
        let chunks = id_chunks(&many);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 400);
        for c in chunks {
            assert!(c.join(",").len() <= MAX_QUERY_IDS_CHARS);
        }
        assert!(id_chunks(&[]).is_empty());
    }

    #[test]
    fn unknown_coin_is_not_found_and_other_4xx_rejected() {
        let e = client_error(404, "application/json", br#"{"error":"coin not found"}"#);
        assert_eq!(e, CgError::NotFound("coin not found".into()));
        let e = client_error(
            422,
            "application/json",
            br#"{"error":"Missing parameter vs_currency"}"#,
        );
        assert!(matches!(e, CgError::Rejected { status: 422, .. }));
        let e = client_error(403, "text/html", b"<html>blocked</html>");
        assert!(e.to_string().contains("text/html"), "{e}");
    }
}
