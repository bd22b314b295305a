//! `crypto-dashboard migrate`: applies the pending migrations.

use std::process::ExitCode;

use super::setup::{db_error, state};

/// `crypto-dashboard migrate`.
pub async fn run() -> Result<ExitCode, String> {
    let state = state().await?;
    let applied = state
        .db
        .migrate()
        .await
        .map_err(|e| db_error(&e, &state.config.database))?;
    if applied.is_empty() {
        eprintln!("schema is up to date; nothing to apply");
    } else {
        for name in &applied {
            eprintln!("applied {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
