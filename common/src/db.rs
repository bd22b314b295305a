//! The PostgreSQL pool, built once per container, and the schema migrations.
//!
//! Connections are checked before reuse (a statement runs on each before it is handed out,
//! which also clears stale advisory locks): a Lambda container can be frozen for minutes and
//! its sockets silently dropped. When PostgreSQL rejects the
//! password (SQLSTATE 28P01) and the credentials come from Secrets Manager, the secret is read
//! again and the pool rebuilt once, so a rotation causes no outage.

use std::sync::RwLock;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::error::SqlState;

use crate::config::{DatabaseConfig, DatabaseSource, SecretSource, SslMode};
use crate::domain::FailureCode;
use crate::secrets::{database_url_from_secret, SecretError, Secrets};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Why the database could not be used. Messages carry no password or connection string.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server could not be reached, refused us, or timed out.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// Credentials could not be obtained.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The configuration cannot produce a connection (bad URL, unreadable CA bundle).
    #[error("database configuration error: {0}")]
    Config(String),
    /// A statement failed. Shown as [`describe`] says (SQLSTATE, the server's message, the
    /// constraint), never with the statement's parameters; the driver's error is not exposed
    /// as a source, since its text adds the server's DETAIL line, which quotes values.
    #[error("database query failed: {}", describe(.0))]
    Query(tokio_postgres::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Query(e)
    }
}

impl DbError {
    /// The run report's code for this failure: specific where the SQLSTATE says what went
    /// wrong (a constraint, a lost race, a timeout), so a report tells them apart without the
    /// message, which the public runs route hides.
    pub fn failure_code(&self) -> FailureCode {
        if self.is_unavailable() {
            return FailureCode::DatabaseUnavailable;
        }
        let DbError::Query(e) = self else {
            return FailureCode::DatabaseError;
        };
        match e.code() {
            Some(code) if code.code().starts_with("23") => FailureCode::DatabaseConstraint,
            Some(code)
                if code == &SqlState::T_R_SERIALIZATION_FAILURE
                    || code == &SqlState::T_R_DEADLOCK_DETECTED =>
            {
                FailureCode::DatabaseConflict
            }
            Some(code)
                if code == &SqlState::QUERY_CANCELED || code == &SqlState::LOCK_NOT_AVAILABLE =>
            {
                FailureCode::DatabaseTimeout
            }
            _ => FailureCode::DatabaseError,
        }
    }

    /// True when the failure means "the database is not there right now" (answer 503, retry later).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Query(e) => is_connection_error(e),
            _ => false,
        }
    }
}

/// A driver error as logs and run reports show it: the SQLSTATE, the server's
/// message and the constraint, table and column it names. Never the statement's parameters
/// (the server's DETAIL quotes them) nor connection details. Errors without a server answer
/// (a refused connection, a type mismatch) keep the driver's text and its sources, which name
/// the failing operation ("connection refused"), never the credentials.
pub fn describe(e: &tokio_postgres::Error) -> String {
    let Some(server) = e.as_db_error() else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        return text;
    };
    let mut text = format!("SQLSTATE {}: {}", server.code().code(), server.message());
    let named = [
        ("constraint", server.constraint()),
        ("table", server.table()),
        ("column", server.column()),
    ];
    for (what, name) in named {
        if let Some(name) = name {
            text.push_str(&format!("; {what} {name}"));
        }
    }
    text
}

/// True for errors caused by a lost or refused connection rather than by the statement.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08") // connection exceptions
                || code == &SqlState::ADMIN_SHUTDOWN
                || code == &SqlState::CRASH_SHUTDOWN
                || code == &SqlState::CANNOT_CONNECT_NOW
                || code == &SqlState::TOO_MANY_CONNECTIONS
        }
        // No SQLSTATE: an I/O error or a timeout on the socket.
        None => std::error::Error::source(e).is_some(),
    }
}

/// The connection pool plus what is needed to rebuild it after a credential rotation.
pub struct Database {
    config: DatabaseConfig,
    secrets: Secrets,
    /// The pool and how many times it was rebuilt (a rotation replaces it).
    pool: RwLock<(u64, Pool)>,
    /// One rebuild at a time: requests that meet the new password together re-read the
    /// secret once.
    rotation: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool().status();
        f.debug_struct("Database")
            .field("pool_max_size", &status.max_size)
            .field("pool_size", &status.size)
            .finish()
    }
}

impl Database {
    /// Builds the pool. No connection is opened until the first [`Database::client`] call, so a
    /// cold start does not wait for the database.
    pub async fn connect(config: &DatabaseConfig, secrets: &Secrets) -> Result<Self, DbError> {
        let url = resolve_url(config, secrets, false).await?;
        let pool = build_pool(config, &url)?;
        Ok(Database {
            config: config.clone(),
            secrets: secrets.clone(),
            pool: RwLock::new((0, pool)),
            rotation: tokio::sync::Mutex::new(()),
        })
    }

    fn pool(&self) -> Pool {
        self.current().1
    }

