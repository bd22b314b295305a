//! Warm in-process latency of the API's router (edge layers, routing, query, SQL, JSON, ETag)
//! against local PostgreSQL: the prices route with 90 daily points, and the market overview.

use std::sync::Arc;
use std::time::Instant;

use common::api::{app, route, ApiState};
use common::config::Config;
use common::state::AppState;
use serde_json::{json, Value};

use crate::stats::{percentile, round};

/// One request through `app` as a Lambda serves it, the body read in full.
pub async fn send(
    app: &axum::Router,
    request: lambda_http::Request,
) -> http::Response<axum::body::Bytes> {
    use tower::ServiceExt;
    let (parts, body) = app
        .clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a whole body");
    http::Response::from_parts(parts, body)
}

pub async fn run(url: &str, iterations: usize) -> Value {
    let url = url.to_owned();
    let config =
        Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).expect("config");
    let api = app(
        route::all(),
        ApiState::new(Arc::new(AppState::new(config).await.expect("state"))),
    );
    let from = (chrono::Utc::now() - chrono::Duration::days(89)).date_naive();
    let prices = format!("/api/coins/bitcoin/prices?currency=usd&interval=daily&from={from}");
    let mut out = serde_json::Map::new();
    for (name, path) in [
        ("prices_daily_90", prices.as_str()),
        ("market", "/api/market?currency=usd"),
    ] {
        let request = || {
            http::Request::builder()
                .uri(path)
                .body(lambda_http::Body::Empty)
                .unwrap()
        };
        let first = send(&api, request()).await;
        assert_eq!(first.status(), 200, "{path}");
        let points = serde_json::from_slice::<Value>(first.body().as_ref()).unwrap()["data"]
            .as_array()
            .map(|a| a.len())
            .or_else(|| {
                serde_json::from_slice::<Value>(first.body().as_ref()).unwrap()["data"]["points"]
                    .as_array()
                    .map(|a| a.len())
            });
        for _ in 0..100 {
            send(&api, request()).await;
        }
        let mut ms = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let started = Instant::now();
            let response = send(&api, request()).await;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(response.status(), 200);
        }
        ms.sort_by(f64::total_cmp);
        out.insert(
            name.into(),
            json!({
                "path": path,
                "items": points,
                "bytes": first.body().as_ref().len(),
                "p50_ms": round(percentile(&ms, 50.0)),
                "p99_ms": round(percentile(&ms, 99.0)),
                "max_ms": round(ms[ms.len() - 1]),
                "iterations": iterations,
            }),
        );
    }
    Value::Object(out)
}
