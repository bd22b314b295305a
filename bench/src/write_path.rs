//! The write path of a full ingestion (44 pairs x 90 days of hourly prices, daily recompute
//! included) in three ways, each into a fresh migrated database, in the same run:
//! - ours: `ingest::store::write_pair` (one transaction per pair, UNNEST upserts);
//! - naive: one INSERT ... ON CONFLICT statement per row, one transaction per pair;
//! - COPY: binary COPY of the same hourly and daily rows into empty tables (a floor).

use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use common::config::Config;
use common::db::Database;
use common::domain::HourlyPrice;
use common::ingest::store;
use common::secrets::Secrets;
use serde_json::{json, Value};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::stats::summary;

type Pairs = Vec<(String, String, Vec<HourlyPrice>)>;

fn dataset(shift: f64) -> Pairs {
    let end = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let start = end - Duration::days(90);
    let mut pairs = Vec::new();
    for (ci, coin) in common::config::DEFAULT_COINS.iter().enumerate() {
        for (vi, cur) in common::config::DEFAULT_CURRENCIES.iter().enumerate() {
            let hours = (0..90 * 24)
                .map(|h| HourlyPrice {
                    ts: start + Duration::hours(h),
                    price: 100.0 * (1 + ci + vi) as f64 + ((h as f64) / 7.0).sin() * 3.0 + shift,
                    samples: 1,
                })
                .collect();
            pairs.push((coin.to_string(), cur.to_string(), hours));
        }
    }
    pairs
}

/// Creates database `name` on the server of `admin` (dropping an old one); returns its URL.
pub async fn fresh_database(admin: &str, name: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("admin connect");
    tokio::spawn(conn);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).await.expect("create database");
    }
    replace_db(admin, name)
}

async fn fresh(admin: &str, name: &str) -> Database {
    let url = fresh_database(admin, name).await;
    let config =
        Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).expect("config");
    let db = Database::connect(&config.database, &Secrets::default())
        .await
        .expect("pool");
    db.migrate().await.expect("migrate");
    let c = db.client().await.expect("client");
    let coins: Vec<String> = common::config::DEFAULT_COINS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let currencies: Vec<String> = common::config::DEFAULT_CURRENCIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    c.execute(
        "INSERT INTO coins (id, symbol, name) SELECT id, id, id FROM unnest($1::text[]) id",
        &[&coins],
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO currencies (code, name) SELECT c, c FROM unnest($1::text[]) c",
        &[&currencies],
    )
    .await
    .unwrap();
    drop(c);
    db
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let cut = base
        .rfind('/')
        .filter(|&i| i > base.find("://").map(|j| j + 2).unwrap_or(0))
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..cut], db);
    if let Some(q) = query {
        out = format!("{out}?{q}");
    }
    out
}

async fn ours(db: &Database, pairs: &Pairs) -> (f64, u64) {
    let mut client = db.client().await.unwrap();
    let started = Instant::now();
    let mut rows = 0;
    for (coin, cur, hours) in pairs {
        let r = store::write_pair(&mut client, coin, cur, hours, Default::default())
            .await
            .unwrap();
        rows += r.hourly + r.daily;
    }
    (started.elapsed().as_secs_f64(), rows)
}

