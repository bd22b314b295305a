//! `GET /api/coins/{id}/prices`: daily or hourly points of one coin in one currency.

use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, NaiveTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::coins::unknown_coin;
use super::currencies::currency_param;
use super::error::ApiError;
use super::extract::{ApiQuery, CoinId};
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{
    CachedRead, CurrencyCode, ETag, Envelope, InvalidParameter, NotFound, PublicCache,
};
use super::state::ApiState;
use crate::state::AppState;

/// Granularity of the returned points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum Interval {
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

/// The query string of the prices route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PricesParams {
    /// A tracked currency code (`TRACKED_CURRENCIES`); `usd` by default.
    #[param(value_type = Option<CurrencyCode>, inline, example = "eur")]
    currency: Option<String>,
    /// Granularity of the points; `daily` by default.
    #[param(inline)]
    interval: Option<Interval>,
    /// Start of the range (inclusive): `YYYY-MM-DD` (start of that UTC day) or RFC 3339, in
    /// the years 2000-2100. Default: 30 days (daily) or 7 days (hourly) before `to`. Must not
    /// be after `to`, and at most 3,660 days (daily) or 90 days (hourly) before it.
    #[param(max_length = 40, example = "2025-01-01")]
    from: Option<String>,
    /// End of the range (inclusive): `YYYY-MM-DD` (last instant of that UTC day) or RFC 3339.
    /// Default: the end of the current UTC hour.
    #[param(max_length = 40, example = "2025-01-31")]
    to: Option<String>,
}

/// A validated prices request.
#[derive(Debug, Clone, PartialEq)]
struct PricesQuery {
    currency: String,
    interval: Interval,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Applies the prices rules: defaults, formats, order and span limits.
fn parse_prices_query(
    state: &AppState,
    params: PricesParams,
    now: DateTime<Utc>,
) -> Result<PricesQuery, ApiError> {
    let currency = currency_param(state, params.currency.as_deref())?;
    let interval = params.interval.unwrap_or(Interval::Daily);
    let to = match params.to.as_deref() {
        // The end of the current hour: the same default all hour long, so the body and its
        // ETag only change when data does.
        None => {
            now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
                - Duration::seconds(1)
        }
        Some(v) => parse_instant("to", v, true)?,
    };
    let from = match params.from.as_deref() {
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

/// One price: a day's (the average of its stored hours, UTC days) or an hour's.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum Point {
    Daily {
        date: NaiveDate,
        #[schema(exclusive_minimum = 0)]
        price: f64,
    },
    Hourly {
        /// The start of the UTC hour.
        timestamp: DateTime<Utc>,
        #[schema(exclusive_minimum = 0)]
        price: f64,
    },
}

/// The points of one coin in one currency, and the range they cover.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Prices {
    #[schema(example = "bitcoin")]
    coin_id: String,
    #[schema(example = "usd")]
    currency: String,
    interval: Interval,
    /// The effective start: a date (daily) or an RFC 3339 timestamp, whole seconds, UTC
    /// (hourly).
    from: String,
    /// The effective end, as `from`.
    to: String,
    /// Oldest first; at most one per day (3,661) or hour (2,161) of the range.
    #[schema(max_items = 3661)]
    points: Vec<Point>,
}

/// Daily or hourly prices of one coin in one currency, oldest first.
///
/// Daily points are `{date, price}`, hourly points `{timestamp, price}`. The answer echoes
/// the effective range. A date as `from` means the start of that UTC day, as `to` its last
/// instant; `to` defaults to the end of the current UTC hour, so the body and ETag stay the
/// same all hour.
///
/// Refused with 400 `INVALID_PARAMETER` and a message that says what is allowed: a parameter
/// its schema does not allow, `from` after `to` (a future `from` without `to` included), a
/// daily range over 3,660 days or an hourly range over 90 days (one end may be the default),
/// a time outside 2000-2100 in UTC. Parameters are checked before the coin; 404 for a coin
/// that is not stored (one that left the tracked set keeps its history). An empty range of a
/// known coin is 200 with no points. Cached 5 minutes; conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/coins/{id}/prices",
    tag = "data",
    operation_id = "getCoinPrices",
    params(CoinId, PricesParams),
    responses(
        (status = 200, description = "The points of the range (possibly none).", body = Envelope<Prices>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        (status = 400, response = InvalidParameter),
        (status = 404, response = NotFound),
        CachedRead,
    ),
)]
pub(super) async fn prices(
    State(api): State<ApiState>,
    CoinId(id): CoinId,
    ApiQuery(params): ApiQuery<PricesParams>,
) -> Result<Reply, ApiError> {
    let (state, id) = (&*api.app, id.as_str());
    let q = parse_prices_query(state, params, Utc::now())?;
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
