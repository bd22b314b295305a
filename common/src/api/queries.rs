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

/// Whether a coin's id, symbol or name holds `$n` (case-insensitive).
fn matches_text(n: usize) -> String {
    format!(
        "(strpos(lower(c.id), lower(${n})) > 0 OR strpos(lower(c.symbol), lower(${n})) > 0 \
          OR strpos(lower(c.name), lower(${n})) > 0)"
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
            matches_text(1)
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

    /// The `market_summary` column, for the sorts by a summary column.
    fn summary_column(self) -> Option<&'static str> {
        Some(match self {
            MarketSort::Rank | MarketSort::Name => return None,
            MarketSort::Price => "price",
            MarketSort::Change1h => "change_1h",
            MarketSort::Change24h => "change_24h",
            MarketSort::Change7d => "change_7d",
            MarketSort::MarketCap => "market_cap",
            MarketSort::Volume24h => "volume_24h",
        })
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

/// One coin of a market page: the coin and its prepared summary row (`None` columns before
/// its first price in the currency).
pub(super) struct MarketRow {
    pub coin: CoinRow,
    /// The shown price and its time.
    pub latest: Option<(f64, DateTime<Utc>)>,
    pub change_1h: Option<f64>,
    pub change_24h: Option<f64>,
    pub change_7d: Option<f64>,
    pub market_cap: Option<f64>,
    pub volume_24h: Option<f64>,
    /// The JSON array prepared when prices were written (single precision, oldest first).
    pub sparkline: String,
}

/// The columns of a market row.
const MARKET_COLUMNS: &str = "c.id, c.symbol, c.name, m.image_url, c.rank, c.tracked, s.price,
       s.price_at, s.change_1h, s.change_24h, s.change_7d, s.market_cap, s.volume_24h,
       coalesce(s.sparkline::text, '[]') AS sparkline";

/// A query parameter.
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

impl MarketFilter<'_> {
    /// The condition on the coins `c` and its parameters, numbered after `taken` others. Only
    /// the filters given appear: a prepared statement's generic plan cannot tell that an
    /// optional filter is absent, and planned for one it sorts every coin instead of reading
    /// the first page of the sort's index.
    fn condition(&self, taken: usize) -> (String, Vec<Param<'_>>) {
        let mut sql = "c.tracked".to_owned();
        let mut params: Vec<Param<'_>> = Vec::new();
        if let Some(text) = &self.text {
            params.push(text);
            sql = format!("{sql} AND {}", matches_text(taken + params.len()));
        }
        if let Some(ids) = &self.ids {
            params.push(ids);
            sql = format!("{sql} AND c.id = ANY (${})", taken + params.len());
        }
        (sql, params)
    }
}

/// The SQL of a market page in currency `$1` of the coins `condition` selects: LIMIT is
/// parameter `limit` and OFFSET the next one, the rows of one index scan in sort order
/// (migration V10 has an index per sort and direction). Rank and name sorts read the tracked coins in order and join their
/// summary row (a coin without one still listed); the others read the currency's summary rows
/// in order and join their coin.
fn market_page_sql(sort: MarketSort, order: SortOrder, condition: &str, limit: usize) -> String {
    let desc = order == SortOrder::Desc;
    let (from, order_by) = match sort.summary_column() {
        None => (
            "coins c LEFT JOIN market_summary s ON s.coin_id = c.id AND s.currency_code = $1",
            match (sort, desc) {
                (MarketSort::Name, false) => "lower(c.name), c.id".to_owned(),
                (MarketSort::Name, true) => "lower(c.name) DESC, c.id DESC".to_owned(),
                (_, false) => "c.rank ASC NULLS LAST, c.sort_order, c.id".to_owned(),
                (_, true) => "c.rank DESC NULLS LAST, c.sort_order, c.id".to_owned(),
            },
        ),
        Some(column) => (
            "market_summary s JOIN coins c ON c.id = s.coin_id AND s.currency_code = $1",
            format!(
                "s.{column} {} NULLS LAST, s.coin_id",
                if desc { "DESC" } else { "ASC" }
            ),
        ),
    };
    format!(
        "SELECT {MARKET_COLUMNS}
           FROM {from}
           LEFT JOIN coin_metadata m ON m.coin_id = c.id
          WHERE {condition}
          ORDER BY {order_by}
          LIMIT ${limit} OFFSET ${offset}",
        offset = limit + 1
    )
}

/// One page (`limit` rows after `offset`) of the tracked coins `filter` selects, in its
/// order, read from their prepared `market_summary` rows (migration V10).
pub(super) async fn market_page(
    client: &impl GenericClient,
    filter: &MarketFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<MarketRow>, Error> {
    let (condition, mut params) = filter.condition(1);
    let sql = market_page_sql(filter.sort, filter.order, &condition, params.len() + 2);
    let stmt = client.prepare_cached(&sql).await?;
    params.insert(0, &filter.currency);
    params.extend([&limit as Param<'_>, &offset]);
    let rows = client.query(&stmt, &params).await?;
    rows.iter().map(MarketRow::from_row).collect()
}

/// How many tracked coins `filter` selects (in any currency: a coin without a price is listed).
pub(super) async fn market_total(
    client: &impl GenericClient,
    filter: &MarketFilter<'_>,
) -> Result<i64, Error> {
    let (condition, params) = filter.condition(0);
    let stmt = client
        .prepare_cached(&format!(
            "SELECT count(*) AS total FROM coins c WHERE {condition}"
        ))
        .await?;
    client.query_one(&stmt, &params).await?.try_get("total")
}

impl MarketRow {
    /// From a row of [`market_page_sql`].
    fn from_row(r: &Row) -> Result<MarketRow, Error> {
        let price: Option<f64> = r.try_get("price")?;
        let at: Option<DateTime<Utc>> = r.try_get("price_at")?;
        Ok(MarketRow {
            coin: CoinRow::from_row(r)?,
            latest: price.zip(at),
            change_1h: r.try_get("change_1h")?,
            change_24h: r.try_get("change_24h")?,
            change_7d: r.try_get("change_7d")?,
            market_cap: r.try_get("market_cap")?,
            volume_24h: r.try_get("volume_24h")?,
            sparkline: r.try_get("sparkline")?,
        })
    }
}
