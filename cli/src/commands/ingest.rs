//! `crypto-dashboard ingest`: one run with the Lambda's code; the JSON report on stdout.

use std::process::ExitCode;
use std::time::Duration;

use common::ingest::{Ingester, Mode, RunRequest, Status, Trigger};

/// Flags of `ingest`.
#[derive(clap::Args)]
pub struct Args {
    /// `incremental` fetches from 48 h before each pair's newest hour; `full` the last 90 days.
    #[arg(long, value_enum, default_value_t = ModeArg::Incremental)]
    mode: ModeArg,
    /// Replace each pair's stored rows (in the same transaction as its new data).
    #[arg(long)]
    clean_first: bool,
    /// Stop starting new pairs after this many seconds (as the Lambda deadline does).
    #[arg(long, value_name = "SECONDS")]
    deadline: Option<u64>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Incremental,
    Full,
}

/// Runs one ingestion. Exit code 1 when the run failed outright.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let state = super::state().await?;
    let request = RunRequest {
        mode: match args.mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Incremental => Mode::Incremental,
        },
        clean_first: args.clean_first,
        trigger: Trigger::Cli,
        run_id: None,
    };
    let deadline = args
        .deadline
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let report = Ingester::new(&state.config, &state.secrets, &state.db)
        .run(request, deadline)
        .await;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a report serialises")
    );
    Ok(if report.status == Status::Failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
