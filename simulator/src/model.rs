//! The synthetic market: a few known coins at realistic levels, one factor per currency,
//! and a seeded mean-reverting random walk sampled the way CoinGecko samples (5-minutely,
//! hourly or daily by window).

use chrono::Utc;
use common::domain::HOUR_MS;
use serde_json::json;

use crate::config::SimulatorConfig;

pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// The walk starts here (2024-01-01T00:00Z); earlier hours use the starting level.
const WALK_EPOCH_HOUR: i64 = 1_704_067_200 / 3600;

const KNOWN: &[(&str, &str, &str, f64, f64)] = &[
    ("bitcoin", "btc", "Bitcoin", 95_000.0, 0.006),
    ("ethereum", "eth", "Ethereum", 3_400.0, 0.008),
    ("tether", "usdt", "Tether", 1.0, 0.0002),
    ("binancecoin", "bnb", "BNB", 650.0, 0.007),
    ("solana", "sol", "Solana", 180.0, 0.011),
    ("ripple", "xrp", "XRP", 2.2, 0.010),
    ("usd-coin", "usdc", "USDC", 1.0, 0.0001),
    ("cardano", "ada", "Cardano", 0.75, 0.011),
    ("dogecoin", "doge", "Dogecoin", 0.32, 0.013),
    ("tron", "trx", "TRON", 0.25, 0.006),
    ("avalanche-2", "avax", "Avalanche", 35.0, 0.012),
    ("litecoin", "ltc", "Litecoin", 95.0, 0.009),
    ("polkadot", "dot", "Polkadot", 6.5, 0.011),
    ("chainlink", "link", "Chainlink", 18.0, 0.011),
    ("bitcoin-cash", "bch", "Bitcoin Cash", 420.0, 0.009),
    (
        "wrapped-bitcoin",
        "wbtc",
        "Wrapped Bitcoin",
        95_000.0,
        0.006,
    ),
    ("stellar", "xlm", "Stellar", 0.35, 0.010),
    ("shiba-inu", "shib", "Shiba Inu", 0.000_021, 0.014),
    ("pepe", "pepe", "Pepe", 0.000_011, 0.018),
    ("monero", "xmr", "Monero", 190.0, 0.008),
];

/// vs_currency factors against USD (fixed, plausible).
pub(crate) fn currency_factor(code: &str) -> Option<f64> {
    Some(match code {
        "usd" => 1.0,
        "eur" => 0.92,
        "gbp" => 0.79,
        "jpy" => 151.3,
        "chf" => 0.88,
        "cad" => 1.37,
        "aud" => 1.52,
        "cny" => 7.2,
        "inr" => 83.4,
        "krw" => 1_370.0,
        "brl" => 5.4,
        _ => return None,
    })
}

pub(crate) fn known_coin(config: &SimulatorConfig, id: &str) -> bool {
    config.coins.iter().any(|c| c == id) || KNOWN.iter().any(|k| k.0 == id)
}

fn coin_profile(config: &SimulatorConfig, id: &str) -> (String, String, f64, f64) {
    match KNOWN.iter().find(|k| k.0 == id) {
        Some(&(_, symbol, name, level, vol)) => (symbol.to_owned(), name.to_owned(), level, vol),
        None => {
            let h = mix(config.seed ^ fnv(id));
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
            (symbol, name, level, 0.01)
        }
    }
}

pub(crate) fn coins_list(config: &SimulatorConfig) -> serde_json::Value {
    let mut ids: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
    for c in &config.coins {
        if !ids.contains(&c.as_str()) {
            ids.push(c);
        }
    }
    ids.sort_unstable();
    serde_json::Value::Array(
        ids.into_iter()
            .map(|id| {
                let (symbol, name, _, _) = coin_profile(config, id);
                json!({"id": id, "symbol": symbol, "name": name})
            })
            .collect(),
    )
}

