//! The read side's SQL, one function per question a handler asks (as `ingest::store` is for
//! the writes). Handlers turn these rows into JSON; nothing here knows about HTTP.

use crate::domain::LiveQuote;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use tokio_postgres::{Error, Row};
use utoipa::ToSchema;

/// A coin as listed: identity, image, rank and whether it is tracked.
pub(super) struct CoinRow {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub image_url: Option<String>,
    pub rank: Option<i32>,
    pub tracked: bool,
}

impl CoinRow {
    /// From the columns `id`, `symbol`, `name`, `image_url`, `rank` and `tracked`.
    fn from_row(r: &Row) -> Result<CoinRow, Error> {
        Ok(CoinRow {
            id: r.try_get("id")?,
            symbol: r.try_get("symbol")?,
            name: r.try_get("name")?,
            image_url: r.try_get("image_url")?,
            rank: r.try_get("rank")?,
            tracked: r.try_get("tracked")?,
        })
    }
}

/// The first `limit` tracked coins by rank (unranked ones after, in the configured order).
pub(super) async fn tracked_coins(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<CoinRow>, Error> {
    let stmt = client
        .prepare_cached(
            "SELECT c.id, c.symbol, c.name, m.image_url, c.rank, c.tracked
               FROM coins c LEFT JOIN coin_metadata m ON m.coin_id = c.id
              WHERE c.tracked
              ORDER BY c.rank ASC NULLS LAST, c.sort_order, c.id
              LIMIT $1",
        )
        .await?;
    let rows = client.query(&stmt, &[&limit]).await?;
    rows.iter().map(CoinRow::from_row).collect()
}

/// Whether a coin's id, symbol or name (the columns `[id, symbol, name]`) holds `$n`
/// (case-insensitive).
fn matches_text([id, symbol, name]: [&str; 3], n: usize) -> String {
    format!(
        "(strpos(lower({id}), lower(${n})) > 0 OR strpos(lower({symbol}), lower(${n})) > 0 \
          OR strpos(lower({name}), lower(${n})) > 0)"
    )
}

/// The first `limit` stored coins (tracked or not) whose id, symbol or name holds `text`
/// (case-insensitive): an exact symbol first, then prefixes, then the rest, each by rank.
pub(super) async fn search_coins(
    client: &impl GenericClient,
    text: &str,
    limit: i64,
) -> Result<Vec<CoinRow>, Error> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT c.id, c.symbol, c.name, m.image_url, c.rank, c.tracked
               FROM coins c LEFT JOIN coin_metadata m ON m.coin_id = c.id
              WHERE {}
              ORDER BY CASE WHEN lower(c.symbol) = lower($1) THEN 0
                            WHEN starts_with(lower(c.id), lower($1))
                              OR starts_with(lower(c.symbol), lower($1))
                              OR starts_with(lower(c.name), lower($1)) THEN 1
                            ELSE 2 END,
                       c.rank ASC NULLS LAST, c.sort_order, c.id
              LIMIT $2",
            matches_text(["c.id", "c.symbol", "c.name"], 1)
        ))
        .await?;
    let rows = client.query(&stmt, &[&text, &limit]).await?;
    rows.iter().map(CoinRow::from_row).collect()
}

/// A coin with its metadata (the description raw, as stored).
pub(super) struct CoinDetailRow {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub description: String,
    pub image_url: Option<String>,
    pub website_url: Option<String>,
    pub rank: Option<i32>,
    pub tracked: bool,
}

/// One stored coin, if it exists.
pub(super) async fn coin(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<CoinDetailRow>, Error> {
    let row = client
        .query_opt(
            "SELECT c.id, c.symbol, c.name, coalesce(m.description, '') AS description, m.image_url,
                    m.website_url, c.rank, c.tracked
               FROM coins c LEFT JOIN coin_metadata m ON m.coin_id = c.id WHERE c.id = $1",
            &[&id],
        )
        .await?;
    row.map(|r| {
        Ok(CoinDetailRow {
            id: r.try_get("id")?,
            symbol: r.try_get("symbol")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            image_url: r.try_get("image_url")?,
            website_url: r.try_get("website_url")?,
            rank: r.try_get("rank")?,
            tracked: r.try_get("tracked")?,
        })
    })
    .transpose()
}

/// Whether a coin is stored.
pub(super) async fn coin_exists(client: &impl GenericClient, id: &str) -> Result<bool, Error> {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM coins WHERE id = $1) AS stored",
            &[&id],
        )
        .await?
        .try_get("stored")
}

/// The newest stored hour and the live quote of a coin in one currency (either `None`
/// before its first ingestion or refresh).
pub(super) struct LatestRow {
    pub currency: String,
    pub price_at: Option<(f64, DateTime<Utc>)>,
    pub quote: Option<LiveQuote>,
}

