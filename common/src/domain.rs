//! Domain rules and vocabulary that need no I/O: CoinGecko's raw samples turned into hourly
//! prices, the codes that say why something failed, and the display names of currencies.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A `[ms, price]` point as CoinGecko sends it: the price may be `null`.
pub type RawPoint = (i64, Option<f64>);

/// Why a pair, a coin's metadata or a whole run failed: the short code kept in run reports
/// (`failures[].code`) and metrics, serialised as `DATABASE_ERROR`, `COINGECKO_10012`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// The database could not be reached (or a statement lost its connection).
    DatabaseUnavailable,
    /// A statement failed (a cause not named below).
    DatabaseError,
    /// A statement broke a constraint (SQLSTATE class 23: unique, foreign key, check, not null).
    DatabaseConstraint,
    /// A transaction lost a race (serialization failure, deadlock); trying again may pass.
    DatabaseConflict,
    /// A statement was cancelled by a timeout or could not get a lock in time.
    DatabaseTimeout,
    /// A secret (the CoinGecko API key) could not be read.
    SecretUnavailable,
    /// `TRACKED_COINS` names a coin CoinGecko does not know.
    UnknownCoin,
    /// CoinGecko answered without one usable price in the window.
    NoData,
    /// CoinGecko's live quotes left this coin out, or sent no price for this currency.
    NoQuote,
    /// 429 after every retry, or a `Retry-After` longer than the time left.
    RateLimited,
    /// 5xx after every retry.
    Upstream5xx,
    /// No answer within the request timeout.
    Timeout,
    /// The connection to CoinGecko failed.
    Connection,
    /// A documented CoinGecko error code (10002, 10005, 10010, 10011, 10012, ...).
    CoinGecko(u32),
    /// CoinGecko does not know the id.
    NotFound,
    /// Another 4xx (or a redirect, which is not followed).
    Http4xx,
    /// The body is not the JSON expected.
    MalformedBody,
    /// The run's deadline left no time for the call.
    Deadline,
    /// The month's call budget (`COINGECKO_MONTHLY_CALLS`) left no call for it.
    BudgetSpent,
}

impl FailureCode {
    const NAMED: [(FailureCode, &'static str); 18] = [
        (FailureCode::DatabaseUnavailable, "DATABASE_UNAVAILABLE"),
        (FailureCode::DatabaseError, "DATABASE_ERROR"),
        (FailureCode::DatabaseConstraint, "DATABASE_CONSTRAINT"),
        (FailureCode::DatabaseConflict, "DATABASE_CONFLICT"),
        (FailureCode::DatabaseTimeout, "DATABASE_TIMEOUT"),
        (FailureCode::SecretUnavailable, "SECRET_UNAVAILABLE"),
        (FailureCode::UnknownCoin, "UNKNOWN_COIN"),
        (FailureCode::NoData, "NO_DATA"),
        (FailureCode::NoQuote, "NO_QUOTE"),
        (FailureCode::RateLimited, "RATE_LIMITED"),
        (FailureCode::Upstream5xx, "UPSTREAM_5XX"),
        (FailureCode::Timeout, "TIMEOUT"),
        (FailureCode::Connection, "CONNECTION"),
        (FailureCode::NotFound, "NOT_FOUND"),
        (FailureCode::Http4xx, "HTTP_4XX"),
        (FailureCode::MalformedBody, "MALFORMED_BODY"),
        (FailureCode::Deadline, "DEADLINE"),
        (FailureCode::BudgetSpent, "BUDGET_SPENT"),
    ];

    /// True for failures of our own infrastructure (database, secrets): their messages are
    /// for the logs, not for readers of the public runs route.
    pub fn is_internal(self) -> bool {
        matches!(
            self,
            FailureCode::DatabaseUnavailable
                | FailureCode::DatabaseError
                | FailureCode::DatabaseConstraint
                | FailureCode::DatabaseConflict
                | FailureCode::DatabaseTimeout
                | FailureCode::SecretUnavailable
        )
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let FailureCode::CoinGecko(code) = self {
            return write!(f, "COINGECKO_{code}");
        }
        let (_, name) = Self::NAMED
            .iter()
            .find(|(c, _)| c == self)
            .expect("every other code is named");
        f.write_str(name)
    }
}

impl std::str::FromStr for FailureCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(code) = s.strip_prefix("COINGECKO_") {
            return code
                .parse()
                .map(FailureCode::CoinGecko)
                .map_err(|_| format!("unknown failure code {s}"));
        }
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(c, _)| *c)
            .ok_or_else(|| format!("unknown failure code {s}"))
    }
}

