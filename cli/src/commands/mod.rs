//! One module per subcommand. Each returns the process exit code, or an error message for
//! stderr.

pub mod ingest;
pub mod migrate;
pub mod serve;
pub mod setup;
pub mod simulate;
pub mod status;
