//! `/coins/markets`: the universe ranked by market cap, a page at a time, each coin with
//! CoinGecko's fields, optionally its 7-day sparkline and its price changes over chosen
//! windows. Prices are the quotes `/simple/price` serves at the same instant; the sparkline
//! holds the hourly prices `/coins/{id}/market_chart/range` gives. The real API's quirks come
//! at a low, seeded rate: unranked coins (no rank, a market cap of `0` or `null`, listed after
//! the ranked ones) and a 1 h change that is sometimes `null`.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat};
use common::domain::HOUR_MS;
use serde_json::{json, Map, Value};

use crate::config::SimulatorConfig;
use crate::model::{currency_factor, hourly_times, image, price_json};
use crate::universe::{ranking, Ranked, DAY_MS};
use crate::walk::{extremes, mix, unit};

/// The windows `price_change_percentage` may ask for.
const WINDOWS: &[(&str, i64)] = &[
    ("1h", HOUR_MS),
    ("24h", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("14d", 14 * DAY_MS),
    ("30d", 30 * DAY_MS),
    ("200d", 200 * DAY_MS),
    ("1y", 365 * DAY_MS),
];
/// Share of coins whose 1 h change is `null` in a given hour.
const NULL_1H_RATE: f64 = 0.03;

/// What `/coins/markets` answers instead of a list: a status and CoinGecko's error body.
pub(crate) type Refusal = (StatusCode, Value);

/// `/coins/markets` at `now_ms` for the query `param` reads.
pub(crate) fn coins_markets<'q>(
    config: &SimulatorConfig,
    param: impl Fn(&str) -> Option<&'q str>,
    now_ms: i64,
    request_no: u64,
) -> Result<Value, Refusal> {
    let Some(vs) = param("vs_currency") else {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "Missing parameter vs_currency"}),
        ));
    };
    let Some(factor) = currency_factor(vs) else {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid vs_currency"}),
        ));
    };
    let mut coins = ranking(config, now_ms);
    order(&mut coins, param("order").unwrap_or("market_cap_desc"))?;
    if let Some(ids) = param("ids") {
        let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
        coins.retain(|r| ids.contains(&r.coin.id.as_str()));
    }
    let number = |name: &str, default: usize| {
        param(name)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(default)
    };
    let per_page = number("per_page", 100).clamp(1, 250);
    let page = number("page", 1).max(1);
    let sparkline = param("sparkline") == Some("true");
    let windows: Vec<(&str, i64)> = param("price_change_percentage")
        .unwrap_or_default()
        .split(',')
        .filter_map(|w| WINDOWS.iter().find(|(name, _)| *name == w.trim()).copied())
        .collect();
    let null_price = |r: &Ranked| {
        let rate = config.faults.null_rate;
        rate > 0.0 && unit(mix(config.seed ^ request_no ^ r.coin.key)) < rate
    };
    Ok(coins
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| item(r, factor, sparkline, &windows, null_price(r)))
        .collect())
}

/// Sorts `coins` (ranked by market cap, largest first) by CoinGecko's `order`.
fn order(coins: &mut [Ranked], order: &str) -> Result<(), Refusal> {
    let volume = |r: &Ranked| r.coin.volume(r.usd_price);
    match order {
        "market_cap_desc" => {}
        "market_cap_asc" => {
            let ranked = coins.iter().filter(|r| r.rank.is_some()).count();
            coins[..ranked].reverse();
        }
        "volume_desc" => coins.sort_by(|a, b| volume(b).total_cmp(&volume(a))),
        "volume_asc" => coins.sort_by(|a, b| volume(a).total_cmp(&volume(b))),
        "id_asc" => coins.sort_by(|a, b| a.coin.id.cmp(&b.coin.id)),
        "id_desc" => coins.sort_by(|a, b| b.coin.id.cmp(&a.coin.id)),
        _ => {
            return Err((StatusCode::BAD_REQUEST, json!({"error": "invalid order"})));
        }
    }
    Ok(())
}

