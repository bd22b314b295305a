//! `GET /api/health` invoked with the API Gateway event of `events/health.json`: the newest
//! history run and live refresh judged apart; and the runs route's `mode` filter.

use std::sync::Arc;

use axum::Router;
use common::api::{app, route, ApiState};
use common::state::AppState;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{config_from, event, get, send, unreachable_database_url, TestDb};
use serde_json::json;

fn health_request() -> lambda_http::Request {
    lambda_http::request::from_str(&event("health.json"))
        .expect("events/health.json is an API Gateway v2 event")
}

/// Records a finished run of `mode` with `status`, ended `minutes_ago`; returns its id.
async fn record_run(db: &TestDb, mode: &str, status: &str, minutes_ago: i32) -> String {
    let id = uuid::Uuid::new_v4();
    db.client()
        .await
        .execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at)
             VALUES ($1, 'schedule', $2, $3, now() - make_interval(mins => $4 + 1),
                     now() - make_interval(mins => $4))",
            &[&id, &mode, &status, &minutes_ago],
        )
        .await
        .unwrap();
    id.to_string()
}

async fn health_of(db: &TestDb, vars: &[(&str, &str)]) -> serde_json::Value {
    let state = AppState::new(db.config(vars)).await.unwrap();
    let api = app(route::health(), ApiState::new(Arc::new(state)));
    expect_data(&send(&api, health_request()).await, 200)
}

#[tokio::test]
async fn healthy_database_answers_200_ok() {
    let db = TestDb::migrated().await;
    let history = record_run(&db, "incremental", "succeeded", 60).await;
    let live = record_run(&db, "latest", "succeeded", 2).await;
    let state = AppState::new(db.config(&[])).await.unwrap();
    let api = app(route::health(), ApiState::new(Arc::new(state)));

    let response = send(&api, health_request()).await;
    assert_eq!(
        response.headers()["cache-control"],
        "public, s-maxage=10, max-age=0"
    );
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let data = expect_data(&response, 200);
    assert_eq!(data["status"], "ok", "{data}");
    assert_eq!(data["database"], "ok");
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        data["liveEveryMinutes"], 10,
        "LIVE_EVERY_MINUTES defaults to 10"
    );
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for (part, id, mode) in [
        ("lastIngestion", &history, "incremental"),
        ("lastLiveRefresh", &live, "latest"),
    ] {
        let run = &data[part];
        assert_eq!(
            keys(run),
            [
                "finishedAt",
                "mode",
                "runId",
                "simulated",
                "stale",
                "startedAt",
                "status",
                "trigger"
            ],
            "{part}: the same summary shape"
        );
        assert_eq!(run["runId"], id.as_str(), "{part}");
        assert_eq!(run["mode"], mode, "{part}");
        assert_eq!(
            (&run["status"], &run["stale"]),
            (&json!("succeeded"), &json!(false))
        );
    }
}

#[tokio::test]
async fn no_run_yet_is_degraded_with_null_runs() {
    let db = TestDb::migrated().await;
    let data = health_of(&db, &[]).await;
    assert_eq!(
        data,
        json!({"status": "degraded", "database": "ok", "version": env!("CARGO_PKG_VERSION"),
               "lastIngestion": null, "lastLiveRefresh": null, "liveEveryMinutes": 10,
               "budget": {"monthly": 10000, "spent": 0, "remaining": 10000}})
    );
}

#[tokio::test]
async fn health_shows_the_months_call_spend_from_the_recorded_runs() {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    // This month's runs count (one still running counts its reservation); last month's do not.
    client
        .batch_execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, calls) VALUES
               (gen_random_uuid(), 'schedule', 'incremental', 'succeeded', now(), now(), 60),
               (gen_random_uuid(), 'schedule', 'latest', 'running', now(), NULL, 4),
               (gen_random_uuid(), 'schedule', 'incremental', 'succeeded',
                date_trunc('month', now(), 'UTC') - interval '1 hour',
                date_trunc('month', now(), 'UTC') - interval '1 hour', 9000)",
        )
        .await
        .unwrap();
    let data = health_of(&db, &[("COINGECKO_MONTHLY_CALLS", "100")]).await;
    assert_eq!(
        data["budget"],
        json!({"monthly": 100, "spent": 64, "remaining": 36})
    );
}

#[tokio::test]
async fn a_failing_history_is_not_hidden_by_working_live_refreshes() {
    let db = TestDb::migrated().await;
    record_run(&db, "incremental", "succeeded", 4 * 24 * 60).await;
    let failed = record_run(&db, "incremental", "failed", 3 * 24 * 60).await;
    // A live refresh every 10 minutes since, each newer than the failed history run.
    for minutes_ago in (1..=30).map(|n| n * 10 - 8) {
        record_run(&db, "latest", "succeeded", minutes_ago).await;
    }
    let data = health_of(&db, &[]).await;
    assert_eq!(data["status"], "degraded", "{data}");
    assert_eq!(data["lastIngestion"]["runId"], failed.as_str());
    assert_eq!(data["lastIngestion"]["status"], "failed");
    assert_eq!(data["lastIngestion"]["stale"], true, "3 days old");
    assert_eq!(data["lastLiveRefresh"]["status"], "succeeded");
    assert_eq!(data["lastLiveRefresh"]["stale"], false);
}

