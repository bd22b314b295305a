//! The month's call plan: how often each tier of live quotes is refreshed, what the daily
//! history runs cost, and how fast the depth (backfills) comes, within the monthly budget.
//! The live refresh asks it which tiers are due; `crypto-dashboard plan` prints it for the
//! sizes docs/operating.md tables. One arithmetic for both, so the table is what runs do.
//!
//! A tier is what one `/simple/price` call carries (as many ids as the URL allows): the first
//! (pinned coins, then the largest) is refreshed every live interval, the others every
//! `multiplier` intervals, the smallest multiplier that keeps a month's calls within
//! [`TARGET_SHARE`] of the budget.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::call_budget::month_start;
use super::tracking::ranking_calls;
use crate::coingecko::MAX_QUERY_IDS_CHARS;

/// The share of `COINGECKO_MONTHLY_CALLS` a plan aims at (the rest is headroom for retries
/// and surprises).
pub const TARGET_SHARE: f64 = 0.8;

/// Minutes in the longest month: plans hold in every month.
pub const MONTH_MINUTES: u64 = 31 * 24 * 60;

/// Days in the longest month.
pub const MONTH_DAYS: u64 = 31;

/// The mean CoinGecko id length, measured on the recorded `/coins/list` (7,248 ids, 10.55
/// characters): with its comma, [`MAX_QUERY_IDS_CHARS`] holds about 129 ids.
pub const MEAN_ID_CHARS: f64 = 10.55;

/// The slowest a lower tier is refreshed: once a day.
pub const MAX_MULTIPLIER_MINUTES: u64 = 24 * 60;

/// What a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanInputs {
    /// Tracked coins (the top N and the pinned ones outside it).
    pub coins: u64,
    /// `top:N`, if any (the ranking's pages).
    pub top: Option<u32>,
    /// Pinned coins (each pair refreshed daily by range calls).
    pub pinned: u64,
    /// Pinned coins outside the top N (fetched by id with the ranking).
    pub pinned_outside: u64,
    pub currencies: u64,
    /// `COINGECKO_MONTHLY_CALLS`.
    pub monthly: u64,
    /// `LIVE_EVERY_MINUTES` (0: live quotes off).
    pub live_every_minutes: u64,
    /// Calls one live refresh needs for every tracked coin (URL-length chunks).
    pub quote_calls: u64,
    /// Calls a daily history run can make before its deadline (rate x time).
    pub calls_per_run: u64,
    /// Whether the daily history (365 days) is backfilled beside the 90 hourly days.
    pub daily_depth: bool,
}

/// One tier of live quotes: `calls` `/simple/price` calls every `every_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub calls: u64,
    pub every_minutes: u64,
}

/// A month as planned.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallPlan {
    /// The first tier, then the others (absent when one call carries every coin).
    pub tiers: Vec<Tier>,
    /// Lower tiers are refreshed every this many live intervals.
    pub multiplier: u64,
    /// A month's live-quote calls.
    pub live_calls: u64,
    /// A month's daily history runs: coins list, ranking, pinned range refresh, metadata.
    pub daily_calls: u64,
    /// A month's depth for coins new to the top N (about one a day per 250 tracked).
    pub churn_calls: u64,
    /// A steady month: live + daily + churn.
    pub month_calls: u64,
    /// Depth calls a first backfill of every tracked pair needs.
    pub backfill_calls: u64,
    /// Days until every pair is backfilled (None: the budget leaves no depth).
    pub days_to_backfill: Option<u64>,
    /// True when even the slowest plan passes [`TARGET_SHARE`] of the budget (runs then defer).
    pub over_budget: bool,
}

/// The plan of a deployment: its configuration, `coins` tracked coins and the `quote_calls`
/// their live refresh needs.
pub fn configured(config: &crate::config::Config, coins: u64, quote_calls: u64) -> CallPlan {
    let tracked = &config.tracked_coins;
    CallPlan::of(PlanInputs {
        coins,
        top: tracked.top,
        pinned: tracked.pinned.len() as u64,
        pinned_outside: 0,
        currencies: config.tracked_currencies.len() as u64,
        monthly: config.coingecko.monthly_calls.into(),
        live_every_minutes: config.live_every.map_or(0, |d| d.as_secs() / 60),
        quote_calls,
        calls_per_run: u64::from(config.coingecko.rate_limit_per_min) * RUN_CALL_MINUTES,
        daily_depth: super::plan::backfills(config.history.days),
    })
}

