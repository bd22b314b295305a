//! Data coverage and freshness (`crypto-dashboard status`): per coin x currency, the stored
//! range, how many hours and days it holds (how deep the daily history goes, and how many
//! days are hourly averages vs snapshots), the UTC hours missing inside it, the data's
//! freshness as health judges it, and the recent history runs and live refreshes apart.
//!
//! Gaps are found in SQL with a window function (`lag` over the hours of the days that miss
//! some, whole days counted from their daily rows; see [`pairs`]), so only one row per pair
//! leaves the database, and `status` answers in about a second at 1,000 coins x 4 currencies.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;

use common::ingest::call_budget::{self, BudgetStatus};
use common::ingest::freshness::Freshness;
use common::ingest::run_records::{self, RunSummary};
use common::ingest::{PairCounts, RowCounts, RunKind};

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// The database's clock when the report was made; ages are relative to it.
    pub as_of: DateTime<Utc>,
    pub summary: Summary,
    pub pairs: Vec<PairCoverage>,
    /// The newest history run and live refresh, judged as `GET /api/health` judges them.
    pub freshness: Freshness,
    /// The month's CoinGecko calls against `COINGECKO_MONTHLY_CALLS`.
    pub budget: BudgetStatus,
    /// Ids of `TRACKED_COINS` CoinGecko did not know at the newest history run.
    pub unknown_coins: Vec<String>,
    /// The newest history runs (full, incremental).
    pub history_runs: Vec<RecentRun>,
    /// The newest live refreshes (latest): listed apart, or at one every 10 minutes they
    /// would crowd every history run out.
    pub live_refreshes: Vec<RecentRun>,
}

/// The answer to "how fresh and complete is my data?" in a few numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub pairs: usize,
    pub pairs_with_data: usize,
    pub hours: i64,
    pub missing_hours: i64,
    pub pairs_with_gaps: usize,
    /// The pair whose newest point is the oldest: how stale the stalest data is.
    pub stalest: Option<Stalest>,
}

/// The pair with the oldest newest point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stalest {
    pub coin: String,
    pub currency: String,
    pub last_hour: DateTime<Utc>,
    pub age_seconds: i64,
}

/// Coverage of one coin x currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairCoverage {
    pub coin: String,
    pub currency: String,
    /// Oldest and newest stored hour (`None` when the pair has no data).
    pub first_hour: Option<DateTime<Utc>>,
    pub last_hour: Option<DateTime<Utc>>,
    /// Hourly rows stored.
    pub hours: i64,
    /// The oldest stored day: how deep the daily history goes.
    pub first_day: Option<NaiveDate>,
    /// Daily rows stored: `hourly_days` + `snapshot_days`.
    pub days: i64,
    /// Days that are the average of their stored hours.
    pub hourly_days: i64,
    /// Days that are CoinGecko's 00:00 UTC snapshot (the backfilled year).
    pub snapshot_days: i64,
    /// UTC hours between the first and last stored hour that have no row.
    pub missing_hours: i64,
    /// Runs of consecutive missing hours.
    pub gaps: i64,
    /// The longest run of missing hours (the earliest, on a tie).
    pub largest_gap: Option<Gap>,
    /// Seconds from the newest stored hour to [`Coverage::as_of`].
    pub age_seconds: Option<i64>,
}

/// Consecutive missing hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// The first missing hour.
    pub start: DateTime<Utc>,
    pub hours: i64,
}

/// A recent run, with the counts of its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentRun {
    #[serde(flatten)]
    pub run: RunSummary,
    pub duration_ms: Option<u64>,
    pub pairs: Option<PairCounts>,
    pub rows: Option<RowCounts>,
}

/// Coverage of every `coins` x `currencies` pair (in that order, pairs without data
/// included), the freshness (`live_every`: the live schedule's interval, None when off) and
/// the newest `runs` runs of each kind.
pub async fn report(
    client: &impl GenericClient,
    coins: &[String],
    currencies: &[String],
    live_every: Option<std::time::Duration>,
    monthly_calls: u32,
    runs: i64,
) -> Result<Coverage, tokio_postgres::Error> {
    // Compiling the coverage query (JIT, planned for its row estimates) would take longer
    // than running it.
    client.batch_execute("SET jit = off").await?;
    let as_of = client
        .query_one("SELECT now() AS as_of", &[])
        .await?
        .try_get("as_of")?;
    let pairs = pairs(client, coins, currencies).await?;
    Ok(Coverage {
        as_of,
        summary: Summary::of(&pairs),
        pairs,
        freshness: Freshness::read(client, live_every, as_of).await?,
        budget: call_budget::month_status(client, monthly_calls.into(), as_of).await?,
        unknown_coins: unknown_coins(client).await?,
        history_runs: recent_runs(client, runs, RunKind::History).await?,
        live_refreshes: recent_runs(client, runs, RunKind::Live).await?,
    })
}

