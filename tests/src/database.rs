//! Databases for tests: a fresh one per test on the cluster `make test` started, direct
//! connections, configuration built from a list of variables, and a digest of the price
//! tables to compare two runs.

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

    /// A migrated database holding the coin `bitcoin` (tracked) and the currency `usd` (no
    /// prices), and a connection to it.
    pub async fn with_bitcoin_usd() -> (TestDb, tokio_postgres::Client) {
        let db = TestDb::migrated().await;
        let client = db.client().await;
        client
            .batch_execute(
                "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar');
                 INSERT INTO coins (id, symbol, name, tracked) VALUES ('bitcoin', 'btc', 'Bitcoin', true);",
            )
            .await
            .expect("bitcoin and usd insert");
        (db, client)
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

/// The original's eleven coins: the checks of the original's behaviour track these (SPEC
/// "Tracked coins and the call budget") unless a test sets `TRACKED_COINS` itself.
pub const ORIGINAL_COINS: &str =
    "bitcoin,ethereum,tether,binancecoin,solana,ripple,usd-coin,cardano,dogecoin,tron,avalanche-2";

/// Configuration from a list of variables (never the process environment); `TRACKED_COINS`
/// is [`ORIGINAL_COINS`] unless given.
pub fn config_from(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("TRACKED_COINS".into())
        .or_insert_with(|| ORIGINAL_COINS.into());
    Config::from_lookup(|k| map.get(k).cloned()).expect("test configuration is valid")
}

/// A loopback URL on which nothing listens (for "database unreachable").
pub fn unreachable_database_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("postgres://app:supersecret@127.0.0.1:{port}/crypto")
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
                || coalesce((SELECT string_agg(concat_ws('|', coin_id, currency_code, date, price::text, sample_count, source), ',' ORDER BY coin_id, currency_code, date)
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

/// How many runs `ingestion_runs` holds.
pub async fn count_runs(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM ingestion_runs", &[])
        .await
        .expect("counting runs")
        .get(0)
}