/// The rest of the UTC month as the budget sees it: the live refreshes and daily history
/// runs still to come, whose calls a run leaves to them.
#[derive(Debug, Clone, Copy)]
pub struct MonthAhead {
    now: DateTime<Utc>,
    month_end: DateTime<Utc>,
    live_every: Option<Duration>,
}

impl MonthAhead {
    /// The month of `now`, with live refreshes every `live_every` (none: off).
    pub fn new(now: DateTime<Utc>, live_every: Option<Duration>) -> Self {
        let start = month_start(now);
        let month_end = month_start(start + chrono::Duration::days(32));
        MonthAhead {
            now,
            month_end,
            live_every,
        }
    }

    /// The calls the month's remaining live refreshes make, each tier `calls` every
    /// `every_minutes` (the month's [`CallPlan`] tiers).
    pub fn live_calls(&self, tiers: &[super::call_plan::Tier]) -> u64 {
        if self.live_every.is_none_or(|e| e.is_zero()) {
            return 0;
        }
        let left = (self.month_end - self.now).num_seconds().max(0) as u64;
        tiers
            .iter()
            .map(|t| left / (t.every_minutes * 60).max(1) * t.calls)
            .sum()
    }

    /// Whole days of the month after today (each with its daily history run).
    pub fn days_after_today(&self) -> u64 {
        (self.month_end.date_naive() - self.now.date_naive())
            .num_days()
            .saturating_sub(1)
            .max(0) as u64
    }
}

/// `/simple/price` calls for `coins` ids of mean length (a plan before the ids are known).
pub fn estimated_quote_calls(coins: u64) -> u64 {
    let per_call = (MAX_QUERY_IDS_CHARS as f64 / (MEAN_ID_CHARS + 1.0)).floor() as u64;
    coins.div_ceil(per_call.max(1)).max(1)
}

/// The calls of one day's history run before any depth: the coins list, the ranking (with
/// `top`; `pinned_outside` pinned coins outside it) and the `pinned` coins' range refresh in
/// every currency.
pub fn history_run_calls(
    top: Option<u32>,
    currencies: u64,
    pinned: u64,
    pinned_outside: u64,
) -> u64 {
    1 + top.map_or(0, |n| {
        ranking_calls(n, currencies as usize, pinned_outside as usize)
    }) + pinned * currencies
}

/// Depth calls for one new coin: per currency a 90-day hourly call and (with daily depth) a
/// 365-day call, and one `/coins/{id}`.
fn depth_per_coin(currencies: u64, daily_depth: bool) -> u64 {
    currencies * (1 + u64::from(daily_depth)) + 1
}

impl CallPlan {
    /// The plan for `inputs`.
    pub fn of(inputs: PlanInputs) -> CallPlan {
        let days = MONTH_DAYS;
        // Metadata of pinned coins is refreshed weekly.
        let daily_calls =
            days * history_run_calls(
                inputs.top,
                inputs.currencies,
                inputs.pinned,
                inputs.pinned_outside,
            ) + inputs.pinned * days.div_ceil(7);
        let new_coins_per_day = inputs.top.map_or(0, |_| inputs.coins.div_ceil(250));
        let churn_calls =
            days * new_coins_per_day * depth_per_coin(inputs.currencies, inputs.daily_depth);
        let target = (inputs.monthly as f64 * TARGET_SHARE) as u64;
        let live = |multiplier: u64| -> u64 {
            if inputs.live_every_minutes == 0 {
                return 0;
            }
            let refreshes = |every: u64| MONTH_MINUTES / every.max(1);
            refreshes(inputs.live_every_minutes)
                + (inputs.quote_calls - 1) * refreshes(inputs.live_every_minutes * multiplier)
        };
        let max_multiplier = (MAX_MULTIPLIER_MINUTES / inputs.live_every_minutes.max(1)).max(1);
        let fixed = daily_calls + churn_calls;
        let multiplier = (1..=max_multiplier)
            .find(|m| live(*m) + fixed <= target)
            .unwrap_or(max_multiplier);
        let live_calls = live(multiplier);
        let month_calls = live_calls + fixed;
        let ranked = inputs.coins.saturating_sub(inputs.pinned);
        // Pinned pairs get their hours from the daily range run: only their year of days.
        let backfill_calls = ranked * depth_per_coin(inputs.currencies, inputs.daily_depth)
            + inputs.pinned * inputs.currencies * u64::from(inputs.daily_depth);
        let leftover = target.saturating_sub(live_calls + daily_calls);
        let per_day = inputs
            .calls_per_run
            .saturating_sub(daily_calls / days)
            .min(leftover);
        let days_to_backfill = match (backfill_calls, per_day) {
            (0, _) => Some(0),
            (_, 0) => None,
            (needed, per_day) => {
                // A month's leftover goes first; what passes it waits for the next month.
                let months = (needed - 1) / leftover;
                Some(months * days + (needed - months * leftover).div_ceil(per_day))
            }
        };
        let mut tiers = vec![Tier {
            calls: 1,
            every_minutes: inputs.live_every_minutes,
        }];
        if inputs.quote_calls > 1 {
            tiers.push(Tier {
                calls: inputs.quote_calls - 1,
                every_minutes: inputs.live_every_minutes * multiplier,
            });
        }
        CallPlan {
            tiers,
            multiplier,
            live_calls,
            daily_calls,
            churn_calls,
            month_calls,
            backfill_calls,
            days_to_backfill,
            over_budget: month_calls > target,
        }
    }

