//! `GET /api/coins/{id}/prices`: daily or hourly points of one coin in one currency.

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, NaiveTime, Utc};
use http::StatusCode;
use serde::Serialize;

use super::coins::{ensure_tracked, unknown_coin};
use super::currencies::currency_param;
use super::error::ApiError;
use super::queries;
use super::query::Query;
use super::response::{CachePolicy, Reply};
use crate::state::AppState;

/// Granularity of the returned points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Daily,
    Hourly,
}

impl Interval {
    fn default_span(self) -> Duration {
        match self {
            Interval::Daily => Duration::days(30),
            Interval::Hourly => Duration::days(7),
        }
    }
    fn max_span(self) -> Duration {
        match self {
            Interval::Daily => Duration::days(3660),
            Interval::Hourly => Duration::days(90),
        }
    }
}

/// A validated prices request.
#[derive(Debug, Clone, PartialEq)]
pub struct PricesQuery {
    pub currency: String,
    pub interval: Interval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Applies the prices rules of openapi.yaml: defaults, formats, order and span limits.
pub fn parse_prices_query(
    state: &AppState,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<PricesQuery, ApiError> {
    let currency = currency_param(state, query.one("currency")?)?;
    let interval = match query.one("interval")? {
        None | Some("daily") => Interval::Daily,
        Some("hourly") => Interval::Hourly,
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "interval must be daily or hourly".into(),
            ))
        }
    };
    let to = match query.one("to")? {
        // The end of the current hour: the same default all hour long, so the body and its
        // ETag only change when data does.
        None => {
            now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
                - Duration::seconds(1)
        }
        Some(v) => parse_instant("to", v, true)?,
    };
    let from = match query.one("from")? {
        None => to - interval.default_span(),
        Some(v) => parse_instant("from", v, false)?,
    };
    if from > to {
        return Err(ApiError::InvalidParameter(
            "from must not be after to".into(),
        ));
    }
    // A daily range counts whole days: from 2025-01-01 to 2026-01-01 is 365 days (history
    // accumulates for years, so up to ten years fit).
    let span = match interval {
        Interval::Daily => Duration::days((to.date_naive() - from.date_naive()).num_days()),
        Interval::Hourly => to - from,
    };
    if span > interval.max_span() {
        return Err(ApiError::InvalidParameter(match interval {
            Interval::Daily => "daily ranges can span at most 3660 days".into(),
            Interval::Hourly => {
                "hourly ranges can span at most 90 days; use interval=daily for longer ranges"
                    .into()
            }
        }));
    }
    Ok(PricesQuery {
        currency,
        interval,
        from,
        to,
    })
}

/// `YYYY-MM-DD` (start of the day for `from`, its last instant for `to`) or RFC 3339.
fn parse_instant(name: &str, value: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let invalid = || {
        ApiError::InvalidParameter(format!(
            "{name} must be a date (YYYY-MM-DD) or an RFC 3339 timestamp (2025-01-31T12:00:00Z) between 2000 and 2100"
        ))
    };
    if value.len() > 40 {
        return Err(invalid());
    }
    let is_plain_date = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let instant = if is_plain_date {
        let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid())?;
        let start = date.and_time(NaiveTime::MIN).and_utc();
        if end_of_day {
            start + Duration::days(1) - Duration::microseconds(1)
        } else {
            start
        }
    } else {
        let parsed = DateTime::parse_from_rfc3339(value).map_err(|_| invalid())?;
        // chrono accepts second 60 at any minute; such a time cannot be echoed as RFC 3339.
        if parsed.timestamp_subsec_nanos() >= 1_000_000_000 {
            return Err(invalid());
        }
        parsed.with_timezone(&Utc)
    };
    if !(2000..=2100).contains(&instant.year()) {
        return Err(invalid());
    }
    Ok(instant)
}

#[derive(Serialize)]
#[serde(untagged)]
enum Point {
    Daily {
        date: NaiveDate,
        price: f64,
    },
    Hourly {
        timestamp: DateTime<Utc>,
        price: f64,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Prices {
    coin_id: String,
    currency: String,
    interval: Interval,
    from: String,
    to: String,
    points: Vec<Point>,
}

/// The points, oldest first; 404 for coins that are not tracked or not ingested.
pub(super) async fn prices(
    state: &AppState,
    id: &str,
    raw_query: Option<&str>,
) -> Result<Reply, ApiError> {
    let query = Query::parse(raw_query)?;
    let q = parse_prices_query(state, &query, Utc::now())?;
    ensure_tracked(state, id)?;
    let client = state.db.client().await?;
    let (points, from, to) = match q.interval {
        Interval::Daily => {
            let (from, to) = (q.from.date_naive(), q.to.date_naive());
            let points = queries::daily_prices(&client, id, &q.currency, from, to)
                .await?
                .into_iter()
                .map(|(date, price)| Point::Daily { date, price })
                .collect::<Vec<_>>();
            (points, from.to_string(), to.to_string())
        }
        Interval::Hourly => {
            let points = queries::hourly_prices(&client, id, &q.currency, q.from, q.to)
                .await?
                .into_iter()
                .map(|(timestamp, price)| Point::Hourly { timestamp, price })
                .collect::<Vec<_>>();
            let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            (points, rfc(q.from), rfc(q.to))
        }
    };
    // Empty range or unknown coin? Only the second is a 404.
    if points.is_empty() && !queries::coin_exists(&client, id).await? {
        return Err(unknown_coin());
    }
    let body = Prices {
        coin_id: id.to_owned(),
        currency: q.currency,
        interval: q.interval,
        from,
        to,
        points,
    };
    Reply::ok(StatusCode::OK, &body, CachePolicy::Public)
}
