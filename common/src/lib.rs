//! crypto-dashboard's shared library: what two or more binaries use. Dependencies point one
//! way: `api` -> `ingest` -> `db`, `config`, `domain`, `coingecko`, `secrets` (see
//! docs/architecture.md).
//!
//! - [`config`]: typed configuration from the environment, failing fast.
//! - [`aws`]: the AWS SDK configuration (HTTPS on rustls with ring).
//! - [`secrets`]: Secrets Manager reads with a TTL cache.
//! - [`db`]: the PostgreSQL pool (verified recycling, TLS, rotation) and migrations.
//! - [`state`]: what a process builds once: configuration, secrets reader, pool.
//! - [`domain`]: pure rules: hourly averages, failure codes, currency names.
//! - [`coingecko`]: the CoinGecko client (rate budget, retries, deadline).
//! - [`ingest`]: one ingestion run, its plan, writes, run records and report.
//! - [`api`]: HTTP routing, handlers, their queries, the envelope and caching headers.
//! - [`lambda`]: the wiring every HTTP Lambda shares, and the Lambda deadline.
//! - [`telemetry`]: logging set-up for Lambda and local runs.

pub mod api;
pub mod aws;
pub mod coingecko;
pub mod config;
pub mod db;
pub mod domain;
pub mod ingest;
pub mod lambda;
pub mod secrets;
pub mod state;
pub mod telemetry;

pub use state::Error;
