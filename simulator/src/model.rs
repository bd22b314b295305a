//! The bodies of CoinGecko's per-coin endpoints over the universe: `/coins/list`,
//! `/coins/{id}`, `/simple/price` and `/coins/{id}/market_chart/range` sampled the way CoinGecko
//! samples (5-minutely, hourly or daily by window), in any of a few currencies.

use chrono::Utc;
use common::domain::HOUR_MS;
use serde_json::json;

use crate::config::SimulatorConfig;
use crate::universe::{self, quote_time, Coin, DAY_MS};
use crate::walk::{fnv, mix, unit};

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

pub(crate) fn coins_list(config: &SimulatorConfig) -> serde_json::Value {
    universe::ids(config)
        .into_iter()
        .filter_map(|id| universe::coin(config, &id))
        .map(|c| json!({"id": c.id, "symbol": c.symbol, "name": c.name}))
        .collect()
}

/// A price as CoinGecko sends it: 1,000 or more without decimals.
pub(crate) fn price_json(price: f64) -> serde_json::Value {
    if price >= 1_000.0 {
        json!(price.round() as u64)
    } else {
        json!(price)
    }
}

/// The coin's logo: a coloured disc with its initial, as an SVG data URI (no network).
pub(crate) fn image(id: &str, symbol: &str) -> String {
    let hue = mix(fnv(id)) % 360;
    let letter = symbol.chars().next().unwrap_or('?').to_ascii_uppercase();
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'><circle cx='32' cy='32' r='30' fill='hsl({hue},65%,45%)'/>\
         <text x='32' y='42' font-family='sans-serif' font-size='28' text-anchor='middle' fill='white'>{letter}</text></svg>"
    );
    format!(
        "data:image/svg+xml,{}",
        percent_encoding::utf8_percent_encode(&svg, percent_encoding::NON_ALPHANUMERIC)
    )
}

pub(crate) fn coin_detail(config: &SimulatorConfig, id: &str) -> Option<serde_json::Value> {
    let coin = universe::coin(config, id)?;
    let (symbol, name) = (&coin.symbol, &coin.name);
    let image = image(id, symbol);
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
        if out.contains_key(id) {
            continue;
        }
        let Some(coin) = universe::coin(config, id) else {
            continue;
        };
        let at = quote_time(id, now_ms);
        let mut quote = serde_json::Map::new();
        for &(vs, factor) in currencies {
            let [price, before] = coin.prices(factor, &[at, at - DAY_MS])[..] else {
                unreachable!("two times, two prices")
            };
            quote.insert(vs.to_owned(), price_json(price));
            quote.insert(format!("{vs}_market_cap"), coin.market_cap_json(price, at));
            let volume = if id == "tron" {
                serde_json::Value::Null
            } else {
                json!(coin.volume(price))
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

/// The times of the hourly samples CoinGecko gives within `[from_ms, to_ms]`: one an hour,
/// off the hour, with the odd hour missing and the odd hour holding two.
pub(crate) fn hourly_times(coin_key: u64, from_ms: i64, to_ms: i64) -> Vec<i64> {
    let mut times = Vec::new();
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
    times
}

/// `/coins/{id}/market_chart/range` of `coin` in a currency (`factor` against USD).
pub(crate) fn market_chart(
    config: &SimulatorConfig,
    coin: &Coin,
    factor: f64,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    request_no: u64,
) -> serde_json::Value {
    let span = to_ms - from_ms;
    let ends_now = (now_ms - to_ms).abs() <= HOUR_MS;
    let coin_key = coin.key;
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
        times = hourly_times(coin_key, from_ms, to_ms);
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
    let null_rate = config.faults.null_rate;
    let mut prices = Vec::with_capacity(times.len());
    let mut caps = Vec::with_capacity(times.len());
    let mut volumes = Vec::with_capacity(times.len());
    for (&t, price) in times.iter().zip(coin.prices(factor, &times)) {
        let value = if null_rate > 0.0 && unit(mix(config.seed ^ request_no ^ t as u64)) < null_rate
        {
            serde_json::Value::Null
        } else {
            json!(price)
        };
        prices.push(json!([t, value]));
        caps.push(json!([t, coin.market_cap_json(price, t)]));
        volumes.push(json!([t, coin.volume(price)]));
    }
    json!({"prices": prices, "market_caps": caps, "total_volumes": volumes})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{LAGGING_COIN, QUOTE_LAG_MS};

    fn chart(from_ms: i64, to_ms: i64, now_ms: i64) -> Vec<(i64, f64)> {
        let config = SimulatorConfig::default();
        let bitcoin = universe::coin(&config, "bitcoin").unwrap();
        let body = market_chart(&config, &bitcoin, 1.0, from_ms, to_ms, now_ms, 1);
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
