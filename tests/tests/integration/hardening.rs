//! Defects found in review, each reproduced here: time rules in a half-hour server zone, the
//! run lock after a failed start, concurrent triggers, secrets with stray whitespace, origin
//! verification, cleanFirst and full windows, averages near `f64::MAX`, role passwords in the
//! server log, retries against the deadline, and redirects.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, DurationRound, Utc};
use common::api::{app, route, ApiState};
use common::coingecko::{CgError, CoinGecko};
use common::domain::HourlyPrice;
use common::ingest::launcher::{IngestLauncher, LaunchError, LaunchFuture, LocalLauncher};
use common::ingest::{store, FailureCode, Mode, RunRequest, Status};
use common::state::AppState;
use integration_tests::{
    config_from, fast_retry, get, json_body, request, send, table_digest, wait_for_runs_to_finish,
    Harness, PrivateCluster, TestDb,
};
use simulator::SimulatorConfig;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "hardening-cron-secret-0123456789abcdef";
const ONE_PAIR: [(&str, &str); 2] = [("TRACKED_COINS", "bitcoin"), ("TRACKED_CURRENCIES", "usd")];

fn bearer() -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {SECRET}"))]
}

fn post_trigger(headers: &[(&str, String)]) -> lambda_http::Request {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    request("POST", "/api/cron/fetch-data", &headers, "")
}

/// An API serving the cron route with the local launcher, as `crypto-dashboard serve` runs it:
/// both share the harness's state (one pool).
fn serve_like(h: &Harness) -> Router {
    app(
        route::cron_trigger(),
        ApiState::new(h.state.clone()).with_launcher(Arc::new(LocalLauncher::new(h.state.clone()))),
    )
}

/// A Secrets Manager secret in moto holding `value`, and a state reading secrets from there.
async fn moto_secret(kind: &str, value: String) -> (String, common::secrets::Secrets) {
    let sm = integration_tests::moto_secrets_client().await;
    let arn = integration_tests::create_secret(&sm, kind, value).await;
    (
        arn,
        integration_tests::moto_secrets(&sm, Duration::from_secs(60)),
    )
}

async fn run_statuses(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query("SELECT status FROM ingestion_runs ORDER BY started_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn every_write_succeeds_when_the_server_runs_in_a_half_hour_zone() {
    let h = Harness::start(SimulatorConfig::default(), &ONE_PAIR).await;
    integration_tests::connect(&integration_tests::admin_url())
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET TimeZone = 'Asia/Kolkata'",
            h.db.name
        ))
        .await
        .unwrap();
    let client = h.db.client().await;
    let zone: String = client.query_one("SHOW TimeZone", &[]).await.unwrap().get(0);
    assert_eq!(zone, "Asia/Kolkata");
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    // The hour rule still refuses an instant that is not a UTC hour (10:30 UTC is 16:00 in
    // Kolkata: a local hour, not a UTC one).
    let err = client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             VALUES ('bitcoin', 'usd', '2025-01-01T10:30:00Z', 1)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "23514", "check violation");
}

#[tokio::test]
async fn a_failure_right_after_taking_the_lock_does_not_keep_it() {
    let vars = [ONE_PAIR[0], ONE_PAIR[1], ("CRON_SECRET", SECRET)];
    let h = Harness::start(SimulatorConfig::default(), &vars).await;
    // The first update of a run row (the ingester recording itself as started) fails once,
    // as a statement timeout or a full disk would.
    h.db.client()
        .await
        .batch_execute(
            "CREATE SEQUENCE fault_once;
             CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF nextval('fault_once') = 1 THEN RAISE EXCEPTION 'injected fault'; END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER fail_once BEFORE UPDATE ON ingestion_runs
               FOR EACH ROW EXECUTE FUNCTION fail_once();",
        )
        .await
        .unwrap();
    let api = serve_like(&h);
    let client = h.db.client().await;

    let first = send(&api, post_trigger(&bearer())).await;
    assert_eq!(first.status(), 202, "{}", json_body(&first));
    wait_for_runs_to_finish(&client).await;
    assert_eq!(run_statuses(&client).await, ["failed"]);

    // The same long-lived server: the next trigger starts and finishes a run.
    let second = send(&api, post_trigger(&bearer())).await;
    assert_eq!(second.status(), 202, "{}", json_body(&second));
    wait_for_runs_to_finish(&client).await;
    assert_eq!(run_statuses(&client).await, ["failed", "succeeded"]);
}

