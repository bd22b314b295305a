//! `crypto-dashboard status`: how fresh and complete the stored prices are, per tracked
//! coin x currency, health's verdict on the newest history run and live refresh, and how the
//! last runs of each kind went.

use super::setup;
use std::process::ExitCode;

use crate::coverage::{self, Coverage, PairCoverage, RecentRun};
use chrono::{DateTime, Utc};
use common::db::DbError;
use common::ingest::freshness::{
    Freshness, HealthStatus, JudgedRun, HISTORY_STALE_AFTER, LIVE_STALE_INTERVALS,
};
use common::ingest::store;

use crate::table::{age, count, render, thousands, Align};

/// Runs of each kind listed under the coverage table.
const RUNS: i64 = 5;

/// Flags of `status`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the report as pretty JSON (for scripts) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Prints the coverage report on stdout.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let state = setup::state().await?;
    let (config, db_config) = (&state.config, &state.config.database);
    let client = state
        .db
        .client()
        .await
        .map_err(|e| setup::db_error(&e, db_config))?;
    let db_error = |e| setup::db_error(&DbError::from(e), db_config);
    let mut coins = config.tracked_coins.pinned.clone();
    if config.tracked_coins.top.is_some() {
        coins.extend(
            store::tracked_ranked(&client, &coins)
                .await
                .map_err(db_error)?,
        );
    }
    let coverage = coverage::report(
        &client,
        &coins,
        &config.tracked_currencies,
        config.live_every,
        config.coingecko.monthly_calls,
        RUNS,
    )
    .await
    .map_err(db_error)?;
    let out = if args.json {
        serde_json::to_string_pretty(&coverage).expect("the report serialises") + "\n"
    } else {
        text(&coverage)
    };
    setup::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The human report: two summary lines, the pairs (how deep the daily history goes, its
/// days and how many of them are snapshots), the last runs (about 120 columns).
fn text(c: &Coverage) -> String {
    let s = &c.summary;
    let mut out = format!(
        "{}/{} pairs have data · {} stored · {} with gaps ({} missing)\n",
        s.pairs_with_data,
        s.pairs,
        count(s.hours, "hour"),
        s.pairs_with_gaps,
        count(s.missing_hours, "hour")
    );
    match &s.stalest {
        Some(st) => out.push_str(&format!(
            "stalest pair: {}/{}, newest point {} ({} ago) · as of {} UTC\n",
            st.coin,
            st.currency,
            hour(st.last_hour),
            age(st.age_seconds),
            hour(c.as_of)
        )),
        None => out.push_str("no prices stored yet: run `crypto-dashboard ingest`\n"),
    }
    if !c.unknown_coins.is_empty() {
        out.push_str(&format!(
            "CoinGecko does not know these TRACKED_COINS ids (newest history run): {}\n",
            c.unknown_coins.join(", ")
        ));
    }
    let b = &c.budget;
    out.push_str(&format!(
        "CoinGecko calls this month (UTC): {} of {} spent, {} left\n",
        thousands(b.spent as i64),
        thousands(b.monthly as i64),
        thousands(b.remaining as i64)
    ));
    out.push('\n');
    let columns = [
        ("coin", Align::Left),
        ("cur", Align::Left),
        ("history from", Align::Left),
        ("last (UTC)", Align::Left),
        ("age", Align::Right),
        ("hours", Align::Right),
        ("days", Align::Right),
        ("snapshots", Align::Right),
        ("missing", Align::Right),
        ("gaps", Align::Right),
        ("largest gap", Align::Left),
    ];
    let rows: Vec<Vec<String>> = c.pairs.iter().map(pair_row).collect();
    out.push_str(&render(&columns, &rows));
    out.push('\n');
    out.push_str(&freshness(&c.freshness, c.as_of));
    for (title, runs) in [
        ("last history runs", &c.history_runs),
        ("last live refreshes", &c.live_refreshes),
    ] {
        out.push('\n');
        if runs.is_empty() {
            out.push_str(&format!("{title}: none recorded yet\n"));
            continue;
        }
        out.push_str(title);
        out.push('\n');
        let columns = [
            ("started (UTC)", Align::Left),
            ("trigger", Align::Left),
            ("mode", Align::Left),
            ("status", Align::Left),
            ("took", Align::Right),
            ("pairs ok/failed/skipped", Align::Right),
            ("hourly rows", Align::Right),
            ("prices", Align::Left),
        ];
        let rows: Vec<Vec<String>> = runs.iter().map(run_row).collect();
        out.push_str(&render(&columns, &rows));
    }
    out
}

/// Health's verdict, one line for each kind of run: "health: degraded", then e.g.
/// "  history run   failed, ended 2026-12-03 02:01 (3d 2h ago), STALE (limit 26h)".
fn freshness(f: &Freshness, as_of: DateTime<Utc>) -> String {
    let verdict = match f.status {
        HealthStatus::Ok => "ok",
        HealthStatus::Degraded => "DEGRADED",
    };
    let line = |name: &str, run: &Option<JudgedRun>, off: bool| {
        let state = match run {
            None if off => "off (LIVE_EVERY_MINUTES=0)".to_owned(),
            None => "none yet".to_owned(),
            Some(j) => {
                let (what, at) = match j.run.finished_at {
                    Some(at) => ("ended", at),
                    None => ("started", j.run.started_at),
                };
                let mut text = format!(
                    "{}, {what} {} ({} ago)",
                    j.run.status.as_str(),
                    hour(at),
                    age((as_of - at).num_seconds().max(0))
                );
                if j.stale {
                    text.push_str(", STALE");
                }
                if off {
                    text.push_str(" · live refresh is off (LIVE_EVERY_MINUTES=0)");
                }
                text
            }
        };
        format!("  {name:<13} {state}\n")
    };
    let live_limit = f.live_every_minutes.map_or(String::new(), |m| {
        format!(
            ", live refresh after {} minutes",
            m * u64::from(LIVE_STALE_INTERVALS)
        )
    });
    format!(
        "health: {verdict} (stale: history run after {} hours{live_limit})\n{}{}",
        HISTORY_STALE_AFTER.as_secs() / 3600,
        line("history run", &f.last_ingestion, false),
        line(
            "live refresh",
            &f.last_live_refresh,
            f.live_every_minutes.is_none()
        ),
    )
}

fn pair_row(p: &PairCoverage) -> Vec<String> {
    let or_dash = |t: Option<DateTime<Utc>>| t.map_or("-".into(), hour);
    vec![
        p.coin.clone(),
        p.currency.clone(),
        p.first_day.map_or("-".into(), |d| d.to_string()),
        or_dash(p.last_hour),
        p.age_seconds.map_or("never".into(), age),
        thousands(p.hours),
        thousands(p.days),
        thousands(p.snapshot_days),
        thousands(p.missing_hours),
        thousands(p.gaps),
        p.largest_gap.as_ref().map_or(String::new(), |g| {
            format!("{}h from {}", g.hours, hour(g.start))
        }),
    ]
}

fn run_row(r: &RecentRun) -> Vec<String> {
    vec![
        hour(r.run.started_at),
        r.run.trigger.as_str().to_owned(),
        r.run.mode.as_str().to_owned(),
        r.run.status.as_str().to_owned(),
        r.duration_ms
            .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
        r.pairs.as_ref().map_or("-".into(), |p| {
            format!("{}/{}/{}", p.ok, p.failed, p.skipped)
        }),
        r.rows
            .as_ref()
            .map_or("-".into(), |rows| thousands(rows.hourly)),
        if r.run.simulated { "SIMULATED" } else { "live" }.into(),
    ]
}

/// `2025-11-27 16:00`.
fn hour(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}
