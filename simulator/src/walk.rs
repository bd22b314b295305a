//! The price walk: a seeded mean-reverting (Ornstein-Uhlenbeck) log-price offset per coin and
//! hour, started at a fixed epoch so the same hour always has the same value, and the hashes
//! every draw of the simulator comes from.
//!
//! Walking from the epoch to "now" is some 25,000 steps a coin, too many for a thousand coins
//! on every `/coins/markets` request: the walk's value every [`BLOCK`] hours (and its extremes
//! in between) is kept in a process-wide memo, so an hour costs at most one block's steps.
//! The walk is a pure function of its key, volatility and hour, and a value taken from the
//! memo is bit for bit the one a walk from the epoch gives.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use common::domain::HOUR_MS;

/// The walk starts here (2024-01-01T00:00Z); earlier hours use the starting level.
const WALK_EPOCH_HOUR: i64 = 1_704_067_200 / 3600;
/// Mean reversion per hour.
const THETA: f64 = 0.0008;
/// Hours between two memoised values.
const BLOCK: i64 = 256;

/// A walk's memo: its value at every [`BLOCK`]th hour from the epoch, and the extremes of each
/// block's hours after it.
#[derive(Default)]
struct Memo {
    /// `start[i]`: the value at hour `WALK_EPOCH_HOUR + i * BLOCK`.
    start: Vec<f64>,
    /// `extremes[i]`: the lowest and highest `(value, hour)` of the hours after `start[i]`, up
    /// to and including the next block's start.
    extremes: Vec<Extremes>,
}

/// The lowest and highest `(value, hour)` seen.
#[derive(Clone, Copy)]
pub(crate) struct Extremes {
    pub(crate) low: (f64, i64),
    pub(crate) high: (f64, i64),
}

impl Extremes {
    fn at(x: f64, hour: i64) -> Extremes {
        Extremes {
            low: (x, hour),
            high: (x, hour),
        }
    }

    fn add(&mut self, x: f64, hour: i64) {
        if x < self.low.0 {
            self.low = (x, hour);
        }
        if x > self.high.0 {
            self.high = (x, hour);
        }
    }

    fn merge(&mut self, other: &Extremes) {
        self.add(other.low.0, other.low.1);
        self.add(other.high.0, other.high.1);
    }
}

fn memos() -> &'static Mutex<HashMap<(u64, u64), Memo>> {
    static MEMOS: OnceLock<Mutex<HashMap<(u64, u64), Memo>>> = OnceLock::new();
    MEMOS.get_or_init(Default::default)
}

/// One step of the walk: the value at `hour` from the value the hour before.
fn step(key: u64, vol: f64, x: f64, hour: i64) -> f64 {
    x * (1.0 - THETA) + vol * gaussian(mix(key ^ (hour as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)))
}

/// The memoised start of the block holding `hour` (> epoch) and that block's start hour, and
/// the extremes of every complete block before it.
fn block_before(key: u64, vol: f64, hour: i64) -> (i64, f64, Extremes) {
    let index = ((hour - WALK_EPOCH_HOUR - 1) / BLOCK) as usize;
    let mut memos = memos().lock().unwrap_or_else(|e| e.into_inner());
    let memo = memos.entry((key, vol.to_bits())).or_default();
    if memo.start.is_empty() {
        memo.start.push(0.0);
    }
    while memo.start.len() <= index {
        let first = WALK_EPOCH_HOUR + (memo.start.len() as i64 - 1) * BLOCK;
        let mut x = *memo.start.last().expect("the epoch's value");
        let mut seen = Extremes::at(x, first);
        for h in first + 1..=first + BLOCK {
            x = step(key, vol, x, h);
            seen.add(x, h);
        }
        memo.start.push(x);
        memo.extremes.push(seen);
    }
    let mut before = Extremes::at(0.0, WALK_EPOCH_HOUR);
    for block in &memo.extremes[..index] {
        before.merge(block);
    }
    (
        WALK_EPOCH_HOUR + index as i64 * BLOCK,
        memo.start[index],
        before,
    )
}