impl serde::Serialize for FailureCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FailureCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The newest price of a pair: the live quote or the newest stored hour, whichever is newer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatestPrice {
    pub price: f64,
    /// The time of the price: the quote's `last_updated_at`, or the hour's start.
    pub at: DateTime<Utc>,
    /// The live quote's 24 h change (percent) when the quote is the newer; `None` otherwise.
    pub change_24h: Option<f64>,
}

/// A live quote as stored (`price_latest`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveQuote {
    pub price: f64,
    /// CoinGecko's `last_updated_at`, else when we fetched the quote.
    pub at: DateTime<Utc>,
    pub change_24h: Option<f64>,
}

/// The newer of the newest stored hour and the live quote (the hour wins a tie: it is an
/// average, the quote one sample).
pub fn latest_price(
    hour: Option<(f64, DateTime<Utc>)>,
    quote: Option<LiveQuote>,
) -> Option<LatestPrice> {
    match (hour, quote) {
        (Some((price, at)), Some(q)) if at >= q.at => Some(LatestPrice {
            price,
            at,
            change_24h: None,
        }),
        (_, Some(q)) => Some(LatestPrice {
            price: q.price,
            at: q.at,
            change_24h: q.change_24h,
        }),
        (Some((price, at)), None) => Some(LatestPrice {
            price,
            at,
            change_24h: None,
        }),
        (None, None) => None,
    }
}

/// Whether a price of time `at` is stale at `now` (older than `stale_after`).
pub fn is_stale(at: DateTime<Utc>, now: DateTime<Utc>, stale_after: std::time::Duration) -> bool {
    (now - at).to_std().is_ok_and(|age| age > stale_after)
}

/// The average price of one UTC hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourlyPrice {
    /// Start of the hour.
    pub ts: DateTime<Utc>,
    /// Mean of the valid samples inside the hour.
    pub price: f64,
    /// How many samples were averaged.
    pub samples: u32,
}

/// What normalisation kept and dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalised {
    /// One entry per UTC hour with at least one valid sample, oldest first.
    pub hours: Vec<HourlyPrice>,
    /// Samples dropped: null, non-finite or non-positive price, or a time outside the window.
    pub dropped: usize,
    /// Samples with exactly the same timestamp as an earlier one.
    pub duplicates: usize,
    /// Hours dropped because their mean is not a finite positive number.
    pub unusable_hours: usize,
}

/// Drops unusable samples, sorts, removes exact duplicates and averages per UTC hour.
/// Samples more than an hour outside `[from_ms, to_ms]` are dropped as implausible.
pub fn normalise(points: &[RawPoint], from_ms: i64, to_ms: i64) -> Normalised {
    let mut valid: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    let mut dropped = 0;
    for &(ms, price) in points {
        match price {
            Some(p)
                if p.is_finite() && p > 0.0 && ms >= from_ms - HOUR_MS && ms <= to_ms + HOUR_MS =>
            {
                valid.push((ms, p))
            }
            _ => dropped += 1,
        }
    }
    // Stable sort keeps the first of equal timestamps first; dedup keeps it.
    valid.sort_by_key(|&(ms, _)| ms);
    let before = valid.len();
    valid.dedup_by_key(|&mut (ms, _)| ms);
    let duplicates = before - valid.len();

    let mut hours: Vec<HourlyPrice> = Vec::new();
    let mut unusable_hours = 0;
    for samples in valid.chunk_by(|a, b| a.0.div_euclid(HOUR_MS) == b.0.div_euclid(HOUR_MS)) {
        let hour = samples[0].0.div_euclid(HOUR_MS);
        let Some(ts) = Utc.timestamp_millis_opt(hour * HOUR_MS).single() else {
            continue;
        };
        match mean(samples.iter().map(|&(_, p)| p)) {
            Some(price) => hours.push(HourlyPrice {
                ts,
                price,
                samples: samples.len() as u32,
            }),
            None => unusable_hours += 1,
        }
    }
    Normalised {
        hours,
        dropped,
        duplicates,
        unusable_hours,
    }
}

/// The mean of finite positive values: their sum divided by their count, or, when the sum
/// overflows (values near `f64::MAX`), the mean of the values scaled by their maximum.
/// `None` when even that is not a finite positive number.
fn mean(values: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let count = values.clone().count() as f64;
    let sum: f64 = values.clone().sum();
    let mean = if sum.is_finite() {
        sum / count
    } else {
        let max = values.clone().fold(0.0, f64::max);
        max * (values.map(|v| v / max).sum::<f64>() / count)
    };
    (mean.is_finite() && mean > 0.0).then_some(mean)
}

