//! crypto-dashboard's shared library: everything but the wiring of each Lambda.
//!
//! - [`config`]: typed configuration from the environment, failing fast.
//! - [`aws`]: the AWS SDK configuration (HTTPS on rustls with ring).
//! - [`secrets`]: Secrets Manager reads with a TTL cache.
//! - [`db`]: the PostgreSQL pool (verified recycling, TLS, rotation) and migrations.
//! - [`api`]: HTTP routing, handlers, the envelope and caching headers.
//! - [`runs`]: the `ingestion_runs` table.
//! - [`telemetry`]: logging set-up for Lambda and local runs.

pub mod api;
pub mod aws;
pub mod coingecko;
pub mod config;
pub mod db;
pub mod domain;
pub mod ingest;
pub mod lambda;
pub mod runs;
pub mod secrets;
pub mod state;
pub mod telemetry;

/// A start-up failure: configuration, secrets or database set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error(transparent)]
    Db(#[from] db::DbError),
}
