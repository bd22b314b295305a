//! The ingester's writes of prices and coins: set-based upserts (one statement per table and
//! pair, arrays bound with UNNEST) and the daily recompute. The run lock and the run's own
//! record are in [`super::lifecycle`].

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Error;

use super::plan::PairNewest;
use super::report::Pair;
use crate::coingecko::{CoinInfo, CoinListEntry, MarketEntry};
use crate::domain::{DailySnapshot, HourlyPrice};

/// The instants a pair was fetched for, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Rows written for one pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairRows {
    pub hourly: u64,
    pub daily: u64,
    /// Hourly rows older than the retention, pruned.
    pub pruned: u64,
}

/// What else a pair's write transaction does besides upserting its hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `cleanFirst`: the pair's rows inside this window are replaced, not merged.
    pub clean_window: Option<Window>,
    /// `HOURLY_RETENTION_DAYS`: the pair's hourly rows before this instant are deleted (their
    /// daily rows stay).
    pub prune_before: Option<DateTime<Utc>>,
}

/// Writes live quotes in one statement, for coins already stored (a quote of a coin the
/// history has not seen yet waits for the next history run) and with a usable price;
/// returns the (coin, currency) pairs written.
pub async fn upsert_latest(
    client: &impl GenericClient,
    quotes: &[crate::coingecko::Quote],
    fetched_at: DateTime<Utc>,
) -> Result<Vec<Pair>, Error> {
    let usable = |v: Option<f64>| v.filter(|v| v.is_finite());
    let non_negative = |v: Option<f64>| usable(v).filter(|v| *v >= 0.0);
    let coins: Vec<&str> = quotes.iter().map(|q| q.coin.as_str()).collect();
    let currencies: Vec<&str> = quotes.iter().map(|q| q.currency.as_str()).collect();
    let prices: Vec<Option<f64>> = quotes.iter().map(|q| usable(q.price)).collect();
    let caps: Vec<Option<f64>> = quotes.iter().map(|q| non_negative(q.market_cap)).collect();
    let volumes: Vec<Option<f64>> = quotes.iter().map(|q| non_negative(q.volume_24h)).collect();
    let changes: Vec<Option<f64>> = quotes.iter().map(|q| usable(q.change_24h)).collect();
    let updated: Vec<Option<DateTime<Utc>>> = quotes.iter().map(|q| q.last_updated_at).collect();
    let rows = client
        .query(
            "INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h,
                                       change_24h, last_updated_at, fetched_at)
             SELECT t.coin, t.currency, t.price, t.cap, t.volume, t.change, t.updated, $8
               FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[],
                           $6::float8[], $7::timestamptz[])
                    AS t(coin, currency, price, cap, volume, change, updated)
               JOIN coins c ON c.id = t.coin
               JOIN currencies v ON v.code = t.currency
              WHERE t.price > 0
             ON CONFLICT (coin_id, currency_code) DO UPDATE
                SET price = EXCLUDED.price, market_cap = EXCLUDED.market_cap,
                    volume_24h = EXCLUDED.volume_24h, change_24h = EXCLUDED.change_24h,
                    last_updated_at = EXCLUDED.last_updated_at, fetched_at = EXCLUDED.fetched_at
             RETURNING coin_id AS coin, currency_code AS currency",
            &[
                &coins,
                &currencies,
                &prices,
                &caps,
                &volumes,
                &changes,
                &updated,
                &fetched_at,
            ],
        )
        .await?;
    pairs_of(&rows)
}

/// The pair in the columns `coin` (its id) and `currency` (its code) of `row`.
fn pair(row: &tokio_postgres::Row) -> Result<Pair, Error> {
    Ok(Pair {
        coin: row.try_get("coin")?,
        currency: row.try_get("currency")?,
    })
}

/// Rows with the columns `coin` and `currency`, as pairs.
fn pairs_of(rows: &[tokio_postgres::Row]) -> Result<Vec<Pair>, Error> {
    rows.iter().map(pair).collect()
}

/// When the ranking was last resolved (the newest `coins.ranked_at`), if ever.
pub async fn ranked_at(client: &impl GenericClient) -> Result<Option<DateTime<Utc>>, Error> {
    client
        .query_one("SELECT max(ranked_at) AS at FROM coins", &[])
        .await?
        .try_get("at")
}

