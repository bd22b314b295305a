//! Every end-to-end test in one executable: each former `tests/*.rs` file is a module here,
//! so the AWS SDK, axum and wiremock are linked once instead of once per file. A test is
//! named `module::test_name` (`cargo test -p integration-tests hardening::`).
//!
//! The tests run in parallel within this one process: a test must not change anything
//! process-wide (the global tracing subscriber, environment variables) or cluster-wide on the
//! shared PostgreSQL (it works in a database of its own, or on a `PrivateCluster`).

mod api;
mod aws_paths;
mod backfill;
mod call_budget;
mod coingecko_client;
mod cron;
mod docs;
mod document;
mod events;
mod faults;
mod hardening;
mod health;
mod hostile_input;
mod ingestion;
mod latest;
mod log_secrets;
mod market;
mod migrations;
mod migrations_resource;
mod prices_csv;
mod rate_limit;
mod row_reads;
mod run_lifecycle;
mod secrets;
mod simulator;
mod tracking;