/// The newest stored hour of `id` in each of `currencies`, in their order.
pub(super) async fn latest_per_currency(
    client: &impl GenericClient,
    id: &str,
    currencies: &[String],
) -> Result<Vec<LatestRow>, Error> {
    let rows = client
        .query(
            "SELECT v.code, l.price, l.ts, q.price AS quote_price,
                    coalesce(q.last_updated_at, q.fetched_at) AS quote_at,
                    q.change_24h AS quote_change_24h
               FROM unnest($2::text[]) AS v(code)
               LEFT JOIN LATERAL (SELECT price, ts FROM price_hourly
                                   WHERE coin_id = $1 AND currency_code = v.code
                                   ORDER BY ts DESC LIMIT 1) l ON true
               LEFT JOIN price_latest q ON q.coin_id = $1 AND q.currency_code = v.code",
            &[&id, &currencies],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let price: Option<f64> = r.try_get("price")?;
            let at: Option<DateTime<Utc>> = r.try_get("ts")?;
            Ok(LatestRow {
                currency: r.try_get("code")?,
                price_at: price.zip(at),
                quote: live_quote(r)?,
            })
        })
        .collect()
}

/// A tracked currency and its stored name (`None` before the first ingestion).
pub(super) struct CurrencyRow {
    pub code: String,
    pub name: Option<String>,
}

/// The live quote in the columns `quote_price`, `quote_at` and `quote_change_24h` of `row`.
fn live_quote(row: &Row) -> Result<Option<LiveQuote>, Error> {
    let price: Option<f64> = row.try_get("quote_price")?;
    let at: Option<DateTime<Utc>> = row.try_get("quote_at")?;
    let Some((price, at)) = price.zip(at) else {
        return Ok(None);
    };
    Ok(Some(LiveQuote {
        price,
        at,
        change_24h: row.try_get("quote_change_24h")?,
    }))
}

/// `codes` in order with their stored names.
pub(super) async fn currency_names(
    client: &impl GenericClient,
    codes: &[String],
) -> Result<Vec<CurrencyRow>, Error> {
    let rows = client
        .query(
            "SELECT t.code, c.name FROM unnest($1::text[]) WITH ORDINALITY AS t(code, ord)
               LEFT JOIN currencies c ON c.code = t.code ORDER BY t.ord",
            &[&codes],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CurrencyRow {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// Daily prices of a pair between two days (both included), oldest first.
pub(super) async fn daily_prices(
    client: &impl GenericClient,
    id: &str,
    currency: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, f64)>, Error> {
    let stmt = client
        .prepare_cached(
            "SELECT date, price FROM price_daily
              WHERE coin_id = $1 AND currency_code = $2 AND date BETWEEN $3 AND $4 ORDER BY date",
        )
        .await?;
    let rows = client.query(&stmt, &[&id, &currency, &from, &to]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("date")?, r.try_get("price")?)))
        .collect()
}

/// Hourly prices of a pair between two instants (both included), oldest first.
pub(super) async fn hourly_prices(
    client: &impl GenericClient,
    id: &str,
    currency: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>, Error> {
    let stmt = client
        .prepare_cached(
            "SELECT ts, price FROM price_hourly
              WHERE coin_id = $1 AND currency_code = $2 AND ts BETWEEN $3 AND $4 ORDER BY ts",
        )
        .await?;
    let rows = client.query(&stmt, &[&id, &currency, &from, &to]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("ts")?, r.try_get("price")?)))
        .collect()
}

/// What a market page is sorted by (`sort`): the coin's rank (unranked last) or name, or a
/// column of its summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) enum MarketSort {
    #[default]
    Rank,
    Name,
    Price,
    Change1h,
    Change24h,
    Change7d,
    MarketCap,
    Volume24h,
}

/// The direction of a sort (`order`); nulls come last either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum SortOrder {
    Asc,
    Desc,
}

impl MarketSort {
    /// Ascending for rank and name, descending for the numbers (largest first).
    pub fn default_order(self) -> SortOrder {
        match self {
            MarketSort::Rank | MarketSort::Name => SortOrder::Asc,
            _ => SortOrder::Desc,
        }
    }

    /// The ORDER BY of this sort over the summary rows `s` (each has its index, migrations V10
    /// and V12): nulls last, ties broken by coin id; rank ties by the configured order first.
    fn order_by(self, order: SortOrder) -> String {
        let dir = match order {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        };
        let column = match self {
            MarketSort::Rank => return format!("s.rank {dir} NULLS LAST, s.sort_order, s.coin_id"),
            MarketSort::Name => return format!("lower(s.name) {dir}, s.coin_id {dir}"),
            MarketSort::Price => "price",
            MarketSort::Change1h => "change_1h",
            MarketSort::Change24h => "change_24h",
            MarketSort::Change7d => "change_7d",
            MarketSort::MarketCap => "market_cap",
            MarketSort::Volume24h => "volume_24h",
        };
        format!("s.{column} {dir} NULLS LAST, s.coin_id")
    }
}

