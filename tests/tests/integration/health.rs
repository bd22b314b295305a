//! `GET /api/health` invoked with the API Gateway event of `events/health.json`.

use std::sync::Arc;

use common::api::{Api, Endpoint};
use common::state::AppState;
use integration_tests::{config_from, event, unreachable_database_url, TestDb};
use lambda_http::Body;

fn health_request() -> lambda_http::Request {
    lambda_http::request::from_str(&event("health.json"))
        .expect("events/health.json is an API Gateway v2 event")
}

fn body_json(response: &lambda_http::Response<Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}

#[tokio::test]
async fn healthy_database_answers_200_ok() {
    let db = TestDb::migrated().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at)
             VALUES ('8d2f8f6e-1111-4a4a-9b9b-000000000001', 'schedule', 'incremental', 'succeeded',
                     '2025-11-28T02:00:00Z', '2025-11-28T02:01:30Z')",
        )
        .await
        .unwrap();
    let state = AppState::new(db.config(&[])).await.unwrap();
    let api = Api::new(Arc::new(state)).serving(&[Endpoint::Health]);

    let response = api.handle(health_request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body = body_json(&response);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["database"], "ok");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["data"]["lastIngestion"]["status"], "succeeded");
    assert_eq!(
        body["data"]["lastIngestion"]["runId"],
        "8d2f8f6e-1111-4a4a-9b9b-000000000001"
    );
}

#[tokio::test]
async fn no_run_yet_gives_null_last_ingestion() {
    let db = TestDb::migrated().await;
    let api = Api::new(Arc::new(AppState::new(db.config(&[])).await.unwrap()));
    let body = body_json(&api.handle(health_request()).await);
    assert!(body["data"]["lastIngestion"].is_null());
}

#[tokio::test]
async fn unreachable_database_answers_503_with_the_envelope_and_no_internals() {
    let url = unreachable_database_url();
    let config = config_from(&[("DATABASE_URL", &url), ("DB_CONNECT_TIMEOUT_SECS", "2")]);
    let api = Api::new(Arc::new(AppState::new(config).await.unwrap())).serving(&[Endpoint::Health]);

    let response = api.handle(health_request()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = std::str::from_utf8(response.body().as_ref())
        .unwrap()
        .to_owned();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(body["data"]["database"], "unreachable");
    assert_eq!(body["data"]["status"], "degraded");
    for leak in [
        "127.0.0.1",
        "supersecret",
        "postgres://",
        "refused",
        "tokio",
        "deadpool",
        "app:",
    ] {
        assert!(!text.contains(leak), "body leaks {leak:?}: {text}");
    }
}

#[tokio::test]
async fn a_function_built_for_health_serves_nothing_else() {
    let db = TestDb::migrated().await;
    let api = Api::new(Arc::new(AppState::new(db.config(&[])).await.unwrap()))
        .serving(&[Endpoint::Health]);
    let mut request = health_request();
    *request.uri_mut() = "/api/coins".parse().unwrap();
    let response = api.handle(request).await;
    assert_eq!(response.status(), 404);
    assert_eq!(body_json(&response)["error"]["code"], "NOT_FOUND");
}
