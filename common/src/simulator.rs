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
//! [`SIMULATOR_HEADER`](crate::coingecko::SIMULATOR_HEADER): its data is **simulated**.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::coingecko::SIMULATOR_HEADER;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The walk starts here (2024-01-01T00:00Z); earlier hours use the starting level.
const WALK_EPOCH_HOUR: i64 = 1_704_067_200 / 3600;

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
            coins: crate::config::DEFAULT_COINS
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

struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

struct Shared {
    config: SimulatorConfig,
    bucket: Mutex<Bucket>,
    counters: Mutex<(u64, u32)>,
    log: Mutex<Vec<LoggedRequest>>,
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

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let path = uri
        .path()
        .strip_prefix("/api/v3")
        .unwrap_or(uri.path())
        .to_owned();
    let mut response = answer(&shared, &path, &query, &headers).await;
    response
        .headers_mut()
        .insert(SIMULATOR_HEADER, HeaderValue::from_static("1"));
    shared.log.lock().unwrap().push(LoggedRequest {
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

async fn answer(shared: &Shared, path: &str, query: &str, headers: &HeaderMap) -> Response {
    let config = &shared.config;
    let faults = &config.faults;
    let request_no = {
        let mut c = shared.counters.lock().unwrap();
        c.0 += 1;
        c.0
    };
    let draw = |salt: u64| {
        unit(mix(config.seed
            ^ request_no.wrapping_mul(0x9E37_79B9)
            ^ salt))
    };

    if let Some(error) = check_key(&config.plan, headers) {
        return error;
    }
    if request_no <= faults.storm as u64 {
        return too_many_requests(faults.storm_retry_after, faults.storm_html);
    }
    if let Some(limit) = config.rate_limit_per_min {
        let mut bucket = shared.bucket.lock().unwrap();
        let rate = limit as f64 / 60.0;
        let now = Instant::now();
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.refreshed).as_secs_f64() * rate)
            .min(limit as f64);
        bucket.refreshed = now;
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) / rate).ceil() as u64;
            return too_many_requests(Some(wait.max(1)), false);
        }
        bucket.tokens -= 1.0;
    }
    if faults.slow_rate > 0.0 && draw(1) < faults.slow_rate {
        tokio::time::sleep(faults.slow).await;
    }
    if faults.error_rate > 0.0 && draw(2) < faults.error_rate {
        let status = [500, 502, 503][(draw(3) * 3.0) as usize % 3];
        return json_response(
            StatusCode::from_u16(status).unwrap(),
            json!({"status": {"error_code": status, "error_message": "Internal server error (simulated)"}}),
        );
    }
    if faults.html_rate > 0.0 && draw(4) < faults.html_rate {
        return html_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Temporarily Unavailable",
        );
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let params = parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = match segments.as_slice() {
        ["ping"] => json!({"gecko_says": "(V3) To the Moon! [simulated by crypto-dashboard]"}),
        ["coins", "list"] => coins_list(config),
        ["coins", id] => match coin_detail(config, id) {
            Some(body) => body,
            None => {
                return json_response(StatusCode::NOT_FOUND, json!({"error": "coin not found"}))
            }
        },
        ["coins", id, "market_chart", "range"] => {
            if !known_coin(config, id) {
                return json_response(StatusCode::NOT_FOUND, json!({"error": "coin not found"}));
            }
            let Some(vs) = param("vs_currency") else {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Missing parameter vs_currency"}),
                );
            };
            let Some(factor) = currency_factor(vs) else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid vs_currency"}),
                );
            };
            let (Some(from), Some(to)) = (
                param("from").and_then(|v| v.parse::<f64>().ok()),
                param("to").and_then(|v| v.parse::<f64>().ok()),
            ) else {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Missing parameter from or to"}),
                );
            };
            let (from_ms, to_ms) = ((from * 1000.0) as i64, (to * 1000.0) as i64);
            let now_ms = config
                .now_ms
                .unwrap_or_else(|| Utc::now().timestamp_millis());
            if !matches!(config.plan, SimPlan::Pro(_)) && from_ms < now_ms - 365 * DAY_MS {
                return json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": {"status": {"timestamp": Utc::now().to_rfc3339(), "error_code": 10012,
                        "error_message": "Your request exceeds the allowed time range. Public API users are limited to querying historical data within the past 365 days. Upgrade to a paid plan to enjoy full historical data access."}}}),
                );
            }
            let fail_first = {
                let mut c = shared.counters.lock().unwrap();
                c.1 += 1;
                c.1 <= faults.fail_first
            };
            if fail_first || faults.fail_coins.iter().any(|c| c == id) {
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"status": {"error_code": 500, "error_message": "Internal server error (simulated)"}}),
                );
            }
            market_chart(config, id, factor, from_ms, to_ms, now_ms, request_no)
        }
        _ => {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({"error": "Incorrect path. Please check https://www.coingecko.com/api/"}),
            )
        }
    };
    if faults.truncate_rate > 0.0 && draw(5) < faults.truncate_rate {
        let mut text = body.to_string();
        text.truncate(text.len() / 2);
        let mut r = Response::new(Body::from(text));
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        return r;
    }
    json_response(StatusCode::OK, body)
}

