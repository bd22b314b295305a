//! Code that only runs in AWS, exercised here against local stand-ins: the Lambda launcher
//! (against a wiremock Lambda API) and its payload, the ingest function's error contract,
//! unreadable secrets, `DB_HOST`, a password rotation under concurrent requests, and TLS to
//! PostgreSQL with a certificate of our own CA.

use std::sync::Arc;
use std::time::Duration;

use common::api::{app, route, ApiState};
use common::db::Database;
use common::ingest::invocation::run_request;
use common::ingest::launcher::IngestLauncher;
use common::ingest::{FailureCode, Mode, RunRequest, Status, Trigger};
use common::secrets::Secrets;
use common::state::AppState;
use cron_trigger::LambdaLauncher;
use integration_tests::{
    config_from, count_runs, create_secret, cron_post, get, json_body, moto_secrets,
    moto_secrets_client, send, state_with_secrets, Harness, PrivateCluster, TestDb,
};
use simulator::SimulatorConfig;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CRON: &str = "aws-paths-cron-secret-0123456789abcdef";

/// A Secrets Manager client and a reader of moto_server.
async fn moto_reader() -> (aws_sdk_secretsmanager::Client, Secrets) {
    let client = moto_secrets_client().await;
    let secrets = moto_secrets(&client, Duration::from_secs(300));
    (client, secrets)
}

/// An ARN of a secret that does not exist (a deleted secret, a wrong ARN, a missing grant).
const MISSING_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:crypto-dashboard/missing-AbCdEf";

/// A Lambda client of the real SDK pointed at `endpoint`.
async fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{Credentials, Region};
    let sdk = common::aws::sdk_config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    aws_sdk_lambda::Client::new(&sdk)
}

fn requests() -> Vec<RunRequest> {
    let id = uuid::Uuid::new_v4();
    vec![
        RunRequest {
            mode: Mode::Full,
            clean_first: true,
            trigger: Trigger::Http,
            run_id: Some(id),
        },
        RunRequest {
            mode: Mode::Incremental,
            clean_first: false,
            trigger: Trigger::Http,
            run_id: Some(id),
        },
        RunRequest {
            mode: Mode::Incremental,
            clean_first: false,
            trigger: Trigger::Manual,
            run_id: None,
        },
    ]
}

#[test]
fn the_launchers_payload_round_trips_through_the_ingest_functions_strict_parser() {
    for request in requests() {
        let payload = LambdaLauncher::payload(&request);
        assert_eq!(
            run_request(payload.clone(), ingest_function::SCHEDULED).unwrap(),
            request,
            "{payload}"
        );
    }
}

#[tokio::test]
async fn the_launcher_invokes_the_ingest_function_asynchronously_with_that_payload() {
    let lambda = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2015-03-31/functions/ingest-fn/invocations"))
        .and(header("x-amz-invocation-type", "Event"))
        .respond_with(ResponseTemplate::new(202))
        .expect(3)
        .mount(&lambda)
        .await;
    let launcher = LambdaLauncher::new(lambda_client(&lambda.uri()).await, "ingest-fn".into());
    for request in requests() {
        launcher.launch(request.clone()).await.expect("invoked");
        let sent = lambda.received_requests().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
        assert_eq!(
            run_request(body, ingest_function::SCHEDULED).unwrap(),
            request
        );
    }
}

#[tokio::test]
async fn a_failed_invoke_is_a_503_and_withdraws_the_accepted_run() {
    let lambda = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "Type": "User",
            "message": "Function not found: ingest-fn"
        })))
        .expect(1)
        .mount(&lambda)
        .await;
    let launcher = LambdaLauncher::new(lambda_client(&lambda.uri()).await, "ingest-fn".into());
    let db = TestDb::migrated().await;
    let state = AppState::new(db.config(&[("CRON_SECRET", CRON)]))
        .await
        .unwrap();
    let api = app(
        route::all(),
        ApiState::new(Arc::new(state)).with_launcher(Arc::new(launcher)),
    );
    let r = send(&api, cron_post(CRON, "")).await;
    assert_eq!(r.status(), 503);
    let body = json_body(&r);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(!body.to_string().contains("ingest-fn"), "{body}");
    assert_eq!(
        count_runs(&db.client().await).await,
        0,
        "nothing ran, nothing is kept"
    );
}