/// Stores one currency's `/coins/markets` answer: the coins (symbol, name; with `ranked_at`,
/// their rank, resolved then), an image for coins without metadata, and the market data as the
/// pair's live quote with its 1 h / 7 d change and 7-day sparkline (5 significant digits, as
/// the market summary's). Entries without a usable price are skipped.
pub async fn upsert_markets(
    client: &impl GenericClient,
    currency: &str,
    entries: &[MarketEntry],
    ranked_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    let usable = |v: Option<f64>| v.filter(|v| v.is_finite());
    let non_negative = |v: Option<f64>| usable(v).filter(|v| *v >= 0.0);
    let entries: Vec<&MarketEntry> = entries
        .iter()
        .filter(|e| usable(e.price).is_some_and(|p| p > 0.0) && crate::config::is_coin_id(&e.id))
        .collect();
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let symbols: Vec<&str> = entries.iter().map(|e| e.symbol.as_str()).collect();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let rank: Vec<Option<i32>> = entries
        .iter()
        .map(|e| {
            e.rank
                .and_then(|r| i32::try_from(r).ok())
                .filter(|r| *r > 0)
        })
        .collect();
    let images: Vec<Option<&str>> = entries.iter().map(|e| e.image.as_deref()).collect();
    client
        .execute(
            "INSERT INTO coins (id, symbol, name, sort_order, rank, ranked_at)
             SELECT t.id, t.symbol, t.name, 1000000, t.rank, $5::timestamptz
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[]) AS t(id, symbol, name, rank)
             ON CONFLICT (id) DO UPDATE SET symbol = EXCLUDED.symbol, name = EXCLUDED.name,
                    rank = CASE WHEN $5 IS NULL THEN coins.rank ELSE EXCLUDED.rank END,
                    ranked_at = coalesce($5, coins.ranked_at),
                    updated_at = now()",
            &[&ids, &symbols, &names, &rank, &ranked_at],
        )
        .await?;
    // An image now; the description and website wait for `/coins/{id}` (an epoch
    // `updated_at` leaves the row due for it).
    client
        .execute(
            "INSERT INTO coin_metadata (coin_id, image_url, updated_at)
             SELECT t.id, t.image, 'epoch'
               FROM UNNEST($1::text[], $2::text[]) AS t(id, image)
              WHERE t.image IS NOT NULL
             ON CONFLICT (coin_id) DO UPDATE SET image_url = EXCLUDED.image_url
              WHERE coin_metadata.image_url IS NULL",
            &[&ids, &images],
        )
        .await?;
    let currencies: Vec<&str> = vec![currency; entries.len()];
    let prices: Vec<Option<f64>> = entries.iter().map(|e| usable(e.price)).collect();
    let caps: Vec<Option<f64>> = entries.iter().map(|e| non_negative(e.market_cap)).collect();
    let volumes: Vec<Option<f64>> = entries.iter().map(|e| non_negative(e.volume_24h)).collect();
    let change_1h: Vec<Option<f64>> = entries.iter().map(|e| usable(e.change_1h)).collect();
    let change_24h: Vec<Option<f64>> = entries.iter().map(|e| usable(e.change_24h)).collect();
    let change_7d: Vec<Option<f64>> = entries.iter().map(|e| usable(e.change_7d)).collect();
    let updated: Vec<Option<DateTime<Utc>>> = entries.iter().map(|e| e.last_updated).collect();
    let sparklines: Vec<String> = entries
        .iter()
        .map(|e| {
            let points: Vec<f64> = e
                .sparkline
                .iter()
                .filter_map(|p| usable(*p).filter(|p| *p > 0.0))
                .collect();
            serde_json::to_string(&points).expect("finite numbers serialise")
        })
        .collect();
    let quotes: Vec<crate::coingecko::Quote> = entries
        .iter()
        .zip(&prices)
        .map(|(e, price)| crate::coingecko::Quote {
            coin: e.id.clone(),
            currency: currency.to_owned(),
            price: *price,
            market_cap: None,
            volume_24h: None,
            change_24h: None,
            last_updated_at: e.last_updated,
        })
        .collect();
    fold_quotes(client, &quotes).await?;
    client
        .execute(
            "INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h,
                                       change_24h, change_1h, change_7d, sparkline,
                                       last_updated_at, fetched_at, markets_at)
             SELECT t.coin, t.currency, t.price, t.cap, t.volume, t.c24, t.c1, t.c7,
                    array_to_json(ARRAY(
                        SELECT round(c::numeric, 4 - floor(log(c))::int)::real
                          FROM json_array_elements_text(t.spark::json) WITH ORDINALITY AS s(p, i),
                               LATERAL (SELECT greatest(least(s.p::float8, 3.4e38), 1.5e-45)) AS x(c)
                         ORDER BY s.i)),
                    t.updated, now(), now()
               FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[],
                           $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::timestamptz[])
                    AS t(coin, currency, price, cap, volume, c24, c1, c7, spark, updated)
             ON CONFLICT (coin_id, currency_code) DO UPDATE
                SET price = EXCLUDED.price, market_cap = EXCLUDED.market_cap,
                    volume_24h = EXCLUDED.volume_24h, change_24h = EXCLUDED.change_24h,
                    change_1h = EXCLUDED.change_1h, change_7d = EXCLUDED.change_7d,
                    sparkline = EXCLUDED.sparkline, last_updated_at = EXCLUDED.last_updated_at,
                    fetched_at = EXCLUDED.fetched_at, markets_at = EXCLUDED.markets_at",
            &[
                &ids,
                &currencies,
                &prices,
                &caps,
                &volumes,
                &change_24h,
                &change_1h,
                &change_7d,
                &sparklines,
                &updated,
            ],
        )
        .await?;
    Ok(())
}