fn check_key(plan: &SimPlan, headers: &HeaderMap) -> Option<Response> {
    let demo = headers
        .get("x-cg-demo-api-key")
        .and_then(|v| v.to_str().ok());
    let pro = headers
        .get("x-cg-pro-api-key")
        .and_then(|v| v.to_str().ok());
    let error = |code: u32, message: &str| {
        Some(json_response(
            StatusCode::UNAUTHORIZED,
            json!({"status": {"error_code": code, "error_message": message}}),
        ))
    };
    match plan {
        SimPlan::Public | SimPlan::Demo(_) if pro.is_some() => error(
            10010,
            "If you are using Pro API key, please change your root URL from api.coingecko.com to pro-api.coingecko.com",
        ),
        SimPlan::Demo(key) if demo != Some(key.as_str()) => error(10002, "API Key Missing or invalid"),
        SimPlan::Pro(_) if demo.is_some() => error(
            10011,
            "If you are using Demo API key, please change your root URL from pro-api.coingecko.com to api.coingecko.com",
        ),
        SimPlan::Pro(key) if pro != Some(key.as_str()) => error(10002, "API Key Missing or invalid"),
        _ => None,
    }
}

fn too_many_requests(retry_after: Option<u64>, html: bool) -> Response {
    let mut response = if html {
        html_page(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    } else {
        json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}}),
        )
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}

fn html_page(status: StatusCode, title: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>{title} | api.coingecko.com | Cloudflare</title></head>\
         <body><h1>{title}</h1><p>Simulated CDN error page.</p></body></html>"
    );
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// (id, symbol, name, level in USD, hourly volatility) of the coins the simulator knows well.
const KNOWN: &[(&str, &str, &str, f64, f64)] = &[
    ("bitcoin", "btc", "Bitcoin", 95_000.0, 0.006),
    ("ethereum", "eth", "Ethereum", 3_400.0, 0.008),
    ("tether", "usdt", "Tether", 1.0, 0.0002),
    ("binancecoin", "bnb", "BNB", 650.0, 0.007),
    ("solana", "sol", "Solana", 180.0, 0.011),
    ("ripple", "xrp", "XRP", 2.2, 0.010),
    ("usd-coin", "usdc", "USDC", 1.0, 0.0001),
    ("cardano", "ada", "Cardano", 0.75, 0.011),
    ("dogecoin", "doge", "Dogecoin", 0.32, 0.013),
    ("tron", "trx", "TRON", 0.25, 0.006),
    ("avalanche-2", "avax", "Avalanche", 35.0, 0.012),
    ("litecoin", "ltc", "Litecoin", 95.0, 0.009),
    ("polkadot", "dot", "Polkadot", 6.5, 0.011),
    ("chainlink", "link", "Chainlink", 18.0, 0.011),
    ("bitcoin-cash", "bch", "Bitcoin Cash", 420.0, 0.009),
    (
        "wrapped-bitcoin",
        "wbtc",
        "Wrapped Bitcoin",
        95_000.0,
        0.006,
    ),
    ("stellar", "xlm", "Stellar", 0.35, 0.010),
    ("shiba-inu", "shib", "Shiba Inu", 0.000_021, 0.014),
    ("pepe", "pepe", "Pepe", 0.000_011, 0.018),
    ("monero", "xmr", "Monero", 190.0, 0.008),
];

/// vs_currency factors against USD (fixed, plausible).
fn currency_factor(code: &str) -> Option<f64> {
    Some(match code {
        "usd" => 1.0,
        "eur" => 0.92,
        "gbp" => 0.79,
        "jpy" => 151.3,
        "chf" => 0.88,
        "cad" => 1.37,
        "aud" => 1.52,
        "cny" => 7.2,
        "inr" => 83.4,
        "krw" => 1_370.0,
        "brl" => 5.4,
        _ => return None,
    })
}

fn known_coin(config: &SimulatorConfig, id: &str) -> bool {
    config.coins.iter().any(|c| c == id) || KNOWN.iter().any(|k| k.0 == id)
}

