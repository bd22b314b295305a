//! `crypto-dashboard`: the local binary. Same code as the Lambdas, driven from a terminal.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::config::Config;
use common::db::Database;
use common::secrets::Secrets;

#[derive(Parser)]
#[command(
    name = "crypto-dashboard",
    version,
    about = "Crypto price history: ingest from CoinGecko, serve the API and dashboard"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations (a no-op when the schema is current).
    ///
    /// Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres crypto-dashboard migrate
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    common::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate => migrate().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let secrets = Secrets::for_config(&config).await;
    let db = Database::connect(&config.database, &secrets)
        .await
        .map_err(|e| e.to_string())?;
    let applied = db.migrate().await.map_err(|e| e.to_string())?;
    if applied.is_empty() {
        eprintln!("schema is up to date; nothing to apply");
    } else {
        for name in &applied {
            eprintln!("applied {name}");
        }
    }
    Ok(())
}