async fn naive(db: &Database, pairs: &Pairs) -> f64 {
    let mut client = db.client().await.unwrap();
    let started = Instant::now();
    for (coin, cur, hours) in pairs {
        let tx = client.transaction().await.unwrap();
        let stmt = tx
            .prepare(
                "INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (coin_id, currency_code, ts) DO UPDATE SET price = EXCLUDED.price, updated_at = now()",
            )
            .await
            .unwrap();
        for h in hours {
            tx.execute(&stmt, &[coin, cur, &h.ts, &h.price])
                .await
                .unwrap();
        }
        let daily = tx
            .prepare(
                "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (coin_id, currency_code, date) DO UPDATE SET price = EXCLUDED.price, sample_count = EXCLUDED.sample_count",
            )
            .await
            .unwrap();
        for (date, price, count) in daily_rows(hours) {
            tx.execute(&daily, &[coin, cur, &date, &price, &count])
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn daily_rows(hours: &[HourlyPrice]) -> Vec<(chrono::NaiveDate, f64, i32)> {
    let mut out: Vec<(chrono::NaiveDate, f64, i32)> = Vec::new();
    for h in hours {
        let d = h.ts.date_naive();
        match out.last_mut() {
            Some((day, sum, n)) if *day == d => {
                *sum += h.price;
                *n += 1;
            }
            _ => out.push((d, h.price, 1)),
        }
    }
    out.into_iter()
        .map(|(d, s, n)| (d, s / n as f64, n))
        .collect()
}

async fn copy(db: &Database, pairs: &Pairs) -> f64 {
    let client = db.client().await.unwrap();
    let started = Instant::now();
    let sink = client
        .copy_in("COPY price_hourly (coin_id, currency_code, ts, price) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::FLOAT8],
    );
    let mut writer = std::pin::pin!(writer);
    for (coin, cur, hours) in pairs {
        for h in hours {
            writer
                .as_mut()
                .write(&[coin, cur, &h.ts, &h.price])
                .await
                .unwrap();
        }
    }
    writer.as_mut().finish().await.unwrap();
    let sink = client
        .copy_in("COPY price_daily (coin_id, currency_code, date, price, sample_count) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::TEXT, Type::TEXT, Type::DATE, Type::FLOAT8, Type::INT4],
    );
    let mut writer = std::pin::pin!(writer);
    for (coin, cur, hours) in pairs {
        for (date, price, count) in daily_rows(hours) {
            writer
                .as_mut()
                .write(&[coin, cur, &date, &price, &count])
                .await
                .unwrap();
        }
    }
    writer.as_mut().finish().await.unwrap();
    started.elapsed().as_secs_f64()
}

pub async fn run(admin: &str, runs: usize) -> Value {
    let pairs = dataset(0.0);
    let changed = dataset(0.5);
    let rows_hourly: usize = pairs.iter().map(|p| p.2.len()).sum();
    let rows_daily: usize = pairs.iter().map(|p| daily_rows(&p.2).len()).sum();
    let (mut empty, mut same, mut update, mut per_row, mut copy_s) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        let db = fresh(admin, &format!("bench_ours_{i}")).await;
        let (t, rows) = ours(&db, &pairs).await;
        assert_eq!(rows as usize, rows_hourly + rows_daily, "every row written");
        empty.push(t);
        same.push(ours(&db, &pairs).await.0);
        update.push(ours(&db, &changed).await.0);
        drop(db);
        let db = fresh(admin, &format!("bench_naive_{i}")).await;
        per_row.push(naive(&db, &pairs).await);
        drop(db);
        let db = fresh(admin, &format!("bench_copy_{i}")).await;
        copy_s.push(copy(&db, &pairs).await);
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rows = (rows_hourly + rows_daily) as f64;
    json!({
        "pairs": pairs.len(),
        "days": 90,
        "rows": {"hourly": rows_hourly, "daily": rows_daily},
        "seconds": {
            "ours_empty": summary(&empty),
            "ours_reupsert_unchanged": summary(&same),
            "ours_reupsert_all_changed": summary(&update),
            "per_row_insert": summary(&per_row),
            "copy": summary(&copy_s),
        },
        "rows_per_second_median": {
            "ours_empty": (rows / median(&empty)).round(),
            "per_row_insert": (rows / median(&per_row)).round(),
            "copy": (rows / median(&copy_s)).round(),
        },
        "ratio_to_copy_median": {
            "ours_empty": crate::stats::round(median(&empty) / median(&copy_s)),
            "ours_reupsert_all_changed": crate::stats::round(median(&update) / median(&copy_s)),
            "per_row_insert": crate::stats::round(median(&per_row) / median(&copy_s)),
        },
        "first_hour": Utc.timestamp_opt(pairs[0].2[0].ts.timestamp(), 0).single().map(|t: DateTime<Utc>| t.to_rfc3339()),
    })
}