/// Recomputes from the stored hours the daily average of each pair's UTC day holding the
/// matching instant (an average replaces a snapshot); returns the daily rows written.
async fn recompute_days(
    client: &impl GenericClient,
    coins: &[&str],
    currencies: &[&str],
    instants: &[DateTime<Utc>],
) -> Result<u64, Error> {
    let statement = client
        .prepare_cached(
            "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
             SELECT h.coin_id, h.currency_code, (h.ts AT TIME ZONE 'UTC')::date,
                    -- avg(price) sums first and overflows near f64::MAX; a UTC day has at
                    -- most 24 hours, so the sum of price/24 cannot, and the mean of finite
                    -- prices never exceeds their maximum.
                    least(sum(h.price / 24) * (24.0 / count(*)), max(h.price)), count(*), 'hourly'
               FROM (SELECT DISTINCT t.coin, t.currency, date_trunc('day', t.at, 'UTC') AS day
                       FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS t(coin, currency, at)) d
               JOIN price_hourly h ON h.coin_id = d.coin AND h.currency_code = d.currency
                                  AND h.ts >= d.day AND h.ts < d.day + interval '24 hours'
              GROUP BY h.coin_id, h.currency_code, (h.ts AT TIME ZONE 'UTC')::date
             ON CONFLICT (coin_id, currency_code, date) DO UPDATE
                SET price = EXCLUDED.price, sample_count = EXCLUDED.sample_count,
                    source = EXCLUDED.source, updated_at = now()
              WHERE (price_daily.price, price_daily.sample_count, price_daily.source)
                    IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.sample_count, EXCLUDED.source)",
        )
        .await?;
    client
        .execute(&statement, &[&coins, &currencies, &instants])
        .await
}

/// Marks exactly `ids` as tracked (coins leaving the set keep their rows); returns the coins
/// whose mark changed.
pub async fn set_tracked(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "UPDATE coins SET tracked = (id = ANY($1)), updated_at = now()
              WHERE tracked IS DISTINCT FROM (id = ANY($1))
             RETURNING id",
            &[&ids],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// What a writer wrote before it refreshes the market rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    /// Any hours (history runs), or nothing but the tracked set: each row's week is read.
    Hours,
    /// Nothing but each pair's live-quote hour (the live refresh): a sparkline takes its new
    /// last point without its week being read again (migration V11).
    Quotes,
}

/// Recomputes the market overview's rows of `coins` x `currencies` (migrations V10, V11).
pub async fn refresh_market(
    client: &impl GenericClient,
    coins: &[String],
    currencies: &[String],
    wrote: Wrote,
) -> Result<(), Error> {
    client
        .execute(
            "SELECT refresh_market_summaries($1, $2, $3)",
            &[&coins, &currencies, &(wrote == Wrote::Quotes)],
        )
        .await
        .map(|_| ())
}