fn coin_profile(config: &SimulatorConfig, id: &str) -> (String, String, f64, f64) {
    match KNOWN.iter().find(|k| k.0 == id) {
        Some(&(_, symbol, name, level, vol)) => (symbol.to_owned(), name.to_owned(), level, vol),
        None => {
            let h = mix(config.seed ^ fnv(id));
            let level = 10f64.powf(unit(h) * 5.0 - 2.0); // 0.01 .. 1000
            let name: String = id
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ");
            let symbol: String = id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(4)
                .collect();
            (symbol, name, level, 0.01)
        }
    }
}

fn coins_list(config: &SimulatorConfig) -> serde_json::Value {
    let mut ids: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
    for c in &config.coins {
        if !ids.contains(&c.as_str()) {
            ids.push(c);
        }
    }
    ids.sort_unstable();
    serde_json::Value::Array(
        ids.into_iter()
            .map(|id| {
                let (symbol, name, _, _) = coin_profile(config, id);
                json!({"id": id, "symbol": symbol, "name": name})
            })
            .collect(),
    )
}

fn coin_detail(config: &SimulatorConfig, id: &str) -> Option<serde_json::Value> {
    if !known_coin(config, id) {
        return None;
    }
    let (symbol, name, _, _) = coin_profile(config, id);
    let hue = mix(fnv(id)) % 360;
    let letter = symbol.chars().next().unwrap_or('?').to_ascii_uppercase();
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'><circle cx='32' cy='32' r='30' fill='hsl({hue},65%,45%)'/>\
         <text x='32' y='42' font-family='sans-serif' font-size='28' text-anchor='middle' fill='white'>{letter}</text></svg>"
    );
    let image = format!(
        "data:image/svg+xml,{}",
        percent_encoding::utf8_percent_encode(&svg, percent_encoding::NON_ALPHANUMERIC)
    );
    let homepage = format!("https://www.{}.example", id.replace('-', ""));
    // Like the real API: HTML links and \r\n inside the description.
    let description = format!(
        "{name} ({sym}) is a cryptocurrency. <a href=\"https://www.coingecko.com/en/coins/{id}\">{name}</a> prices here are \
         <b>simulated</b> by crypto-dashboard &amp; not real market data.\r\n\r\nUse the live CoinGecko API for real prices.",
        sym = symbol.to_uppercase()
    );
    Some(json!({
        "id": id, "symbol": symbol, "name": name,
        "asset_platform_id": null, "block_time_in_minutes": 0, "hashing_algorithm": null,
        "categories": ["Simulated"], "public_notice": null,
        "description": {"en": description},
        "links": {"homepage": [homepage, "", ""], "blockchain_site": ["", ""], "official_forum_url": [""]},
        "image": {"thumb": image, "small": image, "large": image},
        "country_origin": "", "genesis_date": null, "market_cap_rank": null,
        "last_updated": Utc::now().to_rfc3339(),
    }))
}

/// Log-price offset of `id` at each hour in `[from_hour, to_hour]`: an Ornstein-Uhlenbeck
/// walk started at the epoch, so the same hour always has the same value.
fn walk(seed: u64, id: &str, vol: f64, from_hour: i64, to_hour: i64) -> Vec<f64> {
    let theta = 0.0008;
    let key = seed ^ fnv(id);
    let mut x = 0.0;
    let mut out = Vec::with_capacity((to_hour - from_hour + 1).max(0) as usize);
    for h in WALK_EPOCH_HOUR.min(from_hour)..=to_hour {
        if h > WALK_EPOCH_HOUR {
            x = x * (1.0 - theta)
                + vol * gaussian(mix(key ^ (h as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)));
        }
        if h >= from_hour {
            out.push(x);
        }
    }
    out
}

