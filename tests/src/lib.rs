//! Test support: a fresh database per test on the cluster `make test` started, the moto
//! endpoint, and configuration built from a map instead of the process environment.

use std::collections::HashMap;

use common::config::Config;
use common::db::Database;
use common::secrets::Secrets;

/// The admin URL of the test cluster (`DATABASE_URL`, exported by `make test`).
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the tests with `make test` (it starts a throwaway PostgreSQL), \
         or export DATABASE_URL=postgres://... for an existing server",
    )
}

/// The Secrets Manager emulator's endpoint (`MOTO_ENDPOINT`, exported by `make test`).
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the tests with `make test` (it starts moto_server)")
}

/// A Secrets Manager client of the real AWS SDK pointed at moto_server.
pub async fn moto_secrets_client() -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::{Credentials, Region};
    let sdk = common::aws::sdk_config_loader()
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

/// Creates `crypto-dashboard/<kind>-<uuid>` holding `value` in moto; returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    kind: &str,
    value: String,
) -> String {
    client
        .create_secret()
        .name(format!(
            "crypto-dashboard/{kind}-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .secret_string(value)
        .send()
        .await
        .expect("create_secret on moto")
        .arn()
        .expect("moto returns an ARN")
        .to_owned()
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_part_end], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Connects directly (no pool) and drives the connection in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    tokio::spawn(connection);
    client
}

/// A database of its own for one test, dropped with the cluster at the end of `make test`.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// An empty database (no schema).
    pub async fn empty() -> TestDb {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        TestDb {
            url: with_database(&admin_url(), &name),
            name,
        }
    }

    /// A database with every migration applied.
    pub async fn migrated() -> TestDb {
        let db = TestDb::empty().await;
        let applied = db
            .database()
            .await
            .migrate()
            .await
            .expect("migrations apply");
        assert!(!applied.is_empty());
        db
    }

    /// Configuration pointing at this database, plus `extra` variables.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars = vec![("DATABASE_URL", self.url.as_str())];
        vars.extend_from_slice(extra);
        config_from(&vars)
    }

    /// A pooled [`Database`] on this database.
    pub async fn database(&self) -> Database {
        Database::connect(&self.config(&[]).database, &Secrets::default())
            .await
            .expect("pool builds")
    }

    /// A direct client for assertions and set-up.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

/// Configuration from a list of variables (never the process environment).
pub fn config_from(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned()).expect("test configuration is valid")
}

/// A loopback URL on which nothing listens (for "database unreachable").
pub fn unreachable_database_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("postgres://app:supersecret@127.0.0.1:{port}/crypto")
}