/// The tracked coins not among `pinned`, by rank (unranked last), as the last ranking left
/// them.
pub async fn tracked_ranked(
    client: &impl GenericClient,
    pinned: &[String],
) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT id FROM coins WHERE tracked AND NOT (id = ANY($1))
              ORDER BY rank NULLS LAST, sort_order, id",
            &[&pinned],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Folds live quotes into quote-built hours: each quote newer than the pair's stored live
/// quote (a distinct quote) joins the mean of its UTC hour, unless CoinGecko's own hourly
/// point (`range`) holds that hour; then recomputes the daily averages of the days touched.
/// A quote more than a day after the pair's newest hour first marks the hours between as a
/// hole (`price_holes`, migration V14) for the history run to fill.
/// Run before the quotes replace `price_latest`. Returns the hours written.
pub async fn fold_quotes(
    client: &impl GenericClient,
    quotes: &[crate::coingecko::Quote],
) -> Result<u64, Error> {
    let coins: Vec<&str> = quotes.iter().map(|q| q.coin.as_str()).collect();
    let currencies: Vec<&str> = quotes.iter().map(|q| q.currency.as_str()).collect();
    let prices: Vec<Option<f64>> = quotes
        .iter()
        .map(|q| q.price.filter(|p| p.is_finite() && *p > 0.0))
        .collect();
    let updated: Vec<Option<DateTime<Utc>>> = quotes.iter().map(|q| q.last_updated_at).collect();
    // Only pairs whose stored quote is a day old can have one (the newest hour is read for
    // those alone); an older hole keeps its start.
    client
        .execute(
            "INSERT INTO price_holes AS o (coin_id, currency_code, since)
             SELECT t.coin, t.currency, newest.ts
               FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::timestamptz[])
                    AS t(coin, currency, price, updated)
               JOIN price_latest l ON l.coin_id = t.coin AND l.currency_code = t.currency
              CROSS JOIN LATERAL (SELECT max(ts) AS ts FROM price_hourly h
                                   WHERE h.coin_id = t.coin AND h.currency_code = t.currency) newest
              WHERE t.price > 0
                AND coalesce(l.last_updated_at, l.fetched_at) < t.updated - interval '1 day'
                AND newest.ts < date_trunc('hour', t.updated, 'UTC') - interval '1 day'
             ON CONFLICT (coin_id, currency_code) DO UPDATE SET since = least(o.since, EXCLUDED.since)",
            &[&coins, &currencies, &prices, &updated],
        )
        .await?;
    let hours = client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price, source, quotes)
             SELECT t.coin, t.currency, date_trunc('hour', t.updated, 'UTC'), t.price, 'quote', 1
               FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::timestamptz[])
                    AS t(coin, currency, price, updated)
               JOIN coins c ON c.id = t.coin
               JOIN currencies v ON v.code = t.currency
               LEFT JOIN price_latest l ON l.coin_id = t.coin AND l.currency_code = t.currency
              WHERE t.price > 0 AND t.updated IS NOT NULL
                AND (l.last_updated_at IS NULL OR t.updated > l.last_updated_at)
             ON CONFLICT (coin_id, currency_code, ts) DO UPDATE
                SET price = price_hourly.price
                            + (EXCLUDED.price - price_hourly.price) / (price_hourly.quotes + 1),
                    quotes = price_hourly.quotes + 1, updated_at = now()
              WHERE price_hourly.source = 'quote'",
            &[&coins, &currencies, &prices, &updated],
        )
        .await?;
    let days: Vec<DateTime<Utc>> = quotes.iter().filter_map(|q| q.last_updated_at).collect();
    let (coins, currencies): (Vec<&str>, Vec<&str>) = quotes
        .iter()
        .filter(|q| q.last_updated_at.is_some())
        .map(|q| (q.coin.as_str(), q.currency.as_str()))
        .unzip();
    recompute_days(client, &coins, &currencies, &days).await?;
    Ok(hours)
}