pub(crate) fn coin_detail(config: &SimulatorConfig, id: &str) -> Option<serde_json::Value> {
    if !known_coin(config, id) {
        return None;
    }
    let (symbol, name, _, _) = coin_profile(config, id);
    let hue = mix(fnv(id)) % 360;
    let letter = symbol.chars().next().unwrap_or('?').to_ascii_uppercase();
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'><circle cx='32' cy='32' r='30' fill='hsl({hue},65%,45%)'/>\
         <text x='32' y='42' font-family='sans-serif' font-size='28' text-anchor='middle' fill='white'>{letter}</text></svg>"
    );
    let image = format!(
        "data:image/svg+xml,{}",
        percent_encoding::utf8_percent_encode(&svg, percent_encoding::NON_ALPHANUMERIC)
    );
    let homepage = format!("https://www.{}.example", id.replace('-', ""));
    // Like the real API: HTML links and \r\n inside the description.
    let description = format!(
        "{name} ({sym}) is a cryptocurrency. <a href=\"https://www.coingecko.com/en/coins/{id}\">{name}</a> prices here are \
         <b>simulated</b> by crypto-dashboard &amp; not real market data.\r\n\r\nUse the live CoinGecko API for real prices.",
        sym = symbol.to_uppercase()
    );
    Some(json!({
        "id": id, "symbol": symbol, "name": name,
        "asset_platform_id": null, "block_time_in_minutes": 0, "hashing_algorithm": null,
        "categories": ["Simulated"], "public_notice": null,
        "description": {"en": description},
        "links": {"homepage": [homepage, "", ""], "blockchain_site": ["", ""], "official_forum_url": [""]},
        "image": {"thumb": image, "small": image, "large": image},
        "country_origin": "", "genesis_date": null, "market_cap_rank": null,
        "last_updated": Utc::now().to_rfc3339(),
    }))
}

/// Log-price offset of `id` at each hour in `[from_hour, to_hour]`: an Ornstein-Uhlenbeck
/// walk started at the epoch, so the same hour always has the same value.
fn walk(seed: u64, id: &str, vol: f64, from_hour: i64, to_hour: i64) -> Vec<f64> {
    let theta = 0.0008;
    let key = seed ^ fnv(id);
    let mut x = 0.0;
    let mut out = Vec::with_capacity((to_hour - from_hour + 1).max(0) as usize);
    for h in WALK_EPOCH_HOUR.min(from_hour)..=to_hour {
        if h > WALK_EPOCH_HOUR {
            x = x * (1.0 - theta)
                + vol * gaussian(mix(key ^ (h as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)));
        }
        if h >= from_hour {
            out.push(x);
        }
    }
    out
}

/// A coin's walk over a range of hours, priced in one currency.
struct Walk<'a> {
    level: f64,
    vol: f64,
    factor: f64,
    coin_key: u64,
    offsets: &'a [f64],
    first_hour: i64,
}

impl Walk<'_> {
    /// The price at `t` (ms): the walk interpolated within its hour, with a little noise.
    fn price_at(&self, t: i64) -> f64 {
        let h = t.div_euclid(HOUR_MS);
        let frac = (t - h * HOUR_MS) as f64 / HOUR_MS as f64;
        let i = (h - self.first_hour) as usize;
        let next = self.offsets[(i + 1).min(self.offsets.len() - 1)];
        let x = self.offsets[i] * (1.0 - frac) + next * frac;
        let noise = 1.0 + (unit(mix(self.coin_key ^ t as u64 ^ 0xABCD)) - 0.5) * self.vol * 0.2;
        self.level * x.exp() * self.factor * noise
    }
}

/// A coin that CoinGecko's quotes leave behind: its `last_updated_at` lags the others.
pub(crate) const LAGGING_COIN: &str = "tether";
/// How far the lagging coin's quote trails "now".
pub(crate) const QUOTE_LAG_MS: i64 = 3 * HOUR_MS;