    fn current(&self) -> (u64, Pool) {
        self.pool.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A checked-out, verified connection.
    pub async fn client(&self) -> Result<Object, DbError> {
        let (generation, pool) = self.current();
        match pool.get().await {
            Ok(client) => Ok(client),
            Err(PoolError::Backend(e)) if e.code() == Some(&SqlState::INVALID_PASSWORD) => {
                if !matches!(self.config.source, DatabaseSource::SecretArn(_)) {
                    return Err(DbError::Unavailable(
                        "password authentication failed".into(),
                    ));
                }
                self.rebuild_after_rotation(generation).await?;
                self.pool().get().await.map_err(pool_error)
            }
            // Another request rebuilt the pool while this one waited on the old one.
            Err(PoolError::Closed) if self.current().0 != generation => {
                self.pool().get().await.map_err(pool_error)
            }
            Err(e) => Err(pool_error(e)),
        }
    }

    /// Re-reads the secret and replaces the pool, unless another request already did since
    /// `seen` (requests that meet the new password together rebuild once).
    async fn rebuild_after_rotation(&self, seen: u64) -> Result<(), DbError> {
        let _one_at_a_time = self.rotation.lock().await;
        if self.current().0 != seen {
            return Ok(());
        }
        tracing::warn!("database rejected the password; re-reading the secret (rotation?)");
        let url = resolve_url(&self.config, &self.secrets, true).await?;
        let fresh = build_pool(&self.config, &url)?;
        let (_, old) = std::mem::replace(
            &mut *self.pool.write().unwrap_or_else(|p| p.into_inner()),
            (seen + 1, fresh),
        );
        old.close();
        Ok(())
    }

    /// Runs `SELECT 1` on a pooled connection: the health check.
    pub async fn ping(&self) -> Result<(), DbError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Applies pending migrations from `migrations/`; returns the versions applied now
    /// (empty when the schema was already current).
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut client = self.client().await?;
        let report = embedded::migrations::runner()
            .set_abort_divergent(true)
            .run_async(&mut **client)
            .await
            .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| format!("V{}__{}", m.version(), m.name()))
            .collect())
    }

    /// Closes every pooled connection (tests use this to simulate a frozen container).
    pub fn close(&self) {
        self.pool().close();
    }
}

async fn resolve_url(
    config: &DatabaseConfig,
    secrets: &Secrets,
    refresh: bool,
) -> Result<SecretString, DbError> {
    match &config.source {
        DatabaseSource::Url(url) => Ok(url.clone()),
        DatabaseSource::SecretArn(arn) => {
            let source = SecretSource::SecretsManager(arn.clone());
            let raw = if refresh {
                secrets.refresh(&source).await?
            } else {
                secrets.resolve(&source).await?
            };
            Ok(database_url_from_secret(
                arn,
                &raw,
                config.host_override.as_deref(),
            )?)
        }
    }
}

fn build_pool(config: &DatabaseConfig, url: &SecretString) -> Result<Pool, DbError> {
    let mut pg: tokio_postgres::Config = url
        .expose_secret()
        .parse()
        // The parser's messages describe the syntax, not the URL; still, keep it generic.
        .map_err(|_| DbError::Config("the database URL could not be parsed".into()))?;
    pg.connect_timeout(config.connect_timeout);
    pg.keepalives_idle(Duration::from_secs(30));
    if pg.get_application_name().is_none() {
        pg.application_name("crypto-dashboard");
    }
    // Verified recycling with a statement that also drops any session advisory lock a
    // connection still holds: a run lock that leaked past its run never outlives a checkout.
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Custom("SELECT pg_advisory_unlock_all()".into()),
    };
    let manager = match config.ssl_mode {
        SslMode::Disable => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        SslMode::Require => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            Manager::from_config(pg, tls_connector(config)?, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(config.pool_max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .build()
        .map_err(|e| DbError::Config(e.to_string()))
}

fn tls_connector(
    config: &DatabaseConfig,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let path = config.ssl_root_cert.as_ref().ok_or_else(|| {
        DbError::Config("DB_SSL_ROOT_CERT is required with DB_SSLMODE=require".into())
    })?;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
        DbError::Config(format!(
            "cannot read DB_SSL_ROOT_CERT {}: {e}",
            path.display()
        ))
    })?;
    for cert in certs {
        let cert = cert
            .map_err(|e| DbError::Config(format!("bad certificate in {}: {e}", path.display())))?;
        roots.add(cert).map_err(|e| {
            DbError::Config(format!("unusable certificate in {}: {e}", path.display()))
        })?;
    }
    if roots.is_empty() {
        return Err(DbError::Config(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| DbError::Config(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

fn pool_error(e: PoolError) -> DbError {
    match e {
        PoolError::Backend(e) if e.code() == Some(&SqlState::INVALID_PASSWORD) => {
            DbError::Unavailable("password authentication failed".into())
        }
        PoolError::Backend(e) if !is_connection_error(&e) => DbError::Query(e),
        PoolError::Backend(e) => DbError::Unavailable(describe(&e)),
        PoolError::Timeout(kind) => DbError::Unavailable(format!("timed out ({kind:?})")),
        PoolError::Closed => DbError::Unavailable("pool closed".into()),
        other => DbError::Unavailable(other.to_string()),
    }
}
