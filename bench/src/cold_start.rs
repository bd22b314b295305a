//! Cold starts of every function binary against a minimal Lambda Runtime API: time from exec
//! to the first `GET /runtime/invocation/next` (init), the first invocation, a warm one, and
//! the peak RSS (VmHWM), over `runs` fresh processes. Secrets come from the environment, so
//! no network is involved; the ingest and live-quotes functions talk to an in-process simulator.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

use crate::stats::{percentile, round, summary};

struct Channels {
    next: mpsc::UnboundedSender<Instant>,
    events: Mutex<mpsc::UnboundedReceiver<(String, String)>>,
    responses: mpsc::UnboundedSender<(Instant, bool, String)>,
}

async fn next(State(ch): State<Arc<Channels>>) -> impl IntoResponse {
    let _ = ch.next.send(Instant::now());
    let (id, body) = ch.events.lock().await.recv().await.unwrap_or_default();
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, body)
}

async fn response(
    State(ch): State<Arc<Channels>>,
    UrlPath(_id): UrlPath<String>,
    body: Bytes,
) -> &'static str {
    let _ = ch.responses.send((
        Instant::now(),
        true,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    "{}"
}

async fn error(State(ch): State<Arc<Channels>>, body: Bytes) -> &'static str {
    let _ = ch.responses.send((
        Instant::now(),
        false,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    "{}"
}

struct Sample {
    init_ms: f64,
    first_ms: f64,
    warm_ms: f64,
    rss_kb: u64,
}

async fn one_start(binary: &Path, env: &[(String, String)], event: &str) -> Result<Sample, String> {
    let (next_tx, mut next_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let (resp_tx, mut resp_rx) = mpsc::unbounded_channel();
    let channels = Arc::new(Channels {
        next: next_tx,
        events: Mutex::new(event_rx),
        responses: resp_tx,
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(channels);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let wait = Duration::from_secs(20);
    let step = async |rx: &mut mpsc::UnboundedReceiver<Instant>| {
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    };

    let t_next1 = step(&mut next_rx)
        .await
        .ok_or("no first /next (init failed?)")?;
    event_tx.send(("req-1".into(), event.to_owned())).unwrap();
    let (t_resp1, ok1, body1) = tokio::time::timeout(wait, resp_rx.recv())
        .await
        .ok()
        .flatten()
        .ok_or("no first response")?;
    if !ok1 {
        return Err(format!("first invocation failed: {body1}"));
    }
    let t_next2 = step(&mut next_rx).await.ok_or("no second /next")?;
    event_tx.send(("req-2".into(), event.to_owned())).unwrap();
    let (t_resp2, _, _) = tokio::time::timeout(wait, resp_rx.recv())
        .await
        .ok()
        .flatten()
        .ok_or("no second response")?;
    step(&mut next_rx).await.ok_or("no third /next")?;
    let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    let _ = child.kill().await;
    server.abort();
    Ok(Sample {
        init_ms: (t_next1 - started).as_secs_f64() * 1000.0,
        first_ms: (t_resp1 - t_next1).as_secs_f64() * 1000.0,
        warm_ms: (t_resp2 - t_next2).as_secs_f64() * 1000.0,
        rss_kb,
    })
}

fn event(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn run(bin_dir: &Path, database_url: &str, runs: usize) -> Value {
    let sim = simulator::start(Default::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator");
    let mut cron_event: Value = serde_json::from_str(&event("cron-trigger.json")).unwrap();
    // Without the token the route answers 401 locally instead of calling AWS Lambda.
    cron_event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let functions: Vec<(&str, String)> = vec![
        ("health", event("health.json")),
        ("coins-list", event("coins-list.json")),
        ("coin-detail", event("coin-detail.json")),
        ("currencies", event("currencies.json")),
        ("prices", event("prices.json")),
        ("market", event("market.json")),
        ("ingestion-runs", event("ingestion-runs.json")),
        ("cron-trigger", cron_event.to_string()),
        ("ingest", r#"{"mode":"incremental"}"#.to_owned()),
        // After ingest, which stored the pair: a refresh of a stored coin.
        ("live-quotes", event("live-quotes-scheduled.json")),
        ("migrate", "{}".to_owned()),
    ];
    let mut results = serde_json::Map::new();
    for (name, payload) in functions {
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url),
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("DB_POOL_MAX_SIZE", "1"),
            ("CRON_SECRET", "bench-cron-secret-of-at-least-32-bytes"),
            ("INGEST_FUNCTION_NAME", "ingest"),
            // A local Runtime API, as in scripts/test-lambda-emulator.sh: the events come from
            // events/, not through CloudFront, so they carry no origin-verify header.
            ("ORIGIN_VERIFY", "off"),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if name == "ingest" || name == "live-quotes" {
            env.push(("COINGECKO_BASE_URL".into(), sim.base_url()));
            env.push(("COINGECKO_RATE_LIMIT_PER_MIN".into(), "100000".into()));
            env.push(("TRACKED_COINS".into(), "bitcoin".into()));
            env.push(("TRACKED_CURRENCIES".into(), "usd".into()));
        }
        let binary = bin_dir.join(name);
        let mut samples = Vec::new();
        let mut failure = None;
        for _ in 0..runs {
            match one_start(&binary, &env, &payload).await {
                Ok(s) => samples.push(s),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            results.insert(name.into(), json!({"error": e}));
            continue;
        }
        let col = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
        let mut rss: Vec<f64> = samples.iter().map(|s| s.rss_kb as f64 / 1024.0).collect();
        rss.sort_by(f64::total_cmp);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        results.insert(
            name.into(),
            json!({
                "init_ms": summary(&col(|s| s.init_ms)),
                "first_invocation_ms": summary(&col(|s| s.first_ms)),
                "warm_invocation_ms": summary(&col(|s| s.warm_ms)),
                "peak_rss_mb": {"median": round(percentile(&rss, 50.0)), "max": round(rss[rss.len() - 1])},
                "binary_bytes": size,
            }),
        );
    }
    Value::Object(results)
}