/// Records launches and returns at once, as the Lambda launcher does.
#[derive(Default)]
struct RecordingLauncher {
    launched: Mutex<Vec<RunRequest>>,
}

impl IngestLauncher for RecordingLauncher {
    fn launch(&self, request: RunRequest) -> LaunchFuture<'_> {
        self.launched.lock().unwrap().push(request);
        Box::pin(async { Ok(()) })
    }
}

struct FailingLauncher;

impl IngestLauncher for FailingLauncher {
    fn launch(&self, _: RunRequest) -> LaunchFuture<'_> {
        Box::pin(async { Err(LaunchError("invoke failed".into())) })
    }
}

#[tokio::test]
async fn of_two_triggers_in_flight_at_once_exactly_one_is_accepted() {
    let db = TestDb::migrated().await;
    let state = Arc::new(
        AppState::new(db.config(&[("CRON_SECRET", SECRET), ("DB_POOL_MAX_SIZE", "4")]))
            .await
            .unwrap(),
    );
    let launcher = Arc::new(RecordingLauncher::default());
    let api = app(
        route::all(),
        ApiState::new(state).with_launcher(launcher.clone()),
    );
    let (a, b) = tokio::join!(
        send(&api, post_trigger(&bearer())),
        send(&api, post_trigger(&bearer()))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 409]);
    let conflict = if a.status() == 409 { &a } else { &b };
    assert_eq!(json_body(conflict)["error"]["code"], "CONFLICT");
    assert_eq!(launcher.launched.lock().unwrap().len(), 1);
    // A third, a second later, while the accepted run has not started yet: still 409.
    let third = send(&api, post_trigger(&bearer())).await;
    assert_eq!(third.status(), 409);
    let accepted = if a.status() == 202 { &a } else { &b };
    let run_id = json_body(accepted)["data"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = db
        .client()
        .await
        .query_one("SELECT id::text, status, trigger FROM ingestion_runs", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ),
        (run_id, "running".to_owned(), "http".to_owned())
    );
}

