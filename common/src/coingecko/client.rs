//! [`CoinGecko`]: the client of one run, with one typed call per endpoint. Each call names its
//! [`CoinGeckoEndpoint`], builds its query and turns the answer into our types; the transport
//! does the rest. The endpoints follow in order, each with its types next to its call.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use tokio::time::Instant;

use super::endpoint::CoinGeckoEndpoint;
use super::error::CgError;
use super::transport::{CallAllowance, CallStats, EventSink, RetryPolicy, Transport};
use crate::config::CoinGeckoConfig;
use crate::domain::RawPoint;

/// The client of one run: its rate budget, retry policy, deadline and counters.
#[derive(Debug)]
pub struct CoinGecko {
    transport: Transport,
}

impl CoinGecko {
    /// A client for `config` with `api_key` (already resolved from env or Secrets Manager).
    pub fn new(
        config: &CoinGeckoConfig,
        api_key: Option<SecretString>,
        policy: RetryPolicy,
    ) -> Self {
        CoinGecko {
            transport: Transport::new(config, api_key, policy),
        }
    }

    /// No call, retry wait or request will run past `deadline`: a retry is only made when its
    /// wait plus a whole request timeout fit before it, and every request's timeout is cut to
    /// the time left. Callers pass their deadline minus the time they need afterwards.
    pub fn with_deadline(self, deadline: Option<Instant>) -> Self {
        CoinGecko {
            transport: self.transport.with_deadline(deadline),
        }
    }

    /// Sends no request (attempt or retry) beyond what `allowance` grants: the call fails with
    /// [`CgError::BudgetSpent`] instead. Without one, calls are unlimited.
    pub fn with_allowance(self, allowance: Arc<CallAllowance>) -> Self {
        CoinGecko {
            transport: self.transport.with_allowance(allowance),
        }
    }

    /// Reports waits (rate limits, backoff) to `sink`.
    pub fn with_events(self, sink: Option<EventSink>) -> Self {
        CoinGecko {
            transport: self.transport.with_events(sink),
        }
    }

    /// This run's counters.
    pub fn stats(&self) -> &CallStats {
        self.transport.stats()
    }

    /// True once any response came from the built-in simulator.
    pub fn is_simulated(&self) -> bool {
        self.transport.is_simulated()
    }
}

// `/ping` and `/coins/list`.

/// One entry of `/coins/list`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct CoinListEntry {
    pub id: String,
    pub symbol: String,
    pub name: String,
}

impl CoinGecko {
    /// `GET /ping`.
    pub async fn ping(&self) -> Result<(), CgError> {
        self.transport
            .get_json::<serde_json::Value>(CoinGeckoEndpoint::Ping, "/ping", &[])
            .await
            .map(|_| ())
    }

    /// `GET /coins/list`: every coin's id, symbol and name.
    pub async fn coins_list(&self) -> Result<Vec<CoinListEntry>, CgError> {
        self.transport
            .get_json(CoinGeckoEndpoint::CoinsList, "/coins/list", &[])
            .await
    }
}

// `/coins/{id}`.

/// The parts of `/coins/{id}` the dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinInfo {
    pub id: String,
    pub symbol: String,
    pub name: String,
    /// English description, raw (may hold HTML and `\r\n`).
    pub description: String,
    pub image_url: Option<String>,
    pub website_url: Option<String>,
}

impl CoinGecko {
    /// `GET /coins/{id}` with localization, tickers, market, community and developer data off.
    pub async fn coin(&self, id: &str) -> Result<CoinInfo, CgError> {
        #[derive(Deserialize)]
        struct Full {
            id: String,
            symbol: String,
            name: String,
            #[serde(default)]
            description: Option<HashMap<String, Option<String>>>,
            #[serde(default)]
            image: Option<Images>,
            #[serde(default)]
            links: Option<Links>,
        }
        #[derive(Deserialize)]
        struct Images {
            large: Option<String>,
            small: Option<String>,
            thumb: Option<String>,
        }
        #[derive(Deserialize)]
        struct Links {
            #[serde(default)]
            homepage: Vec<Option<String>>,
        }
        let off = || "false".to_owned();
        let full: Full = self
            .transport
            .get_json(
                CoinGeckoEndpoint::Coin,
                &format!("/coins/{id}"),
                &[
                    ("localization", off()),
                    ("tickers", off()),
                    ("market_data", off()),
                    ("community_data", off()),
                    ("developer_data", off()),
                    ("sparkline", off()),
                ],
            )
            .await?;
        let non_empty =
            |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(CoinInfo {
            id: full.id,
            symbol: full.symbol,
            name: full.name,
            description: full
                .description
                .and_then(|mut d| d.remove("en").flatten())
                .unwrap_or_default(),
            image_url: full.image.and_then(|i| {
                non_empty(i.large)
                    .or(non_empty(i.small))
                    .or(non_empty(i.thumb))
            }),
            website_url: full
                .links
                .and_then(|l| l.homepage.into_iter().filter_map(non_empty).next()),
        })
    }
}

