//! `GET /api/health` invoked with the API Gateway event of `events/health.json`.

use std::sync::Arc;

use common::api::{Api, Endpoint};
use common::state::AppState;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{config_from, event, unreachable_database_url, TestDb};
use serde_json::json;

fn health_request() -> lambda_http::Request {
    lambda_http::request::from_str(&event("health.json"))
        .expect("events/health.json is an API Gateway v2 event")
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
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        expect_data(&response, 200),
        json!({
            "status": "ok",
            "database": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "lastIngestion": {
                "runId": "8d2f8f6e-1111-4a4a-9b9b-000000000001",
                "trigger": "schedule",
                "mode": "incremental",
                "status": "succeeded",
                "startedAt": "2025-11-28T02:00:00Z",
                "finishedAt": "2025-11-28T02:01:30Z",
                "simulated": false,
            },
        })
    );
}

#[tokio::test]
async fn no_run_yet_gives_null_last_ingestion() {
    let db = TestDb::migrated().await;
    let api = Api::new(Arc::new(AppState::new(db.config(&[])).await.unwrap()));
    assert_eq!(
        expect_data(&api.handle(health_request()).await, 200),
        json!({"status": "ok", "database": "ok", "version": env!("CARGO_PKG_VERSION"), "lastIngestion": null})
    );
}

#[tokio::test]
async fn unreachable_database_answers_503_with_the_envelope_and_no_internals() {
    let url = unreachable_database_url();
    let config = config_from(&[("DATABASE_URL", &url), ("DB_CONNECT_TIMEOUT_SECS", "2")]);
    let api = Api::new(Arc::new(AppState::new(config).await.unwrap())).serving(&[Endpoint::Health]);

    let response = api.handle(health_request()).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = std::str::from_utf8(response.body().as_ref())
        .unwrap()
        .to_owned();
    let body = expect_error(&response, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        body["error"]["message"],
        "the database is unavailable; try again shortly"
    );
    assert_eq!(
        body["data"],
        json!({"status": "degraded", "database": "unreachable", "version": env!("CARGO_PKG_VERSION"), "lastIngestion": null})
    );
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
    expect_error(&api.handle(request).await, 404, "NOT_FOUND");
}
