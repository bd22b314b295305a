//! Domain rules that need no I/O: turning CoinGecko's raw samples into hourly prices, and
//! the display names of currencies.

use chrono::{DateTime, TimeZone, Utc};

use crate::coingecko::RawPoint;

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

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
    fn empty_input_gives_nothing() {
        assert_eq!(normalise(&[], 0, 1), Normalised::default());
    }
}
