//! The schema: migrations apply once, and the constraints hold.

use integration_tests::TestDb;

async fn schema_fingerprint(client: &tokio_postgres::Client) -> String {
    let rows = client
        .query(
            "SELECT table_name, column_name, data_type, is_nullable
               FROM information_schema.columns WHERE table_schema = 'public'
              ORDER BY table_name, ordinal_position",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            format!(
                "{}.{} {} {}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing() {
    let db = TestDb::empty().await;
    let database = db.database().await;
    let first = database.migrate().await.unwrap();
    assert_eq!(
        first.first().map(String::as_str),
        Some("V1__initial_schema")
    );

    let client = db.client().await;
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_name NOT LIKE 'refinery%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "coin_metadata",
            "coins",
            "currencies",
            "ingestion_runs",
            "price_daily",
            "price_hourly"
        ]
    );
    let before = schema_fingerprint(&client).await;
    let history: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history as usize, first.len());

    let second = database.migrate().await.unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    assert_eq!(schema_fingerprint(&client).await, before);
    let history_after: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history_after, history);
}

async fn seeded() -> (TestDb, tokio_postgres::Client) {
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar');
             INSERT INTO coins (id, symbol, name) VALUES ('bitcoin', 'btc', 'Bitcoin');
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
                  VALUES ('bitcoin', 'usd', '2025-11-01T10:00:00Z', 100.5);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                  VALUES ('bitcoin', 'usd', '2025-11-01', 100.5, 1);",
        )
        .await
        .unwrap();
    (db, client)
}

async fn rejected(client: &tokio_postgres::Client, sql: &str) -> String {
    let err = client.batch_execute(sql).await.expect_err(sql);
    err.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn constraints_reject_bad_prices_unknown_keys_and_duplicates() {
    let (_db, client) = seeded().await;
    const CHECK: &str = "23514";
    const FOREIGN_KEY: &str = "23503";
    const UNIQUE: &str = "23505";
    const NOT_NULL: &str = "23502";
    let cases = [
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T11:00:00Z', 0)", CHECK),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T11:00:00Z', -3)", CHECK),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T11:00:00Z', 'NaN')", CHECK),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T11:30:00Z', 5)", CHECK),
        ("INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count) VALUES ('bitcoin','usd','2025-11-02', 0, 1)", CHECK),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('dogecoin','usd','2025-11-01T11:00:00Z', 1)", FOREIGN_KEY),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','chf','2025-11-01T11:00:00Z', 1)", FOREIGN_KEY),
        ("INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count) VALUES ('bitcoin','xyz','2025-11-02', 1, 1)", FOREIGN_KEY),
        ("INSERT INTO coin_metadata (coin_id) VALUES ('nocoin')", FOREIGN_KEY),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T10:00:00Z', 7)", UNIQUE),
        ("INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count) VALUES ('bitcoin','usd','2025-11-01', 7, 1)", UNIQUE),
        ("INSERT INTO price_hourly (coin_id, currency_code, ts, price) VALUES ('bitcoin','usd','2025-11-01T12:00:00Z', NULL)", NOT_NULL),
        ("INSERT INTO coins (id, symbol, name) VALUES ('x', NULL, 'X')", NOT_NULL),
    ];
    for (sql, code) in cases {
        assert_eq!(rejected(&client, sql).await, code, "{sql}");
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM price_hourly", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "nothing slipped in");
}

#[tokio::test]
async fn every_price_query_shape_uses_an_index() {
    let (_db, client) = seeded().await;
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    for sql in [
        "EXPLAIN SELECT ts, price FROM price_hourly WHERE coin_id = 'bitcoin' AND currency_code = 'usd' AND ts BETWEEN now() - interval '7 days' AND now() ORDER BY ts",
        "EXPLAIN SELECT date, price FROM price_daily WHERE coin_id = 'bitcoin' AND currency_code = 'usd' AND date BETWEEN '2025-10-01' AND '2025-11-01' ORDER BY date",
        "EXPLAIN SELECT * FROM ingestion_runs ORDER BY started_at DESC LIMIT 20",
    ] {
        let plan: Vec<String> = client.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        let plan = plan.join("\n");
        assert!(plan.contains("Index"), "{sql}\n{plan}");
    }
}
