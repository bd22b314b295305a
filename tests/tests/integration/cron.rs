//! `POST /api/cron/fetch-data`: authentication, one run per accepted request, 409 while a
//! run holds the lock, 503 without a secret. Runs start in the background (LocalLauncher,
//! as `crypto-dashboard serve` does) against the CoinGecko simulator.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use common::api::{app, route, ApiState};
use common::ingest::launcher::LocalLauncher;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{event, request, send, wait_for_runs_to_finish, Harness};
use simulator::{Faults, SimulatorConfig};

const SECRET: &str = "local-dev-cron-secret-not-for-production";

async fn harness(slow_ms: u64, extra: &[(&str, &str)]) -> (Harness, Router) {
    let sim = SimulatorConfig {
        faults: Faults {
            slow_rate: if slow_ms > 0 { 1.0 } else { 0.0 },
            slow: Duration::from_millis(slow_ms),
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    };
    let mut vars = vec![
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
    ];
    vars.extend_from_slice(extra);
    let h = Harness::start(sim, &vars).await;
    // The API and its launcher share the harness's state (and pool), as `serve` does.
    let api = app(
        route::cron_trigger(),
        ApiState::new(h.state.clone()).with_launcher(Arc::new(LocalLauncher::new(h.state.clone()))),
    );
    (h, api)
}

#[tokio::test]
async fn without_a_configured_secret_the_route_fails_closed_with_503() {
    let (_h, api) = harness(0, &[]).await;
    let r = send(
        &api,
        request(
            "POST",
            "/api/cron/fetch-data",
            &[("authorization", "Bearer anything")],
            "",
        ),
    )
    .await;
    expect_error(&r, 503, "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn missing_malformed_and_wrong_tokens_are_401_without_starting_anything() {
    let (h, api) = harness(0, &[("CRON_SECRET", SECRET)]).await;
    for headers in [
        vec![],
        vec![("authorization", "Basic bG9jYWw6ZGV2")],
        vec![("authorization", "Bearer")],
        vec![(
            "authorization",
            "Bearer local-dev-cron-secret-not-for-productioN",
        )],
        vec![(
            "authorization",
            "Bearer local-dev-cron-secret-not-for-production-and-more",
        )],
        vec![("authorization", SECRET)],
    ] {
        let r = send(&api, request("POST", "/api/cron/fetch-data", &headers, "")).await;
        let body = expect_error(&r, 401, "UNAUTHORIZED");
        assert!(
            !body.to_string().contains("local-dev"),
            "{headers:?}: {body}"
        );
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(integration_tests::count_runs(&h.db.client().await).await, 0);
}

#[tokio::test]
async fn an_accepted_request_starts_exactly_one_run_and_a_second_one_meanwhile_is_409() {
    let (h, api) = harness(40, &[("CRON_SECRET", SECRET)]).await;
    let auth = [(
        "authorization",
        "Bearer local-dev-cron-secret-not-for-production",
    )];
    let accepted = send(
        &api,
        request("POST", "/api/cron/fetch-data", &auth, r#"{"mode":"full"}"#),
    )
    .await;
    assert_eq!(accepted.headers()["cache-control"], "no-store");
    let run_id = expect_data(&accepted, 202)["runId"]
        .as_str()
        .unwrap()
        .to_owned();

    let conflict = send(&api, request("POST", "/api/cron/fetch-data", &auth, "")).await;
    expect_error(&conflict, 409, "CONFLICT");

    let client = h.db.client().await;
    wait_for_runs_to_finish(&client).await;
    let rows = client
        .query(
            "SELECT id::text, trigger, mode, status, (report -> 'pairs' ->> 'ok')::int FROM ingestion_runs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "exactly one run");
    assert_eq!(
        rows[0].get::<_, Option<i32>>(4),
        Some(4),
        "2 coins x 2 currencies"
    );
    let (id, trigger, mode, status): (String, String, String, String) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
    );
    assert_eq!(
        (
            id.as_str(),
            trigger.as_str(),
            mode.as_str(),
            status.as_str()
        ),
        (run_id.as_str(), "http", "full", "succeeded")
    );

    // After the run, the route accepts again.
    let again = send(&api, request("POST", "/api/cron/fetch-data", &auth, "")).await;
    let second_id = expect_data(&again, 202)["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_id, run_id);
    wait_for_runs_to_finish(&client).await;
    let status: String = client
        .query_one(
            "SELECT status FROM ingestion_runs WHERE id = $1::text::uuid",
            &[&second_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "succeeded");
}

#[tokio::test]
async fn the_cron_event_payload_is_accepted_and_bad_bodies_are_400() {
    let (h, api) = harness(0, &[("CRON_SECRET", SECRET)]).await;
    let auth = [(
        "authorization",
        "Bearer local-dev-cron-secret-not-for-production",
    )];
    for body in [
        "{\"mode\":\"weekly\"}",
        "not json",
        "{\"cleanfirst\":true}",
        "[]",
        "[\"full\", true]",
        "\"full\"",
    ] {
        let r = send(&api, request("POST", "/api/cron/fetch-data", &auth, body)).await;
        expect_error(&r, 400, "INVALID_PARAMETER");
    }
    let client = h.db.client().await;
    assert_eq!(
        integration_tests::count_runs(&client).await,
        0,
        "no bad body started a run"
    );
    // events/cron-trigger.json: an incremental run without cleanFirst.
    let r = send(
        &api,
        lambda_http::request::from_str(&event("cron-trigger.json")).unwrap(),
    )
    .await;
    let run_id = expect_data(&r, 202)["runId"].as_str().unwrap().to_owned();
    wait_for_runs_to_finish(&client).await;
    let row = client
        .query_one(
            "SELECT id::text, trigger, mode, status, (report ->> 'cleanFirst')::bool FROM ingestion_runs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, String>(3),
            row.get::<_, Option<bool>>(4)
        ),
        (
            run_id,
            "http".to_owned(),
            "incremental".to_owned(),
            "succeeded".to_owned(),
            Some(false)
        )
    );
}
