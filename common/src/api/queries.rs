//! The read side's SQL, one function per question a handler asks (as `ingest::store` is for
//! the writes). Handlers turn these rows into JSON; nothing here knows about HTTP.

use crate::domain::LiveQuote;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Error;

/// A coin as listed: identity and image.
pub(super) struct CoinRow {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub image_url: Option<String>,
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
    Ok(rows
        .iter()
        .map(|r| CoinRow {
            id: r.get(0),
            symbol: r.get(1),
            name: r.get(2),
            image_url: r.get(3),
        })
        .collect())
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
            "SELECT c.id, c.symbol, c.name, coalesce(m.description, ''), m.image_url, m.website_url
               FROM coins c LEFT JOIN coin_metadata m ON m.coin_id = c.id WHERE c.id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| CoinDetailRow {
        id: r.get(0),
        symbol: r.get(1),
        name: r.get(2),
        description: r.get(3),
        image_url: r.get(4),
        website_url: r.get(5),
    }))
}

/// Whether a coin is stored.
pub(super) async fn coin_exists(client: &impl GenericClient, id: &str) -> Result<bool, Error> {
    Ok(client
        .query_one("SELECT EXISTS (SELECT 1 FROM coins WHERE id = $1)", &[&id])
        .await?
        .get(0))
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
            "SELECT v.code, l.price, l.ts, q.price, coalesce(q.last_updated_at, q.fetched_at),
                    q.change_24h
               FROM unnest($2::text[]) AS v(code)
               LEFT JOIN LATERAL (SELECT price, ts FROM price_hourly
                                   WHERE coin_id = $1 AND currency_code = v.code
                                   ORDER BY ts DESC LIMIT 1) l ON true
               LEFT JOIN price_latest q ON q.coin_id = $1 AND q.currency_code = v.code",
            &[&id, &currencies],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let price: Option<f64> = r.get(1);
            let at: Option<DateTime<Utc>> = r.get(2);
            LatestRow {
                currency: r.get(0),
                price_at: price.zip(at),
                quote: live_quote(r, 3),
            }
        })
        .collect())
}

/// A tracked currency and its stored name (`None` before the first ingestion).
pub(super) struct CurrencyRow {
    pub code: String,
    pub name: Option<String>,
}

/// The live quote in columns `first..first + 3` (price, time, 24 h change) of `row`.
fn live_quote(row: &tokio_postgres::Row, first: usize) -> Option<LiveQuote> {
    let price: Option<f64> = row.get(first);
    let at: Option<DateTime<Utc>> = row.get(first + 1);
    price.zip(at).map(|(price, at)| LiveQuote {
        price,
        at,
        change_24h: row.get(first + 2),
    })
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
    Ok(rows
        .iter()
        .map(|r| CurrencyRow {
            code: r.get(0),
            name: r.get(1),
        })
        .collect())
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
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
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
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
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
       coalesce(s.sparkline::text, '[]'),
       q.price, coalesce(q.last_updated_at, q.fetched_at), q.change_24h, q.market_cap, q.volume_24h
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
    Ok(rows
        .iter()
        .map(|r| {
            let price: Option<f64> = r.get(4);
            let at: Option<DateTime<Utc>> = r.get(5);
            MarketRow {
                coin: CoinRow {
                    id: r.get(0),
                    symbol: r.get(1),
                    name: r.get(2),
                    image_url: r.get(3),
                },
                latest: price.zip(at),
                quote: live_quote(r, 9),
                market_cap: r.get(12),
                volume_24h: r.get(13),
                price_24h_before: r.get(6),
                price_7d_before: r.get(7),
                sparkline: r.get(8),
            }
        })
        .collect())
}
