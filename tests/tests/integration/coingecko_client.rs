//! The CoinGecko client against a wiremock double: bodies and headers as the real API sends
//! them (BOM, nulls, HTML pages, error codes), retries, key headers and body size caps.

use std::time::Duration;

use common::coingecko::{CgError, CoinGecko};
use common::ingest::{FailureCode, Mode, RunRequest, Status, Trigger};
use integration_tests::{config_from, fast_retry, table_digest, TestDb};
use simulator::{Faults, SimulatorConfig};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The body cap of `/coins/{id}/market_chart/range`
/// (`CoinGeckoEndpoint::MarketChartRange.body_cap()`).
const RANGE_CAP: usize = 4 * 1024 * 1024;

fn client(server: &MockServer, extra: &[(&str, &str)]) -> CoinGecko {
    client_at(&server.uri(), extra)
}

fn client_at(uri: &str, extra: &[(&str, &str)]) -> CoinGecko {
    let mut vars = vec![
        ("DATABASE_URL", "postgres://unused@127.0.0.1:1/x"),
        ("COINGECKO_BASE_URL", uri),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
    ];
    vars.extend_from_slice(extra);
    let config = config_from(&vars);
    let key = match &config.coingecko.api_key {
        Some(common::config::SecretSource::Value(v)) => Some(v.clone()),
        _ => None,
    };
    CoinGecko::new(&config.coingecko, key, fast_retry())
}

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.as_bytes().to_vec(), "application/json; charset=utf-8")
}

#[tokio::test]
async fn a_body_with_a_utf8_bom_and_null_prices_parses() {
    let server = MockServer::start().await;
    let body = "\u{FEFF}{\"prices\":[[1700000000000,null],[1700000360000,42.5]],\"market_caps\":[[1700000000000,null]],\"total_volumes\":[]}";
    Mock::given(method("GET"))
        .and(path("/coins/bitcoin/market_chart/range"))
        .and(query_param("vs_currency", "usd"))
        .respond_with(json(200, body))
        .mount(&server)
        .await;
    let points = client(&server, &[])
        .market_chart_range("bitcoin", "usd", 1, 2)
        .await
        .unwrap();
    assert_eq!(
        points,
        vec![(1_700_000_000_000, None), (1_700_000_360_000, Some(42.5))]
    );
}

