//! Hostile input on every route: SQL injection, traversal, NUL bytes, overlong values,
//! non-UTF-8 bytes, repeated parameters, absurd dates. Each is a 400 or 404 envelope that
//! echoes nothing dangerous; none is a 500; the data is untouched afterwards.

use std::sync::Arc;

use common::api::Api;
use common::state::AppState;
use integration_tests::{get, json_body, request, TestDb};

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

async fn api() -> (TestDb, Api) {
    let db = TestDb::migrated().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar');
             INSERT INTO coins (id, symbol, name) VALUES ('bitcoin', 'btc', 'Bitcoin');
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                  VALUES ('bitcoin', 'usd', current_date, 1, 1);",
        )
        .await
        .unwrap();
    let config = db.config(&[
        ("TRACKED_COINS", "bitcoin"),
        ("TRACKED_CURRENCIES", "usd"),
        ("CRON_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret"),
    ]);
    let api = Api::new(Arc::new(AppState::new(config).await.unwrap()));
    (db, api)
}

fn check(uri: &str, response: &lambda_http::Response<lambda_http::Body>, allowed: &[u16]) {
    let status = response.status().as_u16();
    assert!(
        allowed.contains(&status),
        "{} -> {status}",
        &uri[..uri.len().min(120)]
    );
    if status >= 400 {
        let body = json_body(response);
        assert_eq!(body["success"], false);
        let code = body["error"]["code"].as_str().unwrap();
        let expected = match status {
            400 => "INVALID_PARAMETER",
            401 => "UNAUTHORIZED",
            404 => "NOT_FOUND",
            _ => unreachable!(),
        };
        assert_eq!(code, expected, "{uri}");
        let message = body["error"]["message"].as_str().unwrap().to_lowercase();
        for echoed in ["drop table", "passwd", "<script", "union select"] {
            assert!(
                !message.contains(echoed),
                "{uri} echoes {echoed}: {message}"
            );
        }
        assert!(message.len() < 300, "short messages only");
    }
}

#[tokio::test]
async fn every_route_answers_hostile_values_with_400_or_404_envelopes() {
    let (db, api) = api().await;
    let mut checked = 0;
    for v in hostile_values() {
        let cases: Vec<(String, &[u16])> = vec![
            (format!("/api/coins/{v}"), &[404]),
            (format!("/api/coins/{v}/prices"), &[404]),
            (format!("/api/coins/bitcoin/prices?currency={v}"), &[400]),
            (format!("/api/coins/bitcoin/prices?interval={v}"), &[400]),
            (format!("/api/coins/bitcoin/prices?from={v}"), &[400]),
            (format!("/api/coins/bitcoin/prices?to={v}"), &[400]),
            (
                format!("/api/coins/bitcoin/prices?interval=hourly&from={v}&to={v}"),
                &[400],
            ),
            (format!("/api/market?currency={v}"), &[400]),
            (format!("/api/ingestion/runs?limit={v}"), &[400]),
            // Unknown parameters are ignored, whatever they hold.
            (format!("/api/coins?{v}={v}"), &[200, 400]),
            (format!("/api/currencies?x={v}"), &[200, 400]),
        ];
        for (uri, allowed) in cases {
            let Ok(parsed) = uri.parse::<http::Uri>() else {
                continue; // not even a valid request line; API Gateway would reject it
            };
            let response = api.handle(get(&parsed.to_string())).await;
            check(&uri, &response, allowed);
            checked += 1;
        }
        // The cron route: hostile tokens and bodies.
        let bad_token = format!("Bearer {v}");
        let r = api
            .handle(request(
                "POST",
                "/api/cron/fetch-data",
                &[("authorization", bad_token.as_str())],
                "",
            ))
            .await;
        check("cron token", &r, &[401]);
        let r = api
            .handle(request(
                "POST",
                "/api/cron/fetch-data",
                &[("authorization", "Bearer s3cret-s3cret-s3cret-s3cret-s3cret")],
                &v,
            ))
            .await;
        check("cron body", &r, &[400]);
        checked += 2;
    }
    assert!(checked > 250, "{checked}");
    // Repeated parameters, each route.
    for uri in [
        "/api/coins/bitcoin/prices?currency=usd&currency=usd",
        "/api/coins/bitcoin/prices?from=2025-01-01&from=2025-02-01",
        "/api/market?currency=usd&currency=eur",
        "/api/ingestion/runs?limit=1&limit=2",
    ] {
        check(uri, &api.handle(get(uri)).await, &[400]);
    }
    // Nothing was harmed.
    let coins: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM coins", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(coins, 1);
    let ok = api
        .handle(get("/api/coins/bitcoin/prices?currency=usd"))
        .await;
    assert_eq!(ok.status(), 200);
}
