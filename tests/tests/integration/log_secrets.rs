//! No secret value ever reaches a log line: every log event of a full run, a failing run and
//! the API (cron auth included) is captured at TRACE level and searched for each secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::api::{app, route, ApiState};
use common::ingest::launcher::LocalLauncher;
use common::ingest::{Ingester, Mode, RunRequest, Status, Trigger};
use common::state::AppState;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{config_from, fast_retry, get, request, send, TestDb};
use simulator::{self, SimPlan, SimulatorConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const DB_PASSWORD: &str = "pgSECRETpw7731";
const API_KEY: &str = "CG-SECRETkey9942";
const CRON: &str = "cronSECRET5518-cronSECRET5518-cronSECRET5518";

#[tokio::test]
async fn secrets_never_appear_in_any_log_line() {
    let logs = Capture(Arc::new(Mutex::new(Vec::new())));
    let writer = logs.clone();
    // The process-wide subscriber (a thread-local one loses events: tracing caches a
    // callsite's interest from whichever thread reaches it first), but it records only
    // this test's thread. The other modules' tests share the process and must neither log
    // into this capture nor pay for TRACE output; the runtime is current-thread, so every
    // task this test spawns is polled on this thread.
    let this_test = std::thread::current().id();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .with(tracing_subscriber::filter::dynamic_filter_fn(
            move |_, _| std::thread::current().id() == this_test,
        ))
        .init();

    // A role that logs in with a password, so the URL really carries one.
    let db = TestDb::migrated().await;
    let role = format!("app_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}';
             GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE ON SCHEMA public TO {role};"
        ))
        .await
        .unwrap();
    let pg: tokio_postgres::Config = db.url.parse().unwrap();
    let url = format!(
        "postgres://{role}:{DB_PASSWORD}@127.0.0.1:{}/{}",
        pg.get_ports()[0],
        db.name
    );
    let sim = simulator::start(
        SimulatorConfig {
            plan: SimPlan::Demo(API_KEY.into()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sim.base_url();
    let vars = |key: &'static str| {
        vec![
            ("DATABASE_URL", url.clone()),
            ("COINGECKO_BASE_URL", base.clone()),
            ("COINGECKO_API_PLAN", "demo".to_owned()),
            ("COINGECKO_API_KEY", key.to_owned()),
            ("COINGECKO_RATE_LIMIT_PER_MIN", "100000".to_owned()),
            ("CRON_SECRET", CRON.to_owned()),
            ("TRACKED_COINS", "bitcoin".to_owned()),
            ("TRACKED_CURRENCIES", "usd,eur".to_owned()),
        ]
    };
    let config = |key| {
        let v = vars(key);
        config_from(&v.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
    };
    let full = RunRequest {
        mode: Mode::Full,
        clean_first: false,
        trigger: Trigger::Manual,
        run_id: None,
    };

    // A full run that succeeds.
    let state = Arc::new(AppState::new(config(API_KEY)).await.unwrap());
    let ingester = Ingester {
        retry: fast_retry(),
        ..Ingester::new(&state.config, &state.secrets, &state.db)
    };
    assert_eq!(
        ingester.run(full.clone(), None).await.status,
        Status::Succeeded
    );
    tracing::debug!(config = ?state.config, "the whole configuration, as Debug");

    // The API, including cron authentication failures and successes.
    let api = app(
        route::all(),
        ApiState::new(state.clone()).with_launcher(Arc::new(LocalLauncher::new(state.clone()))),
    );
    for auth in [format!("Bearer {CRON}x"), format!("Basic {CRON}")] {
        let r = send(
            &api,
            request(
                "POST",
                "/api/cron/fetch-data",
                &[
                    ("authorization", auth.as_str()),
                    ("x-forwarded-for", "203.0.113.7, 198.51.100.2"),
                ],
                "",
            ),
        )
        .await;
        expect_error(&r, 401, "UNAUTHORIZED");
    }
    let health = expect_data(&send(&api, get("/api/health")).await, 200);
    assert_eq!(health["lastIngestion"]["status"], "succeeded");
    let market = expect_data(&send(&api, get("/api/market?currency=eur")).await, 200);
    assert_eq!(market[0]["id"], "bitcoin");
    assert!(market[0]["price"].as_f64().unwrap() > 0.0);
    let coin = expect_data(&send(&api, get("/api/coins/bitcoin")).await, 200);
    assert_eq!(coin["id"], "bitcoin");

    // A failing run: the key is wrong (CoinGecko error 10002).
    let wrong = AppState::new(config("CG-wrongkey")).await.unwrap();
    let report = Ingester {
        retry: fast_retry(),
        ..Ingester::new(&wrong.config, &wrong.secrets, &wrong.db)
    }
    .run(full.clone(), None)
    .await;
    assert_eq!(report.status, Status::Failed);

    // A failing run: the database rejects the password.
    let bad_url = url.replace(DB_PASSWORD, &format!("{DB_PASSWORD}-old"));
    let bad = AppState::new(config_from(&[
        ("DATABASE_URL", &bad_url),
        ("DB_CONNECT_TIMEOUT_SECS", "2"),
    ]))
    .await
    .unwrap();
    let report = Ingester::new(&bad.config, &bad.secrets, &bad.db)
        .run(full, None)
        .await;
    assert_eq!(report.status, Status::Failed);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines().count() > 50,
        "logs were captured: {} lines",
        text.lines().count()
    );
    assert!(text.contains("cron authentication failed"));
    // Who failed: the first X-Forwarded-For hop (the viewer as CloudFront saw it).
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cron authentication failed"))
        .collect();
    assert!(
        failures.len() == 2 && failures.iter().all(|l| l.contains("client=203.0.113.7")),
        "{failures:#?}"
    );
    for secret in [DB_PASSWORD, API_KEY, CRON] {
        let leaks: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(secret))
            .take(3)
            .collect();
        assert!(leaks.is_empty(), "{secret} appears in the logs: {leaks:#?}");
    }
}