/// Log-price offsets of the walk `key` at each hour in `[from_hour, to_hour]`.
pub(crate) fn offsets(key: u64, vol: f64, from_hour: i64, to_hour: i64) -> Vec<f64> {
    let mut out = Vec::with_capacity((to_hour - from_hour + 1).max(0) as usize);
    let first_walked = from_hour.max(WALK_EPOCH_HOUR + 1);
    out.extend((from_hour..=to_hour.min(WALK_EPOCH_HOUR)).map(|_| 0.0));
    if to_hour < first_walked {
        return out;
    }
    let (mut h, mut x, _) = block_before(key, vol, first_walked);
    while h < to_hour {
        h += 1;
        x = step(key, vol, x, h);
        if h >= first_walked {
            out.push(x);
        }
    }
    out
}

/// The lowest and highest offsets of the walk `key` from its epoch to `to_hour`, with their
/// hours (the epoch's value, 0, counts).
pub(crate) fn extremes(key: u64, vol: f64, to_hour: i64) -> Extremes {
    if to_hour <= WALK_EPOCH_HOUR {
        return Extremes::at(0.0, to_hour);
    }
    let (mut h, mut x, mut seen) = block_before(key, vol, to_hour);
    seen.add(x, h);
    while h < to_hour {
        h += 1;
        x = step(key, vol, x, h);
        seen.add(x, h);
    }
    seen
}

/// A coin's walk over a range of hours, priced in one currency.
pub(crate) struct Walk<'a> {
    pub(crate) level: f64,
    pub(crate) vol: f64,
    pub(crate) factor: f64,
    pub(crate) coin_key: u64,
    pub(crate) offsets: &'a [f64],
    pub(crate) first_hour: i64,
}

impl Walk<'_> {
    /// The price at `t` (ms): the walk interpolated within its hour, with a little noise.
    pub(crate) fn price_at(&self, t: i64) -> f64 {
        let h = t.div_euclid(HOUR_MS);
        let frac = (t - h * HOUR_MS) as f64 / HOUR_MS as f64;
        let i = (h - self.first_hour) as usize;
        let next = self.offsets[(i + 1).min(self.offsets.len() - 1)];
        let x = self.offsets[i] * (1.0 - frac) + next * frac;
        let noise = 1.0 + (unit(mix(self.coin_key ^ t as u64 ^ 0xABCD)) - 0.5) * self.vol * 0.2;
        self.level * x.exp() * self.factor * noise
    }
}

/// splitmix64 finaliser: a well-mixed 64-bit hash of `x`.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal number from a hash (Box-Muller).
pub(crate) fn gaussian(h: u64) -> f64 {
    let u1 = unit(h).max(1e-12);
    let u2 = unit(mix(h));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// FNV-1a of `s`.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk as it was before the memo: every step from the epoch.
    fn from_epoch(key: u64, vol: f64, from_hour: i64, to_hour: i64) -> Vec<f64> {
        let mut x = 0.0;
        let mut out = Vec::new();
        for h in WALK_EPOCH_HOUR.min(from_hour)..=to_hour {
            if h > WALK_EPOCH_HOUR {
                x = step(key, vol, x, h);
            }
            if h >= from_hour {
                out.push(x);
            }
        }
        out
    }

    #[test]
    fn the_memo_gives_the_walk_from_the_epoch_bit_for_bit() {
        let (key, vol) = (mix(7), 0.01);
        for (from, to) in [
            (WALK_EPOCH_HOUR - 5, WALK_EPOCH_HOUR + 3),
            (WALK_EPOCH_HOUR + BLOCK - 2, WALK_EPOCH_HOUR + BLOCK + 2),
            (WALK_EPOCH_HOUR + 3 * BLOCK, WALK_EPOCH_HOUR + 3 * BLOCK),
            (WALK_EPOCH_HOUR + 5_000, WALK_EPOCH_HOUR + 5_300),
            (WALK_EPOCH_HOUR + 900, WALK_EPOCH_HOUR + 100),
        ] {
            let want = from_epoch(key, vol, from, to);
            assert_eq!(offsets(key, vol, from, to), want, "{from}..={to}");
        }
        let all = from_epoch(key, vol, WALK_EPOCH_HOUR, WALK_EPOCH_HOUR + 3_000);
        let seen = extremes(key, vol, WALK_EPOCH_HOUR + 3_000);
        let high = all.iter().copied().fold(f64::MIN, f64::max);
        let low = all.iter().copied().fold(f64::MAX, f64::min);
        assert_eq!((seen.high.0, seen.low.0), (high, low));
        assert_eq!(all[(seen.high.1 - WALK_EPOCH_HOUR) as usize], high);
    }
}