// `/simple/price`.

/// The longest comma-separated id list put in one `/simple/price` URL, keeping the whole URL
/// well under 2,000 characters.
pub const MAX_QUERY_IDS_CHARS: usize = 1_500;

/// One coin's live quote in one currency. CoinGecko may send any of the numbers as null.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub coin: String,
    pub currency: String,
    pub price: Option<f64>,
    pub market_cap: Option<f64>,
    pub volume_24h: Option<f64>,
    /// Percent.
    pub change_24h: Option<f64>,
    /// When CoinGecko last updated this coin's quote (per coin: one can lag by hours).
    pub last_updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The answer of `/simple/price`: the quotes, and the requested ids it left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quotes {
    pub quotes: Vec<Quote>,
    pub missing: Vec<String>,
}

/// `ids` in groups whose comma-joined length stays within [`MAX_QUERY_IDS_CHARS`]: one
/// `/simple/price` call each.
pub fn id_chunks(ids: &[String]) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let (mut start, mut len) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let added = id.len() + usize::from(i > start);
        if i > start && len + added > MAX_QUERY_IDS_CHARS {
            chunks.push(&ids[start..i]);
            (start, len) = (i, id.len());
        } else {
            len += added;
        }
    }
    if start < ids.len() {
        chunks.push(&ids[start..]);
    }
    chunks
}

impl CoinGecko {
    /// `GET /simple/price`: the live quote of every id in every currency, with market cap,
    /// 24 h volume, 24 h change and the time of the quote. One call, split only where the
    /// URL would grow past [`MAX_QUERY_IDS_CHARS`]. Ids CoinGecko leaves out of its answer
    /// come back in [`Quotes::missing`]; a quote whose numbers are null keeps them as `None`.
    pub async fn simple_price(
        &self,
        ids: &[String],
        currencies: &[String],
    ) -> Result<Quotes, CgError> {
        let mut quotes = Quotes::default();
        for chunk in id_chunks(ids) {
            let answer: HashMap<String, HashMap<String, Option<f64>>> = self
                .transport
                .get_json(
                    CoinGeckoEndpoint::SimplePrice,
                    "/simple/price",
                    &[
                        ("ids", chunk.join(",")),
                        ("vs_currencies", currencies.join(",")),
                        ("include_market_cap", "true".into()),
                        ("include_24hr_vol", "true".into()),
                        ("include_24hr_change", "true".into()),
                        ("include_last_updated_at", "true".into()),
                        ("precision", "full".into()),
                    ],
                )
                .await?;
            for id in chunk {
                let Some(fields) = answer.get(id.as_str()) else {
                    quotes.missing.push(id.clone());
                    continue;
                };
                let field = |name: String| fields.get(&name).copied().flatten();
                // Seconds, not milliseconds (the range endpoints use milliseconds).
                let updated = field("last_updated_at".into())
                    .filter(|s| s.is_finite())
                    .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0));
                for vs in currencies {
                    quotes.quotes.push(Quote {
                        coin: id.clone(),
                        currency: vs.clone(),
                        price: field(vs.clone()),
                        market_cap: field(format!("{vs}_market_cap")),
                        volume_24h: field(format!("{vs}_24h_vol")),
                        change_24h: field(format!("{vs}_24h_change")),
                        last_updated_at: updated,
                    });
                }
            }
        }
        Ok(quotes)
    }
}

// `/coins/markets`.

/// The most coins `/coins/markets` answers per page.
pub const MARKETS_PAGE: u32 = 250;