/// Upserts the tracked currencies with their names.
pub async fn upsert_currencies(
    client: &impl GenericClient,
    codes: &[String],
    names: &[String],
) -> Result<u64, Error> {
    client
        .execute(
            "INSERT INTO currencies (code, name) SELECT * FROM UNNEST($1::text[], $2::text[])
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
              WHERE currencies.name IS DISTINCT FROM EXCLUDED.name",
            &[&codes, &names],
        )
        .await
}

/// Upserts coins (symbol and name from `/coins/list`) with their display order.
pub async fn upsert_coins(
    client: &impl GenericClient,
    coins: &[(CoinListEntry, i32)],
) -> Result<u64, Error> {
    let ids: Vec<&str> = coins.iter().map(|(c, _)| c.id.as_str()).collect();
    let symbols: Vec<&str> = coins.iter().map(|(c, _)| c.symbol.as_str()).collect();
    let names: Vec<&str> = coins.iter().map(|(c, _)| c.name.as_str()).collect();
    let order: Vec<i32> = coins.iter().map(|(_, o)| *o).collect();
    client
        .execute(
            "INSERT INTO coins (id, symbol, name, sort_order)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[])
             ON CONFLICT (id) DO UPDATE SET symbol = EXCLUDED.symbol, name = EXCLUDED.name,
                    sort_order = EXCLUDED.sort_order, updated_at = now()
              WHERE (coins.symbol, coins.name, coins.sort_order)
                    IS DISTINCT FROM (EXCLUDED.symbol, EXCLUDED.name, EXCLUDED.sort_order)",
            &[&ids, &symbols, &names, &order],
        )
        .await
}