#[tokio::test]
async fn a_launch_failure_is_503_and_leaves_nothing_blocking() {
    let db = TestDb::migrated().await;
    let state = Arc::new(
        AppState::new(db.config(&[("CRON_SECRET", SECRET)]))
            .await
            .unwrap(),
    );
    let api = app(
        route::all(),
        ApiState::new(state.clone()).with_launcher(Arc::new(FailingLauncher)),
    );
    let r = send(&api, post_trigger(&bearer())).await;
    assert_eq!(r.status(), 503);
    assert_eq!(json_body(&r)["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(integration_tests::count_runs(&db.client().await).await, 0);
    let api = app(
        route::all(),
        ApiState::new(state).with_launcher(Arc::new(RecordingLauncher::default())),
    );
    assert_eq!(send(&api, post_trigger(&bearer())).await.status(), 202);
}

#[tokio::test]
async fn a_cron_secret_stored_with_a_trailing_newline_still_authenticates() {
    // As `aws secretsmanager put-secret-value --secret-string "$(cat file)"` keeps it.
    let (arn, secrets) = moto_secret("cron", format!("{SECRET}\n")).await;
    let db = TestDb::migrated().await;
    let state = integration_tests::state_with_secrets(
        db.config(&[("CRON_SECRET_ARN", arn.as_str())]),
        secrets,
    )
    .await;
    let api = app(
        route::all(),
        ApiState::new(Arc::new(state)).with_launcher(Arc::new(RecordingLauncher::default())),
    );
    let r = send(&api, post_trigger(&bearer())).await;
    assert_eq!(r.status(), 202, "{}", json_body(&r));
}

#[tokio::test]
async fn an_empty_or_short_cron_secret_fails_closed() {
    let db = TestDb::migrated().await;
    let short = &SECRET[..31];
    for configured in ["   ", short] {
        let state = Arc::new(
            AppState::new(db.config(&[("CRON_SECRET", configured)]))
                .await
                .unwrap(),
        );
        let launcher = Arc::new(RecordingLauncher::default());
        let api = app(
            route::all(),
            ApiState::new(state).with_launcher(launcher.clone()),
        );
        let token = [("authorization", format!("Bearer {}", configured.trim()))];
        let r = send(&api, post_trigger(&token)).await;
        assert_eq!(r.status(), 503, "{configured:?}");
        assert_eq!(json_body(&r)["error"]["code"], "SERVICE_UNAVAILABLE");
        assert!(launcher.launched.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn with_origin_verification_only_requests_through_cloudfront_are_served() {
    let db = TestDb::migrated().await;
    let origin_secret = "origin-verify-secret-0123456789abcdef-xyz";
    let state = Arc::new(
        AppState::new(db.config(&[("ORIGIN_VERIFY_SECRET", origin_secret)]))
            .await
            .unwrap(),
    );
    let api = app(route::all(), ApiState::new(state));
    for headers in [
        vec![],
        vec![("x-origin-verify", "wrong")],
        vec![("x-origin-verify", &origin_secret[1..])],
    ] {
        let r = send(&api, request("GET", "/api/currencies", &headers, "")).await;
        assert_eq!(r.status(), 403, "{headers:?}");
        let body = json_body(&r);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert!(!body.to_string().contains(origin_secret));
    }
    let r = send(
        &api,
        request(
            "GET",
            "/api/currencies",
            &[("x-origin-verify", origin_secret)],
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(&r)["success"], true);

    // Without the setting (local serve, tests) there is no check.
    let open = app(
        route::all(),
        ApiState::new(Arc::new(AppState::new(db.config(&[])).await.unwrap())),
    );
    assert_eq!(send(&open, get("/api/currencies")).await.status(), 200);
}

/// Rotating the origin-verify secret is no outage: until CloudFront sends the new value, the
/// functions accept the one it still sends. The secret lives in moto, read through the real SDK
/// with a cache that outlives the rotation (as a warm container's does).
#[tokio::test]
async fn the_origin_check_accepts_the_current_and_the_previous_value_across_a_rotation() {
    let db = TestDb::migrated().await;
    let sm = integration_tests::moto_secrets_client().await;
    let (first, second, third) = (
        "origin-value-one-0123456789abcdef0123456789",
        "origin-value-two-0123456789abcdef0123456789",
        "origin-value-three-0123456789abcdef01234567",
    );
    let arn = integration_tests::create_secret(&sm, "origin-verify", first.into()).await;
    let secrets = integration_tests::moto_secrets(&sm, Duration::from_secs(60));
    let state = integration_tests::state_with_secrets(
        db.config(&[("ORIGIN_VERIFY_SECRET_ARN", &arn)]),
        secrets.clone(),
    )
    .await;
    let api = app(route::all(), ApiState::new(Arc::new(state)));
    let status = |value: &'static str| {
        let api = api.clone();
        async move {
            let r = send(
                &api,
                request("GET", "/api/currencies", &[("x-origin-verify", value)], ""),
            )
            .await;
            r.status().as_u16()
        }
    };
    assert_eq!(status(first).await, 200);
    assert_eq!(status(second).await, 403);

    // put-secret-value: the new value becomes AWSCURRENT, the old one AWSPREVIOUS. A
    // container that reads again (its cache expired) accepts both.
    for value in [second, third] {
        sm.put_secret_value()
            .secret_id(&arn)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    secrets
        .refresh(&common::config::SecretSource::SecretsManager(arn.clone()))
        .await
        .unwrap();
    assert_eq!(status(third).await, 200, "AWSCURRENT");
    assert_eq!(
        status(second).await,
        200,
        "AWSPREVIOUS, still sent by CloudFront"
    );
    assert_eq!(status(first).await, 403, "two rotations ago");
    assert_eq!(status("").await, 403);
}

/// Today at 15:30 UTC minus a day: a "now" that is never near midnight.
fn mid_afternoon() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::days(1))
        .unwrap()
        - chrono::Duration::days(1)
        + chrono::Duration::minutes(15 * 60 + 30)
}

#[tokio::test]
async fn a_full_window_starts_at_a_utc_midnight_so_no_stored_day_is_partial() {
    let now = mid_afternoon();
    let h = Harness::start_at(SimulatorConfig::default(), &ONE_PAIR, now).await;
    let report = h.run(Mode::Full, false).await;
    assert_eq!(report.status, Status::Succeeded);
    let first_day = (now - chrono::Duration::days(89)).date_naive();
    let row =
        h.db.client()
            .await
            .query_one(
                "SELECT min(ts),
                    (SELECT date FROM price_daily WHERE source = 'hourly' ORDER BY date LIMIT 1),
                    (SELECT sample_count FROM price_daily WHERE source = 'hourly' ORDER BY date LIMIT 1)
               FROM price_hourly",
                &[],
            )
            .await
            .unwrap();
    let first_hour: DateTime<Utc> = row.get(0);
    assert_eq!(
        first_hour,
        first_day.and_hms_opt(0, 0, 0).unwrap().and_utc()
    );
    assert_eq!(row.get::<_, chrono::NaiveDate>(1), first_day);
    // A whole day of hours (the simulator leaves the odd hour empty, as CoinGecko does).
    assert!(
        row.get::<_, i32>(2) >= 22,
        "first day has {} hours",
        row.get::<_, i32>(2)
    );
}

#[tokio::test]
async fn clean_first_replaces_the_window_and_keeps_older_history() {
    let now = mid_afternoon();
    let h = Harness::start_at(SimulatorConfig::default(), &ONE_PAIR, now).await;
    assert_eq!(h.run(Mode::Full, false).await.status, Status::Succeeded);
    let client = h.db.client().await;
    // History older than the 90-day window (an older deploy's hours, whose day replaces the
    // backfill's snapshot), and a wrong price inside the window that cleanFirst must replace.
    client
        .batch_execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'bitcoin', 'usd', d, 42 FROM generate_series(
                 date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '200 days',
                 date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '199 days' - interval '1 hour',
                 interval '1 hour') AS d;
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
             VALUES ('bitcoin', 'usd', (now() AT TIME ZONE 'UTC')::date - 200, 42, 24)
             ON CONFLICT (coin_id, currency_code, date) DO UPDATE
                SET price = 42, sample_count = 24, source = 'hourly';
             UPDATE price_hourly SET price = 1e-9
              WHERE ts = (SELECT max(ts) FROM price_hourly);",
        )
        .await
        .unwrap();
    let before = table_digest(&client, None).await;
    let report = h.run(Mode::Full, true).await;
    assert_eq!(report.status, Status::Succeeded);
    let old: (i64, i64) = {
        let r = client
            .query_one(
                "SELECT (SELECT count(*) FROM price_hourly WHERE price = 42),
                        (SELECT count(*) FROM price_daily WHERE price = 42)",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(old, (24, 1), "rows older than the window survive");
    let tiny: i64 = client
        .query_one("SELECT count(*) FROM price_hourly WHERE price = 1e-9", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tiny, 0, "rows inside the window are replaced");
    let after = table_digest(&client, None).await;
    assert_eq!((after.hourly, after.daily), (before.hourly, before.daily));
}

#[tokio::test]
async fn prices_near_the_largest_float_average_into_a_finite_daily_row() {
    let (db, client) = TestDb::with_bitcoin_usd().await;
    let big = f64::MAX / 1.5;
    let day = Utc::now()
        .duration_trunc(chrono::Duration::days(1))
        .unwrap()
        - chrono::Duration::days(3);
    let hours: Vec<HourlyPrice> = (0..24)
        .map(|h| HourlyPrice {
            ts: day + chrono::Duration::hours(h),
            price: big,
            samples: 1,
        })
        .collect();
    let database = db.database().await;
    let mut pooled = database.client().await.unwrap();
    let rows = store::write_pair(&mut pooled, "bitcoin", "usd", &hours, Default::default())
        .await
        .expect("no overflow");
    assert_eq!((rows.hourly, rows.daily), (24, 1));
    let (price, samples): (f64, i32) = {
        let r = client
            .query_one("SELECT price, sample_count FROM price_daily", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(samples, 24);
    assert!((price - big).abs() <= big * 1e-15, "{price} vs {big}");
}

#[tokio::test]
async fn role_passwords_never_reach_the_server_log() {
    let cluster = PrivateCluster::start();
    let admin = integration_tests::connect(&cluster.admin_url).await;
    admin.batch_execute("CREATE DATABASE scram").await.unwrap();
    admin
        .batch_execute("ALTER DATABASE scram SET log_statement = 'all'")
        .await
        .unwrap();
    let url = integration_tests::with_database(&cluster.admin_url, "scram");
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let role = format!("reader_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let secret = serde_json::json!({"username": role, "password": password}).to_string();
    let (arn, secrets) = moto_secret("scram", secret).await;
    let config = config_from(&[("DATABASE_URL", &url), ("DATABASE_READER_SECRET_ARN", &arn)]);
    let state = integration_tests::state_with_secrets(config, secrets).await;
    migrate::migrate(&state).await.unwrap();
    // The role logs in with the password: the verifier was right.
    let pg: tokio_postgres::Config = url.parse().unwrap();
    let login = format!(
        "postgres://{role}:{password}@127.0.0.1:{}/scram",
        pg.get_ports()[0]
    );
    integration_tests::connect(&login).await;
    let log = cluster.server_log();
    assert!(log.contains("SCRAM-SHA-256$"), "statements are logged");
    assert!(
        !log.contains(&password),
        "the password is in the server log"
    );
}

#[tokio::test]
async fn a_retry_is_made_only_when_its_wait_and_a_whole_request_fit_before_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/ping"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{}")
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let config = config_from(&[
        ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
        ("COINGECKO_BASE_URL", &server.uri()),
        ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
    ]);
    let policy = common::coingecko::RetryPolicy {
        request_timeout: Duration::from_secs(5),
        ..fast_retry()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let gecko =
        CoinGecko::new(&config.coingecko, None, policy.clone()).with_deadline(Some(deadline));
    // 1 s of Retry-After plus a 5 s request do not fit in 3 s: no retry.
    let err = gecko.ping().await.unwrap_err();
    assert!(matches!(err, CgError::RateLimited { .. }), "{err}");
    assert!(tokio::time::Instant::now() < deadline);
    assert_eq!(gecko.stats().calls(), 1);

    // A request is cut to the time left: the slow answer is abandoned at the deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let gecko = CoinGecko::new(&config.coingecko, None, policy).with_deadline(Some(deadline));
    let err = gecko.ping().await.unwrap_err();
    assert_eq!(err.code(), FailureCode::Timeout);
    assert!(tokio::time::Instant::now() < deadline + Duration::from_secs(1));
}

#[tokio::test]
async fn a_run_under_a_long_retry_after_still_records_itself_before_the_deadline() {
    use simulator::Faults;
    let h = Harness::with_faults(
        // One 429 asking for 2 s, then answers slower than any request timeout.
        Faults {
            storm: 1,
            storm_retry_after: Some(2),
            slow_rate: 1.0,
            slow: Duration::from_secs(30),
            ..Faults::default()
        },
        &ONE_PAIR,
    )
    .await;
    let mut ingester = h.ingester();
    ingester.retry = common::coingecko::RetryPolicy {
        request_timeout: Duration::from_secs(3),
        max_retry_after: Duration::from_secs(10),
        ..fast_retry()
    };
    ingester.reserve = Duration::from_secs(2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
    let report = ingester
        .run(
            RunRequest {
                mode: Mode::Full,
                clean_first: false,
                trigger: common::ingest::Trigger::Manual,
                run_id: None,
            },
            Some(deadline),
        )
        .await;
    assert!(
        tokio::time::Instant::now() < deadline,
        "the run outlived its deadline"
    );
    assert_eq!(report.status, Status::Failed);
    let status: String =
        h.db.client()
            .await
            .query_one("SELECT status FROM ingestion_runs", &[])
            .await
            .unwrap()
            .get(0);
    assert_eq!(status, "failed", "the run is recorded, not left running");
}

#[tokio::test]
async fn redirects_are_not_followed_so_the_key_stays_home() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let server = MockServer::start().await;
    Mock::given(path("/ping"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/ping", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    let config = config_from(&[
        ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
        ("COINGECKO_BASE_URL", &server.uri()),
        ("COINGECKO_API_PLAN", "pro"),
        ("COINGECKO_API_KEY", "pro-key-that-must-stay-home"),
    ]);
    let key = match &config.coingecko.api_key {
        Some(common::config::SecretSource::Value(v)) => Some(v.clone()),
        _ => None,
    };
    let gecko = CoinGecko::new(&config.coingecko, key, fast_retry());
    let err = gecko.ping().await.unwrap_err();
    assert!(
        matches!(err, CgError::Rejected { status: 302, .. }),
        "{err}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

/// `make dev`'s cron token (`dev_cron_token` in scripts/lib.sh), as bash gives it with
/// `CRON_SECRET` set to `preset` or unset.
fn dev_cron_token(preset: Option<&str>) -> String {
    let lib = format!("{}/../scripts/lib.sh", env!("CARGO_MANIFEST_DIR"));
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(format!("set -euo pipefail; source '{lib}'; dev_cron_token"))
        .env_remove("CRON_SECRET");
    if let Some(preset) = preset {
        bash.env("CRON_SECRET", preset);
    }
    let out = bash.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn make_dev_generates_a_random_cron_token_unless_one_is_given() {
    let (first, second) = (dev_cron_token(None), dev_cron_token(None));
    for token in [&first, &second] {
        assert_eq!(token.len(), 64, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    }
    assert_ne!(first, second, "a new token per session");
    assert_eq!(dev_cron_token(Some(SECRET)), SECRET);
}
