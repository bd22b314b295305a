//! What a run fetches and in which order: each pair's window, stalest pairs first, and the
//! time budget that decides whether another pair still fits before the deadline.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use tokio::time::Instant;

use super::report::{Mode, Pair};

/// The longest window fetched: CoinGecko answers hourly up to 90 days, daily beyond.
pub const FULL_WINDOW: chrono::Duration = chrono::Duration::days(90);
/// Incremental runs re-fetch this much before the newest stored hour.
pub const INCREMENTAL_OVERLAP: chrono::Duration = chrono::Duration::hours(48);
/// The shortest window asked for: a 1-day window ending now comes back 5-minutely.
pub const MIN_WINDOW: chrono::Duration = chrono::Duration::days(2);

/// A pair with the newest hour stored for it (`None`: never fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairNewest {
    pub pair: Pair,
    pub newest: Option<DateTime<Utc>>,
}

/// Stalest first (never fetched before all), ties in configured order.
pub fn stalest_first(mut pairs: Vec<PairNewest>) -> Vec<PairNewest> {
    // A stable sort keeps the configured order among equals.
    pairs.sort_by_key(|p| p.newest.map(|t| t.timestamp()).unwrap_or(i64::MIN));
    pairs
}

/// The first instant to fetch for a pair whose newest stored hour is `newest`.
///
/// A full window starts at the first UTC midnight within the last 90 days, so its first day
/// is a whole day (a window starting at "now - 90 days" would store a first day of a few
/// hours that no later run corrects). An incremental window re-fetches 48 hours before the
/// newest stored hour, is never shorter than 2 days, and never starts before the full one.
pub fn window_start(
    mode: Mode,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let earliest = next_utc_midnight(now - FULL_WINDOW);
    match (mode, newest) {
        (Mode::Full, _) | (_, None) => earliest,
        (Mode::Incremental | Mode::Latest, Some(newest)) => {
            (newest - INCREMENTAL_OVERLAP).clamp(earliest, now - MIN_WINDOW)
        }
    }
}

/// A backfill window starts this much less than `HISTORY_DAYS` ago, so it stays inside the
/// plan's reach (365 days below Pro) even when CoinGecko's clock runs ahead of ours.
pub const BACKFILL_MARGIN: chrono::Duration = chrono::Duration::hours(1);

/// Whether a history depth of `days` needs backfill calls (the hourly window covers 90).
pub fn backfills(days: u32) -> bool {
    i64::from(days) > FULL_WINDOW.num_days()
}

/// The first instant of a backfill over `days` days ending `now`. The window is over 90 days,
/// so CoinGecko answers with one point per day at 00:00 UTC (plus one at `now`).
pub fn backfill_start(days: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(days.into()) + BACKFILL_MARGIN
}

/// `t` if it is a UTC midnight, else the next one.
fn next_utc_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = t.date_naive().and_time(NaiveTime::MIN).and_utc();
    if midnight == t {
        t
    } else {
        midnight + chrono::Duration::days(1)
    }
}

/// Decides whether the next pair still fits before the deadline: the pairs' average time so
/// far (or, before the first, one rate period plus a margin), plus the reserve the run keeps
/// to record itself.
#[derive(Debug)]
pub struct Budget {
    deadline: Option<Instant>,
    reserve: Duration,
    first_pair: Duration,
    spent: Duration,
    done: u32,
}

impl Budget {
    /// A budget up to `deadline` (none: unlimited), keeping `reserve`, at `rate_per_min`.
    pub fn new(deadline: Option<Instant>, reserve: Duration, rate_per_min: u32) -> Self {
        Budget {
            deadline,
            reserve,
            first_pair: Duration::from_secs(60) / rate_per_min.max(1) + Duration::from_millis(500),
            spent: Duration::ZERO,
            done: 0,
        }
    }

    /// Whether a step expected to take `expected` would run into the reserve.
    pub fn out_of_time(&self, expected: Duration) -> bool {
        self.deadline
            .is_some_and(|d| Instant::now() + self.reserve + expected > d)
    }

    /// Whether the next pair would run into the reserve.
    pub fn next_pair_out_of_time(&self) -> bool {
        let expected = if self.done == 0 {
            self.first_pair
        } else {
            self.spent / self.done
        };
        self.out_of_time(expected)
    }

    /// Counts a finished pair.
    pub fn pair_took(&mut self, elapsed: Duration) {
        self.spent += elapsed;
        self.done += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc_from_secs(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap()
    }

    #[test]
    fn windows_follow_the_spec() {
        // 2025-11-24T16:00:00Z
        let now = utc_from_secs(1_764_000_000);
        // Full: the first UTC midnight within 90 days, 2025-08-27T00:00:00Z (89 days 16 h).
        let full_start = utc_from_secs(1_756_252_800);
        assert_eq!(full_start.to_rfc3339(), "2025-08-27T00:00:00+00:00");
        assert_eq!(window_start(Mode::Full, Some(now), now), full_start);
        assert_eq!(window_start(Mode::Incremental, None, now), full_start);
        let newest = now - chrono::Duration::hours(30);
        assert_eq!(
            window_start(Mode::Incremental, Some(newest), now),
            newest - INCREMENTAL_OVERLAP
        );
        // Fresh data: never a window under 2 days.
        assert_eq!(
            window_start(Mode::Incremental, Some(now), now),
            now - MIN_WINDOW
        );
        // Very old data: never more than the full window.
        let ancient = now - chrono::Duration::days(400);
        assert_eq!(
            window_start(Mode::Incremental, Some(ancient), now),
            full_start
        );
        // Exactly 90 days after a midnight, the window starts at that midnight.
        let at_midnight = full_start + FULL_WINDOW;
        assert_eq!(window_start(Mode::Full, None, at_midnight), full_start);
    }

    #[test]
    fn a_backfill_stays_inside_the_plans_reach_and_is_daily() {
        let now = utc_from_secs(1_764_296_434); // 2025-11-28T02:20:34Z
        let from = backfill_start(365, now);
        assert_eq!(from.to_rfc3339(), "2024-11-28T03:20:34+00:00");
        assert!(now - from < chrono::Duration::days(365));
        assert!(now - from > FULL_WINDOW, "over 90 days: daily points");
        assert!(backfills(365) && backfills(91));
        assert!(!backfills(90));
    }

    #[test]
    fn never_fetched_pairs_come_first_then_the_stalest_in_configured_order() {
        let at = |h: i64| Some(utc_from_secs(1_764_000_000 + h * 3600));
        let p = |coin: &str, newest| PairNewest {
            pair: Pair {
                coin: coin.into(),
                currency: "usd".into(),
            },
            newest,
        };
        let order: Vec<String> = stalest_first(vec![
            p("a", at(5)),
            p("b", None),
            p("c", at(1)),
            p("d", at(5)),
            p("e", None),
        ])
        .into_iter()
        .map(|x| x.pair.coin)
        .collect();
        assert_eq!(order, ["b", "e", "c", "a", "d"]);
    }

    #[test]
    fn the_budget_uses_the_average_pair_time_and_keeps_the_reserve() {
        let unlimited = Budget::new(None, Duration::from_secs(10), 30);
        assert!(!unlimited.next_pair_out_of_time());
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut b = Budget::new(Some(deadline), Duration::from_secs(10), 30);
        // First pair: 2 s (one call at 30/min) + 0.5 s, plus the 10 s reserve: fits in 15 s.
        assert!(!b.next_pair_out_of_time());
        b.pair_took(Duration::from_secs(6));
        // Average 6 s + 10 s reserve no longer fits.
        assert!(b.next_pair_out_of_time());
    }
}
