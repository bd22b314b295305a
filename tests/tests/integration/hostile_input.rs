//! Hostile input on every route: SQL injection, traversal, NUL bytes, overlong values,
//! non-UTF-8 bytes, repeated parameters, absurd dates. Each request has one right answer (a
//! 400 or 404 envelope that echoes nothing dangerous, or the data where the value is
//! ignored); none is a 500; the data is untouched afterwards.

use std::sync::Arc;

use axum::Router;
use common::api::{app, route, ApiState};
use common::state::AppState;
use integration_tests::http::Response;
use integration_tests::http::{expect_data, expect_error};
use integration_tests::{get, request, send, TestDb};
use serde_json::json;

/// Values as they appear in a URL (already percent-encoded where needed).
fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "%27%20OR%201%3D1--",
        "bitcoin%27%3B%20DROP%20TABLE%20coins%3B--",
        "1%20UNION%20SELECT%20passwd%20FROM%20pg_shadow",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2f",
        "%00",
        "bitcoin%00",
        "%FF%FE%FD",
        "%C0%AF",
        "%E2%80%AE",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "99999-12-31",
        "-0001-01-01",
        "%2B275760-09-13",
        "1e309",
        "2025-01-01T00%3A00%3A00%2B99%3A00",
        "NaN",
        "-1",
        "99999999999999999999999",
        "USD",
        "%20",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    values.push("a".repeat(10 * 1024));
    values
}

/// One coin, one currency and one daily price dated yesterday in UTC: inside the default
/// 30 days even if the day turns during the test (`current_date` would be the date in the
/// server's zone, which runs 5.5 hours ahead in the tests).
async fn api() -> (TestDb, Router) {
    let db = TestDb::migrated().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar');
             INSERT INTO coins (id, symbol, name, tracked) VALUES ('bitcoin', 'btc', 'Bitcoin', true);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                  VALUES ('bitcoin', 'usd', (now() AT TIME ZONE 'UTC')::date - 1, 1, 1);",
        )
        .await
        .unwrap();
    let config = db.config(&[
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
        ("CRON_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret"),
    ]);
    let api = app(
        route::all(),
        ApiState::new(Arc::new(AppState::new(config).await.unwrap())),
    );
    (db, api)
}

/// Asserts the one right answer: `status` with its envelope, a short message that echoes
/// nothing dangerous.
fn check(uri: &str, response: &Response, status: u16) {
    let short = &uri[..uri.len().min(120)];
    let code = match status {
        400 => "INVALID_PARAMETER",
        401 => "UNAUTHORIZED",
        404 => "NOT_FOUND",
        other => panic!("{short}: no error status {other} is expected here"),
    };
    assert_eq!(response.status(), status, "{short}");
    let body = expect_error(response, status, code);
    let message = body["error"]["message"].as_str().unwrap().to_lowercase();
    for echoed in ["drop table", "passwd", "<script", "union select"] {
        assert!(
            !message.contains(echoed),
            "{short} echoes {echoed}: {message}"
        );
    }
    assert!(message.len() < 300, "short messages only");
}

/// Whether `value` (as it appears in the URL) decodes to bytes that are not UTF-8: the only
/// thing that makes an ignored parameter a 400.
fn not_utf8(value: &str) -> bool {
    let bytes: Vec<u8> = percent_encoding_decode(value);
    String::from_utf8(bytes).is_err()
}

/// Percent-decoding, written out here so the expectation does not reuse the API's decoder.
fn percent_encoding_decode(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_answers_hostile_values_with_its_one_right_answer() {
    let (db, api) = api().await;
    let values = hostile_values();
    let mut checked = 0;
    for v in &values {
        // Every case is a valid URI: each value is percent-encoded ASCII.
        let uri = |path: String| -> String {
            let parsed: http::Uri = path
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", &path[..path.len().min(120)]));
            parsed.to_string()
        };
        for (path, status) in [
            (format!("/api/coins/{v}"), 404),
            (format!("/api/coins/{v}/prices"), 404),
            (format!("/api/coins/bitcoin/prices?currency={v}"), 400),
            (format!("/api/coins/bitcoin/prices?interval={v}"), 400),
            (format!("/api/coins/bitcoin/prices?from={v}"), 400),
            (format!("/api/coins/bitcoin/prices?to={v}"), 400),
            (
                format!("/api/coins/bitcoin/prices?interval=hourly&from={v}&to={v}"),
                400,
            ),
            (format!("/api/market?currency={v}"), 400),
            (format!("/api/ingestion/runs?limit={v}"), 400),
        ] {
            let response = send(&api, get(&uri(path.clone()))).await;
            check(&path, &response, status);
            checked += 1;
        }
        // Unknown parameters are ignored whatever they hold: the currencies never read their
        // query string, so even bytes that are not UTF-8 pass.
        let currencies = send(&api, get(&uri(format!("/api/currencies?x={v}")))).await;
        assert_eq!(
            expect_data(&currencies, 200),
            json!([{"code": "usd", "name": "US Dollar"}])
        );
        // Where the parameter is read but unknown (coins, market, runs), only undecodable bytes
        // are refused.
        let coins = send(&api, get(&uri(format!("/api/coins?{v}={v}")))).await;
        if not_utf8(v) {
            check("coins, unknown parameter", &coins, 400);
        } else {
            assert_eq!(
                expect_data(&coins, 200),
                json!([{"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "imageUrl": null,
                        "rank": null, "tracked": true}]),
                "{}",
                &v[..v.len().min(40)]
            );
        }
        let market = send(&api, get(&uri(format!("/api/market?currency=usd&{v}=1")))).await;
        if not_utf8(v) {
            check("market, unknown parameter", &market, 400);
        } else {
            let data = expect_data(&market, 200);
            assert_eq!(data[0]["id"], "bitcoin");
        }
        checked += 3;

        // The cron route: hostile tokens and bodies.
        let bad_token = format!("Bearer {v}");
        let r = send(
            &api,
            request(
                "POST",
                "/api/cron/fetch-data",
                &[("authorization", bad_token.as_str())],
                "",
            ),
        )
        .await;
        check("cron token", &r, 401);
        let r = send(
            &api,
            request(
                "POST",
                "/api/cron/fetch-data",
                &[("authorization", "Bearer s3cret-s3cret-s3cret-s3cret-s3cret")],
                v,
            ),
        )
        .await;
        check("cron body", &r, 400);
        checked += 2;
    }
    // 22 values, 14 requests each: none skipped.
    assert_eq!(values.len(), 22);
    assert_eq!(checked, 22 * 14);
    // Repeated parameters, each route.
    for uri in [
        "/api/coins/bitcoin/prices?currency=usd&currency=usd",
        "/api/coins/bitcoin/prices?from=2025-01-01&from=2025-02-01",
        "/api/market?currency=usd&currency=eur",
        "/api/ingestion/runs?limit=1&limit=2",
    ] {
        check(uri, &send(&api, get(uri)).await, 400);
    }
    // Nothing was harmed, and no run was started by any of it.
    let client = db.client().await;
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(
        (
            count("coins").await,
            count("currencies").await,
            count("price_daily").await,
            count("ingestion_runs").await
        ),
        (1, 1, 1, 0)
    );
    let data = expect_data(
        &send(&api, get("/api/coins/bitcoin/prices?currency=usd")).await,
        200,
    );
    assert_eq!(data["points"].as_array().unwrap().len(), 1);
    assert_eq!(data["points"][0]["price"], 1.0);
}
