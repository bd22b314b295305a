//! `crypto-dashboard`: the local binary. Same code as the Lambdas, driven from a terminal.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "crypto-dashboard",
    version,
    about = "Crypto price history: ingest from CoinGecko, serve the API and dashboard",
    long_about = "Crypto price history: ingest from CoinGecko into PostgreSQL, serve the HTTP API and the \
                  dashboard, and report data coverage. Configuration comes from the environment \
                  (DATABASE_URL, COINGECKO_*, TRACKED_*; see README.md)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations (a no-op when the schema is current).
    #[command(
        after_help = "Example:\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres crypto-dashboard migrate"
    )]
    Migrate,
    /// Run one ingestion and print its JSON report on stdout.
    #[command(
        after_help = "Examples:\n  crypto-dashboard ingest\n  crypto-dashboard ingest --mode full --clean-first\n  \
                            COINGECKO_BASE_URL=http://127.0.0.1:8090/api/v3 crypto-dashboard ingest --json"
    )]
    Ingest(commands::ingest::Args),
    /// Serve the HTTP API and the dashboard on one local origin (as CloudFront does in AWS).
    #[command(
        after_help = "Examples:\n  crypto-dashboard serve\n  crypto-dashboard serve --port 8080 --dashboard-dir dashboard/dist\n  \
                            curl -s localhost:3000/api/market?currency=eur"
    )]
    Serve(commands::serve::Args),
    /// Serve a simulated CoinGecko API (synthetic, clearly labelled data) for offline work.
    #[command(
        name = "simulate-coingecko",
        after_help = "Examples:\n  crypto-dashboard simulate-coingecko --port 8090\n  \
                      crypto-dashboard simulate-coingecko --rate-limit 30 --error-rate 0.1 --null-rate 0.01"
    )]
    SimulateCoingecko(commands::simulate::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    common::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate => commands::migrate().await,
        Command::Ingest(args) => commands::ingest::run(args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::SimulateCoingecko(args) => commands::simulate::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