/// Which tracked coins a market page is taken from, and how they are ordered.
pub(super) struct MarketFilter<'a> {
    pub currency: &'a str,
    /// Coins whose id, symbol or name holds it (case-insensitive).
    pub text: Option<&'a str>,
    /// Only these coins (unknown ids match nothing).
    pub ids: Option<&'a [String]>,
    pub sort: MarketSort,
    pub order: SortOrder,
}

/// One coin of a market page: its JSON object as written with its summary row (all but
/// `stale`), and the time of its price (`stale` depends on it and the clock).
pub(super) struct MarketRow<'a> {
    /// The object (`market_row_json`, migrations V12 and V13), borrowed from the row read.
    pub json: &'a str,
    pub price_at: Option<DateTime<Utc>>,
}

/// The rows of a market page as read: each object is sent from the buffer it arrived in.
pub(super) struct MarketPage(Vec<tokio_postgres::Row>);

impl MarketPage {
    pub fn rows(&self) -> Result<Vec<MarketRow<'_>>, Error> {
        self.0
            .iter()
            .map(|r| {
                Ok(MarketRow {
                    json: r.try_get("row_json")?,
                    price_at: r.try_get("price_at")?,
                })
            })
            .collect()
    }
}

/// A query parameter.
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

impl MarketFilter<'_> {
    /// The condition on the summary rows `s` and its parameters: the rows of the tracked
    /// coins in the currency, `$1` (every tracked coin has one in each currency, migration
    /// V12), and only the filters given: a prepared statement's generic plan cannot tell that
    /// an optional filter is absent, and planned for one it sorts every coin instead of
    /// reading the first page of the sort's index.
    fn condition(&self) -> (String, Vec<Param<'_>>) {
        let mut sql = "s.currency_code = $1 AND s.tracked".to_owned();
        let mut params: Vec<Param<'_>> = vec![&self.currency];
        if let Some(text) = &self.text {
            params.push(text);
            let columns = ["s.coin_id", "s.symbol", "s.name"];
            sql = format!("{sql} AND {}", matches_text(columns, params.len()));
        }
        if let Some(ids) = &self.ids {
            params.push(ids);
            sql = format!("{sql} AND s.coin_id = ANY (${})", params.len());
        }
        (sql, params)
    }
}

/// The SQL of a market page of the rows `condition` selects: LIMIT is parameter `limit`
/// and, past the first page, OFFSET the next one; the rows of one index scan in sort order
/// (migrations V10 and V12 have an index per sort and direction), nothing joined.
///
/// The first page has no OFFSET: planning without the values, PostgreSQL takes an OFFSET
/// parameter to skip a tenth of the rows, so the plan it could keep looks dearer than one made
/// for offset 0, and it would plan the most common page again at every request (about as long
/// as running it). Without it the kept plan costs the same and is kept after five runs.
fn market_page_sql(
    sort: MarketSort,
    order: SortOrder,
    condition: &str,
    limit: usize,
    first_page: bool,
) -> String {
    let order_by = sort.order_by(order);
    let offset = if first_page {
        String::new()
    } else {
        format!(" OFFSET ${}", limit + 1)
    };
    format!(
        "SELECT s.row_json, s.price_at FROM market_summary s
          WHERE {condition}
          ORDER BY {order_by}
          LIMIT ${limit}{offset}"
    )
}

/// One page (`limit` rows after `offset`) of the tracked coins `filter` selects, in its
/// order, read from their prepared `market_summary` rows.
pub(super) async fn market_page(
    client: &impl GenericClient,
    filter: &MarketFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<MarketPage, Error> {
    let (condition, mut params) = filter.condition();
    let first_page = offset == 0;
    let sql = market_page_sql(
        filter.sort,
        filter.order,
        &condition,
        params.len() + 1,
        first_page,
    );
    let stmt = client.prepare_cached(&sql).await?;
    params.push(&limit);
    if !first_page {
        params.push(&offset);
    }
    Ok(MarketPage(client.query(&stmt, &params).await?))
}

/// How many tracked coins `filter` selects (with or without a price in the currency).
pub(super) async fn market_total(
    client: &impl GenericClient,
    filter: &MarketFilter<'_>,
) -> Result<i64, Error> {
    let (condition, params) = filter.condition();
    let stmt = client
        .prepare_cached(&format!(
            "SELECT count(*) AS total FROM market_summary s WHERE {condition}"
        ))
        .await?;
    client.query_one(&stmt, &params).await?.try_get("total")
}