    /// Whether the live refresh of `slot` (live intervals since the epoch) refreshes the
    /// quote call `index` (0: the first tier, refreshed every time). Lower tiers take turns,
    /// so each slot carries about the same number of calls.
    pub fn due(&self, index: usize, slot: u64) -> bool {
        index == 0 || (slot + index as u64 - 1) % self.multiplier.max(1) == 0
    }
}

/// A CoinGecko plan as the standard table assumes it: its default monthly budget and a rate
/// it allows (public: about 10 a minute in practice; Demo 30; Pro 500).
#[derive(Debug, Clone, Copy)]
pub struct PlanAssumption {
    pub name: &'static str,
    pub monthly: u64,
    pub rate_per_min: u64,
}

/// The plans of the standard table.
pub const PLANS: [PlanAssumption; 3] = [
    PlanAssumption {
        name: "public",
        monthly: 10_000,
        rate_per_min: 10,
    },
    PlanAssumption {
        name: "demo",
        monthly: 10_000,
        rate_per_min: 30,
    },
    PlanAssumption {
        name: "pro",
        monthly: 500_000,
        rate_per_min: 500,
    },
];

/// The tracked set sizes of the standard table.
pub const SIZES: [u64; 4] = [11, 100, 250, 1_000];

/// Minutes a daily history run spends calling (the ingest function's 15 minutes, less the
/// reserve it keeps to record itself).
pub const RUN_CALL_MINUTES: u64 = 14;

/// The plan at the defaults (4 currencies, live quotes every 10 minutes, a year of daily
/// history, the original's eleven pinned) for `coins` tracked coins (11: the eleven alone,
/// else `top:N`) on `plan`.
pub fn standard(coins: u64, plan: PlanAssumption) -> CallPlan {
    CallPlan::of(PlanInputs {
        coins,
        top: (coins > 11).then_some(coins as u32),
        pinned: 11,
        pinned_outside: 0,
        currencies: 4,
        monthly: plan.monthly,
        live_every_minutes: 10,
        quote_calls: estimated_quote_calls(coins),
        calls_per_run: plan.rate_per_min * RUN_CALL_MINUTES,
        daily_depth: true,
    })
}

/// The standard table as Markdown (`crypto-dashboard plan` prints it; docs/operating.md holds
/// it, and a test keeps the two equal).
pub fn standard_table() -> String {
    let mut out = String::from(
        "| coins | plan | quotes: first call / the other calls | calls a month (live + daily + new coins) | of the budget | days to backfill |\n\
         |---:|---|---|---:|---:|---:|\n",
    );
    for coins in SIZES {
        for plan in PLANS {
            let p = standard(coins, plan);
            let tiers = match p.tiers.as_slice() {
                [first] => format!("1 call every {} min", first.every_minutes),
                [first, rest] => format!(
                    "1 call every {} min / {} call{} every {}",
                    first.every_minutes,
                    rest.calls,
                    if rest.calls == 1 { "" } else { "s" },
                    minutes(rest.every_minutes)
                ),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {coins} | {} | {tiers} | {} ({} + {} + {}) | {:.0}%{} | {} |\n",
                plan.name,
                p.month_calls,
                p.live_calls,
                p.daily_calls,
                p.churn_calls,
                p.month_calls as f64 * 100.0 / plan.monthly as f64,
                if p.over_budget {
                    " (over: runs defer)"
                } else {
                    ""
                },
                p.days_to_backfill
                    .map_or("never (no calls left)".to_owned(), |d| d.to_string()),
            ));
        }
    }
    out
}