#[tokio::test]
async fn the_ingest_function_errs_only_when_the_run_could_do_nothing() {
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(60);
    let payload = serde_json::json!({"mode": "full"});

    // The database is unreachable: an error, so Lambda retries and then uses the DLQ.
    let config = config_from(&[(
        "DATABASE_URL",
        &integration_tests::unreachable_database_url(),
    )]);
    let down = AppState::new(config).await.unwrap();
    let err = ingest_function::handle(&down, payload.clone(), deadline())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("DATABASE_UNAVAILABLE"), "{err}");

    // Every pair fails upstream: an error naming the codes.
    let failing = SimulatorConfig {
        faults: simulator::Faults {
            fail_coins: vec!["bitcoin".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let vars = [("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")];
    let h = Harness::start(failing, &vars).await;
    let err = ingest_function::handle(&h.state, payload.clone(), deadline())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UPSTREAM_5XX"), "{err}");

    // A run that wrote something returns its report.
    let h = Harness::start(SimulatorConfig::default(), &vars).await;
    let report = ingest_function::handle(&h.state, payload, deadline())
        .await
        .expect("a report");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["pairs"]["ok"], 1);
    // A payload it cannot read is an error too, naming what it expects.
    let err = ingest_function::handle(&h.state, serde_json::json!({"mode": "weekly"}), deadline())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");
}

#[tokio::test]
async fn an_unreadable_api_key_secret_fails_every_pair_with_secret_unavailable() {
    let (_, secrets) = moto_reader().await;
    let db = TestDb::migrated().await;
    let sim = simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = db.config(&[
        ("COINGECKO_BASE_URL", &sim.base_url()),
        ("COINGECKO_API_PLAN", "demo"),
        ("COINGECKO_API_KEY_SECRET_ARN", MISSING_ARN),
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
    ]);
    let state = state_with_secrets(config, secrets).await;
    let report = integration_tests::fast_ingester(&state, chrono::Utc::now())
        .run(
            RunRequest {
                mode: Mode::Full,
                clean_first: false,
                trigger: Trigger::Manual,
                run_id: None,
            },
            None,
        )
        .await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!((report.pairs.ok, report.pairs.failed), (0, 4));
    assert_eq!(report.failures.len(), 4);
    assert!(report
        .failures
        .iter()
        .all(|f| f.code == FailureCode::SecretUnavailable));
    assert!(
        sim.requests().is_empty(),
        "nothing is fetched without the key"
    );
    // The public runs route shows the code, not the internal message.
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let runs = json_body(&send(&api, get("/api/ingestion/runs?limit=1")).await);
    let failure = &runs["data"][0]["report"]["failures"][0];
    assert_eq!(failure["code"], "SECRET_UNAVAILABLE");
    assert_eq!(
        failure["message"],
        "an internal error; see the ingest function's logs"
    );
}

#[tokio::test]
async fn an_unreadable_cron_secret_is_503() {
    let (_, secrets) = moto_reader().await;
    let db = TestDb::migrated().await;
    let state = state_with_secrets(db.config(&[("CRON_SECRET_ARN", MISSING_ARN)]), secrets).await;
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let r = send(&api, cron_post(CRON, "")).await;
    assert_eq!(r.status(), 503);
    let body = json_body(&r);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(!body.to_string().contains("missing-AbCdEf"), "{body}");
}

/// An RDS-style secret for the test cluster's admin role (trusted on loopback: the password
/// is not checked) on `host`.
fn rds_secret(db: &TestDb, host: &str) -> String {
    let pg: tokio_postgres::Config = db.url.parse().unwrap();
    serde_json::json!({
        "engine": "postgres", "username": "postgres", "password": "unused",
        "host": host, "port": pg.get_ports()[0], "dbname": db.name,
    })
    .to_string()
}

#[tokio::test]
async fn db_host_replaces_the_host_of_the_database_secret() {
    let (sm, secrets) = moto_reader().await;
    let db = TestDb::migrated().await;
    // The secret names a host that does not resolve (as the RDS instance's name does not
    // matter when the functions go through RDS Proxy).
    let arn = create_secret(&sm, "database", rds_secret(&db, "db.invalid")).await;
    let without = config_from(&[
        ("DATABASE_SECRET_ARN", &arn),
        ("DB_CONNECT_TIMEOUT_SECS", "2"),
    ]);
    let database = Database::connect(&without.database, &secrets)
        .await
        .unwrap();
    let err = database.ping().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let with = config_from(&[("DATABASE_SECRET_ARN", &arn), ("DB_HOST", "127.0.0.1")]);
    Database::connect(&with.database, &secrets)
        .await
        .unwrap()
        .ping()
        .await
        .expect("DB_HOST is used instead of the secret's host");
}

#[tokio::test]
async fn a_password_rotation_under_concurrent_requests_recovers() {
    let db = TestDb::migrated().await;
    let admin = db.client().await;
    let role = format!("rot_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'first-password';
             GRANT CONNECT ON DATABASE {} TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};",
            db.name
        ))
        .await
        .unwrap();
    let pg: tokio_postgres::Config = db.url.parse().unwrap();
    let secret = |password: &str| {
        serde_json::json!({
            "engine": "postgres", "username": role, "password": password,
            "host": "127.0.0.1", "port": pg.get_ports()[0], "dbname": db.name,
        })
        .to_string()
    };
    let (sm, secrets) = moto_reader().await;
    let arn = create_secret(&sm, "rotation", secret("first-password")).await;
    let config = config_from(&[("DATABASE_SECRET_ARN", &arn), ("DB_POOL_MAX_SIZE", "2")]);
    let api = app(
        route::all(),
        ApiState::new(Arc::new(state_with_secrets(config, secrets).await)),
    );
    assert_eq!(send(&api, get("/api/currencies")).await.status(), 200);

    // Rotation: the new password in PostgreSQL and in the secret, the old sessions cut.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {role} PASSWORD 'second-password';
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}';"
        ))
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(secret("second-password"))
        .send()
        .await
        .unwrap();

    // Eight requests at once meet the rejected password together; each recovers.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let api = api.clone();
        set.spawn(async move { send(&api, get("/api/currencies")).await });
    }
    let answers = set.join_all().await;
    for r in &answers {
        assert_eq!(r.status(), 200, "{}", json_body(r));
        assert_eq!(json_body(r)["success"], true);
    }
    assert_eq!(send(&api, get("/api/currencies")).await.status(), 200);
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn certificates(dir: &std::path::Path, name: &str) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (Debian: apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} test CA"),
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
}