fn market_chart(
    config: &SimulatorConfig,
    id: &str,
    factor: f64,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    request_no: u64,
) -> serde_json::Value {
    let (_, _, level, vol) = coin_profile(config, id);
    let span = to_ms - from_ms;
    let ends_now = (now_ms - to_ms).abs() <= HOUR_MS;
    let coin_key = config.seed ^ fnv(id);
    let mut times: Vec<i64> = Vec::new();
    if span <= 0 {
        // Empty window: CoinGecko answers with empty arrays.
    } else if span <= DAY_MS && ends_now {
        let mut t = from_ms + 300_000;
        while t <= to_ms {
            times.push(t + (unit(mix(coin_key ^ t as u64)) * 2_000.0) as i64);
            t += 300_000;
        }
        // The recorded quirk: the last two samples ~1 s apart, the second one earlier.
        if let Some(&last) = times.last() {
            times.push(last - 955);
        }
    } else if span <= 90 * DAY_MS {
        for h in from_ms.div_euclid(HOUR_MS)..=to_ms.div_euclid(HOUR_MS) {
            let r = |salt: u64| {
                unit(mix(coin_key
                    ^ (h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ salt))
            };
            if r(1) < 0.004 {
                continue; // a missing hour
            }
            let t = h * HOUR_MS + (r(2) * 3_400_000.0) as i64 + 60_000;
            if t >= from_ms && t <= to_ms {
                times.push(t);
            }
            if r(3) < 0.01 {
                let second = t + 90_000 + (r(4) * 60_000.0) as i64;
                if second < (h + 1) * HOUR_MS && second <= to_ms {
                    times.push(second); // two samples in one hour
                }
            }
        }
    } else {
        let mut day = from_ms.div_euclid(DAY_MS)
            + if from_ms.rem_euclid(DAY_MS) == 0 {
                0
            } else {
                1
            };
        while day * DAY_MS <= to_ms {
            times.push(day * DAY_MS);
            day += 1;
        }
    }
    if ends_now && span > 0 && times.last().is_some_and(|&t| t < now_ms.min(to_ms)) {
        times.push(now_ms.min(to_ms)); // the trailing "now" sample
    }
    let first_hour = times
        .iter()
        .min()
        .copied()
        .unwrap_or(from_ms)
        .div_euclid(HOUR_MS);
    let last_hour = times
        .iter()
        .max()
        .copied()
        .unwrap_or(to_ms)
        .div_euclid(HOUR_MS)
        + 1;
    let offsets = walk(config.seed, id, vol, first_hour, last_hour);
    let supply = 1.0e9 / level.max(1e-6).sqrt();
    let null_rate = config.faults.null_rate;
    let mut prices = Vec::with_capacity(times.len());
    let mut caps = Vec::with_capacity(times.len());
    let mut volumes = Vec::with_capacity(times.len());
    for &t in &times {
        let h = t.div_euclid(HOUR_MS);
        let frac = (t - h * HOUR_MS) as f64 / HOUR_MS as f64;
        let i = (h - first_hour) as usize;
        let x = offsets[i] * (1.0 - frac) + offsets[(i + 1).min(offsets.len() - 1)] * frac;
        let noise = 1.0 + (unit(mix(coin_key ^ t as u64 ^ 0xABCD)) - 0.5) * vol * 0.2;
        let price = level * x.exp() * factor * noise;
        let value = if null_rate > 0.0 && unit(mix(config.seed ^ request_no ^ t as u64)) < null_rate
        {
            serde_json::Value::Null
        } else {
            json!(price)
        };
        prices.push(json!([t, value]));
        caps.push(json!([t, price * supply]));
        volumes.push(json!([t, price * supply * 0.04]));
    }
    json!({"prices": prices, "market_caps": caps, "total_volumes": volumes})
}

/// splitmix64 finaliser: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal number from a hash (Box-Muller).
fn gaussian(h: u64) -> f64 {
    let u1 = unit(h).max(1e-12);
    let u2 = unit(mix(h));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(from_ms: i64, to_ms: i64, now_ms: i64) -> Vec<(i64, f64)> {
        let config = SimulatorConfig::default();
        let body = market_chart(&config, "bitcoin", 1.0, from_ms, to_ms, now_ms, 1);
        body["prices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    }

    const NOW: i64 = 1_764_300_000_000;

    #[test]
    fn thirty_days_come_hourly_off_the_hour_with_a_trailing_now_point() {
        let points = chart(NOW - 30 * DAY_MS, NOW, NOW);
        assert!((700..=740).contains(&points.len()), "{}", points.len());
        assert!(points.iter().filter(|p| p.0 % HOUR_MS == 0).count() < 5);
        assert_eq!(points.last().unwrap().0, NOW);
        assert!(points.iter().all(|p| p.1 > 10_000.0 && p.1 < 1_000_000.0));
    }

    #[test]
    fn one_day_ending_now_is_five_minutely_and_ends_backwards() {
        let points = chart(NOW - DAY_MS, NOW, NOW);
        assert!(points.len() >= 287, "{}", points.len());
        let n = points.len();
        assert!(points[n - 1].0 < points[n - 2].0 || points[n - 2].0 < points[n - 3].0);
    }

    #[test]
    fn over_ninety_days_is_daily_at_midnight() {
        let points = chart(NOW - 120 * DAY_MS, NOW - 10 * DAY_MS, NOW);
        assert!(points.iter().all(|p| p.0 % DAY_MS == 0));
        assert_eq!(points.len(), 110);
    }

    #[test]
    fn prices_are_deterministic_across_requests() {
        let a = chart(NOW - 10 * DAY_MS, NOW - 5 * DAY_MS, NOW);
        let b = chart(NOW - 7 * DAY_MS, NOW - 5 * DAY_MS, NOW);
        let overlap: Vec<_> = a.iter().filter(|p| b.iter().any(|q| q.0 == p.0)).collect();
        assert!(overlap.len() > 40);
        for p in overlap {
            assert_eq!(Some(p), b.iter().find(|q| q.0 == p.0));
        }
    }
}
