//! `GET /api/coins/{id}/prices`: daily or hourly points of one coin in one currency, as the
//! JSON envelope or a CSV table.

use axum::extract::State;
use chrono::{
    DateTime, Datelike, Duration, DurationRound, NaiveDate, NaiveTime, SecondsFormat, Utc,
};
use http::header::HeaderMap;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::coins::unknown_coin;
use super::currencies::currency_param;
use super::error::ApiError;
use super::extract::{ApiQuery, CoinId};
use super::format::Format;
use super::queries;
use super::response::{CachePolicy, Reply};
use super::schema::{
    CachedRead, CsvDisposition, CurrencyCode, ETag, Envelope, InvalidParameter, NotFound,
    PricesCsv, PublicCache, VaryAccept,
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
    /// Its name in the query and the answer.
    fn name(self) -> &'static str {
        match self {
            Interval::Daily => "daily",
            Interval::Hourly => "hourly",
        }
    }
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
    /// `json` (the envelope) or `csv`: `text/csv` (RFC 4180, CRLF line ends) with a header row
    /// (`date,price` or `timestamp,price`), then one row per point, oldest first, each as the
    /// JSON writes it, offered as `<coin>-<currency>-<interval>-<from>-<to>.csv`. Without it,
    /// `Accept` decides: CSV when it prefers `text/csv` to `application/json`, else JSON.
    #[param(inline)]
    format: Option<Format>,
}