/// One coin of the answer, priced in a currency (`factor` against USD).
fn item(
    r: &Ranked,
    factor: f64,
    sparkline: bool,
    windows: &[(&str, i64)],
    null_price: bool,
) -> Value {
    let (coin, at) = (&r.coin, r.at);
    // The last 24 hours, hour by hour: the 24 h change, high and low.
    let day: Vec<i64> = (0..=24).map(|i| at - DAY_MS + i * HOUR_MS).collect();
    let day_prices = coin.prices(factor, &day);
    let (price, before) = (day_prices[24], day_prices[0]);
    let high = day_prices.iter().copied().fold(f64::MIN, f64::max);
    let low = day_prices.iter().copied().fold(f64::MAX, f64::min);
    let cap = coin.market_cap(price, at);
    let cap_before = coin.market_cap(before, at - DAY_MS);
    let (total_supply, max_supply) = coin.total_and_max_supply();
    let seen = extremes(coin.key, coin.vol, at.div_euclid(HOUR_MS));
    let at_walk = |(x, hour): (f64, i64)| (coin.level * x.exp() * factor, hour * HOUR_MS);
    let (ath, ath_ms) = at_walk(seen.high);
    let (ath, ath_ms) = if price > ath {
        (price, at)
    } else {
        (ath, ath_ms)
    };
    let (atl, atl_ms) = at_walk(seen.low);
    let (atl, atl_ms) = if price < atl {
        (price, at)
    } else {
        (atl, atl_ms)
    };
    let change = |now: f64, then: f64| (now / then - 1.0) * 100.0;
    let mut out = Map::new();
    out.insert("id".into(), json!(coin.id));
    out.insert("symbol".into(), json!(coin.symbol));
    out.insert("name".into(), json!(coin.name));
    out.insert("image".into(), json!(image(&coin.id, &coin.symbol)));
    let current = if null_price {
        Value::Null
    } else {
        price_json(price)
    };
    out.insert("current_price".into(), current);
    out.insert("market_cap".into(), coin.market_cap_json(price, at));
    out.insert("market_cap_rank".into(), json!(r.rank));
    out.insert(
        "fully_diluted_valuation".into(),
        json!(price * max_supply.unwrap_or(total_supply)),
    );
    out.insert("total_volume".into(), json!(coin.volume(price)));
    out.insert("high_24h".into(), price_json(high));
    out.insert("low_24h".into(), price_json(low));
    out.insert("price_change_24h".into(), json!(price - before));
    out.insert(
        "price_change_percentage_24h".into(),
        json!(change(price, before)),
    );
    let cap_change = cap.zip(cap_before);
    out.insert(
        "market_cap_change_24h".into(),
        json!(cap_change.map(|(c, b)| c - b)),
    );
    out.insert(
        "market_cap_change_percentage_24h".into(),
        json!(cap_change.map(|(c, b)| change(c, b))),
    );
    out.insert("circulating_supply".into(), json!(coin.supply_at(at)));
    out.insert("total_supply".into(), json!(total_supply));
    out.insert("max_supply".into(), json!(max_supply));
    out.insert("ath".into(), price_json(ath));
    out.insert("ath_change_percentage".into(), json!(change(price, ath)));
    out.insert("ath_date".into(), json!(rfc3339(ath_ms)));
    out.insert("atl".into(), price_json(atl));
    out.insert("atl_change_percentage".into(), json!(change(price, atl)));
    out.insert("atl_date".into(), json!(rfc3339(atl_ms)));
    out.insert("roi".into(), Value::Null);
    out.insert("last_updated".into(), json!(rfc3339(at)));
    if sparkline {
        let week = coin.prices(factor, &hourly_times(coin.key, at - 7 * DAY_MS, at));
        out.insert("sparkline_in_7d".into(), json!({"price": week}));
    }
    for &(name, span) in windows {
        let null_1h = name == "1h"
            && unit(mix(coin.key ^ at.div_euclid(HOUR_MS) as u64 ^ 0x1_0001)) < NULL_1H_RATE;
        let value = if null_1h {
            Value::Null
        } else {
            json!(change(price, coin.price(factor, at - span)))
        };
        out.insert(format!("price_change_percentage_{name}_in_currency"), value);
    }
    Value::Object(out)
}