#[tokio::test]
async fn tls_to_postgresql_verifies_the_server_against_the_configured_ca() {
    let cluster = PrivateCluster::start();
    let dir = cluster.dir();
    certificates(&dir, "right");
    // Another CA, which never signed the server's certificate.
    let other = tempdir("wrong-ca");
    certificates(&other, "wrong");
    cluster
        .enable_tls(&dir.join("server.crt"), &dir.join("server.key"))
        .await;

    let url = integration_tests::with_database(&cluster.admin_url, "postgres");
    let vars = |ca: &std::path::Path| {
        config_from(&[
            ("DATABASE_URL", &url),
            ("DB_SSLMODE", "require"),
            ("DB_SSL_ROOT_CERT", ca.to_str().unwrap()),
            ("DB_CONNECT_TIMEOUT_SECS", "3"),
        ])
    };
    let right = vars(&dir.join("right-ca.pem"));
    let database = Database::connect(&right.database, &Secrets::default())
        .await
        .unwrap();
    database.ping().await.expect("TLS with the right CA");
    let client = database.client().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the session is encrypted");

    let wrong = vars(&other.join("wrong-ca.pem"));
    let err = Database::connect(&wrong.database, &Secrets::default())
        .await
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "the failure names the certificate: {err}"
    );
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
