//! `crypto-dashboard ingest`: one run with the Lambda's code.
//!
//! stdout carries the JSON run report and nothing else (nothing at all when the run cannot
//! start: bad configuration, database unreachable or not migrated). stderr carries what a
//! person reads: on a terminal a live progress display, then a table of the pairs and a
//! summary; elsewhere (pipes, CI) the summary only, with no control characters; with
//! `--quiet` nothing but the run's failures.

use super::setup;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use common::db::DbError;
use common::ingest::{Failure, Ingester, Mode, PairResult, RunReport, RunRequest, Status, Trigger};
use common::state::AppState;
use indicatif::MultiProgress;

use crate::progress::LiveProgress;
use crate::table::{count, render, thousands, Align};

/// Distinct failures listed on stderr after a run, and the pairs named for each.
const FAILURES_SHOWN: usize = 5;
const SUBJECTS_SHOWN: usize = 4;

/// Flags of `ingest`.
#[derive(clap::Args)]
pub struct Args {
    /// `incremental` fetches from 48 h before each pair's newest hour; `full` from the first
    /// UTC midnight within 90 days; `latest` only the live quotes (as few /simple/price calls
    /// as the URL length allows).
    #[arg(long, value_enum, default_value_t = ModeArg::Incremental)]
    mode: ModeArg,
    /// Replace each pair's stored rows (in the same transaction as its new data).
    #[arg(long)]
    clean_first: bool,
    /// Stop starting new pairs after this many seconds (as the Lambda deadline does).
    #[arg(long, value_name = "SECONDS")]
    deadline: Option<u64>,
    /// Print the report as one compact JSON line instead of pretty-printed.
    #[arg(long)]
    json: bool,
    /// No progress and no summary on stderr; failures are still reported.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Incremental,
    Full,
    /// Live quotes only: /simple/price into price_latest and their hours.
    Latest,
}

/// What goes to stderr.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Display {
    /// Progress bars, the pairs table and the summary line (stderr is a terminal).
    Live,
    /// The summary line.
    Plain,
    /// Failures only.
    Quiet,
}

/// Runs one ingestion, drawing progress on `bars` when stderr is a terminal. Exit code 1
/// when the run failed outright or could not start.
pub async fn run(args: Args, bars: MultiProgress) -> Result<ExitCode, String> {
    let state = setup::state().await?;
    ready(&state).await?;
    let display = if args.quiet {
        Display::Quiet
    } else if std::io::stderr().is_terminal() {
        Display::Live
    } else {
        Display::Plain
    };
    let request = RunRequest {
        mode: match args.mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Incremental => Mode::Incremental,
            ModeArg::Latest => Mode::Latest,
        },
        clean_first: args.clean_first,
        trigger: Trigger::Cli,
        run_id: None,
    };
    let deadline = args
        .deadline
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));

    let live = (display == Display::Live)
        .then(|| LiveProgress::start(bars, state.config.coingecko.rate_limit_per_min));
    let ingester = Ingester {
        progress: live.as_ref().map(LiveProgress::sink),
        ..Ingester::new(&state.config, &state.secrets, &state.db)
    };
    let report = ingester.run(request, deadline).await;
    if let Some(live) = live {
        live.finish();
    }

    let json = if args.json {
        serde_json::to_string(&report)
    } else {
        serde_json::to_string_pretty(&report)
    };
    setup::print_stdout(&(json.expect("a report serialises") + "\n"))?;

    if display == Display::Live {
        eprint!("{}", pairs_table(&report.pair_results));
    }
    if display != Display::Quiet {
        eprintln!("{}", summary(&report));
    }
    eprint!("{}", failures(&report.failures, report.status));
    Ok(if report.status == Status::Failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Fails fast, saying where it tried and what to check, when the database is unreachable
/// or not migrated: the run could not even be recorded.
async fn ready(state: &AppState) -> Result<(), String> {
    let explain = |e: DbError| setup::db_error(&e, &state.config.database);
    let client = state.db.client().await.map_err(explain)?;
    client
        .execute("SELECT 1 FROM ingestion_runs LIMIT 0", &[])
        .await
        .map_err(|e| explain(e.into()))?;
    Ok(())
}

/// One line per pair: status, rows, window and duration.
fn pairs_table(pairs: &[PairResult]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let columns = [
        ("pair", Align::Left),
        ("status", Align::Left),
        ("hourly", Align::Right),
        ("daily", Align::Right),
        ("window (UTC)", Align::Left),
        ("took", Align::Right),
    ];
    let minute = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                format!("{}/{}", p.coin, p.currency),
                p.status.as_str().to_owned(),
                thousands(p.hourly_rows),
                thousands(p.daily_rows),
                match (p.from, p.to) {
                    (Some(from), Some(to)) => format!("{} → {}", minute(from), minute(to)),
                    _ => "-".into(),
                },
                format!("{:.1}s", p.duration_ms as f64 / 1000.0),
            ]
        })
        .collect();
    render(&columns, &rows)
}

