//! The schema: migrations apply once, the constraints hold, and the routes' real queries
//! use the indexes.

use std::sync::Arc;

use chrono::DurationRound;
use common::api::{app, route, ApiState};
use common::config::DEFAULT_COINS;
use common::state::AppState;
use integration_tests::http::expect_data;
use integration_tests::proxy::Executed;
use integration_tests::{get, send, DbProxy, TestDb};
use tokio_postgres::types::private::BytesMut;
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

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
            "market_summary",
            "price_backfill",
            "price_daily",
            "price_holes",
            "price_hourly",
            "price_latest"
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
        ("INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source) VALUES ('bitcoin','usd','2025-11-03', 1, 1, 'guess')", CHECK),
        ("INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source) VALUES ('bitcoin','usd','2025-11-03', 1, 3, 'snapshot')", CHECK),
        ("INSERT INTO price_backfill (coin_id, currency_code, days, fetched_at) VALUES ('bitcoin','usd', 0, now())", CHECK),
        ("INSERT INTO price_backfill (coin_id, currency_code, days, fetched_at) VALUES ('nocoin','usd', 365, now())", FOREIGN_KEY),
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

/// A parameter value replayed exactly as a client sent it on the wire.
#[derive(Debug)]
struct Wire<'a> {
    value: Option<&'a [u8]>,
    binary: bool,
}

impl ToSql for Wire<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.value {
            None => Ok(IsNull::Yes),
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        if self.binary {
            Format::Binary
        } else {
            Format::Text
        }
    }

    to_sql_checked!();
}