/// `/simple/price` for `ids` (already split) in `currencies` at `now_ms`, as CoinGecko
/// answers it: one object per known id (unknown ids are left out), keys `<vs>`,
/// `<vs>_market_cap`, `<vs>_24h_vol`, `<vs>_24h_change`, and `last_updated_at` in seconds.
/// Prices of 1,000 or more come as integers, one coin's 24 h volume is null, and the
/// lagging coin's quote is hours old.
pub(crate) fn simple_price(
    config: &SimulatorConfig,
    ids: &[&str],
    currencies: &[(&str, f64)],
    now_ms: i64,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for &id in ids {
        if !known_coin(config, id) || out.contains_key(id) {
            continue;
        }
        let (_, _, level, vol) = coin_profile(config, id);
        let at = if id == LAGGING_COIN {
            now_ms - QUOTE_LAG_MS
        } else {
            now_ms - 20_000
        };
        let day_before = at - DAY_MS;
        let first_hour = day_before.div_euclid(HOUR_MS);
        let offsets = walk(config.seed, id, vol, first_hour, at.div_euclid(HOUR_MS) + 1);
        let supply = 1.0e9 / level.max(1e-6).sqrt();
        let mut quote = serde_json::Map::new();
        for &(vs, factor) in currencies {
            let model = Walk {
                level,
                vol,
                factor,
                coin_key: config.seed ^ fnv(id),
                offsets: &offsets,
                first_hour,
            };
            let (price, before) = (model.price_at(at), model.price_at(day_before));
            let shown = if price >= 1_000.0 {
                json!(price.round() as u64)
            } else {
                json!(price)
            };
            quote.insert(vs.to_owned(), shown);
            quote.insert(format!("{vs}_market_cap"), json!(price * supply));
            let volume = if id == "tron" {
                serde_json::Value::Null
            } else {
                json!(price * supply * 0.04)
            };
            quote.insert(format!("{vs}_24h_vol"), volume);
            quote.insert(
                format!("{vs}_24h_change"),
                json!((price / before - 1.0) * 100.0),
            );
        }
        quote.insert("last_updated_at".into(), json!(at.div_euclid(1000)));
        out.insert(id.to_owned(), serde_json::Value::Object(quote));
    }
    serde_json::Value::Object(out)
}