/// The run in two lines, and a third when pairs were backfilled.
fn summary(r: &RunReport) -> String {
    let mut out = format!(
        "ingest {} in {:.1}s (run {}): {} ok, {} failed, {} skipped\n  \
         rows: {} hourly, {} daily, {} metadata · calls: {}, retries: {}, rate-limited: {}{}",
        r.status.as_str(),
        r.duration_ms as f64 / 1000.0,
        r.run_id,
        count(r.pairs.ok, "pair"),
        r.pairs.failed,
        r.pairs.skipped,
        thousands(r.rows.hourly),
        thousands(r.rows.daily),
        thousands(r.rows.metadata),
        r.api_calls,
        r.retries,
        r.rate_limited,
        if r.simulated {
            " · prices SIMULATED"
        } else {
            ""
        }
    );
    let b = &r.backfill;
    if !b.is_empty() {
        out.push_str(&format!(
            "\n  history backfill: {} ok, {} failed, {} left for the next run · {} snapshot days · {} calls",
            count(b.ok, "pair"),
            b.failed,
            b.skipped,
            thousands(r.rows.snapshot),
            r.calls.backfill
        ));
    }
    out
}

/// The failures, one line per distinct code and message naming the pairs or coins it hit
/// (`error:` when the run failed, else `warning:`); the report has them all.
fn failures(failures: &[Failure], status: Status) -> String {
    let level = if status == Status::Failed {
        "error"
    } else {
        "warning"
    };
    let mut groups: Vec<(&Failure, Vec<String>)> = Vec::new();
    for f in failures {
        let subject = match (&f.coin, &f.currency) {
            (Some(coin), Some(currency)) => Some(format!("{coin}/{currency}")),
            (Some(coin), None) => Some(coin.clone()),
            _ => None,
        };
        match groups
            .iter_mut()
            .find(|(g, _)| g.code == f.code && g.message == f.message)
        {
            Some((_, subjects)) => subjects.extend(subject),
            None => groups.push((f, subject.into_iter().collect())),
        }
    }
    let mut out = String::new();
    for (f, subjects) in groups.iter().take(FAILURES_SHOWN) {
        let on = match subjects.len() {
            0 => String::new(),
            n if n <= SUBJECTS_SHOWN => format!("{}: ", subjects.join(", ")),
            n => format!(
                "{} and {} more: ",
                subjects[..SUBJECTS_SHOWN].join(", "),
                n - SUBJECTS_SHOWN
            ),
        };
        out.push_str(&format!("{level}: {on}{} [{}]\n", f.message, f.code));
    }
    if groups.len() > FAILURES_SHOWN {
        out.push_str(&format!(
            "{level}: and {} more kinds of failure (see \"failures\" in the report)\n",
            groups.len() - FAILURES_SHOWN
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(coin: Option<&str>, currency: Option<&str>, code: &str, message: &str) -> Failure {
        Failure {
            coin: coin.map(String::from),
            currency: currency.map(String::from),
            code: code.parse().expect("a known failure code"),
            message: message.into(),
        }
    }

    #[test]
    fn the_summary_names_the_backfill_only_when_one_ran() {
        let mut r = RunReport::new(
            Default::default(),
            common::ingest::Trigger::Cli,
            common::ingest::Mode::Full,
            false,
        );
        assert_eq!(summary(&r).lines().count(), 2);
        r.backfill.ok = 44;
        r.rows.snapshot = 12_100;
        r.calls.backfill = 44;
        let text = summary(&r);
        assert_eq!(
            text.lines().nth(2),
            Some("  history backfill: 44 pairs ok, 0 failed, 0 left for the next run · 12,100 snapshot days · 44 calls")
        );
    }

    #[test]
    fn the_same_failure_on_many_pairs_is_one_line() {
        let http = "CoinGecko answered HTTP 500 (application/json)";
        let mut list: Vec<Failure> = ["usd", "eur", "gbp", "jpy", "chf"]
            .iter()
            .map(|c| failure(Some("tron"), Some(c), "UPSTREAM_5XX", http))
            .collect();
        list.insert(0, failure(None, None, "TIMEOUT", "/coins/list: timed out"));
        list.push(failure(Some("solana"), None, "NOT_FOUND", "no metadata"));
        assert_eq!(
            failures(&list, Status::Partial),
            "warning: /coins/list: timed out [TIMEOUT]\n\
             warning: tron/usd, tron/eur, tron/gbp, tron/jpy and 1 more: \
             CoinGecko answered HTTP 500 (application/json) [UPSTREAM_5XX]\n\
             warning: solana: no metadata [NOT_FOUND]\n"
        );
        let gone = [failure(None, None, "DATABASE_ERROR", "gone")];
        assert_eq!(
            failures(&gone, Status::Failed),
            "error: gone [DATABASE_ERROR]\n"
        );
    }
}