#[tokio::test]
async fn an_html_page_gives_an_error_quoting_status_and_content_type_not_the_body() {
    let server = MockServer::start().await;
    let page = "<!DOCTYPE html><html><body>Attention Required! | Cloudflare".repeat(50);
    Mock::given(path("/coins/list"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(page.into_bytes(), "text/html; charset=UTF-8"),
        )
        .mount(&server)
        .await;
    let gecko = client(&server, &[]);
    let err = gecko.coins_list().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CgError::Malformed { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        text.contains("HTTP 200") && text.contains("text/html"),
        "{text}"
    );
    assert!(
        !text.contains("Cloudflare"),
        "the body is not quoted: {text}"
    );
    assert_eq!(
        gecko.stats().calls(),
        4,
        "retried (a proxy page can be transient), then gave up"
    );
}

#[tokio::test]
async fn truncated_json_is_a_clear_malformed_body_error() {
    let server = MockServer::start().await;
    Mock::given(path("/coins/list"))
        .respond_with(json(200, r#"[{"id":"bitcoin","symbol":"btc","na"#))
        .mount(&server)
        .await;
    let err = client(&server, &[]).coins_list().await.unwrap_err();
    assert_eq!(err.code(), FailureCode::MalformedBody);
    assert!(err.to_string().contains("invalid JSON"), "{err}");
}

/// A market chart of exactly `size` bytes (spaces after the JSON).
fn chart_of_size(size: usize) -> String {
    let chart = r#"{"prices":[[1700000000000,42.5]],"market_caps":[],"total_volumes":[]}"#;
    format!("{chart}{}", " ".repeat(size - chart.len()))
}

#[tokio::test]
async fn a_range_body_of_exactly_the_cap_parses_and_one_byte_more_is_refused_without_retry() {
    let server = MockServer::start().await;
    for (vs, size) in [("usd", RANGE_CAP), ("eur", RANGE_CAP + 1)] {
        Mock::given(path("/coins/bitcoin/market_chart/range"))
            .and(query_param("vs_currency", vs))
            .respond_with(json(200, &chart_of_size(size)))
            .mount(&server)
            .await;
    }
    let gecko = client(&server, &[]);
    let points = gecko
        .market_chart_range("bitcoin", "usd", 1, 2)
        .await
        .unwrap();
    assert_eq!(points, vec![(1_700_000_000_000, Some(42.5))]);
    let err = gecko
        .market_chart_range("bitcoin", "eur", 1, 2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), FailureCode::MalformedBody, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 200") && text.contains("application/json") && text.contains("4 MiB"),
        "{text}"
    );
    assert_eq!(
        gecko.stats().calls(),
        2,
        "the body over the cap is not retried"
    );
}

#[tokio::test]
async fn a_chunked_range_body_past_the_cap_is_malformed_quoting_status_and_type_and_not_retried() {
    // The simulator streams its huge body chunked: no Content-Length to refuse it early.
    let sim = simulator::start(
        SimulatorConfig {
            faults: Faults {
                huge_body_mb: 5,
                ..Faults::default()
            },
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let gecko = client_at(&sim.base_url(), &[]);
    let now = chrono::Utc::now().timestamp();
    let err = match gecko
        .market_chart_range("bitcoin", "usd", now - 30 * 86_400, now)
        .await
    {
        Ok(points) => panic!("read whole: {} points", points.len()),
        Err(err) => err,
    };
    assert_eq!(err.code(), FailureCode::MalformedBody, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 200") && text.contains("application/json") && text.contains("4 MiB"),
        "{text}"
    );
    assert_eq!(sim.requests().len(), 1, "exactly one request: no retry");
    assert_eq!(gecko.stats().retries(), 0);
}

/// A server that answers every request with `head` (status line and headers), then holds
/// the connection open without sending the body it announced.
async fn announcing_server(head: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.read(&mut [0; 8192]).await;
            let _ = socket.write_all(head.as_bytes()).await;
            open.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_any_body_is_read() {
    let uri = announcing_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 734003200\r\n\r\n",
    )
    .await;
    let gecko = client_at(&uri, &[]);
    let started = std::time::Instant::now();
    let err = gecko
        .market_chart_range("bitcoin", "usd", 1, 2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), FailureCode::MalformedBody, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 200")
            && text.contains("application/json")
            && text.contains("Content-Length 734003200")
            && text.contains("4 MiB"),
        "{text}"
    );
    // The request timeout is 2 s: waiting for the body would have taken that, at least.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(gecko.stats().calls(), 1, "not retried");
}

#[tokio::test]
async fn documented_error_codes_fail_fast_with_the_fix() {
    let server = MockServer::start().await;
    Mock::given(path("/coins/bitcoin/market_chart/range"))
        .respond_with(json(
            401,
            r#"{"error":{"status":{"timestamp":"2025-11-28T02:00:00Z","error_code":10012,"error_message":"Your request exceeds the allowed time range."}}}"#,
        ))
        .mount(&server)
        .await;
    let gecko = client(&server, &[]);
    let err = gecko
        .market_chart_range("bitcoin", "usd", 0, 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), FailureCode::CoinGecko(10012));
    assert!(err.to_string().contains("365 days"), "{err}");
    assert_eq!(
        gecko.stats().calls(),
        1,
        "no retry for a request that cannot succeed"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/ping"))
        .respond_with(json(200, r#"{"gecko_says":"(V3) To the Moon!"}"#))
        .mount(&server)
        .await;
    let gecko = client(&server, &[]);
    gecko.ping().await.unwrap();
    assert_eq!((gecko.stats().calls(), gecko.stats().retries()), (3, 2));
    assert!(!gecko.is_simulated());
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .respond_with(json(429, r#"{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit."}}"#).insert_header("retry-after", "119"))
        .mount(&server)
        .await;
    let gecko = client(&server, &[])
        .with_deadline(Some(tokio::time::Instant::now() + Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let err = gecko.ping().await.unwrap_err();
    assert_eq!(
        err,
        CgError::RateLimited {
            retry_after: Some(Duration::from_secs(119))
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(gecko.stats().rate_limited(), 1);
}

#[tokio::test]
async fn timeouts_are_retried_and_reported_as_timeouts() {
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .respond_with(json(200, "{}").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let config = config_from(&[
        ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
        ("COINGECKO_BASE_URL", &server.uri()),
    ]);
    let policy = common::coingecko::RetryPolicy {
        request_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..fast_retry()
    };
    let gecko = CoinGecko::new(&config.coingecko, None, policy);
    let err = gecko.ping().await.unwrap_err();
    assert_eq!(err.code(), FailureCode::Timeout);
    assert_eq!(gecko.stats().calls(), 2);
}

#[tokio::test]
async fn keys_go_in_the_plan_header() {
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .and(header("x-cg-pro-api-key", "CG-pro-key"))
        .respond_with(json(200, "{}"))
        .mount(&server)
        .await;
    Mock::given(path("/ping"))
        .and(header("x-cg-demo-api-key", "CG-demo-key"))
        .respond_with(json(200, "{}"))
        .mount(&server)
        .await;
    client(
        &server,
        &[
            ("COINGECKO_API_PLAN", "pro"),
            ("COINGECKO_API_KEY", "CG-pro-key"),
        ],
    )
    .ping()
    .await
    .unwrap();
    client(
        &server,
        &[
            ("COINGECKO_API_PLAN", "demo"),
            ("COINGECKO_API_KEY", "CG-demo-key"),
        ],
    )
    .ping()
    .await
    .unwrap();
    // No key: neither mock matches, and wiremock answers 404 (not retried).
    let keyless = client(&server, &[]);
    let err = keyless.ping().await.unwrap_err();
    assert!(matches!(err, CgError::NotFound(_)), "{err:?}");
    assert_eq!(keyless.stats().calls(), 1);
    let sent: Vec<(bool, bool)> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.headers.contains_key("x-cg-pro-api-key"),
                r.headers.contains_key("x-cg-demo-api-key"),
            )
        })
        .collect();
    assert_eq!(sent, [(true, false), (false, true), (false, false)]);
}

#[tokio::test]
async fn coin_metadata_takes_the_first_non_empty_homepage_and_keeps_the_raw_description() {
    let server = MockServer::start().await;
    Mock::given(path("/coins/bitcoin"))
        .and(query_param("tickers", "false"))
        .and(query_param("market_data", "false"))
        .and(query_param("localization", "false"))
        .respond_with(json(
            200,
            r#"{"id":"bitcoin","symbol":"btc","name":"Bitcoin","description":{"en":"Bitcoin is <a href=\"https://x\">money</a>.\r\n"},
                "links":{"homepage":["","http://www.bitcoin.org",""]},"image":{"thumb":null,"small":"s.png","large":""},"market_cap_rank":null}"#,
        ))
        .mount(&server)
        .await;
    let info = client(&server, &[]).coin("bitcoin").await.unwrap();
    assert_eq!(info.website_url.as_deref(), Some("http://www.bitcoin.org"));
    assert_eq!(info.image_url.as_deref(), Some("s.png"));
    assert!(info.description.contains("<a href"));
}

/// A run against an upstream sending nulls, non-positive prices, duplicates and timestamps
/// that go backwards, as in the recorded responses.
#[tokio::test]
async fn the_ingester_stores_only_valid_hourly_averages_from_messy_data() {
    let db = TestDb::migrated().await;
    let server = MockServer::start().await;
    Mock::given(path("/coins/list"))
        .respond_with(json(
            200,
            r#"[{"id":"bitcoin","symbol":"btc","name":"Bitcoin"}]"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/coins/bitcoin"))
        .respond_with(json(200, r#"{"id":"bitcoin","symbol":"btc","name":"Bitcoin","description":{"en":""},"links":{"homepage":[""]},"image":{}}"#))
        .mount(&server)
        .await;
    let now = chrono::Utc::now();
    let hour = |back: i64| (now.timestamp() / 3600 - back) * 3_600_000;
    let body = serde_json::json!({"prices": [
        [hour(3) + 1_000, 100.0],
        [hour(3) + 2_000, null],
        [hour(3) + 3_000, -5.0],
        [hour(3) + 4_000, 0.0],
        [hour(2) + 600_000, 300.0],
        [hour(2) + 60_000, 200.0],
        [hour(2) + 60_000, 999.0],
        [hour(1) + 5, 50.0],
        [hour(1) + 4, 70.0]
    ], "market_caps": [], "total_volumes": []});
    Mock::given(path("/coins/bitcoin/market_chart/range"))
        .respond_with(json(200, &body.to_string()))
        .mount(&server)
        .await;
    let state = common::state::AppState::new(db.config(&[
        ("COINGECKO_BASE_URL", &server.uri()),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
        // This upstream answers every range with the hourly mess above; the daily backfill
        // is tested against the simulator (backfill.rs).
        ("HISTORY_DAYS", "90"),
    ]))
    .await
    .unwrap();
    let ingester = common::ingest::Ingester {
        retry: fast_retry(),
        clock: std::sync::Arc::new(move || now),
        ..common::ingest::Ingester::new(&state.config, &state.secrets, &state.db)
    };
    let report = ingester
        .run(
            RunRequest {
                mode: Mode::Full,
                clean_first: false,
                trigger: Trigger::Cli,
                run_id: None,
            },
            None,
        )
        .await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert!(!report.simulated);
    let client = db.client().await;
    let rows: Vec<(i64, f64)> = client
        .query(
            "SELECT (extract(epoch FROM ts) * 1000)::bigint, price FROM price_hourly ORDER BY ts",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // Hour 3: only 100 is valid. Hour 2: 200 (first of the duplicate timestamp) and 300.
    // Hour 1: two samples out of order.
    assert_eq!(
        rows,
        vec![(hour(3), 100.0), (hour(2), 250.0), (hour(1), 60.0)]
    );
    assert_eq!(table_digest(&client, None).await.hourly, 3);
}