/// `every` minutes as "N min" or "N h M min".
fn minutes(every: u64) -> String {
    match (every / 60, every % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
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
    fn a_history_run_lists_coins_ranks_and_refreshes_the_pinned_pairs() {
        // The eleven only: the coins list and 11 x 4 range calls.
        assert_eq!(history_run_calls(None, 4, 11, 0), 45);
        // top:100 + the eleven outside it: one page of 100 and one of the eleven, in 4 currencies.
        assert_eq!(history_run_calls(Some(100), 4, 11, 11), 1 + 8 + 44);
        // top:1000: four pages a currency, no pinned coins.
        assert_eq!(history_run_calls(Some(1000), 4, 0, 0), 1 + 16);
    }

    fn inputs(coins: u64, monthly: u64) -> PlanInputs {
        PlanInputs {
            coins,
            top: Some(coins as u32),
            pinned: 11,
            pinned_outside: 0,
            currencies: 4,
            monthly,
            live_every_minutes: 10,
            quote_calls: estimated_quote_calls(coins),
            calls_per_run: 420,
            daily_depth: true,
        }
    }

    #[test]
    fn the_defaults_on_demo_refresh_every_quote_each_interval_and_backfill_within_a_week() {
        let plan = CallPlan::of(inputs(100, 10_000));
        assert_eq!(plan.tiers.len(), 1, "one call carries 100 ids");
        assert_eq!(plan.tiers[0].every_minutes, 10);
        assert_eq!(plan.live_calls, 4_464);
        assert!(plan.month_calls < 8_000, "{plan:?}");
        assert!(plan.days_to_backfill.is_some_and(|d| d <= 7), "{plan:?}");
        assert!(!plan.over_budget);
    }

    #[test]
    fn a_thousand_coins_on_demo_slow_the_lower_tiers_to_stay_in_the_budget() {
        let plan = CallPlan::of(inputs(1_000, 10_000));
        assert_eq!(plan.tiers.len(), 2);
        assert_eq!(plan.tiers[0].every_minutes, 10);
        assert!(plan.tiers[1].every_minutes > 10, "{plan:?}");
        assert!(plan.month_calls <= 8_000 || plan.over_budget, "{plan:?}");
        // Pro has room for every tier every interval.
        let pro = CallPlan::of(inputs(1_000, 500_000));
        assert_eq!(pro.multiplier, 1);
        assert!(pro.month_calls < 400_000);
    }

    #[test]
    fn the_month_ahead_counts_the_live_refreshes_and_days_left() {
        // 2026-12-31T22:00:00Z: two hours left, 12 refreshes at 10 minutes, no day after.
        let now = utc_from_secs(1_798_754_400);
        assert_eq!(now.to_rfc3339(), "2026-12-31T22:00:00+00:00");
        let ahead = MonthAhead::new(now, Some(Duration::from_secs(600)));
        let two_every_10 = [Tier {
            calls: 2,
            every_minutes: 10,
        }];
        assert_eq!(ahead.live_calls(&two_every_10), 24);
        assert_eq!(ahead.days_after_today(), 0);
        assert_eq!(MonthAhead::new(now, None).live_calls(&two_every_10), 0);
        // 2026-12-06T10:00:00Z: 25 days after today.
        let ahead = MonthAhead::new(utc_from_secs(1_796_551_200), None);
        assert_eq!(ahead.days_after_today(), 25);
    }

    #[test]
    fn lower_tiers_take_turns_and_the_first_is_always_due() {
        let plan = CallPlan {
            multiplier: 3,
            ..CallPlan::of(inputs(1_000, 10_000))
        };
        for slot in 0..6 {
            assert!(plan.due(0, slot));
            let due: Vec<usize> = (1..7).filter(|i| plan.due(*i, slot)).collect();
            assert_eq!(due.len(), 2, "slot {slot}: {due:?}");
        }
        // Over `multiplier` slots, every lower call is due exactly once.
        for index in 1..7 {
            assert_eq!((0..3).filter(|s| plan.due(index, *s)).count(), 1);
        }
    }

    #[test]
    fn an_id_list_of_mean_length_fits_about_129_ids_a_call() {
        assert_eq!(estimated_quote_calls(11), 1);
        assert_eq!(estimated_quote_calls(129), 1);
        assert_eq!(estimated_quote_calls(130), 2);
        assert_eq!(estimated_quote_calls(1_000), 8);
    }
}