/// The plan of `executed` with the very values it was run with: the same text prepared
/// behind `EXPLAIN` infers the same parameter types, and the recorded bytes are bound again.
async fn explain(client: &tokio_postgres::Client, executed: &Executed) -> String {
    let statement = client
        .prepare(&format!("EXPLAIN {}", executed.sql))
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", executed.sql));
    assert_eq!(statement.params().len(), executed.params.len());
    let values: Vec<Wire> = executed
        .params
        .iter()
        .zip(&executed.binary)
        .map(|(value, binary)| Wire {
            value: value.as_deref(),
            binary: *binary,
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    client
        .query(&statement, &refs)
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", executed.sql))
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value `executed` bound to a parameter of type `ty`, as an SQL literal.
fn literal(ty: &Type, value: Option<&[u8]>, binary: bool) -> String {
    let Some(bytes) = value else {
        return format!("NULL::{ty}");
    };
    let text = if !binary || matches!(*ty, Type::TEXT | Type::VARCHAR) {
        String::from_utf8(bytes.to_vec()).unwrap()
    } else if *ty == Type::INT8 {
        i64::from_be_bytes(bytes.try_into().unwrap()).to_string()
    } else {
        panic!("no literal for a binary {ty}")
    };
    format!("'{}'::{ty}", text.replace('\'', "''"))
}

/// The plan a prepared statement settles on after its first executions: the generic one,
/// planned without the values. `executed`'s text is prepared by name and its values are
/// explained through it under `plan_cache_mode = force_generic_plan`.
async fn explain_generic(client: &tokio_postgres::Client, executed: &Executed) -> String {
    let statement = client.prepare(&executed.sql).await.unwrap();
    let values: Vec<String> = statement
        .params()
        .iter()
        .zip(&executed.params)
        .zip(&executed.binary)
        .map(|((ty, value), binary)| literal(ty, value.as_deref(), *binary))
        .collect();
    client
        .batch_execute(&format!(
            "PREPARE generic AS {}; SET plan_cache_mode = force_generic_plan",
            executed.sql
        ))
        .await
        .unwrap();
    let plan = client
        .query(
            &format!("EXPLAIN EXECUTE generic({})", values.join(", ")),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    client
        .batch_execute("DEALLOCATE generic; RESET plan_cache_mode")
        .await
        .unwrap();
    plan
}

#[tokio::test]
async fn the_routes_own_queries_use_the_indexes_on_a_filled_and_analysed_database() {
    // Enough rows that a sequential scan would be the planner's choice if an index did not
    // fit: 11 coins x 2 currencies x 90 days of hours (47,520 rows), x 365 days (8,030
    // rows), and 2,000 runs. No planner setting is changed.
    let db = TestDb::migrated().await;
    let client = db.client().await;
    let hour = chrono::Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name, sort_order, tracked)
                  SELECT id, left(id, 3), initcap(id), ord::int, true
                    FROM unnest(ARRAY[{coins}]) WITH ORDINALITY AS t(id, ord);
             INSERT INTO coin_metadata (coin_id) SELECT id FROM coins;
             INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at)
                  SELECT gen_random_uuid(), 'schedule', 'incremental', 'succeeded',
                         now() - n * interval '1 hour', now() - n * interval '1 hour'
                    FROM generate_series(1, 2000) n;",
            coins = DEFAULT_COINS.map(|c| format!("'{c}'")).join(", ")
        ))
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT c.id, v.code, $1::timestamptz - n * interval '1 hour', 1 + n
               FROM coins c CROSS JOIN currencies v CROSS JOIN generate_series(0, 2159) n",
            &[&hour],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
             SELECT c.id, v.code, $1::date - n, 1 + n, 24
               FROM coins c CROSS JOIN currencies v CROSS JOIN generate_series(0, 364) n",
            &[&hour.date_naive()],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "SELECT refresh_market_summaries();
             ANALYZE currencies, coins, coin_metadata, price_hourly, price_daily, ingestion_runs,
                     market_summary, price_latest",
        )
        .await
        .unwrap();

    // The handlers run through a proxy that records each statement and its bound values.
    let proxy = DbProxy::start(&db.url).await;
    let api = app(
        route::all(),
        ApiState::new(Arc::new(
            AppState::new(integration_tests::config_from(&[
                ("DATABASE_URL", &proxy.url(&db.url)),
                ("TRACKED_CURRENCIES", "usd,eur"),
            ]))
            .await
            .unwrap(),
        )),
    );
    // The market reads only its prepared summary (one small row per coin and currency,
    // which the planner may read whole), never the big price_hourly.
    proxy.clear_executed();
    let market = expect_data(&send(&api, get("/api/market?currency=eur")).await, 200);
    assert_eq!(market.as_array().unwrap().len(), DEFAULT_COINS.len());
    let statements = proxy.executed();
    assert_eq!(
        statements
            .iter()
            .filter(|e| e.sql.contains("row_json"))
            .count(),
        1,
        "{statements:#?}"
    );
    assert!(
        statements.iter().all(|e| !e.sql.contains("price_hourly")),
        "{statements:#?}"
    );
    // Each route, the table its answer comes from, and per statement reading that table the
    // indexes it must use: the coin detail's lookup of the latest price runs once per
    // currency through one plan node.
    let routes: [(&str, &str, &[&[&str]]); 5] = [
        (
            "/api/coins/bitcoin/prices?currency=eur",
            "price_daily",
            &[&["price_daily_pkey"]],
        ),
        (
            "/api/coins/bitcoin/prices?currency=eur&interval=hourly",
            "price_hourly",
            &[&["price_hourly_pkey"]],
        ),
        (
            "/api/coins/bitcoin",
            "price_hourly",
            &[&["price_hourly_pkey"]],
        ),
        (
            "/api/ingestion/runs?limit=20",
            "ingestion_runs",
            &[&["ingestion_runs_started_at_idx"]],
        ),
        (
            "/api/health",
            "ingestion_runs",
            // The newest history run, then the newest live refresh; then the month's calls.
            &[
                &["ingestion_runs_kind_idx", "ingestion_runs_kind_idx"],
                &["ingestion_runs_started_at_idx"],
            ],
        ),
    ];
    for (path, table, indexes) in routes {
        proxy.clear_executed();
        let data = expect_data(&send(&api, get(path)).await, 200);
        assert!(!data.is_null(), "{path}");
        let reads: Vec<Executed> = proxy
            .executed()
            .into_iter()
            .filter(|e| e.sql.contains(table))
            .collect();
        assert_eq!(
            reads.len(),
            indexes.len(),
            "{path}: the statements that read {table}: {reads:#?}"
        );
        for (read, indexes) in reads.iter().zip(indexes) {
            let plan = explain(&client, read).await;
            // The small tables (11 coins, 2 currencies) may be read whole; the big one never.
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "{path}\n{}\n{plan}",
                read.sql
            );
            // Every index the plan reads, in plan order ("Index Scan [Backward] using <index>
            // on <table>", "Index Only Scan using ...", "Bitmap Index Scan on <index>"), kept
            // when it is an index of `table`.
            let of_table: Vec<String> = client
                .query(
                    "SELECT indexname::text FROM pg_indexes WHERE tablename = $1",
                    &[&table],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let used: Vec<&str> = plan
                .lines()
                .filter_map(|line| {
                    line.split(" using ")
                        .nth(1)
                        .or_else(|| line.split("Bitmap Index Scan on ").nth(1))
                })
                .map(|rest| rest.split_whitespace().next().unwrap())
                .filter(|index| of_table.iter().any(|i| i == index))
                .collect();
            assert_eq!(used, *indexes, "{path}\n{}\n{plan}", read.sql);
        }
    }
}