/// One coin of `/coins/markets` in one currency. CoinGecko may send any number as null (an
/// unranked coin has no `market_cap_rank`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MarketEntry {
    pub id: String,
    pub symbol: String,
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default, rename = "current_price")]
    pub price: Option<f64>,
    #[serde(default)]
    pub market_cap: Option<f64>,
    #[serde(default, rename = "market_cap_rank")]
    pub rank: Option<u32>,
    #[serde(default, rename = "total_volume")]
    pub volume_24h: Option<f64>,
    /// Percent.
    #[serde(default, rename = "price_change_percentage_1h_in_currency")]
    pub change_1h: Option<f64>,
    /// Percent.
    #[serde(default, rename = "price_change_percentage_24h_in_currency")]
    pub change_24h: Option<f64>,
    /// Percent.
    #[serde(default, rename = "price_change_percentage_7d_in_currency")]
    pub change_7d: Option<f64>,
    #[serde(default)]
    pub last_updated: Option<chrono::DateTime<chrono::Utc>>,
    /// The 7 days' hourly prices, oldest first (empty when CoinGecko sent none).
    #[serde(
        default,
        rename = "sparkline_in_7d",
        deserialize_with = "sparkline_prices"
    )]
    pub sparkline: Vec<Option<f64>>,
}

/// `{"price": [..]}` (or null) as the list of prices.
fn sparkline_prices<'de, D>(deserializer: D) -> Result<Vec<Option<f64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Sparkline {
        #[serde(default)]
        price: Vec<Option<f64>>,
    }
    Ok(Option::<Sparkline>::deserialize(deserializer)?
        .map(|s| s.price)
        .unwrap_or_default())
}

/// Which coins one `/coins/markets` call asks for.
#[derive(Debug, Clone, Copy)]
pub enum MarketsPage<'a> {
    /// The `page`-th (from 1) `per_page` largest coins by market cap.
    Ranked { page: u32, per_page: u32 },
    /// These ids (at most [`MARKETS_PAGE`]), whatever their rank.
    Ids(&'a [String]),
}

impl CoinGecko {
    /// `GET /coins/markets` in `vs`, largest market cap first: price, market cap and rank,
    /// 24 h volume, 1 h / 24 h / 7 d change and the 7-day hourly sparkline of one page of
    /// coins.
    pub async fn markets(
        &self,
        vs: &str,
        page: MarketsPage<'_>,
    ) -> Result<Vec<MarketEntry>, CgError> {
        let mut query = vec![
            ("vs_currency", vs.to_owned()),
            ("order", "market_cap_desc".to_owned()),
            ("sparkline", "true".to_owned()),
            ("price_change_percentage", "1h,24h,7d".to_owned()),
            ("precision", "full".to_owned()),
        ];
        match page {
            MarketsPage::Ranked { page, per_page } => {
                query.push(("per_page", per_page.clamp(1, MARKETS_PAGE).to_string()));
                query.push(("page", page.max(1).to_string()));
            }
            MarketsPage::Ids(ids) => {
                query.push(("ids", ids.join(",")));
                query.push(("per_page", MARKETS_PAGE.to_string()));
            }
        }
        self.transport
            .get_json(CoinGeckoEndpoint::Markets, "/coins/markets", &query)
            .await
    }
}

// `/coins/{id}/market_chart/range`.

impl CoinGecko {
    /// `GET /coins/{id}/market_chart/range`: prices of `id` in `vs` between two instants
    /// (unix seconds). Granularity is CoinGecko's choice: hourly for 2-90 days.
    pub async fn market_chart_range(
        &self,
        id: &str,
        vs: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<RawPoint>, CgError> {
        #[derive(Deserialize)]
        struct Chart {
            prices: Vec<(f64, Option<f64>)>,
        }
        let chart: Chart = self
            .transport
            .get_json(
                CoinGeckoEndpoint::MarketChartRange,
                &format!("/coins/{id}/market_chart/range"),
                &[
                    ("vs_currency", vs.to_owned()),
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                ],
            )
            .await?;
        Ok(chart
            .prices
            .into_iter()
            .map(|(ms, p)| (ms as i64, p))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_id_lists_are_split_and_short_ones_are_not() {
        let ids: Vec<String> = (0..11).map(|i| format!("coin-{i}")).collect();
        assert_eq!(id_chunks(&ids), vec![&ids[..]]);
        let many: Vec<String> = (0..400)
            .map(|i| format!("some-long-coin-id-{i:04}"))
            .collect();
        let chunks = id_chunks(&many);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 400);
        for c in chunks {
            assert!(c.join(",").len() <= MAX_QUERY_IDS_CHARS);
        }
        assert!(id_chunks(&[]).is_empty());
    }
}