/// Reads a file of `events/` (the payloads used with `cargo lambda invoke --data-file`).
pub fn event(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A migrated database, a running CoinGecko simulator and the state pointing at both.
pub struct Harness {
    pub db: TestDb,
    pub sim: simulator::RunningSimulator,
    pub state: common::state::AppState,
    /// The fixed "now" of the simulator and the ingester.
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Harness {
    /// Starts everything; `sim` is adjusted to the fixed clock, `extra` adds variables.
    pub async fn start(sim: simulator::SimulatorConfig, extra: &[(&str, &str)]) -> Harness {
        // A fixed instant, not on the hour, shared by simulator and ingester.
        Self::start_at(
            sim,
            extra,
            chrono::Utc::now() - chrono::Duration::seconds(5),
        )
        .await
    }

    /// [`Harness::start`] with the default simulator injecting `faults`.
    pub async fn with_faults(faults: simulator::Faults, extra: &[(&str, &str)]) -> Harness {
        let sim = simulator::SimulatorConfig {
            faults,
            ..Default::default()
        };
        Self::start(sim, extra).await
    }

    /// [`Harness::start`] with a given fixed "now" (to reproduce another harness's run).
    pub async fn start_at(
        mut sim: simulator::SimulatorConfig,
        extra: &[(&str, &str)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Harness {
        let db = TestDb::migrated().await;
        sim.now_ms = Some(now.timestamp_millis());
        let sim = simulator::start(sim, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let base = sim.base_url();
        let mut vars = vec![
            ("COINGECKO_BASE_URL", base.as_str()),
            ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
        ];
        vars.extend_from_slice(extra);
        let state = common::state::AppState::new(db.config(&vars))
            .await
            .expect("state");
        Harness {
            db,
            sim,
            state,
            now,
        }
    }

    /// An ingester with fast retries and the harness's fixed clock.
    pub fn ingester(&self) -> common::ingest::Ingester<'_> {
        fast_ingester(&self.state, self.now)
    }

    /// Runs one ingestion without a deadline.
    pub async fn run(
        &self,
        mode: common::ingest::Mode,
        clean_first: bool,
    ) -> common::ingest::RunReport {
        self.ingester()
            .run(
                common::ingest::RunRequest {
                    mode,
                    clean_first,
                    trigger: common::ingest::Trigger::Manual,
                    run_id: None,
                },
                None,
            )
            .await
    }
}

/// An ingester over `state` with [`fast_retry`] and a clock fixed at `now`.
pub fn fast_ingester(
    state: &common::state::AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> common::ingest::Ingester<'_> {
    common::ingest::Ingester {
        retry: fast_retry(),
        clock: std::sync::Arc::new(move || now),
        ..common::ingest::Ingester::new(&state.config, &state.secrets, &state.db)
    }
}

/// Retries that keep tests fast: millisecond backoff, short timeouts.
pub fn fast_retry() -> common::coingecko::RetryPolicy {
    common::coingecko::RetryPolicy {
        max_retries: 3,
        min_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(20),
        max_retry_after: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(2),
    }
}

/// Row counts and an order-independent checksum of both price tables (timestamps of the
/// write itself excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub hourly: i64,
    pub daily: i64,
    pub md5: String,
}

/// The [`TableDigest`] of the price tables, optionally for one pair.
pub async fn table_digest(
    client: &tokio_postgres::Client,
    pair: Option<(&str, &str)>,
) -> TableDigest {
    let (coin, currency) = pair
        .map(|(a, b)| (Some(a), Some(b)))
        .unwrap_or((None, None));
    let row = client
        .query_one(
            "SELECT
               (SELECT count(*) FROM price_hourly WHERE ($1::text IS NULL OR coin_id = $1) AND ($2::text IS NULL OR currency_code = $2)),
               (SELECT count(*) FROM price_daily WHERE ($1::text IS NULL OR coin_id = $1) AND ($2::text IS NULL OR currency_code = $2)),
               md5(coalesce((SELECT string_agg(concat_ws('|', coin_id, currency_code, ts, price::text), ',' ORDER BY coin_id, currency_code, ts)
                               FROM price_hourly WHERE ($1::text IS NULL OR coin_id = $1) AND ($2::text IS NULL OR currency_code = $2)), '')
                || coalesce((SELECT string_agg(concat_ws('|', coin_id, currency_code, date, price::text, sample_count), ',' ORDER BY coin_id, currency_code, date)
                               FROM price_daily WHERE ($1::text IS NULL OR coin_id = $1) AND ($2::text IS NULL OR currency_code = $2)), ''))",
            &[&coin, &currency],
        )
        .await
        .expect("digest query");
    TableDigest {
        hourly: row.get(0),
        daily: row.get(1),
        md5: row.get(2),
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection dropped, new
/// ones refused) and restore: the database "going away" without touching the shared cluster.
pub struct DbProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DbProxy {
    /// Starts a proxy to the server of `url`.
    pub async fn start(url: &str) -> DbProxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let pg: tokio_postgres::Config = url.parse().unwrap();
        let target = format!("127.0.0.1:{}", pg.get_ports()[0]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(AtomicBool::new(true));
        let generation = std::sync::Arc::new(AtomicU64::new(0));
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let (up3, gen3) = (up2.clone(), gen2.clone());
                let born = gen3.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let alive = async {
                        loop {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            if !up3.load(Ordering::SeqCst) || gen3.load(Ordering::SeqCst) != born {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = alive => {}
                    }
                });
            }
        });
        DbProxy {
            port,
            up,
            generation,
        }
    }

    /// The database URL through the proxy.
    pub fn url(&self, url: &str) -> String {
        let pg: tokio_postgres::Config = url.parse().unwrap();
        let db = pg.get_dbname().unwrap_or("postgres");
        let user = pg.get_user().unwrap_or("postgres");
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A `GET` of `uri` without headers or body.
pub fn get(uri: &str) -> lambda_http::Request {
    request("GET", uri, &[], "")
}

/// Builds a request as API Gateway would deliver it for `method` `uri`.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(lambda_http::Body::from(body.to_owned()))
        .unwrap()
}

/// The JSON body of a response.
pub fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(response.body().as_ref())
        )
    })
}

/// A PostgreSQL cluster of one test's own (via `scripts/pg.sh`), for faults that would
/// disturb other tests: crashing the server in the middle of a run.
pub struct PrivateCluster {
    name: String,
    /// Admin URL of the cluster's `postgres` database.
    pub admin_url: String,
}

impl PrivateCluster {
    fn script(args: &[&str]) -> String {
        let script = format!("{}/../scripts/pg.sh", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .output()
            .expect("running scripts/pg.sh");
        assert!(
            out.status.success(),
            "scripts/pg.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts a fresh cluster (fsync off) on a free port.
    pub fn start() -> PrivateCluster {
        let name = format!(
            "pg-private-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin_url = Self::script(&["start", &name, "--fast"]);
        PrivateCluster { name, admin_url }
    }

    /// What the server has logged so far.
    pub fn server_log(&self) -> String {
        let path = format!(
            "{}/../.local/{}/server.log",
            env!("CARGO_MANIFEST_DIR"),
            self.name
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// Stops the server like a power cut (`pg_ctl stop -m immediate`).
    pub fn crash(&self) {
        Self::script(&["crash", &self.name]);
    }

    /// Starts the crashed server again on the same port (it runs crash recovery).
    pub fn restart(&self) {
        Self::script(&["start", &self.name, "--fast"]);
    }

    /// A new migrated database on this cluster.
    pub async fn migrated_database(&self, name: &str) -> String {
        let admin = connect(&self.admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        let url = with_database(&self.admin_url, name);
        let config = config_from(&[("DATABASE_URL", &url)]);
        Database::connect(&config.database, &Secrets::default())
            .await
            .unwrap()
            .migrate()
            .await
            .expect("migrations apply");
        url
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let script = format!("{}/../scripts/pg.sh", env!("CARGO_MANIFEST_DIR"));
        let _ = std::process::Command::new("bash")
            .arg(script)
            .args(["destroy", &self.name])
            .output();
    }
}

/// Waits (at most 20 s) until no run of `client`'s database is `running`.
pub async fn wait_for_runs_to_finish(client: &tokio_postgres::Client) {
    for _ in 0..400 {
        let running: i64 = client
            .query_one(
                "SELECT count(*) FROM ingestion_runs WHERE status = 'running'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if running == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("a run was still running after 20 s");
}