/// Sets the display order of coins already stored (when `/coins/list` is unavailable).
pub async fn reorder_coins(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "UPDATE coins SET sort_order = t.ord::int - 1
               FROM UNNEST($1::text[]) WITH ORDINALITY AS t(id, ord)
              WHERE coins.id = t.id
             RETURNING coins.id",
            &[&ids],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Ids among `ids` whose metadata is missing or older than `max_age`.
pub async fn stale_metadata(
    client: &impl GenericClient,
    ids: &[String],
    max_age: Duration,
) -> Result<Vec<String>, Error> {
    let cutoff = Utc::now() - max_age;
    let rows = client
        .query(
            "SELECT t.id FROM UNNEST($1::text[]) WITH ORDINALITY AS t(id, ord)
               LEFT JOIN coin_metadata m ON m.coin_id = t.id
              WHERE m.coin_id IS NULL OR m.updated_at < $2
              ORDER BY t.ord",
            &[&ids, &cutoff],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Stores a coin's metadata (description kept raw; the API strips HTML).
pub async fn upsert_metadata(client: &impl GenericClient, info: &CoinInfo) -> Result<u64, Error> {
    client
        .execute(
            "INSERT INTO coin_metadata (coin_id, description, image_url, website_url) VALUES ($1, $2, $3, $4)
             ON CONFLICT (coin_id) DO UPDATE SET description = EXCLUDED.description,
                    image_url = EXCLUDED.image_url, website_url = EXCLUDED.website_url, updated_at = now()",
            &[&info.id, &info.description, &info.image_url, &info.website_url],
        )
        .await
}

/// The newest stored hour of each (coin, currency) pair; `None` for pairs with no data.
/// One index probe per pair (LATERAL max over the primary key).
pub async fn newest_hours(
    client: &impl GenericClient,
    coins: &[String],
    currencies: &[String],
) -> Result<Vec<PairNewest>, Error> {
    let rows = client
        .query(
            "SELECT c.id AS coin, v.code AS currency, n.newest
               FROM UNNEST($1::text[]) WITH ORDINALITY AS c(id, ord)
              CROSS JOIN UNNEST($2::text[]) WITH ORDINALITY AS v(code, ord)
              CROSS JOIN LATERAL (SELECT max(ts) AS newest FROM price_hourly p
                                   WHERE p.coin_id = c.id AND p.currency_code = v.code) n
              ORDER BY c.ord, v.ord",
            &[&coins, &currencies],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PairNewest {
                pair: pair(r)?,
                newest: r.try_get("newest")?,
            })
        })
        .collect()
}

/// Writes one pair in one transaction: optionally deletes its rows inside the refetched
/// window first (`clean_window`; older history survives), upserts the hourly prices in one
/// statement, recomputes the daily average of every UTC day those hours touch from the
/// stored hourly rows (an average replaces a snapshot), and optionally prunes hours older
/// than the retention.
pub async fn write_pair(
    client: &mut deadpool_postgres::Object,
    coin: &str,
    currency: &str,
    hours: &[HourlyPrice],
    options: WriteOptions,
) -> Result<PairRows, Error> {
    let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
        return Ok(PairRows::default());
    };
    let day_start = first.ts.date_naive().and_time(NaiveTime::MIN).and_utc();
    let day_end = last.ts.date_naive().and_time(NaiveTime::MIN).and_utc() + Duration::days(1);
    let ts: Vec<DateTime<Utc>> = hours.iter().map(|h| h.ts).collect();
    let prices: Vec<f64> = hours.iter().map(|h| h.price).collect();

    let tx = client.transaction().await?;
    if let Some(window) = options.clean_window {
        // The daily rows of the window's days: a full window starts at a UTC midnight, and
        // every day from there to `to` is recomputed from the hours written below.
        let first_day = window.from.date_naive();
        let last_day = window.to.date_naive();
        tx.execute(
            "DELETE FROM price_hourly WHERE coin_id = $1 AND currency_code = $2 AND ts >= $3 AND ts <= $4",
            &[&coin, &currency, &window.from, &window.to],
        )
        .await?;
        tx.execute(
            "DELETE FROM price_daily WHERE coin_id = $1 AND currency_code = $2 AND date >= $3 AND date <= $4",
            &[&coin, &currency, &first_day, &last_day],
        )
        .await?;
    }
    let upsert_hourly = tx
        .prepare_cached(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT $1, $2, t.ts, t.price FROM UNNEST($3::timestamptz[], $4::float8[]) AS t(ts, price)
             ON CONFLICT (coin_id, currency_code, ts) DO UPDATE
                SET price = EXCLUDED.price, source = 'range', quotes = NULL, updated_at = now()
              WHERE (price_hourly.price, price_hourly.source) IS DISTINCT FROM (EXCLUDED.price, 'range')",
        )
        .await?;
    let hourly = tx
        .execute(&upsert_hourly, &[&coin, &currency, &ts, &prices])
        .await?;
    // Every UTC day the hours touch, by its first instant.
    let days: Vec<DateTime<Utc>> = (0..(day_end - day_start).num_days())
        .map(|d| day_start + Duration::days(d))
        .collect();
    let daily = recompute_days(
        &tx,
        &vec![coin; days.len()],
        &vec![currency; days.len()],
        &days,
    )
    .await?;
    let pruned = match options.prune_before {
        Some(before) => {
            tx.execute(
                "DELETE FROM price_hourly WHERE coin_id = $1 AND currency_code = $2 AND ts < $3",
                &[&coin, &currency, &before],
            )
            .await?
        }
        None => 0,
    };
    // The market overview's row of this pair, in the same transaction as its hours.
    tx.execute("SELECT refresh_market_summary($1, $2)", &[&coin, &currency])
        .await?;
    tx.commit().await?;
    Ok(PairRows {
        hourly,
        daily,
        pruned,
    })
}

/// The pairs among `pairs` (in their order) with fewer than `days` daily rows that no
/// backfill of at least `days` days has reached yet.
pub async fn pairs_to_backfill(
    client: &impl GenericClient,
    pairs: &[Pair],
    days: u32,
) -> Result<Vec<Pair>, Error> {
    let coins: Vec<&str> = pairs.iter().map(|p| p.coin.as_str()).collect();
    let currencies: Vec<&str> = pairs.iter().map(|p| p.currency.as_str()).collect();
    let days = days as i32;
    let rows = client
        .query(
            "SELECT t.coin, t.currency
               FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS t(coin, currency, ord)
              WHERE (SELECT count(*) FROM price_daily d
                      WHERE d.coin_id = t.coin AND d.currency_code = t.currency) < $3::int
                AND NOT EXISTS (SELECT 1 FROM price_backfill b
                                 WHERE b.coin_id = t.coin AND b.currency_code = t.currency
                                   AND b.days >= $3)
              ORDER BY t.ord",
            &[&coins, &currencies, &days],
        )
        .await?;
    pairs_of(&rows)
}

