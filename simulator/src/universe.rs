//! The coin universe: the known coins at realistic levels and supplies, generated coins up to
//! [`UNIVERSE_SIZE`], and any other ids the configuration names; each coin's circulating
//! supply (drifting day to day), market cap, and the ranking by market cap at an instant.
//!
//! Market cap is price times circulating supply. The supply of every coin drifts by a factor
//! drawn per (coin, UTC day), interpolated through the day, so ranks near 100 change from one
//! day to the next while the largest coins keep their places; [`RANKED_BELOW_250`] is always ranked
//! far below 250. A few generated coins are unranked, as on CoinGecko: no circulating supply,
//! a market cap of `0` or `null`, sorted after the ranked coins.

use common::domain::HOUR_MS;

use crate::config::SimulatorConfig;
use crate::walk::{fnv, gaussian, mix, offsets, unit, Walk};

pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Coins the universe holds at least: the known coins, then generated ones.
pub const UNIVERSE_SIZE: usize = 1_000;
/// The id prefix of the generated coins (`sim-coin-0001` ...).
const GENERATED_PREFIX: &str = "sim-coin-";
/// A known coin whose market cap keeps it far below rank 250 on every day.
pub const RANKED_BELOW_250: &str = "namecoin";

/// id, symbol, name, price level in USD, hourly volatility, circulating supply.
const KNOWN: &[(&str, &str, &str, f64, f64, f64)] = &[
    ("bitcoin", "btc", "Bitcoin", 95_000.0, 0.006, 19.9e6),
    ("ethereum", "eth", "Ethereum", 3_400.0, 0.008, 120.7e6),
    ("tether", "usdt", "Tether", 1.0, 0.0002, 140e9),
    ("binancecoin", "bnb", "BNB", 650.0, 0.007, 140e6),
    ("solana", "sol", "Solana", 180.0, 0.011, 480e6),
    ("ripple", "xrp", "XRP", 2.2, 0.010, 58e9),
    ("usd-coin", "usdc", "USDC", 1.0, 0.0001, 42e9),
    ("cardano", "ada", "Cardano", 0.75, 0.011, 35.5e9),
    ("dogecoin", "doge", "Dogecoin", 0.32, 0.013, 147e9),
    ("tron", "trx", "TRON", 0.25, 0.006, 86.5e9),
    ("avalanche-2", "avax", "Avalanche", 35.0, 0.012, 415e6),
    ("litecoin", "ltc", "Litecoin", 95.0, 0.009, 75.5e6),
    ("polkadot", "dot", "Polkadot", 6.5, 0.011, 1.52e9),
    ("chainlink", "link", "Chainlink", 18.0, 0.011, 634e6),
    ("bitcoin-cash", "bch", "Bitcoin Cash", 420.0, 0.009, 19.9e6),
    (
        "wrapped-bitcoin",
        "wbtc",
        "Wrapped Bitcoin",
        95_000.0,
        0.006,
        130e3,
    ),
    ("stellar", "xlm", "Stellar", 0.35, 0.010, 30.4e9),
    ("shiba-inu", "shib", "Shiba Inu", 0.000_021, 0.014, 589e12),
    ("pepe", "pepe", "Pepe", 0.000_011, 0.018, 420.7e12),
    ("monero", "xmr", "Monero", 190.0, 0.008, 18.45e6),
    ("namecoin", "nmc", "Namecoin", 1.2, 0.012, 14.74e6),
];

/// Daily log-drift of the supply: small for the known coins, enough elsewhere to move ranks.
const KNOWN_DRIFT: f64 = 0.005;
const DRIFT: f64 = 0.06;
/// Generated coin `n` has a market cap near `CAP_SCALE * (n + 10)^-CAP_SLOPE` USD (about
/// 1 billion at rank 100, 200 million at 250, 20 million at 1,000, as on CoinGecko).
const CAP_SCALE: f64 = 1.33e12;
const CAP_SLOPE: f64 = 1.6;
/// Share of generated coins that are unranked.
const UNRANKED_RATE: f64 = 0.01;

/// A coin without a market cap: how its cap is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoCap {
    Zero,
    Null,
}

