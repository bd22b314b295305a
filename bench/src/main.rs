//! `make bench` measurements. Each subcommand prints one JSON document on stdout;
//! `scripts/bench.sh` runs them and writes `docs/benchmarks.md`.

mod cold_start;
mod first_run;
mod handlers;
mod live;
mod load;
mod month;
mod scale;
mod stats;
mod write_path;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "crypto-dashboard benchmarks (see scripts/bench.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The ingestion write path for 44 pairs x 90 days: ours vs per-row INSERT vs plain COPY.
    WritePath {
        /// Admin URL of the PostgreSQL server to create scratch databases on.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// A first full run (coins list, metadata, 44 hourly and 44 backfill range calls) at
    /// `per_min` against a simulator enforcing the same limit, on an empty database; then a
    /// second (incremental) run.
    FirstRun {
        /// Admin URL of the PostgreSQL server to create the scratch database on.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 30)]
        per_min: u32,
        /// The second run's budget: equal to `per_min` paces it against the same simulator;
        /// unset lifts the limit (an unlimited simulator; only its counts mean anything).
        #[arg(long)]
        second_per_min: Option<u32>,
    },
    /// Live refresh end to end: ingest runs in mode `latest` (one `/simple/price` call to the
    /// simulator, rate limit lifted, and the upsert).
    LiveRefresh {
        /// URL of a database filled by a full ingestion.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// In-process handler latency (warm) for the prices and market routes.
    Handlers {
        /// URL of a database filled by a full ingestion.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
    /// `top:coins` x 4 currencies with a year of history (generated), next to 11 coins: size
    /// on disk, read routes (the market in every sort), live refresh, peak RSS, `status`.
    Scale {
        /// Admin URL of the PostgreSQL server to create the scratch databases on.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 1000)]
        coins: usize,
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        #[arg(long, default_value_t = 10)]
        live_runs: usize,
        /// Directory holding the release `crypto-dashboard` binary.
        #[arg(long, default_value = "target/release")]
        bin_dir: std::path::PathBuf,
    },
    /// Bounded HTTP load on `paths` of a running server (`make soak`).
    Load {
        #[arg(long)]
        base_url: String,
        #[arg(long, required = true)]
        path: Vec<String>,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// A simulated month at the defaults (top:100 + the eleven, 4 currencies, Demo budget) on
    /// the schedule's clock, 60 times faster: calls, the oldest quote, the backfill's last day.
    Month {
        /// Admin URL of the PostgreSQL server to create the scratch database on.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 31)]
        days: u32,
    },
    /// Cold starts of every function binary against a minimal Lambda Runtime API.
    ColdStart {
        /// Directory holding the release binaries.
        #[arg(long, default_value = "target/release")]
        bin_dir: std::path::PathBuf,
        /// Database URL the functions get (filled by a full ingestion).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::WritePath { database_url, runs } => write_path::run(&database_url, runs).await,
        Command::FirstRun {
            database_url,
            per_min,
            second_per_min,
        } => first_run::run(&database_url, per_min, second_per_min).await,
        Command::LiveRefresh { database_url, runs } => live::run(&database_url, runs).await,
        Command::Month { database_url, days } => month::run(&database_url, days).await,
        Command::Handlers {
            database_url,
            iterations,
        } => handlers::run(&database_url, iterations).await,
        Command::Scale {
            database_url,
            coins,
            iterations,
            live_runs,
            bin_dir,
        } => {
            scale::run(scale::Options {
                admin: &database_url,
                coins,
                iterations,
                live_runs,
                bin_dir: &bin_dir,
            })
            .await
        }
        Command::Load {
            base_url,
            path,
            seconds,
            concurrency,
        } => load::run(&base_url, &path, seconds.min(600), concurrency.min(512)).await,
        Command::ColdStart {
            bin_dir,
            database_url,
            runs,
        } => cold_start::run(&bin_dir, &database_url, runs).await,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&result).expect("serialises")
    );
}
