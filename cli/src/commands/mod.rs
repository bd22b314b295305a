//! One module per subcommand. Each returns the process exit code, or an error message for
//! stderr.

pub mod ingest;
pub mod serve;
pub mod simulate;

use std::process::ExitCode;

use common::api::AppState;
use common::config::Config;

/// Loads configuration and builds the state, with errors phrased for a terminal.
pub async fn state() -> Result<AppState, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    AppState::new(config).await.map_err(|e| e.to_string())
}

/// `crypto-dashboard migrate`.
pub async fn migrate() -> Result<ExitCode, String> {
    let state = state().await?;
    let applied = state.db.migrate().await.map_err(|e| e.to_string())?;
    if applied.is_empty() {
        eprintln!("schema is up to date; nothing to apply");
    } else {
        for name in &applied {
            eprintln!("applied {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
