//! Request handling: routes, key checks, the enforced rate limit and injected faults.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use common::coingecko::SIMULATOR_HEADER;
use serde_json::json;

use crate::config::{SimPlan, SimulatorConfig};
use crate::markets::coins_markets;
use crate::model::{coin_detail, coins_list, currency_factor, market_chart, simple_price};
use crate::universe::{self, DAY_MS};
use crate::walk::{mix, unit};

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub path: String,
    pub query: String,
    pub status: u16,
}

pub(crate) struct Bucket {
    pub(crate) tokens: f64,
    pub(crate) refreshed: Instant,
}

pub(crate) struct Shared {
    pub(crate) config: SimulatorConfig,
    pub(crate) bucket: Mutex<Bucket>,
    pub(crate) counters: Mutex<(u64, u32)>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    /// A clock set by `RunningSimulator::set_now` ([`NO_FIXED_NOW`]: the configuration's).
    pub(crate) now_ms: std::sync::atomic::AtomicI64,
}

/// `Shared::now_ms` when no clock was set.
pub(crate) const NO_FIXED_NOW: i64 = i64::MIN;

impl Shared {
    /// The simulator's "now": the clock set last, else the configuration's.
    fn now(&self) -> i64 {
        match self.now_ms.load(std::sync::atomic::Ordering::Relaxed) {
            NO_FIXED_NOW => self.config.now(),
            set => set,
        }
    }
}

pub(crate) async fn handle(
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
            .min(config.bucket_size());
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
        ["coins", "markets"] => match coins_markets(config, param, shared.now(), request_no) {
            Ok(body) => body,
            Err((status, body)) => return json_response(status, body),
        },
        ["coins", id] => match coin_detail(config, id) {
            Some(body) => body,
            None => {
                return json_response(StatusCode::NOT_FOUND, json!({"error": "coin not found"}))
            }
        },
        ["simple", "price"] => {
            // As CoinGecko: exact, comma-separated lists; whatever follows a space is dropped.
            let list = |name: &str| -> Vec<&str> {
                param(name)
                    .unwrap_or_default()
                    .split(',')
                    .take_while(|v| !v.starts_with(' '))
                    .filter(|v| !v.is_empty())
                    .collect()
            };
            let currencies: Vec<(&str, f64)> = list("vs_currencies")
                .into_iter()
                .filter_map(|vs| currency_factor(vs).map(|f| (vs, f)))
                .collect();
            if param("vs_currencies").is_none() {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Missing parameter vs_currencies"}),
                );
            }
            simple_price(config, &list("ids"), &currencies, shared.now())
        }
        ["coins", id, "market_chart", "range"] => {
            let Some(coin) = universe::coin(config, id) else {
                return json_response(StatusCode::NOT_FOUND, json!({"error": "coin not found"}));
            };
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
            let now_ms = shared.now();
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
            let daily = to_ms - from_ms > 90 * DAY_MS;
            if fail_first
                || faults.fail_coins.iter().any(|c| c == id)
                || (daily && faults.fail_daily_ranges)
            {
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"status": {"error_code": 500, "error_message": "Internal server error (simulated)"}}),
                );
            }
            if faults.huge_body_mb > 0 {
                return huge_chart(faults.huge_body_mb as usize * 1024 * 1024, from_ms);
            }
            market_chart(config, &coin, factor, from_ms, to_ms, now_ms, request_no)
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

/// A well-formed market chart of exactly `size` bytes (or its smallest, if larger), sent
/// chunked: samples 100 ms apart from `from_ms`, padded with spaces before the closing part.
/// Each 64 KiB chunk is made when the previous one has gone out: the body is never held whole.
fn huge_chart(size: usize, from_ms: i64) -> Response {
    const HEAD: &str = r#"{"prices":["#;
    const TAIL: &str = r#"],"market_caps":[],"total_volumes":[]}"#;
    const CHUNK: usize = 64 * 1024;
    let (mut sent, mut samples, mut done) = (0, 0i64, false);
    let chunks = std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut chunk = String::with_capacity(CHUNK + 64);
        if sent == 0 {
            chunk.push_str(HEAD);
        }
        while chunk.len() < CHUNK {
            let comma = if samples == 0 { "" } else { "," };
            let ms = from_ms + samples * 100;
            let sample = format!("{comma}[{ms},{}.5]", 40_000 + samples % 1_000);
            if sent + chunk.len() + sample.len() + TAIL.len() > size {
                let pad = size.saturating_sub(sent + chunk.len() + TAIL.len());
                chunk.extend(std::iter::repeat_n(' ', pad));
                chunk.push_str(TAIL);
                done = true;
                break;
            }
            chunk.push_str(&sample);
            samples += 1;
        }
        sent += chunk.len();
        Some(Ok::<_, std::convert::Infallible>(chunk))
    });
    let mut r = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
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
