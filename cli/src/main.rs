//! `crypto-dashboard`: the local binary. Same code as the Lambdas, driven from a terminal.
//!
//! - `commands`: one module per subcommand (`serve`, `ingest`, `migrate`, `status`,
//!   `simulate`) and the `setup` they share; `openapi` prints `common::api::document`.
//! - `coverage`: the data coverage report of `status`.
//! - `progress`, `table`, `logging`: what the terminal shows.

mod commands;
mod coverage;
mod logging;
mod progress;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};

#[derive(Parser)]
#[command(
    name = "crypto-dashboard",
    version,
    about = "Crypto price history: ingest from CoinGecko, serve the API and dashboard",
    long_about = "Crypto price history: ingest from CoinGecko into PostgreSQL, serve the HTTP API and the \
                  dashboard, and report data coverage. Configuration comes from the environment \
                  (DATABASE_URL, COINGECKO_*, TRACKED_*; see README.md).",
    after_help = "Examples:\n  \
                  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres\n  \
                  crypto-dashboard migrate && crypto-dashboard ingest > report.json\n  \
                  crypto-dashboard status\n  \
                  crypto-dashboard serve --port 3000\n\n\
                  Each command explains itself: crypto-dashboard <COMMAND> --help"
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
    /// Run one ingestion: live progress on stderr, the JSON run report on stdout.
    #[command(after_help = "Output:\n  \
                      stdout  the JSON run report, and nothing else (empty when the run cannot start)\n  \
                      stderr  on a terminal: live progress (pairs, calls, rate-limit waits, rows, failures),\n          \
                      then a table of the pairs and a summary; otherwise the summary only;\n          \
                      the failures in every case\n  \
                      exit    1 when the run failed or could not start\n\n\
                      Examples:\n  crypto-dashboard ingest\n  crypto-dashboard ingest --mode full --clean-first\n  \
                      crypto-dashboard ingest --deadline 600 --quiet > report.json\n  \
                      COINGECKO_BASE_URL=http://127.0.0.1:8090/api/v3 crypto-dashboard ingest --json | jq .status")]
    Ingest(commands::ingest::Args),
    /// Data coverage and freshness per coin x currency (range, gaps, age), and the last runs.
    #[command(
        after_help = "Gaps are UTC hours missing between a pair's first and last stored hour;\n\
                      \"age\" is the time since its newest point.\n\n\
                      Examples:\n  crypto-dashboard status\n  crypto-dashboard status --json | jq '.pairs[] | select(.gaps > 0)'"
    )]
    Status(commands::status::Args),
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
    /// Print the HTTP API's OpenAPI 3.1 document (YAML), built from the routes' declarations.
    #[command(
        after_help = "The committed openapi.yaml is this output; a test fails when they differ.\n\n\
                      Example:\n  crypto-dashboard openapi > openapi.yaml"
    )]
    Openapi,
    /// Print the month's call plan for 11, 100, 250 and 1,000 tracked coins on each
    /// CoinGecko plan: how often quotes are refreshed, calls a month, days to backfill.
    #[command(
        after_help = "The table in docs/operating.md is this output; a test fails when they differ.\n\n\
                      Example:\n  crypto-dashboard plan"
    )]
    Plan,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Drawn only by `ingest` on a terminal; logs are printed above it.
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    // `ingest` tells its own story on stderr: its logs would repeat it.
    let level = match cli.command {
        Command::Ingest(_) => "error",
        _ => "info",
    };
    logging::init(level, bars.clone());
    let result = match cli.command {
        Command::Migrate => commands::migrate::run().await,
        Command::Ingest(args) => commands::ingest::run(args, bars).await,
        Command::Status(args) => commands::status::run(args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::SimulateCoingecko(args) => commands::simulate::run(args).await,
        Command::Plan => {
            print!("{}", common::ingest::call_plan::standard_table());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => common::api::document()
            .to_yaml()
            .map(|yaml| {
                print!("{yaml}");
                ExitCode::SUCCESS
            })
            .map_err(|e| format!("the OpenAPI document does not serialise: {e}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_has_an_example_and_every_flag_a_help_text() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        for command in cli.get_subcommands() {
            let name = command.get_name();
            let after = command.get_after_help().map(|h| h.to_string());
            assert!(
                after.is_some_and(|h| h.contains("Example")),
                "{name} has no example"
            );
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_positional() {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{name} --{id} has no help");
            }
        }
    }
}