/// CoinGecko's timestamps: `2025-11-24T16:00:00.123Z`.
fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{market_chart, simple_price};
    use crate::universe::tests::NOW;
    use crate::universe::{self, RANKED_BELOW_250};

    fn markets(query: &[(&str, &str)]) -> Result<Value, Refusal> {
        let param = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        coins_markets(&SimulatorConfig::default(), param, NOW, 1)
    }

    fn list(query: &[(&str, &str)]) -> Vec<Value> {
        markets(query).unwrap().as_array().unwrap().clone()
    }

    /// The numbers `pick` takes from each element of the array `v`.
    fn numbers(v: &Value, pick: impl Fn(&Value) -> &Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| pick(e).as_f64().unwrap())
            .collect()
    }

    fn ranks(items: &[Value]) -> Vec<Option<u64>> {
        items
            .iter()
            .map(|i| i["market_cap_rank"].as_u64())
            .collect()
    }

    #[test]
    fn pages_run_down_the_ranks_and_end_with_the_unranked_then_nothing() {
        let first = list(&[("vs_currency", "usd"), ("per_page", "250")]);
        let want: Vec<Option<u64>> = (1..=250).map(Some).collect();
        assert_eq!(ranks(&first), want);
        let caps: Vec<f64> = first
            .iter()
            .map(|i| i["market_cap"].as_f64().unwrap())
            .collect();
        assert!(caps.windows(2).all(|w| w[0] >= w[1]), "largest first");
        assert_eq!(first[0]["id"], "bitcoin");

        let second = list(&[("vs_currency", "usd"), ("page", "2")]);
        let want: Vec<Option<u64>> = (101..=200).map(Some).collect();
        assert_eq!(ranks(&second), want, "100 a page by default");

        let last = list(&[("vs_currency", "usd"), ("per_page", "250"), ("page", "4")]);
        assert_eq!(last.len(), 250, "a universe of 1,000");
        let unranked: Vec<&Value> = last
            .iter()
            .filter(|i| i["market_cap_rank"].is_null())
            .collect();
        assert!(
            !unranked.is_empty()
                && last.ends_with(&unranked.iter().copied().cloned().collect::<Vec<_>>())
        );
        assert!(unranked.iter().any(|i| i["market_cap"].is_null()));
        assert!(unranked.iter().any(|i| i["market_cap"] == 0));
        assert_eq!(
            list(&[("vs_currency", "usd"), ("per_page", "250"), ("page", "5")]),
            Vec::<Value>::new()
        );
        assert_eq!(
            list(&[("vs_currency", "usd"), ("per_page", "900")]).len(),
            250
        );
    }

    #[test]
    fn a_bad_currency_or_order_is_refused_as_coingecko_does() {
        let refused = markets(&[("vs_currency", "xyz")]).unwrap_err();
        assert_eq!(
            refused,
            (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid vs_currency"})
            )
        );
        assert_eq!(
            markets(&[]).unwrap_err().0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let refused = markets(&[("vs_currency", "usd"), ("order", "price_desc")]).unwrap_err();
        assert_eq!(refused.0, StatusCode::BAD_REQUEST);
        let by_id = list(&[
            ("vs_currency", "usd"),
            ("order", "id_asc"),
            ("per_page", "3"),
        ]);
        assert_eq!(by_id[0]["id"], "avalanche-2");
    }

    #[test]
    fn prices_are_the_quotes_of_simple_price_at_the_same_instant() {
        let page = list(&[("vs_currency", "eur"), ("per_page", "250")]);
        let ids: Vec<&str> = page.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&universe::LAGGING_COIN));
        let quotes = simple_price(&SimulatorConfig::default(), &ids, &[("eur", 0.92)], NOW);
        for item in &page {
            let quote = &quotes[item["id"].as_str().unwrap()];
            assert_eq!(item["current_price"], quote["eur"], "{}", item["id"]);
            assert_eq!(
                item["market_cap"], quote["eur_market_cap"],
                "{}",
                item["id"]
            );
            assert_eq!(item["price_change_percentage_24h"], quote["eur_24h_change"]);
            let updated =
                DateTime::parse_from_rfc3339(item["last_updated"].as_str().unwrap()).unwrap();
            assert_eq!(
                updated.timestamp(),
                quote["last_updated_at"].as_i64().unwrap()
            );
        }
        assert!(
            page[0]["current_price"].is_u64(),
            "bitcoin's price as an integer"
        );
        assert!(page[0]["last_updated"].as_str().unwrap().ends_with(".000Z"));
    }

    #[test]
    fn the_sparkline_is_the_week_of_hourly_prices_market_chart_gives() {
        let config = SimulatorConfig::default();
        let page = list(&[
            ("vs_currency", "gbp"),
            ("per_page", "20"),
            ("sparkline", "true"),
        ]);
        for item in &page {
            let week = numbers(&item["sparkline_in_7d"]["price"], |p| p);
            assert!(
                (160..=175).contains(&week.len()),
                "{}: {}",
                item["id"],
                week.len()
            );
            let coin = universe::coin(&config, item["id"].as_str().unwrap()).unwrap();
            let at = universe::quote_time(&coin.id, NOW);
            let chart = market_chart(&config, &coin, 0.79, at - 7 * DAY_MS - HOUR_MS, NOW, NOW, 1);
            let hourly = numbers(&chart["prices"], |p| &p[1]);
            assert!(
                hourly.windows(week.len()).any(|w| w == week.as_slice()),
                "{}: the sparkline is not a run of the hourly chart",
                item["id"]
            );
            let last = *week.last().unwrap();
            let price = item["current_price"].as_f64().unwrap();
            assert!(
                (last / price - 1.0).abs() < 0.05,
                "{}: {last} vs {price}",
                item["id"]
            );
        }
        let plain = list(&[("vs_currency", "gbp"), ("per_page", "1")]);
        assert!(plain[0].get("sparkline_in_7d").is_none());
    }

    #[test]
    fn price_changes_come_for_the_windows_asked_against_the_prices_then() {
        let config = SimulatorConfig::default();
        let page = list(&[
            ("vs_currency", "usd"),
            ("per_page", "250"),
            ("price_change_percentage", "1h,7d,1y,5m"),
        ]);
        for item in &page {
            let keys: Vec<&String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.ends_with("_in_currency"))
                .collect();
            assert_eq!(keys.len(), 3, "{keys:?}");
            let coin = universe::coin(&config, item["id"].as_str().unwrap()).unwrap();
            let at = DateTime::parse_from_rfc3339(item["last_updated"].as_str().unwrap())
                .unwrap()
                .timestamp_millis();
            let price = coin.price(1.0, at);
            let week = (price / coin.price(1.0, at - 7 * DAY_MS) - 1.0) * 100.0;
            assert_eq!(item["price_change_percentage_7d_in_currency"], json!(week));
            if let Some(hour) = item["price_change_percentage_1h_in_currency"].as_f64() {
                assert_eq!(hour, (price / coin.price(1.0, at - HOUR_MS) - 1.0) * 100.0);
            }
        }
        let null_1h = page
            .iter()
            .filter(|i| i["price_change_percentage_1h_in_currency"].is_null())
            .count();
        assert!((1..=25).contains(&null_1h), "{null_1h} null 1 h changes");
    }

    #[test]
    fn the_pinned_coin_below_250_and_the_ids_filter() {
        let page = list(&[("vs_currency", "usd"), ("per_page", "250")]);
        assert!(page.iter().all(|i| i["id"] != RANKED_BELOW_250));
        let only = list(&[
            ("vs_currency", "usd"),
            ("ids", "ethereum,namecoin,no-such-coin"),
        ]);
        let ids: Vec<&str> = only.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            ["ethereum", RANKED_BELOW_250],
            "by market cap; unknown ids left out"
        );
        assert!(only[1]["market_cap_rank"].as_u64().unwrap() > 250);
        assert_eq!(only[0]["market_cap_rank"], page[1]["market_cap_rank"]);
    }

    #[test]
    fn the_null_rate_fault_nulls_some_prices() {
        let config = SimulatorConfig {
            faults: crate::Faults {
                null_rate: 0.5,
                ..Default::default()
            },
            ..SimulatorConfig::default()
        };
        let param = |name: &str| (name == "vs_currency").then_some("usd");
        let page = coins_markets(&config, param, NOW, 7).unwrap();
        let nulls = page
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["current_price"].is_null())
            .count();
        assert!((20..=80).contains(&nulls), "{nulls}");
    }
}