/// A validated prices request.
#[derive(Debug, Clone, PartialEq)]
struct PricesQuery {
    currency: String,
    interval: Interval,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// How an answer writes `from` and `to` (chrono `strftime` layouts, daily and hourly): dates,
/// or RFC 3339 timestamps in whole seconds, UTC.
const ANSWER_ENDS: (&str, &str) = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ");
/// How a CSV file's name writes them: dates, or ISO 8601's basic form (no `:`).
const FILE_NAME_ENDS: (&str, &str) = ("%Y-%m-%d", "%Y%m%dT%H%M%SZ");

impl PricesQuery {
    /// `from` and `to` in the layout of the interval, daily or hourly.
    fn ends(&self, (daily, hourly): (&str, &str)) -> (String, String) {
        let layout = match self.interval {
            Interval::Daily => daily,
            Interval::Hourly => hourly,
        };
        (
            self.from.format(layout).to_string(),
            self.to.format(layout).to_string(),
        )
    }
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

impl Prices {
    /// The points as CSV (RFC 4180, CRLF line ends): `date,price` or `timestamp,price`, then
    /// a row per point, each value in the text the JSON answer has (the price through the
    /// same serialiser: shortest round-trip digits, an exponent below 1e-5 and from 1e16 on).
    fn csv(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(40 * (self.points.len() + 1));
        out.extend_from_slice(match self.interval {
            Interval::Daily => b"date,price\r\n".as_slice(),
            Interval::Hourly => b"timestamp,price\r\n".as_slice(),
        });
        for point in &self.points {
            let (at, price) = match point {
                Point::Daily { date, price } => (date.to_string(), price),
                Point::Hourly { timestamp, price } => (
                    timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    price,
                ),
            };
            out.extend_from_slice(at.as_bytes());
            out.push(b',');
            serde_json::to_writer(&mut out, price)?;
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }
}

/// Daily or hourly prices of one coin in one currency, oldest first.
///
/// Daily points are `{date, price}`, hourly points `{timestamp, price}`. The answer echoes
/// the effective range. A date as `from` means the start of that UTC day, as `to` its last
/// instant; `to` defaults to the end of the current UTC hour, so the body and ETag stay the
/// same all hour.
///
/// With `format=csv`, or without `format` and an `Accept` that prefers `text/csv` to
/// `application/json` (`Accept: text/csv`), the same points come as a CSV table
/// (`text/csv; charset=utf-8`): the header row `date,price` or `timestamp,price`, then one row
/// per point, oldest first, each value as the JSON has it, every line ending CRLF (RFC 4180);
/// an empty range is the header row alone. `Content-Disposition` offers it as
/// `<coin>-<currency>-<interval>-<from>-<to>.csv`, with the effective range: dates for daily
/// ranges, `20250131T120000Z` (UTC, no `:`) for hourly ones. Its ETag differs from the JSON
/// answer's. 200s and 304s say `Vary: Accept`. Errors stay JSON envelopes whatever was asked.
/// Behind CloudFront the cache key holds no header: a CloudFront Function writes the `format`
/// that `Accept` selects into the query string first (docs/deploy.md).
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
        (status = 200, description = "The points of the range (possibly none): the envelope, or the CSV table.",
            content(
                (Envelope<Prices> = "application/json"),
                (inline(PricesCsv) = "text/csv", example = json!("date,price\r\n2025-01-01,94419.76\r\n2025-01-02,96886.88\r\n")),
            ),
            headers(
                ("Cache-Control" = inline(PublicCache)),
                ("ETag" = inline(ETag)),
                ("Vary" = inline(VaryAccept), description = "The answer's form depends on `Accept` when `format` is not given."),
                ("Content-Disposition" = inline(CsvDisposition), description = "CSV answers only: the file name, with the effective range."),
            )),
        (status = 400, response = InvalidParameter),
        (status = 404, response = NotFound),
        CachedRead,
    ),
)]
pub(super) async fn prices(
    State(api): State<ApiState>,
    CoinId(id): CoinId,
    ApiQuery(params): ApiQuery<PricesParams>,
    headers: HeaderMap,
) -> Result<Reply, ApiError> {
    let (state, id) = (&*api.app, id.as_str());
    let format = Format::chosen(params.format, &headers);
    let q = parse_prices_query(state, params, Utc::now())?;
    let client = state.db.client().await?;
    let points = match q.interval {
        Interval::Daily => {
            let (from, to) = (q.from.date_naive(), q.to.date_naive());
            queries::daily_prices(&client, id, &q.currency, from, to)
                .await?
                .into_iter()
                .map(|(date, price)| Point::Daily { date, price })
                .collect::<Vec<_>>()
        }
        Interval::Hourly => queries::hourly_prices(&client, id, &q.currency, q.from, q.to)
            .await?
            .into_iter()
            .map(|(timestamp, price)| Point::Hourly { timestamp, price })
            .collect(),
    };
    // Empty range or unknown coin? Only the second is a 404.
    if points.is_empty() && !queries::coin_exists(&client, id).await? {
        return Err(unknown_coin());
    }
    let (from, to) = q.ends(ANSWER_ENDS);
    let body = Prices {
        coin_id: id.to_owned(),
        currency: q.currency.clone(),
        interval: q.interval,
        from,
        to,
        points,
    };
    let reply = match format {
        Format::Json => Reply::ok(StatusCode::OK, &body, CachePolicy::Public)?,
        Format::Csv => {
            let csv = body.csv().map_err(|e| ApiError::Internal(Box::new(e)))?;
            let (from, to) = q.ends(FILE_NAME_ENDS);
            let name = format!("{id}-{}-{}-{from}-{to}.csv", q.currency, q.interval.name());
            Reply::csv(csv, &name, CachePolicy::Public)?
        }
    };
    Ok(reply.varying_on("Accept"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(interval: Interval, points: Vec<Point>) -> Prices {
        Prices {
            coin_id: "bitcoin".into(),
            currency: "usd".into(),
            interval,
            from: String::new(),
            to: String::new(),
            points,
        }
    }

    /// The number texts after each `"price":` of a JSON text.
    fn json_prices(json: &str) -> Vec<&str> {
        json.split("\"price\":")
            .skip(1)
            .map(|rest| &rest[..rest.find('}').unwrap()])
            .collect()
    }

    #[test]
    fn csv_prices_are_the_number_texts_of_the_json_answer() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let values = [
            (0.000011, "0.000011"),
            (0.0000011, "1.1e-6"),
            (3.3e-10, "3.3e-10"),
            (42.0, "42.0"),
            (65_000.123_456_78, "65000.12345678"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        let points = values
            .iter()
            .enumerate()
            .map(|(n, (price, _))| Point::Daily {
                date: day + Duration::days(n as i64),
                price: *price,
            })
            .collect();
        let body = prices(Interval::Daily, points);
        let csv = String::from_utf8(body.csv().unwrap()).unwrap();
        let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert!(
            csv.ends_with("\r\n") && !csv.contains("\r\n\r\n"),
            "{csv:?}"
        );
        assert_eq!(lines[0], "date,price");
        let written: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split_once(',').unwrap().1)
            .collect();
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(written, json_prices(&json));
        let want: Vec<&str> = values.iter().map(|(_, text)| *text).collect();
        assert_eq!(written, want);
        assert_eq!(lines[1], "2025-01-01,0.000011");
    }

    #[test]
    fn csv_timestamps_are_the_json_answers_and_no_points_is_the_header_row() {
        let hour = DateTime::parse_from_rfc3339("2025-01-31T12:00:00Z")
            .unwrap()
            .to_utc();
        let body = prices(
            Interval::Hourly,
            vec![Point::Hourly {
                timestamp: hour,
                price: 1.5,
            }],
        );
        let csv = String::from_utf8(body.csv().unwrap()).unwrap();
        assert_eq!(csv, "timestamp,price\r\n2025-01-31T12:00:00Z,1.5\r\n");
        let json = serde_json::to_string(&body).unwrap();
        assert!(
            json.contains(r#"{"timestamp":"2025-01-31T12:00:00Z","price":1.5}"#),
            "{json}"
        );
        let empty = prices(Interval::Daily, vec![]).csv().unwrap();
        assert_eq!(empty, b"date,price\r\n");
    }

    #[test]
    fn file_name_ends_are_dates_or_timestamps_without_colons() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        let mut q = PricesQuery {
            currency: "usd".into(),
            interval: Interval::Hourly,
            from: at("2025-01-24T12:59:59.5Z"),
            to: at("2025-01-31T12:59:59Z"),
        };
        assert_eq!(
            q.ends(FILE_NAME_ENDS),
            ("20250124T125959Z".into(), "20250131T125959Z".into())
        );
        assert_eq!(
            q.ends(ANSWER_ENDS),
            ("2025-01-24T12:59:59Z".into(), "2025-01-31T12:59:59Z".into())
        );
        q.interval = Interval::Daily;
        assert_eq!(
            q.ends(FILE_NAME_ENDS),
            ("2025-01-24".into(), "2025-01-31".into())
        );
    }
}