/// The holes in the hours of `pairs` (in their order): each pair's newest hour before it.
pub async fn holes(
    client: &impl GenericClient,
    pairs: &[Pair],
) -> Result<Vec<(Pair, DateTime<Utc>)>, Error> {
    let coins: Vec<&str> = pairs.iter().map(|p| p.coin.as_str()).collect();
    let currencies: Vec<&str> = pairs.iter().map(|p| p.currency.as_str()).collect();
    let rows = client
        .query(
            "SELECT t.coin, t.currency, o.since
               FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS t(coin, currency, ord)
               JOIN price_holes o ON o.coin_id = t.coin AND o.currency_code = t.currency
              ORDER BY t.ord",
            &[&coins, &currencies],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((pair(r)?, r.try_get("since")?)))
        .collect()
}

/// Forgets a pair's hole once its hours from `since` on are written (a hole found to start
/// earlier meanwhile stays).
pub async fn hole_filled(
    client: &impl GenericClient,
    pair: &Pair,
    since: DateTime<Utc>,
) -> Result<u64, Error> {
    client
        .execute(
            "DELETE FROM price_holes WHERE coin_id = $1 AND currency_code = $2 AND since >= $3",
            &[&pair.coin, &pair.currency, &since],
        )
        .await
}

/// The pairs of `coins` x `currencies` (coins in their order) that have no hour from
/// CoinGecko's own hourly points yet (quote-built hours only, or none).
pub async fn pairs_without_range_hours(
    client: &impl GenericClient,
    coins: &[String],
    currencies: &[String],
) -> Result<Vec<Pair>, Error> {
    let rows = client
        .query(
            "SELECT c.id AS coin, v.code AS currency
               FROM UNNEST($1::text[]) WITH ORDINALITY AS c(id, ord)
              CROSS JOIN UNNEST($2::text[]) WITH ORDINALITY AS v(code, ord)
              WHERE EXISTS (SELECT 1 FROM coins k WHERE k.id = c.id)
                AND NOT EXISTS (SELECT 1 FROM price_hourly p
                                 WHERE p.coin_id = c.id AND p.currency_code = v.code
                                   AND p.source = 'range')
              ORDER BY c.ord, v.ord",
            &[&coins, &currencies],
        )
        .await?;
    pairs_of(&rows)
}

/// The ids among `ids` (in their order) whose description was never fetched (no metadata,
/// or only the image the ranking stored).
pub async fn never_described(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT t.id FROM UNNEST($1::text[]) WITH ORDINALITY AS t(id, ord)
               JOIN coins c ON c.id = t.id
               LEFT JOIN coin_metadata m ON m.coin_id = t.id
              WHERE m.coin_id IS NULL OR m.updated_at = 'epoch'
              ORDER BY t.ord",
            &[&ids],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Stores a pair's backfill in one transaction: its snapshots as `snapshot` daily rows for
/// days without an hourly average (an existing average is never replaced), and the backfill's
/// depth. Returns the daily rows inserted or changed.
pub async fn write_snapshots(
    client: &mut deadpool_postgres::Object,
    pair: &Pair,
    snapshots: &[DailySnapshot],
    days: u32,
    fetched_at: DateTime<Utc>,
) -> Result<u64, Error> {
    let dates: Vec<NaiveDate> = snapshots.iter().map(|s| s.date).collect();
    let prices: Vec<f64> = snapshots.iter().map(|s| s.price).collect();
    let tx = client.transaction().await?;
    let written = tx
        .execute(
            "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
             SELECT $1, $2, t.date, t.price, 1, 'snapshot'
               FROM UNNEST($3::date[], $4::float8[]) AS t(date, price)
             ON CONFLICT (coin_id, currency_code, date) DO UPDATE
                SET price = EXCLUDED.price, updated_at = now()
              WHERE price_daily.source = 'snapshot' AND price_daily.price IS DISTINCT FROM EXCLUDED.price",
            &[&pair.coin, &pair.currency, &dates, &prices],
        )
        .await?;
    tx.execute(
        "INSERT INTO price_backfill (coin_id, currency_code, days, fetched_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (coin_id, currency_code) DO UPDATE SET days = EXCLUDED.days, fetched_at = EXCLUDED.fetched_at",
        &[&pair.coin, &pair.currency, &(days as i32), &fetched_at],
    )
    .await?;
    tx.commit().await?;
    Ok(written)
}
