//! Domain rules that need no I/O: turning CoinGecko's raw samples into hourly prices, and
//! the display names of currencies.

use chrono::{DateTime, TimeZone, Utc};

use crate::coingecko::RawPoint;

const HOUR_MS: i64 = 3_600_000;

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
    let mut sum = 0.0;
    let mut count = 0u32;
    let mut current: Option<i64> = None;
    let flush = |hour: i64, sum: f64, count: u32, hours: &mut Vec<HourlyPrice>| {
        if let Some(ts) = Utc.timestamp_millis_opt(hour * HOUR_MS).single() {
            hours.push(HourlyPrice {
                ts,
                price: sum / count as f64,
                samples: count,
            });
        }
    };
    for (ms, price) in valid {
        let hour = ms.div_euclid(HOUR_MS);
        if current != Some(hour) {
            if let Some(h) = current {
                flush(h, sum, count, &mut hours);
            }
            current = Some(hour);
            sum = 0.0;
            count = 0;
        }
        sum += price;
        count += 1;
    }
    if let Some(h) = current {
        flush(h, sum, count, &mut hours);
    }
    Normalised {
        hours,
        dropped,
        duplicates,
    }
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
    fn empty_input_gives_nothing() {
        assert_eq!(normalise(&[], 0, 1), Normalised::default());
    }
}