#[tokio::test]
async fn a_market_page_of_a_thousand_tracked_coins_is_one_index_scan_for_every_sort() {
    // 1,000 tracked coins (every tenth unranked) and 200 that left the set, quotes in four
    // currencies with some nulls, summaries refreshed and analysed; no planner setting changed.
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name)
                  VALUES ('usd', 'US Dollar'), ('eur', 'Euro'), ('gbp', 'Pound'), ('jpy', 'Yen');
             INSERT INTO coins (id, symbol, name, sort_order, rank, tracked)
                  SELECT 'coin-' || n, 'c' || n, 'Coin ' || (n * 7 % 1000), n % 11,
                         CASE WHEN n % 10 <> 0 THEN n END, true
                    FROM generate_series(1, 1000) n;
             INSERT INTO coins (id, symbol, name, tracked)
                  SELECT 'old-' || n, 'o' || n, 'Old ' || n, false FROM generate_series(1, 200) n;
             INSERT INTO coin_metadata (coin_id, image_url)
                  SELECT id, 'https://assets.example/' || id || '.png' FROM coins;
             INSERT INTO price_latest (coin_id, currency_code, price, market_cap, volume_24h,
                                       change_24h, change_1h, change_7d, sparkline,
                                       last_updated_at, fetched_at)
                  SELECT 'coin-' || n, v.code, 1 + n * 7919 % 1000,
                         CASE WHEN n % 7 <> 0 THEN n * 1000 END, n * 37 % 500,
                         (n * 13 % 200 - 100) / 10.0,
                         CASE WHEN n % 5 <> 0 THEN (n * 17 % 200 - 100) / 10.0 END,
                         (n * 19 % 200 - 100) / 10.0,
                         (SELECT array_to_json(array_agg(k)) FROM generate_series(1, 168) k),
                         now(), now()
                    FROM generate_series(1, 1000) n CROSS JOIN currencies v;
             SELECT refresh_market_summaries();
             ANALYZE currencies, coins, coin_metadata, market_summary, price_latest;",
        )
        .await
        .unwrap();
    let proxy = DbProxy::start(&db.url).await;
    // One connection, so the prepared statements seen below are the route's.
    let state = Arc::new(
        AppState::new(integration_tests::config_from(&[
            ("DATABASE_URL", &proxy.url(&db.url)),
            ("DB_POOL_MAX_SIZE", "1"),
        ]))
        .await
        .unwrap(),
    );
    let api = app(route::all(), ApiState::new(Arc::clone(&state)));
    // Each query, and the index whose scan gives its order: the first pages (deep pages read
    // most of the set anyway, and the planner may rather hash and sort the ~1,000 rows).
    let cases = [
        ("", "market_summary_rank_asc_idx"),
        (
            "sort=rank&order=desc&page=2",
            "market_summary_rank_desc_idx",
        ),
        ("sort=name", "market_summary_name_idx"),
        ("sort=name&order=desc&page=2", "market_summary_name_idx"),
        ("sort=price", "market_summary_price_desc_idx"),
        (
            "sort=price&order=asc&page=2",
            "market_summary_price_asc_idx",
        ),
        ("sort=change1h", "market_summary_change_1h_desc_idx"),
        (
            "sort=change1h&order=asc",
            "market_summary_change_1h_asc_idx",
        ),
        ("sort=change24h", "market_summary_change_24h_desc_idx"),
        (
            "sort=change24h&order=asc",
            "market_summary_change_24h_asc_idx",
        ),
        (
            "sort=change7d&currency=jpy",
            "market_summary_change_7d_desc_idx",
        ),
        (
            "sort=change7d&order=asc",
            "market_summary_change_7d_asc_idx",
        ),
        (
            "sort=marketCap&page=2",
            "market_summary_market_cap_desc_idx",
        ),
        (
            "sort=marketCap&order=asc",
            "market_summary_market_cap_asc_idx",
        ),
        ("sort=volume24h", "market_summary_volume_24h_desc_idx"),
        (
            "sort=volume24h&order=asc&q=coin-1",
            "market_summary_volume_24h_asc_idx",
        ),
    ];
    for (query, index) in cases {
        proxy.clear_executed();
        let response = send(&api, get(&format!("/api/market?{query}"))).await;
        let data = expect_data(&response, 200);
        let total = integration_tests::json_body(&response)["meta"]["total"].clone();
        if query.contains("q=") {
            // coin-1, coin-10..coin-19, coin-100..coin-199, coin-1000.
            assert_eq!(total, 112, "{query}");
        } else {
            assert_eq!(
                (data.as_array().unwrap().len(), total),
                (100, serde_json::json!(1000)),
                "{query}"
            );
        }
        let pages: Vec<Executed> = proxy
            .executed()
            .into_iter()
            .filter(|e| e.sql.contains("row_json"))
            .collect();
        assert_eq!(pages.len(), 1, "{query}: {pages:#?}");
        let mut plans = vec![("custom", explain(&client, &pages[0]).await)];
        // A prepared statement run again and again (a warm Lambda) settles on its generic
        // plan; without a search it must be the same index scan.
        if !query.contains("q=") {
            plans.push(("generic", explain_generic(&client, &pages[0]).await));
        }
        for (kind, plan) in plans {
            assert!(
                plan.contains(&format!(" using {index} on ")),
                "{query} ({kind} plan): not read through {index}\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Sort"),
                "{query} ({kind} plan): a scan of a whole table or a sort\n{plan}"
            );
        }
    }
    // And PostgreSQL does settle on that generic plan: a page asked for again and again is
    // planned for its first five runs, then not any more (the first page, the most asked for,
    // included).
    for query in [
        "",
        "page=2",
        "sort=marketCap",
        "sort=change1h&order=asc&page=4",
    ] {
        for _ in 0..8 {
            expect_data(&send(&api, get(&format!("/api/market?{query}"))).await, 200);
        }
    }
    let client = state.db.client().await.unwrap();
    let plans: Vec<(String, i64, i64)> = client
        .query(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
              WHERE statement LIKE '%row_json%'
                AND generic_plans + custom_plans >= 8",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(plans.len(), 4, "{plans:#?}");
    for (statement, generic, custom) in &plans {
        assert!(
            *generic > 0 && *custom <= 5,
            "planned at every run ({custom} custom plans, {generic} generic):\n{statement}"
        );
    }
}