/// CoinGecko's price of one UTC day: its point at 00:00 UTC (ranges over 90 days are daily).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailySnapshot {
    pub date: NaiveDate,
    pub price: f64,
}

/// The 00:00 UTC points of a daily range answer inside `[from_ms, to_ms]`, one per day (the
/// first of duplicates), oldest first. Unusable prices, points off midnight (the trailing
/// "now" point) and points outside the window are left out.
pub fn daily_snapshots(points: &[RawPoint], from_ms: i64, to_ms: i64) -> Vec<DailySnapshot> {
    let mut days: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|&(ms, price)| Some((ms, price?)))
        .filter(|&(ms, p)| {
            p.is_finite()
                && p > 0.0
                && ms.rem_euclid(DAY_MS) == 0
                && (from_ms..=to_ms).contains(&ms)
        })
        .collect();
    days.sort_by_key(|&(ms, _)| ms);
    days.dedup_by_key(|&mut (ms, _)| ms);
    days.into_iter()
        .filter_map(|(ms, price)| {
            let date = Utc.timestamp_millis_opt(ms).single()?.date_naive();
            Some(DailySnapshot { date, price })
        })
        .collect()
}

/// English name of a currency code as CoinGecko spells the `vs_currency`.
pub fn currency_name(code: &str) -> String {
    let known = match code {
        "usd" => "US Dollar",
        "eur" => "Euro",
        "gbp" => "British Pound Sterling",
        "jpy" => "Japanese Yen",
        "chf" => "Swiss Franc",
        "cad" => "Canadian Dollar",
        "aud" => "Australian Dollar",
        "cny" => "Chinese Yuan",
        "inr" => "Indian Rupee",
        "krw" => "South Korean Won",
        "brl" => "Brazilian Real",
        "btc" => "Bitcoin",
        "eth" => "Ether",
        _ => return code.to_uppercase(),
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn daily_snapshots_keep_usable_midnight_points_only() {
        let day = |d: i64| 1_700_006_400_000 + d * DAY_MS; // 2023-11-15T00:00:00Z
        assert_eq!(day(0) % DAY_MS, 0);
        let points = vec![
            (day(2), Some(3.0)),
            (day(0), Some(1.0)),
            (day(0), Some(9.0)),  // a duplicate: the first stays
            (day(1), None),       // null
            (day(3), Some(-1.0)), // not positive
            (day(4), Some(f64::INFINITY)),
            (day(5) + 52_794_000, Some(5.5)), // the trailing "now" point
            (day(-1), Some(7.0)),             // before the window
            (day(5), Some(5.0)),
        ];
        let got = daily_snapshots(&points, day(0), day(5) + 60_000_000);
        let dates: Vec<String> = got.iter().map(|s| s.date.to_string()).collect();
        assert_eq!(dates, ["2023-11-15", "2023-11-17", "2023-11-20"]);
        assert_eq!(
            got.iter().map(|s| s.price).collect::<Vec<_>>(),
            [1.0, 3.0, 5.0]
        );
    }

    use super::*;

    fn at(h: i64, min: i64) -> i64 {
        1_700_000_000_000 / HOUR_MS * HOUR_MS + h * HOUR_MS + min * 60_000
    }

    #[test]
    fn averages_per_hour_and_drops_bad_samples() {
        let points = vec![
            (at(1, 50), Some(30.0)),
            (at(0, 5), Some(10.0)),
            (at(0, 40), Some(20.0)),
            (at(0, 41), None),
            (at(0, 42), Some(-1.0)),
            (at(0, 43), Some(0.0)),
            (at(0, 44), Some(f64::NAN)),
            (at(0, 45), Some(f64::INFINITY)),
        ];
        let n = normalise(&points, at(0, 0), at(2, 0));
        assert_eq!(n.dropped, 5);
        assert_eq!(n.hours.len(), 2);
        assert_eq!(n.hours[0].price, 15.0);
        assert_eq!(n.hours[0].samples, 2);
        assert_eq!(n.hours[0].ts.timestamp_millis(), at(0, 0));
        assert_eq!(n.hours[1].price, 30.0);
    }

    #[test]
    fn backwards_and_duplicate_timestamps_are_sorted_and_deduplicated() {
        // As in the recorded 5-minute response: the last sample is a second *earlier*.
        let points = vec![
            (at(0, 10), Some(1.0)),
            (at(0, 20), Some(2.0)),
            (at(0, 20), Some(9.0)),
            (at(0, 19), Some(3.0)),
        ];
        let n = normalise(&points, at(0, 0), at(1, 0));
        assert_eq!(n.duplicates, 1);
        assert_eq!(n.hours.len(), 1);
        assert_eq!(n.hours[0].samples, 3);
        assert_eq!(n.hours[0].price, 2.0);
    }

    #[test]
    fn samples_far_outside_the_window_are_dropped() {
        let points = vec![
            (at(-5, 0), Some(1.0)),
            (at(0, 30), Some(2.0)),
            (at(9, 0), Some(3.0)),
        ];
        let n = normalise(&points, at(0, 0), at(2, 0));
        assert_eq!(n.hours.len(), 1);
        assert_eq!(n.dropped, 2);
    }

    #[test]
    fn hours_near_the_largest_float_average_without_overflow() {
        let big = f64::MAX / 1.5;
        let points = vec![(at(0, 10), Some(big)), (at(0, 20), Some(big))];
        let n = normalise(&points, at(0, 0), at(1, 0));
        assert_eq!(n.hours.len(), 1);
        assert_eq!(n.hours[0].price, big);
        assert_eq!(n.unusable_hours, 0);
        let points = vec![
            (at(0, 10), Some(f64::MAX)),
            (at(0, 20), Some(f64::MAX / 2.0)),
        ];
        let n = normalise(&points, at(0, 0), at(1, 0));
        assert_eq!(n.hours[0].price, f64::MAX * 0.75);
    }

    #[test]
    fn the_mean_is_finite_and_positive_or_none() {
        assert_eq!(
            mean([f64::MIN_POSITIVE / 4.0].into_iter()),
            Some(f64::MIN_POSITIVE / 4.0)
        );
        assert_eq!(mean([f64::MAX, f64::MAX].into_iter()), Some(f64::MAX));
        assert_eq!(mean([1.0, 2.0].into_iter()), Some(1.5));
        assert_eq!(mean(std::iter::empty()), None);
    }

    #[test]
    fn failure_codes_round_trip_through_their_names() {
        for (code, name) in FailureCode::NAMED {
            assert_eq!(code.to_string(), name);
            assert_eq!(name.parse::<FailureCode>(), Ok(code));
        }
        assert_eq!(FailureCode::CoinGecko(10012).to_string(), "COINGECKO_10012");
        assert_eq!("COINGECKO_10012".parse(), Ok(FailureCode::CoinGecko(10012)));
        assert!("DATABASE".parse::<FailureCode>().is_err());
        let internal: Vec<_> = FailureCode::NAMED
            .iter()
            .filter(|(c, _)| c.is_internal())
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            internal,
            [
                "DATABASE_UNAVAILABLE",
                "DATABASE_ERROR",
                "DATABASE_CONSTRAINT",
                "DATABASE_CONFLICT",
                "DATABASE_TIMEOUT",
                "SECRET_UNAVAILABLE"
            ]
        );
    }

    #[test]
    fn the_latest_price_is_the_newer_of_the_hour_and_the_quote() {
        let t = |m: i64| Utc.timestamp_opt(1_764_000_000 + m * 60, 0).unwrap();
        let quote = |m, price| LiveQuote {
            price,
            at: t(m),
            change_24h: Some(2.5),
        };
        let hour = Some((100.0, t(0)));
        // A quote newer than the hour wins, with its change.
        let newer = latest_price(hour, Some(quote(30, 101.0))).unwrap();
        assert_eq!(
            (newer.price, newer.at, newer.change_24h),
            (101.0, t(30), Some(2.5))
        );
        // A quote lagging the hour (CoinGecko's quote of a quiet coin) loses.
        let older = latest_price(hour, Some(quote(-180, 99.0))).unwrap();
        assert_eq!(
            (older.price, older.at, older.change_24h),
            (100.0, t(0), None)
        );
        // A tie goes to the hour.
        assert_eq!(
            latest_price(hour, Some(quote(0, 1.0))).unwrap().price,
            100.0
        );
        assert_eq!(latest_price(None, Some(quote(5, 7.0))).unwrap().price, 7.0);
        assert_eq!(latest_price(hour, None).unwrap().price, 100.0);
        assert_eq!(latest_price(None, None), None);
    }

    #[test]
    fn a_price_is_stale_only_when_older_than_the_limit() {
        let now = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let limit = std::time::Duration::from_secs(120 * 60);
        assert!(!is_stale(now - chrono::Duration::minutes(120), now, limit));
        assert!(is_stale(now - chrono::Duration::minutes(121), now, limit));
        assert!(
            !is_stale(now + chrono::Duration::minutes(5), now, limit),
            "clock skew"
        );
    }

    #[test]
    fn empty_input_gives_nothing() {
        assert_eq!(normalise(&[], 0, 1), Normalised::default());
    }
}