#[tokio::test]
async fn each_kind_of_run_is_degraded_when_stale_and_live_off_is_never() {
    // History: stale after 26 hours.
    let db = TestDb::migrated().await;
    record_run(&db, "full", "succeeded", 27 * 60).await;
    record_run(&db, "latest", "succeeded", 3).await;
    let data = health_of(&db, &[]).await;
    assert_eq!(data["status"], "degraded", "{data}");
    assert_eq!(data["lastIngestion"]["stale"], true);
    // A partial history run is not a failure; a skipped one is left out.
    record_run(&db, "incremental", "partial", 60).await;
    record_run(&db, "incremental", "skipped", 1).await;
    let data = health_of(&db, &[]).await;
    assert_eq!(data["status"], "ok", "{data}");
    assert_eq!(data["lastIngestion"]["status"], "partial");

    // Live: stale after three intervals.
    let db = TestDb::migrated().await;
    record_run(&db, "incremental", "succeeded", 60).await;
    record_run(&db, "latest", "succeeded", 31).await;
    let data = health_of(&db, &[]).await;
    assert_eq!(data["status"], "degraded", "{data}");
    assert_eq!(data["lastLiveRefresh"]["stale"], true);
    let data = health_of(&db, &[("LIVE_EVERY_MINUTES", "15")]).await;
    assert_eq!(data["status"], "ok", "31 minutes is within 3 x 15: {data}");
    assert_eq!(data["liveEveryMinutes"], 15);
    // A failed live refresh degrades as a failed history run does.
    record_run(&db, "latest", "failed", 1).await;
    let data = health_of(&db, &[("LIVE_EVERY_MINUTES", "15")]).await;
    assert_eq!(data["status"], "degraded", "{data}");

    // Live refresh off: neither its absence nor its age degrades health.
    let db = TestDb::migrated().await;
    record_run(&db, "incremental", "succeeded", 60).await;
    let data = health_of(&db, &[("LIVE_EVERY_MINUTES", "0")]).await;
    assert_eq!(data["status"], "ok", "{data}");
    assert_eq!(data["liveEveryMinutes"], serde_json::Value::Null);
    assert_eq!(data["lastLiveRefresh"], serde_json::Value::Null);
}

#[tokio::test]
async fn unreachable_database_answers_503_with_the_envelope_and_no_internals() {
    let url = unreachable_database_url();
    let config = config_from(&[("DATABASE_URL", &url), ("DB_CONNECT_TIMEOUT_SECS", "2")]);
    let api = app(
        route::health(),
        ApiState::new(Arc::new(AppState::new(config).await.unwrap())),
    );

    let response = send(&api, health_request()).await;
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
        json!({"status": "degraded", "database": "unreachable", "version": env!("CARGO_PKG_VERSION"),
               "lastIngestion": null, "lastLiveRefresh": null, "liveEveryMinutes": 10,
               "budget": null})
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
    let api = app(
        route::health(),
        ApiState::new(Arc::new(AppState::new(db.config(&[])).await.unwrap())),
    );
    let mut request = health_request();
    *request.uri_mut() = "/api/coins".parse().unwrap();
    expect_error(&send(&api, request).await, 404, "NOT_FOUND");
}

#[tokio::test]
async fn the_runs_route_lists_history_runs_and_live_refreshes_apart() {
    let db = TestDb::migrated().await;
    let history = record_run(&db, "incremental", "succeeded", 120).await;
    let full = record_run(&db, "full", "failed", 100).await;
    let mut live = Vec::new();
    for minutes_ago in [30, 20, 10] {
        live.push(record_run(&db, "latest", "succeeded", minutes_ago).await);
    }
    let api = app(
        route::ingestion_runs(),
        ApiState::new(Arc::new(AppState::new(db.config(&[])).await.unwrap())),
    );
    live.reverse();
    let history_ids = run_ids(&api, "/api/ingestion/runs?mode=history").await;
    assert_eq!(history_ids, [full, history]);
    assert_eq!(run_ids(&api, "/api/ingestion/runs?mode=live").await, live);
    let newest = run_ids(&api, "/api/ingestion/runs?mode=live&limit=1").await;
    assert_eq!(newest, live[..1]);
    let all = run_ids(&api, "/api/ingestion/runs").await;
    assert_eq!(all.len(), 5, "both kinds by default");
    assert_eq!(all[0], live[0]);
    for bad in [
        "mode=latest",
        "mode=History",
        "mode=",
        "mode=history&mode=live",
    ] {
        let response = send(&api, get(&format!("/api/ingestion/runs?{bad}"))).await;
        let body = expect_error(&response, 400, "INVALID_PARAMETER");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("mode"),
            "{bad}: {body}"
        );
    }
}

/// The run ids the runs route answers `uri` with, newest first.
async fn run_ids(api: &Router, uri: &str) -> Vec<String> {
    expect_data(&send(api, get(uri)).await, 200)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_owned())
        .collect()
}