/// The coins the newest history run reported as unknown to CoinGecko (`UNKNOWN_COIN`).
async fn unknown_coins(client: &impl GenericClient) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT DISTINCT f ->> 'coin' AS coin
               FROM (SELECT report FROM ingestion_runs
                      WHERE mode <> 'latest' AND status NOT IN ('running', 'skipped')
                      ORDER BY started_at DESC LIMIT 1) r,
                    jsonb_array_elements(r.report -> 'failures') f
              WHERE f ->> 'code' = 'UNKNOWN_COIN' AND f ->> 'coin' IS NOT NULL
              ORDER BY coin",
            &[],
        )
        .await?;
    rows.iter().map(|r| r.try_get("coin")).collect()
}

/// Coverage of every `coins` x `currencies` pair, in that order.
///
/// Read without visiting every stored hour (8.6 million at `top:1000`): a day whose daily row
/// averages 24 hours (`source = 'hourly'`, `sample_count = 24`, kept by every writer in the
/// transaction that writes the hours) holds all its hours, so only the stretches between such
/// days are read hour by hour - the first and last day of each pair always (hours pruned by
/// retention, the hour being filled), and every day missing hours. Each stretch also reads the
/// hour before it (the last hour of a whole day), so the gap at its start is measured.
pub async fn pairs(
    client: &impl GenericClient,
    coins: &[String],
    currencies: &[String],
) -> Result<Vec<PairCoverage>, tokio_postgres::Error> {
    // `step` is the distance from the previous stored hour; more than an hour is a gap of
    // `step / 1 h - 1` missing hours starting an hour after the previous row. The laterals
    // end in `OFFSET 0` so that each is an index range scan per pair (or stretch), never a
    // join over the whole table.
    const SQL: &str = "
        WITH pairs AS (
            SELECT coin, currency, coin_ord, currency_ord
              FROM unnest($1::text[]) WITH ORDINALITY AS c (coin, coin_ord)
             CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS v (currency, currency_ord)
        ), ends AS (
            SELECT p.coin, p.currency, f.ts AS first_hour, l.ts AS last_hour
              FROM pairs p
              JOIN LATERAL (SELECT ts FROM price_hourly WHERE coin_id = p.coin AND currency_code = p.currency
                             ORDER BY ts LIMIT 1) f ON true
              JOIN LATERAL (SELECT ts FROM price_hourly WHERE coin_id = p.coin AND currency_code = p.currency
                             ORDER BY ts DESC LIMIT 1) l ON true
        ), stretches AS (
            SELECT e.coin, e.currency, s.start, s.stop, s.whole_days
              FROM ends e
              JOIN LATERAL (
                  SELECT * FROM (
                      SELECT coalesce(lag(stop) OVER (ORDER BY stop) + interval '24 hours', e.first_hour) AS start,
                             stop, count(*) OVER () - 1 AS whole_days
                        FROM (SELECT date::timestamp AT TIME ZONE 'UTC' AS stop FROM price_daily
                               WHERE coin_id = e.coin AND currency_code = e.currency
                                 AND date > (e.first_hour AT TIME ZONE 'UTC')::date
                                 AND date < (e.last_hour AT TIME ZONE 'UTC')::date
                                 AND source = 'hourly' AND sample_count = 24
                              UNION ALL
                              SELECT e.last_hour + interval '1 hour') d
                  ) w WHERE start < stop OFFSET 0) s ON true
        ), steps AS (
            SELECT s.coin, s.currency, h.ts, h.ts >= s.start AS counted,
                   h.ts - lag(h.ts) OVER (PARTITION BY s.coin, s.currency ORDER BY h.ts) AS step
              FROM stretches s
              JOIN LATERAL (SELECT ts FROM price_hourly
                             WHERE coin_id = s.coin AND currency_code = s.currency
                               AND ts >= s.start - interval '1 hour' AND ts < s.stop
                            OFFSET 0) h ON true
        ), hourly AS (
            SELECT e.coin, e.currency, e.first_hour, e.last_hour, 24 * w.whole_days + c.hours AS hours, c.gaps
              FROM ends e
              JOIN (SELECT coin, currency, max(whole_days) AS whole_days
                      FROM stretches GROUP BY coin, currency) w USING (coin, currency)
              JOIN (SELECT coin, currency, count(*) FILTER (WHERE counted) AS hours,
                           count(*) FILTER (WHERE counted AND step > interval '1 hour') AS gaps
                      FROM steps GROUP BY coin, currency) c USING (coin, currency)
        ), largest AS (
            SELECT DISTINCT ON (coin, currency) coin, currency,
                   ts - step + interval '1 hour' AS gap_start,
                   extract(epoch FROM step)::bigint / 3600 - 1 AS gap_hours
              FROM steps
             WHERE counted AND step > interval '1 hour'
             ORDER BY coin, currency, step DESC, ts
         ), daily AS (
            SELECT coin_id AS coin, currency_code AS currency, min(date) AS first_day, count(*) AS days,
                   count(*) FILTER (WHERE source = 'snapshot') AS snapshot_days
              FROM price_daily
             WHERE coin_id = ANY ($1) AND currency_code = ANY ($2)
             GROUP BY coin_id, currency_code
        )
        SELECT p.coin, p.currency, h.first_hour, h.last_hour,
               coalesce(h.hours, 0) AS hours, coalesce(d.days, 0) AS days,
               coalesce(extract(epoch FROM h.last_hour - h.first_hour)::bigint / 3600 + 1 - h.hours, 0)
                   AS missing_hours,
               coalesce(h.gaps, 0) AS gaps, l.gap_start, l.gap_hours,
               extract(epoch FROM now() - h.last_hour)::bigint AS age_seconds,
               d.first_day, coalesce(d.snapshot_days, 0) AS snapshot_days
          FROM pairs p
          LEFT JOIN hourly h ON h.coin = p.coin AND h.currency = p.currency
          LEFT JOIN largest l ON l.coin = p.coin AND l.currency = p.currency
          LEFT JOIN daily d ON d.coin = p.coin AND d.currency = p.currency
         ORDER BY p.coin_ord, p.currency_ord";
    let rows = client.query(SQL, &[&coins, &currencies]).await?;
    rows.iter().map(PairCoverage::from_row).collect()
}

