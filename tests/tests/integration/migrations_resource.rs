//! The migrate function as CloudFormation drives it: the event of `events/migrate-create.json`
//! with its ResponseURL pointed at a wiremock double, the role secrets in moto_server.

use std::time::Duration;

use common::secrets::Secrets;
use common::state::AppState;
use integration_tests::{event, TestDb};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fresh role name (roles are cluster-wide, tests run in parallel).
fn role_name(kind: &str) -> String {
    format!(
        "{kind}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Creates `crypto-dashboard/database-<kind>-<uuid>` holding the role's RDS-style JSON.
async fn create_role_secret(
    client: &aws_sdk_secretsmanager::Client,
    kind: &str,
    username: &str,
    password: &str,
) -> String {
    let value = serde_json::json!({"username": username, "password": password}).to_string();
    integration_tests::create_secret(client, &format!("database-{kind}"), value).await
}

async fn reader_secret(
    username: &str,
    password: &str,
) -> (String, Secrets, aws_sdk_secretsmanager::Client) {
    let client = integration_tests::moto_secrets_client().await;
    let arn = create_role_secret(&client, "reader", username, password).await;
    let secrets = integration_tests::moto_secrets(&client, Duration::from_secs(60));
    (arn, secrets, client)
}

fn cloudformation_event(kind: &str, response_url: &str) -> serde_json::Value {
    let mut e: serde_json::Value = serde_json::from_str(&event("migrate-create.json")).unwrap();
    e["RequestType"] = kind.into();
    e["ResponseURL"] = response_url.into();
    if kind != "Create" {
        e["PhysicalResourceId"] = "crypto-dashboard-database-migrations".into();
        e["OldResourceProperties"] = e["ResourceProperties"].clone();
    }
    e
}

async fn state(db: &TestDb, reader_arn: &str, secrets: Secrets) -> AppState {
    state_with(db, &[("DATABASE_READER_SECRET_ARN", reader_arn)], secrets).await
}

async fn state_with(db: &TestDb, vars: &[(&str, &str)], secrets: Secrets) -> AppState {
    integration_tests::state_with_secrets(db.config(vars), secrets).await
}

/// A double of CloudFormation's pre-signed response URL: answers `PUT`s with 200 and
/// expects exactly `puts` of them, one per request the test sends (checked by
/// [`answers`], and again when the server is dropped).
async fn cloudformation_double(puts: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .expect(puts)
        .mount(&server)
        .await;
    server
}

/// Checks the double got exactly its expected `PUT`s and returns their bodies, in order.
async fn answers(server: &MockServer) -> Vec<serde_json::Value> {
    server.verify().await;
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r.method.as_str(), "PUT");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

/// A URL of the test database as `role`.
fn login_url(db: &TestDb, role: &str, password: &str) -> String {
    let pg: tokio_postgres::Config = db.url.parse().unwrap();
    format!(
        "postgres://{role}:{password}@127.0.0.1:{}/{}",
        pg.get_ports()[0],
        db.name
    )
}

#[tokio::test]
async fn create_applies_migrations_creates_a_select_only_role_and_answers_success() {
    let db = TestDb::empty().await;
    let role = role_name("reader");
    let (arn, secrets, _) = reader_secret(&role, "reader-pass-1").await;
    let state = state(&db, &arn, secrets).await;
    let cloudformation = cloudformation_double(1).await;

    let payload = cloudformation_event(
        "Create",
        &format!("{}/response?X-Amz-Signature=abc", cloudformation.uri()),
    );
    let answer = migrate::handle(
        &state,
        &reqwest::Client::new(),
        payload,
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(
        answer["PhysicalResourceId"],
        "crypto-dashboard-database-migrations"
    );
    assert_eq!(answers(&cloudformation).await.len(), 1);
    let put = &cloudformation.received_requests().await.unwrap()[0];
    assert!(
        put.headers.get("content-type").is_none(),
        "the signed URL covers no Content-Type"
    );
    let sent: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(sent["Status"], "SUCCESS");
    assert_eq!(sent["RequestId"], "0d7b8e2a-6f3c-4b1e-9a8d-2c4e6f8a0b1c");
    assert_eq!(
        sent["Data"]["Applied"],
        "V1__initial_schema,V2__utc_time_rules,V3__one_running_run,V4__live_quotes,V5__market_summary,V6__daily_snapshots,V7__sparkline_json,V8__run_attempts,V9__tracked_coins,V10__market_read_model,V11__sparkline_tail,V12__market_rows_ready,V13__table_sparkline,V14__price_holes"
    );
    assert!(
        !put.body.windows(13).any(|w| w == b"reader-pass-1"),
        "no password in the response"
    );

    // The role can read and cannot write.
    let reader = integration_tests::connect(&login_url(&db, &role, "reader-pass-1")).await;
    reader
        .query("SELECT count(*) FROM price_hourly", &[])
        .await
        .unwrap();
    let err = reader
        .batch_execute("INSERT INTO currencies (code, name) VALUES ('chf', 'Swiss Franc')")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501", "permission denied");
}

#[tokio::test]
async fn update_is_idempotent_and_follows_a_rotated_reader_password() {
    let db = TestDb::empty().await;
    let role = role_name("reader");
    let (arn, secrets, sm) = reader_secret(&role, "first-password").await;
    let state = state(&db, &arn, secrets).await;
    // Create, then Update: one answer each.
    let cloudformation = cloudformation_double(2).await;
    let http = reqwest::Client::new();
    let url = format!("{}/r", cloudformation.uri());
    let created = migrate::handle(
        &state,
        &http,
        cloudformation_event("Create", &url),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    // Rotation: a new password in the secret; the next deploy's Update applies it.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(
            serde_json::json!({"username": role, "password": "second-password"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let answer = migrate::handle(
        &state,
        &http,
        cloudformation_event("Update", &url),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(answer["Status"], "SUCCESS");
    assert_eq!(answer["Data"]["Applied"], "", "nothing left to apply");
    assert_eq!(
        answer["PhysicalResourceId"],
        "crypto-dashboard-database-migrations"
    );
    let login = |password: &str| login_url(&db, &role, password);
    let (client, connection) =
        tokio_postgres::connect(&login("second-password"), tokio_postgres::NoTls)
            .await
            .expect("the rotated password logs in");
    tokio::spawn(connection);
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, role);
    let err = tokio_postgres::connect(&login("first-password"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("the old password is refused");
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("28P01"),
        "invalid_password: {err}"
    );
    // What CloudFormation was told is what the function returned, once per request.
    assert_eq!(answers(&cloudformation).await, [created, answer]);
}

#[tokio::test]
async fn delete_touches_nothing_and_failures_answer_failed_without_secrets() {
    let db = TestDb::empty().await;
    let (arn, secrets, _) = reader_secret("dashboard_reader_x", "pw").await;
    let state = state(&db, &arn, secrets).await;
    // The Delete, then a Create that fails: CloudFormation hears about both.
    let cloudformation = cloudformation_double(2).await;
    let url = format!("{}/r", cloudformation.uri());
    let deleted = migrate::handle(
        &state,
        &reqwest::Client::new(),
        cloudformation_event("Delete", &url),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(
        deleted["PhysicalResourceId"],
        "crypto-dashboard-database-migrations"
    );
    let tables: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "Delete applied nothing");

    // An unreachable database: FAILED, with a reason that names no credentials.
    let broken = AppState::new(integration_tests::config_from(&[
        (
            "DATABASE_URL",
            &integration_tests::unreachable_database_url(),
        ),
        ("DB_CONNECT_TIMEOUT_SECS", "1"),
    ]))
    .await
    .unwrap();
    let answer = migrate::handle(
        &broken,
        &reqwest::Client::new(),
        cloudformation_event("Create", &url),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(!reason.contains("supersecret"), "{reason}");
    assert!(reason.contains("unreachable"), "{reason}");
    assert_eq!(answers(&cloudformation).await, [deleted, answer]);
}

#[tokio::test]
async fn the_writer_role_runs_a_whole_ingestion_and_cannot_change_the_schema() {
    let db = TestDb::empty().await;
    let (reader, writer) = (role_name("reader"), role_name("writer"));
    let sm = integration_tests::moto_secrets_client().await;
    let reader_arn = create_role_secret(&sm, "reader", &reader, "reader-pw").await;
    let writer_arn = create_role_secret(&sm, "writer", &writer, "writer-pw").await;
    let secrets = integration_tests::moto_secrets(&sm, Duration::from_secs(60));
    let state = state_with(
        &db,
        &[
            ("DATABASE_READER_SECRET_ARN", &reader_arn),
            ("DATABASE_WRITER_SECRET_ARN", &writer_arn),
        ],
        secrets,
    )
    .await;
    let outcome = migrate::migrate(&state).await.unwrap();
    assert_eq!(outcome.reader_role.as_deref(), Some(reader.as_str()));
    assert_eq!(outcome.writer_role.as_deref(), Some(writer.as_str()));

    // A real run as the writer, the way the ingest function connects in AWS: lock, upserts,
    // metadata, the run record, and cleanFirst's deletes.
    let now = integration_tests::harness::fixed_now();
    let sim = simulator::start(
        simulator::SimulatorConfig {
            coins: vec!["bitcoin".into()],
            now_ms: Some(now.timestamp_millis()),
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sim.base_url();
    let writer_url = login_url(&db, &writer, "writer-pw");
    let as_writer = AppState::new(integration_tests::config_from(&[
        ("DATABASE_URL", &writer_url),
        ("COINGECKO_BASE_URL", &base),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
    ]))
    .await
    .unwrap();
    let ingester = integration_tests::fast_ingester(&as_writer, now);
    for clean_first in [false, true] {
        let report = ingester
            .run(
                common::ingest::RunRequest {
                    mode: common::ingest::Mode::Full,
                    clean_first,
                    trigger: common::ingest::Trigger::Manual,
                    run_id: None,
                },
                None,
            )
            .await;
        assert_eq!(
            report.status,
            common::ingest::Status::Succeeded,
            "{:?}",
            report.failures
        );
        // 2139 hours less bitcoin's 8 empty ones, written again by cleanFirst (it deletes
        // the window first); 90 days.
        assert_eq!(
            (report.pairs.ok, report.rows.hourly, report.rows.daily),
            (1, 2131, 90),
            "clean_first {clean_first}"
        );
    }

    // What the writer may not do: change the schema, empty a table wholesale, or rewrite the
    // migration history.
    let client = integration_tests::connect(&writer_url).await;
    for statement in [
        "CREATE TABLE extra (id int)",
        "DROP TABLE price_daily",
        "ALTER TABLE coins ADD COLUMN x int",
        "TRUNCATE price_hourly",
        "DELETE FROM refinery_schema_history",
        "CREATE ROLE intruder LOGIN",
    ] {
        let err = client.batch_execute(statement).await.unwrap_err();
        let code = err.code().map(|c| c.code());
        assert!(code == Some("42501"), "{statement}: {err:?}");
    }
    // The reader sees the writer's rows.
    let rows: i64 = integration_tests::connect(&login_url(&db, &reader, "reader-pw"))
        .await
        .query_one("SELECT count(*) FROM price_hourly", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2131);
}

#[tokio::test]
async fn the_trigger_role_claims_and_withdraws_runs_and_touches_no_other_table() {
    let db = TestDb::empty().await;
    let trigger = role_name("trigger");
    let sm = integration_tests::moto_secrets_client().await;
    let trigger_arn = create_role_secret(&sm, "trigger", &trigger, "trigger-pw").await;
    let secrets = integration_tests::moto_secrets(&sm, Duration::from_secs(60));
    let state = state_with(
        &db,
        &[("DATABASE_TRIGGER_SECRET_ARN", &trigger_arn)],
        secrets,
    )
    .await;
    let outcome = migrate::migrate(&state).await.unwrap();
    assert_eq!(outcome.trigger_role.as_deref(), Some(trigger.as_str()));

    // What the cron route does as this role: the claim (with its check for interrupted runs)
    // and, when the launch fails, the withdrawal.
    let url = login_url(&db, &trigger, "trigger-pw");
    let as_trigger = AppState::new(integration_tests::config_from(&[("DATABASE_URL", &url)]))
        .await
        .unwrap();
    let mut client = as_trigger.db.client().await.unwrap();
    let run_id = uuid::Uuid::new_v4();
    let claimed = common::ingest::lifecycle::claim_run(
        &mut client,
        run_id,
        common::ingest::Trigger::Http,
        common::ingest::Mode::Incremental,
    )
    .await
    .unwrap();
    assert!(claimed);
    common::ingest::lifecycle::withdraw_claim(&client, run_id)
        .await
        .unwrap();

    // Nothing else: not the prices, not the coins, not the migration history, not the schema.
    let direct = integration_tests::connect(&url).await;
    for statement in [
        "SELECT count(*) FROM price_hourly",
        "DELETE FROM price_hourly",
        "INSERT INTO currencies (code, name) VALUES ('chf', 'Swiss Franc')",
        "UPDATE coins SET name = name",
        "SELECT count(*) FROM refinery_schema_history",
        "TRUNCATE ingestion_runs",
        "CREATE TABLE extra (id int)",
    ] {
        let err = direct.batch_execute(statement).await.unwrap_err();
        assert_eq!(
            err.code().map(|c| c.code()),
            Some("42501"),
            "{statement}: {err:?}"
        );
    }
    // A deploy again keeps it so (and takes back a right granted by hand).
    db.client()
        .await
        .batch_execute(&format!("GRANT SELECT ON price_hourly TO {trigger}"))
        .await
        .unwrap();
    migrate::migrate(&state).await.unwrap();
    let err = direct
        .batch_execute("SELECT count(*) FROM price_hourly")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"));
}