/// One coin of the universe and everything its prices and market data derive from.
#[derive(Debug, Clone)]
pub(crate) struct Coin {
    pub(crate) id: String,
    pub(crate) symbol: String,
    pub(crate) name: String,
    /// USD price level the walk moves around.
    pub(crate) level: f64,
    pub(crate) vol: f64,
    /// The seed of its walk and noise.
    pub(crate) key: u64,
    /// Circulating supply before the daily drift.
    supply: f64,
    drift: f64,
    /// 24 h volume as a share of market cap.
    turnover: f64,
    /// Total supply over circulating supply; max supply over circulating, if capped.
    total_ratio: f64,
    max_ratio: Option<f64>,
    /// Unranked coins: no circulating supply, no market cap.
    pub(crate) unranked: Option<NoCap>,
}

impl Coin {
    /// Prices in a currency (`factor` against USD) at `times` (ms).
    pub(crate) fn prices(&self, factor: f64, times: &[i64]) -> Vec<f64> {
        let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
            return Vec::new();
        };
        let first_hour = first.div_euclid(HOUR_MS);
        let offsets = offsets(self.key, self.vol, first_hour, last.div_euclid(HOUR_MS) + 1);
        let walk = Walk {
            level: self.level,
            vol: self.vol,
            factor,
            coin_key: self.key,
            offsets: &offsets,
            first_hour,
        };
        times.iter().map(|&t| walk.price_at(t)).collect()
    }

    /// The price in a currency at `t` (ms).
    pub(crate) fn price(&self, factor: f64, t: i64) -> f64 {
        self.prices(factor, &[t])[0]
    }

    /// Circulating supply at `t`: the base supply times the day's drift, interpolated from
    /// one UTC midnight's factor to the next (0 for unranked coins).
    pub(crate) fn supply_at(&self, t: i64) -> f64 {
        if self.unranked.is_some() {
            return 0.0;
        }
        let day = t.div_euclid(DAY_MS);
        let frac = (t - day * DAY_MS) as f64 / DAY_MS as f64;
        let factor = |day: i64| {
            gaussian(mix(self.key
                ^ 0xD21F_7A5E
                ^ (day as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .clamp(-3.0, 3.0)
        };
        self.supply * (self.drift * (factor(day) * (1.0 - frac) + factor(day + 1) * frac)).exp()
    }

    /// Market cap for `price` at `t`; `None` for unranked coins.
    pub(crate) fn market_cap(&self, price: f64, t: i64) -> Option<f64> {
        self.unranked.is_none().then(|| price * self.supply_at(t))
    }

    /// A market cap as CoinGecko sends it: the number, or an unranked coin's `0` or `null`.
    pub(crate) fn market_cap_json(&self, price: f64, t: i64) -> serde_json::Value {
        match (self.market_cap(price, t), self.unranked) {
            (Some(cap), _) => cap.into(),
            (None, Some(NoCap::Zero)) => 0.into(),
            (None, _) => serde_json::Value::Null,
        }
    }

    /// 24 h volume for `price` (unranked coins trade too: on their nominal supply).
    pub(crate) fn volume(&self, price: f64) -> f64 {
        price * self.supply * self.turnover
    }

    /// Total supply and max supply (`None`: uncapped).
    pub(crate) fn total_and_max_supply(&self) -> (f64, Option<f64>) {
        (
            self.supply * self.total_ratio,
            self.max_ratio.map(|r| self.supply * r),
        )
    }
}

/// The coin `id` if the simulator serves it: a known coin, a generated one, or one the
/// configuration names.
pub(crate) fn coin(config: &SimulatorConfig, id: &str) -> Option<Coin> {
    let h = mix(config.seed ^ fnv(id));
    let draw = |salt: u64| unit(mix(h ^ salt));
    // Every coin: the same shape of total and max supply.
    let total_ratio = 1.15 + 0.5 * draw(6);
    let max_ratio = (draw(7) < 0.5).then(|| total_ratio * (1.0 + draw(8)));
    let coin = |symbol: String, name: String, level: f64, vol: f64, supply: f64| Coin {
        id: id.to_owned(),
        symbol,
        name,
        level,
        vol,
        key: config.seed ^ fnv(id),
        supply,
        drift: DRIFT,
        turnover: 0.04,
        total_ratio,
        max_ratio,
        unranked: None,
    };
    if let Some(&(_, symbol, name, level, vol, supply)) = KNOWN.iter().find(|k| k.0 == id) {
        return Some(Coin {
            drift: KNOWN_DRIFT,
            ..coin(symbol.into(), name.into(), level, vol, supply)
        });
    }
    if let Some(n) = generated_index(id) {
        let level = 10f64.powf(draw(0) * 6.0 - 3.0); // 0.001 .. 1000
        let cap = CAP_SCALE * (n as f64 + 10.0).powf(-CAP_SLOPE) * (0.25 * gaussian(h)).exp();
        let unranked = (draw(4) < UNRANKED_RATE).then(|| {
            if draw(5) < 0.5 {
                NoCap::Zero
            } else {
                NoCap::Null
            }
        });
        return Some(Coin {
            turnover: 0.01 + 0.2 * draw(3),
            unranked,
            ..coin(
                format!("sc{n:04}"),
                format!("Sim Coin {n:04}"),
                level,
                0.008 + 0.012 * draw(1),
                cap / level,
            )
        });
    }
    if !config.coins.iter().any(|c| c == id) || !is_coin_id(id) {
        return None;
    }
    // Any other id the configuration names: a profile drawn from the id.
    let level = 10f64.powf(unit(h) * 5.0 - 2.0); // 0.01 .. 1000
    let name: String = id
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let symbol: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(4)
        .collect();
    let cap = 10f64.powf(7.0 + 3.0 * draw(2)); // 10 million .. 10 billion
    Some(coin(symbol, name, level, 0.01, cap / level))
}

/// `sim-coin-0001` ... : the generated coin's number.
fn generated_index(id: &str) -> Option<usize> {
    let n: usize = id.strip_prefix(GENERATED_PREFIX)?.parse().ok()?;
    let generated = UNIVERSE_SIZE - KNOWN.len();
    (1..=generated)
        .contains(&n)
        .then_some(n)
        .filter(|n| id == generated_id(*n))
}

fn generated_id(n: usize) -> String {
    format!("{GENERATED_PREFIX}{n:04}")
}

/// A CoinGecko-like id (`top:100` in `TRACKED_COINS`, say, is not one).
fn is_coin_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.len() <= 100
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every id the simulator serves, sorted.
pub(crate) fn ids(config: &SimulatorConfig) -> Vec<String> {
    let mut ids: Vec<String> = KNOWN
        .iter()
        .map(|k| k.0.to_owned())
        .chain((1..=UNIVERSE_SIZE - KNOWN.len()).map(generated_id))
        .chain(config.coins.iter().filter(|c| is_coin_id(c)).cloned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A coin that CoinGecko's quotes leave behind: its `last_updated_at` lags the others.
pub(crate) const LAGGING_COIN: &str = "tether";
/// How far the lagging coin's quote trails "now".
pub(crate) const QUOTE_LAG_MS: i64 = 3 * HOUR_MS;

/// When the quote of `id` that CoinGecko serves at `now_ms` was taken.
pub(crate) fn quote_time(id: &str, now_ms: i64) -> i64 {
    if id == LAGGING_COIN {
        now_ms - QUOTE_LAG_MS
    } else {
        now_ms - 20_000
    }
}

/// A coin as ranked at an instant: its quote's time and USD price, its USD market cap and
/// its rank (`None`: unranked).
pub(crate) struct Ranked {
    pub(crate) coin: Coin,
    pub(crate) at: i64,
    pub(crate) usd_price: f64,
    pub(crate) usd_cap: Option<f64>,
    pub(crate) rank: Option<usize>,
}

/// Every coin at `now_ms`, by market cap of its quote, largest first; unranked coins last
/// (by volume).
pub(crate) fn ranking(config: &SimulatorConfig, now_ms: i64) -> Vec<Ranked> {
    let mut all: Vec<Ranked> = ids(config)
        .iter()
        .filter_map(|id| coin(config, id))
        .map(|coin| {
            let at = quote_time(&coin.id, now_ms);
            let usd_price = coin.price(1.0, at);
            Ranked {
                usd_cap: coin.market_cap(usd_price, at),
                coin,
                at,
                usd_price,
                rank: None,
            }
        })
        .collect();
    all.sort_by(|a, b| match (a.usd_cap, b.usd_cap) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b
            .coin
            .volume(b.usd_price)
            .total_cmp(&a.coin.volume(a.usd_price)),
    });
    for (i, r) in all.iter_mut().enumerate() {
        r.rank = r.usd_cap.map(|_| i + 1);
    }
    all
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 2025-11-28T02:20:34Z, the integration tests' fixed "now".
    pub(crate) const NOW: i64 = 1_764_296_434_000;

    fn top(config: &SimulatorConfig, now_ms: i64, n: usize) -> Vec<String> {
        ranking(config, now_ms)
            .into_iter()
            .filter(|r| r.rank.is_some_and(|rank| rank <= n))
            .map(|r| r.coin.id)
            .collect()
    }

    #[test]
    fn the_universe_has_a_thousand_valid_ids_and_each_is_a_coin() {
        let config = SimulatorConfig::default();
        let all = ids(&config);
        assert!(all.len() >= 1_000, "{}", all.len());
        for id in &all {
            assert!(is_coin_id(id), "{id}");
            assert_eq!(coin(&config, id).map(|c| c.id), Some(id.clone()));
        }
        assert!(coin(&config, "sim-coin-421").is_none());
        assert!(coin(&config, "sim-coin-0000").is_none());
        assert!(coin(&config, &generated_id(UNIVERSE_SIZE)).is_none());
        let with_top = SimulatorConfig {
            coins: vec!["top:100".into(), "my-coin".into()],
            ..SimulatorConfig::default()
        };
        assert!(coin(&with_top, "top:100").is_none());
        assert_eq!(coin(&with_top, "my-coin").unwrap().name, "My Coin");
        assert_eq!(ids(&with_top).len(), all.len() + 1);
    }

    #[test]
    fn ranks_near_100_change_every_day_while_the_eleven_stay_and_namecoin_stays_out() {
        let config = SimulatorConfig::default();
        let days: Vec<Vec<Ranked>> = (0..8).map(|d| ranking(&config, NOW + d * DAY_MS)).collect();
        let mut previous: Option<Vec<String>> = None;
        for (d, day) in days.iter().enumerate() {
            let top100: Vec<String> = day
                .iter()
                .filter(|r| r.rank.is_some_and(|rank| rank <= 100))
                .map(|r| r.coin.id.clone())
                .collect();
            assert_eq!(top100.len(), 100);
            for id in common::config::DEFAULT_COINS {
                assert!(
                    top100.iter().any(|c| c == id),
                    "day {d}: {id} left the top 100"
                );
            }
            let namecoin = day.iter().find(|r| r.coin.id == RANKED_BELOW_250).unwrap();
            assert!(namecoin.rank.unwrap() > 250, "day {d}: {:?}", namecoin.rank);
            if let Some(before) = previous {
                let entered = top100.iter().filter(|c| !before.contains(c)).count();
                assert!((1..=10).contains(&entered), "day {d}: {entered} entered");
            }
            previous = Some(top100);
        }
        assert_eq!(top(&config, NOW, 100), top(&config, NOW, 100), "repeatable");
    }

    #[test]
    fn unranked_coins_come_last_without_a_rank() {
        let ranking = ranking(&SimulatorConfig::default(), NOW);
        let unranked = ranking.iter().filter(|r| r.rank.is_none()).count();
        assert!((3..=30).contains(&unranked), "{unranked}");
        let first_unranked = ranking.iter().position(|r| r.rank.is_none()).unwrap();
        assert!(ranking[first_unranked..].iter().all(|r| r.rank.is_none()));
        assert!(ranking[..first_unranked]
            .windows(2)
            .all(|w| w[0].usd_cap >= w[1].usd_cap));
        assert_eq!(ranking[0].rank, Some(1));
        assert_eq!(ranking[0].coin.id, "bitcoin");
    }
}