impl PairCoverage {
    /// From a row of [`pairs`]'s query.
    fn from_row(row: &tokio_postgres::Row) -> Result<PairCoverage, tokio_postgres::Error> {
        let days: i64 = row.try_get("days")?;
        let snapshot_days: i64 = row.try_get("snapshot_days")?;
        let largest_gap = match row.try_get::<_, Option<DateTime<Utc>>>("gap_start")? {
            Some(start) => Some(Gap {
                start,
                hours: row.try_get("gap_hours")?,
            }),
            None => None,
        };
        Ok(PairCoverage {
            coin: row.try_get("coin")?,
            currency: row.try_get("currency")?,
            first_hour: row.try_get("first_hour")?,
            last_hour: row.try_get("last_hour")?,
            hours: row.try_get("hours")?,
            first_day: row.try_get("first_day")?,
            days,
            hourly_days: days - snapshot_days,
            snapshot_days,
            missing_hours: row.try_get("missing_hours")?,
            gaps: row.try_get("gaps")?,
            largest_gap,
            age_seconds: row.try_get("age_seconds")?,
        })
    }
}

/// The newest `limit` runs of `kind`, with the counts of their reports.
pub async fn recent_runs(
    client: &impl GenericClient,
    limit: i64,
    kind: RunKind,
) -> Result<Vec<RecentRun>, tokio_postgres::Error> {
    Ok(run_records::recent(client, limit, Some(kind))
        .await?
        .into_iter()
        .map(|(run, report)| {
            let field = |name: &str| report.as_ref().and_then(|r| r.get(name)).cloned();
            RecentRun {
                run,
                duration_ms: field("durationMs").and_then(|v| v.as_u64()),
                pairs: field("pairs").and_then(|v| serde_json::from_value(v).ok()),
                rows: field("rows").and_then(|v| serde_json::from_value(v).ok()),
            }
        })
        .collect())
}

impl Summary {
    /// Totals over `pairs`.
    pub fn of(pairs: &[PairCoverage]) -> Summary {
        let stalest = pairs
            .iter()
            .filter_map(|p| {
                Some(Stalest {
                    coin: p.coin.clone(),
                    currency: p.currency.clone(),
                    last_hour: p.last_hour?,
                    age_seconds: p.age_seconds?,
                })
            })
            .min_by_key(|s| s.last_hour);
        Summary {
            pairs: pairs.len(),
            pairs_with_data: pairs.iter().filter(|p| p.hours > 0).count(),
            hours: pairs.iter().map(|p| p.hours).sum(),
            missing_hours: pairs.iter().map(|p| p.missing_hours).sum(),
            pairs_with_gaps: pairs.iter().filter(|p| p.gaps > 0).count(),
            stalest,
        }
    }
}
