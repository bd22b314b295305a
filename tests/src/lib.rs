//! Test support for the end-to-end tests of `tests/integration/`: a fresh database per
//! test on the cluster `make test` started, the moto endpoint, configuration built from a
//! map instead of the process environment, the ingestion harness, and fault injectors (a
//! cuttable proxy, a private cluster to crash).
//!
//! Everything is re-exported here, so tests write `integration_tests::TestDb`.

pub mod aws;
pub mod cluster;
pub mod database;
pub mod harness;
pub mod http;
pub mod proxy;

pub use self::http::{cron_post, event, get, json_body, request, send};
pub use aws::{
    create_secret, moto_endpoint, moto_secrets, moto_secrets_client, state_with_secrets,
};
pub use cluster::PrivateCluster;
pub use database::{
    admin_url, config_from, connect, count_runs, table_digest, unreachable_database_url,
    with_database, TableDigest, TestDb,
};
pub use harness::{fast_ingester, fast_retry, fixed_now, wait_for_runs_to_finish, Harness};
pub use proxy::DbProxy;
