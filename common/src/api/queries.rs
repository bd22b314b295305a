//! The read side's SQL, one function per question a handler asks (as `ingest::store` is for
//! the writes). Handlers turn these rows into JSON; nothing here knows about HTTP.

use crate::domain::LiveQuote;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::{Error, Row};

/// A coin as listed: identity and image.
pub(super) struct CoinRow {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub image_url: Option<String>,
}

impl CoinRow {
    /// From the columns `id`, `symbol`, `name` and `image_url`.
    fn from_row(r: &Row) -> Result<CoinRow, Error> {
        Ok(CoinRow {
            id: r.try_get("id")?,
            symbol: r.try_get("symbol")?,
            name: r.try_get("name")?,
            image_url: r.try_get("image_url")?,
        })
    }
}

/// The stored coins among `ids`, in the order of `ids`.
pub(super) async fn coins(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<Vec<CoinRow>, Error> {
    let rows = client
        .query(
            "SELECT c.id, c.symbol, c.name, m.image_url
               FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)
               JOIN coins c ON c.id = t.id
               LEFT JOIN coin_metadata m ON m.coin_id = c.id
              ORDER BY t.ord",
            &[&ids],
        )
        .await?;
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
}

/// One stored coin, if it exists.
pub(super) async fn coin(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<CoinDetailRow>, Error> {
    let row = client
        .query_opt(
            "SELECT c.id, c.symbol, c.name, coalesce(m.description, '') AS description, m.image_url,
                    m.website_url
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

/// One coin of the market overview: its latest price, the reference prices 24 h and 7 d
/// before it, and the sparkline.
pub(super) struct MarketRow {
    pub coin: CoinRow,
    pub latest: Option<(f64, DateTime<Utc>)>,
    pub quote: Option<LiveQuote>,
    pub market_cap: Option<f64>,
    pub volume_24h: Option<f64>,
    pub price_24h_before: Option<f64>,
    pub price_7d_before: Option<f64>,
    /// The JSON array prepared when the hours were written (single precision, oldest first).
    pub sparkline: String,
}

/// One indexed read per coin: the summary the ingester keeps in step with the hours it
/// writes (`market_summary`, migration V5), the coin, its image and its live quote, each by
/// primary key.
const MARKET_SQL: &str = "
SELECT c.id, c.symbol, c.name, m.image_url, s.price, s.ts, s.price_24h_before, s.price_7d_before,
       coalesce(s.sparkline::text, '[]') AS sparkline,
       q.price AS quote_price, coalesce(q.last_updated_at, q.fetched_at) AS quote_at,
       q.change_24h AS quote_change_24h, q.market_cap, q.volume_24h
  FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)
  JOIN coins c ON c.id = t.id
  LEFT JOIN coin_metadata m ON m.coin_id = c.id
  LEFT JOIN market_summary s ON s.coin_id = c.id AND s.currency_code = $2
  LEFT JOIN price_latest q ON q.coin_id = c.id AND q.currency_code = $2
 ORDER BY t.ord";

/// Every stored coin among `coins`, in their order, in `currency`.
pub(super) async fn market(
    client: &impl GenericClient,
    coins: &[String],
    currency: &str,
) -> Result<Vec<MarketRow>, Error> {
    let stmt = client.prepare_cached(MARKET_SQL).await?;
    let rows = client.query(&stmt, &[&coins, &currency]).await?;
    rows.iter().map(MarketRow::from_row).collect()
}

impl MarketRow {
    /// From a row of [`MARKET_SQL`].
    fn from_row(r: &Row) -> Result<MarketRow, Error> {
        let price: Option<f64> = r.try_get("price")?;
        let at: Option<DateTime<Utc>> = r.try_get("ts")?;
        Ok(MarketRow {
            coin: CoinRow::from_row(r)?,
            latest: price.zip(at),
            quote: live_quote(r)?,
            market_cap: r.try_get("market_cap")?,
            volume_24h: r.try_get("volume_24h")?,
            price_24h_before: r.try_get("price_24h_before")?,
            price_7d_before: r.try_get("price_7d_before")?,
            sparkline: r.try_get("sparkline")?,
        })
    }
}