pub(crate) fn market_chart(
    config: &SimulatorConfig,
    id: &str,
    factor: f64,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    request_no: u64,
) -> serde_json::Value {
    let (_, _, level, vol) = coin_profile(config, id);
    let span = to_ms - from_ms;
    let ends_now = (now_ms - to_ms).abs() <= HOUR_MS;
    let coin_key = config.seed ^ fnv(id);
    let mut times: Vec<i64> = Vec::new();
    if span <= 0 {
        // Empty window: CoinGecko answers with empty arrays.
    } else if span <= DAY_MS && ends_now {
        let mut t = from_ms + 300_000;
        while t <= to_ms {
            times.push(t + (unit(mix(coin_key ^ t as u64)) * 2_000.0) as i64);
            t += 300_000;
        }
        // The recorded quirk: the last two samples ~1 s apart, the second one earlier.
        if let Some(&last) = times.last() {
            times.push(last - 955);
        }
    } else if span <= 90 * DAY_MS {
        for h in from_ms.div_euclid(HOUR_MS)..=to_ms.div_euclid(HOUR_MS) {
            let r = |salt: u64| {
                unit(mix(coin_key
                    ^ (h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ salt))
            };
            if r(1) < 0.004 {
                continue; // a missing hour
            }
            let t = h * HOUR_MS + (r(2) * 3_400_000.0) as i64 + 60_000;
            if t >= from_ms && t <= to_ms {
                times.push(t);
            }
            if r(3) < 0.01 {
                let second = t + 90_000 + (r(4) * 60_000.0) as i64;
                if second < (h + 1) * HOUR_MS && second <= to_ms {
                    times.push(second); // two samples in one hour
                }
            }
        }
    } else {
        let mut day = from_ms.div_euclid(DAY_MS)
            + if from_ms.rem_euclid(DAY_MS) == 0 {
                0
            } else {
                1
            };
        while day * DAY_MS <= to_ms {
            times.push(day * DAY_MS);
            day += 1;
        }
    }
    if ends_now && span > 0 && times.last().is_some_and(|&t| t < now_ms.min(to_ms)) {
        times.push(now_ms.min(to_ms)); // the trailing "now" sample
    }
    let first_hour = times
        .iter()
        .min()
        .copied()
        .unwrap_or(from_ms)
        .div_euclid(HOUR_MS);
    let last_hour = times
        .iter()
        .max()
        .copied()
        .unwrap_or(to_ms)
        .div_euclid(HOUR_MS)
        + 1;
    let offsets = walk(config.seed, id, vol, first_hour, last_hour);
    let supply = 1.0e9 / level.max(1e-6).sqrt();
    let null_rate = config.faults.null_rate;
    let mut prices = Vec::with_capacity(times.len());
    let mut caps = Vec::with_capacity(times.len());
    let mut volumes = Vec::with_capacity(times.len());
    let model = Walk {
        level,
        vol,
        factor,
        coin_key,
        offsets: &offsets,
        first_hour,
    };
    for &t in &times {
        let price = model.price_at(t);
        let value = if null_rate > 0.0 && unit(mix(config.seed ^ request_no ^ t as u64)) < null_rate
        {
            serde_json::Value::Null
        } else {
            json!(price)
        };
        prices.push(json!([t, value]));
        caps.push(json!([t, price * supply]));
        volumes.push(json!([t, price * supply * 0.04]));
    }
    json!({"prices": prices, "market_caps": caps, "total_volumes": volumes})
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
fn gaussian(h: u64) -> f64 {
    let u1 = unit(h).max(1e-12);
    let u2 = unit(mix(h));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(from_ms: i64, to_ms: i64, now_ms: i64) -> Vec<(i64, f64)> {
        let config = SimulatorConfig::default();
        let body = market_chart(&config, "bitcoin", 1.0, from_ms, to_ms, now_ms, 1);
        body["prices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    }

    const NOW: i64 = 1_764_300_000_000;

    #[test]
    fn thirty_days_come_hourly_off_the_hour_with_a_trailing_now_point() {
        let points = chart(NOW - 30 * DAY_MS, NOW, NOW);
        assert!((700..=740).contains(&points.len()), "{}", points.len());
        assert!(points.iter().filter(|p| p.0 % HOUR_MS == 0).count() < 5);
        assert_eq!(points.last().unwrap().0, NOW);
        assert!(points.iter().all(|p| p.1 > 10_000.0 && p.1 < 1_000_000.0));
    }

    #[test]
    fn one_day_ending_now_is_five_minutely_and_ends_backwards() {
        let points = chart(NOW - DAY_MS, NOW, NOW);
        assert!(points.len() >= 287, "{}", points.len());
        let n = points.len();
        assert!(points[n - 1].0 < points[n - 2].0 || points[n - 2].0 < points[n - 3].0);
    }

    #[test]
    fn over_ninety_days_is_daily_at_midnight() {
        let points = chart(NOW - 120 * DAY_MS, NOW - 10 * DAY_MS, NOW);
        assert!(points.iter().all(|p| p.0 % DAY_MS == 0));
        assert_eq!(points.len(), 110);
    }

    #[test]
    fn prices_are_deterministic_across_requests() {
        let a = chart(NOW - 10 * DAY_MS, NOW - 5 * DAY_MS, NOW);
        let b = chart(NOW - 7 * DAY_MS, NOW - 5 * DAY_MS, NOW);
        let overlap: Vec<_> = a.iter().filter(|p| b.iter().any(|q| q.0 == p.0)).collect();
        assert!(overlap.len() > 40);
        for p in overlap {
            assert_eq!(Some(p), b.iter().find(|q| q.0 == p.0));
        }
    }

    #[test]
    fn simple_price_answers_as_coingecko_does() {
        let config = SimulatorConfig::default();
        let body = simple_price(
            &config,
            &["bitcoin", "no-such-coin", "tether", "tron"],
            &[("usd", 1.0), ("eur", 0.92)],
            NOW,
        );
        let quotes = body.as_object().unwrap();
        assert_eq!(
            quotes.keys().collect::<Vec<_>>(),
            ["bitcoin", "tether", "tron"],
            "unknown ids are left out"
        );
        assert!(
            body["bitcoin"]["usd"].is_u64(),
            "a price over 1,000 is an integer"
        );
        assert!(body["bitcoin"]["eur_24h_change"].is_f64());
        assert_eq!(
            body["bitcoin"]["last_updated_at"],
            (NOW - 20_000) / 1000,
            "seconds"
        );
        assert_eq!(
            body[LAGGING_COIN]["last_updated_at"],
            (NOW - QUOTE_LAG_MS) / 1000,
            "the lagging coin's quote is hours old"
        );
        assert!(body["tron"]["usd_24h_vol"].is_null());
        assert!(body["tether"]["usd"].as_f64().unwrap() < 2.0);
    }
}
