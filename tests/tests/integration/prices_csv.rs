//! The prices route's CSV answer (`format=csv`, or `Accept: text/csv` without `format`)
//! against known rows: the JSON answer's points and number texts, CRLF lines, the file name
//! with the effective range, an ETag of its own with 304s, `Vary: Accept`, and errors that
//! stay JSON envelopes.

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Duration, Utc};
use common::api::{app, route, ApiState};
use common::state::AppState;
use integration_tests::http::{expect_error, json_body, Response};
use integration_tests::{config_from, get, request, send, unreachable_database_url, TestDb};

use super::api::{current_hour, invoke, last_five_days, rfc3339, seeded, state, within_one_hour};

/// Prices whose JSON text is easy to get wrong elsewhere: an exponent (below 1e-5, from 1e16
/// on), a `.0`, 17 significant digits.
const TRICKY: [(f64, &str); 8] = [
    (0.000011, "0.000011"),
    (0.0000011, "1.1e-6"),
    (3.3e-10, "3.3e-10"),
    (42.0, "42.0"),
    (65_000.123_456_78, "65000.12345678"),
    (1e15, "1000000000000000.0"),
    (1e16, "1e+16"),
    (0.300_000_000_000_000_04, "0.30000000000000004"),
];

/// The rows of [`seeded`], plus bitcoin/usd at the [`TRICKY`] prices: the last 8 days up to
/// `hour`'s, and the last 8 hours up to `hour`, oldest first.
async fn with_tricky_prices(hour: DateTime<Utc>) -> TestDb {
    let db = seeded(hour).await;
    let client = db.client().await;
    let last = TRICKY.len() as i64 - 1;
    for (n, (price, _)) in (0..).zip(TRICKY) {
        let (date, ts) = (
            hour.date_naive() - Duration::days(last - n),
            hour - Duration::hours(last - n),
        );
        client
            .execute(
                "INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
                 VALUES ('bitcoin', 'usd', $1, $2, 24)",
                &[&date, &price],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO price_hourly (coin_id, currency_code, ts, price)
                 VALUES ('bitcoin', 'usd', $1, $2)",
                &[&ts, &price],
            )
            .await
            .unwrap();
    }
    db
}

/// The prices route over the rows of [`seeded`] at `hour` (the database lives as long as
/// the first half).
async fn prices_api(hour: DateTime<Utc>) -> (TestDb, Router) {
    let db = seeded(hour).await;
    let api = app(route::prices(), state(&db, &[]).await);
    (db, api)
}

/// ISO 8601's basic form, as a CSV file name writes an instant.
fn basic(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
        .to_str()
        .unwrap()
}

/// A 200 CSV answer's lines, each checked to end with CRLF, and its file name.
fn csv_lines(response: &Response) -> (Vec<String>, String) {
    let text = std::str::from_utf8(response.body()).unwrap();
    assert_eq!(response.status(), 200, "{text}");
    assert_eq!(header(response, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(header(response, "cache-control"), "public, max-age=300");
    assert_eq!(header(response, "vary"), "Accept");
    assert!(text.ends_with("\r\n"), "{text:?}");
    let lines: Vec<String> = text.split_terminator("\r\n").map(str::to_owned).collect();
    assert!(
        lines.iter().all(|l| !l.contains(['\r', '\n'])),
        "every line ends CRLF: {text:?}"
    );
    let disposition = header(response, "content-disposition");
    let name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{disposition}"));
    (lines, name.to_owned())
}

/// A 200 JSON answer's points as CSV rows: the date or timestamp, and the price as the
/// number text of the body (not reformatted).
fn json_rows(response: &Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response, "content-type"),
        "application/json; charset=utf-8"
    );
    let points = json_body(response)["data"]["points"].clone();
    let text = std::str::from_utf8(response.body()).unwrap();
    let prices: Vec<&str> = text
        .split("\"price\":")
        .skip(1)
        .map(|rest| &rest[..rest.find('}').unwrap()])
        .collect();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), prices.len(), "{text}");
    points
        .iter()
        .zip(prices)
        .map(|(point, price)| {
            let at = point.get("date").or(point.get("timestamp")).unwrap();
            format!("{},{price}", at.as_str().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn csv_rows_are_the_json_points_with_the_same_number_texts_daily_and_hourly() {
    let hour = current_hour();
    let db = with_tricky_prices(hour).await;
    let api = app(route::prices(), state(&db, &[]).await);
    let (today, first_hour) = (hour.date_naive(), hour - Duration::hours(9));
    let from_day = today - Duration::days(9);
    for (query, columns, name) in [
        (
            format!("currency=usd&from={from_day}&to={today}"),
            "date,price",
            format!("bitcoin-usd-daily-{from_day}-{today}.csv"),
        ),
        (
            format!(
                "currency=usd&interval=hourly&from={}&to={}",
                rfc3339(first_hour),
                rfc3339(hour)
            ),
            "timestamp,price",
            format!(
                "bitcoin-usd-hourly-{}-{}.csv",
                basic(first_hour),
                basic(hour)
            ),
        ),
    ] {
        let path = format!("/api/coins/bitcoin/prices?{query}");
        let json = json_rows(&send(&api, get(&path)).await);
        let (lines, file) = csv_lines(&send(&api, get(&format!("{path}&format=csv"))).await);
        assert_eq!(lines[0], columns, "{query}");
        assert_eq!(
            lines[1..],
            json,
            "{query}: the JSON answer's points, as it writes them"
        );
        let prices: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split_once(',').unwrap().1)
            .collect();
        let tricky: Vec<&str> = TRICKY.iter().map(|(_, text)| *text).collect();
        assert_eq!(prices, tricky, "{query}: every stored digit, oldest first");
        assert_eq!(file, name, "{query}");
    }
}

#[tokio::test]
async fn the_csv_event_answers_the_default_range_as_the_json_event_does() {
    within_one_hour(|hour| async move {
        let (_db, api) = prices_api(hour).await;
        let today = hour.date_naive();
        let (lines, file) = csv_lines(&invoke(&api, "prices-csv.json").await);
        let json = json_rows(&invoke(&api, "prices.json").await);
        assert_eq!(lines[0], "date,price");
        // The last 30 days and today: prices 10 to 40.
        let want: Vec<String> = (9..=39)
            .map(|n| format!("{},{}.0", today - Duration::days(39 - n), n + 1))
            .collect();
        assert_eq!(lines[1..], want);
        assert_eq!(json, want);
        let from = today - Duration::days(30);
        assert_eq!(file, format!("ethereum-eur-daily-{from}-{today}.csv"));
    })
    .await;
}

#[tokio::test]
async fn an_empty_range_is_the_header_row_alone() {
    let (_db, api) = prices_api(current_hour()).await;
    for (query, body, name) in [
        (
            "from=2020-01-01&to=2020-01-31",
            "date,price\r\n",
            "bitcoin-usd-daily-2020-01-01-2020-01-31.csv",
        ),
        (
            "interval=hourly&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            "timestamp,price\r\n",
            "bitcoin-usd-hourly-20200101T000000Z-20200102T000000Z.csv",
        ),
    ] {
        let path = format!("/api/coins/bitcoin/prices?{query}&format=csv");
        let response = send(&api, get(&path)).await;
        let (_, file) = csv_lines(&response);
        assert_eq!(std::str::from_utf8(response.body()).unwrap(), body);
        assert_eq!(file, name);
    }
}

#[tokio::test]
async fn csv_and_json_have_etags_of_their_own_and_each_gets_its_304() {
    let hour = current_hour();
    let (_db, api) = prices_api(hour).await;
    let path = last_five_days(hour.date_naive());
    let csv_path = format!("{path}&format=csv");
    let etag = |r: &Response| header(r, "etag").to_owned();
    let json = etag(&send(&api, get(&path)).await);
    let csv = etag(&send(&api, get(&csv_path)).await);
    assert_ne!(json, csv);
    let accept_csv = ("accept", "text/csv");
    for (path, headers) in [
        (&csv_path, vec![("if-none-match", csv.as_str())]),
        (&path, vec![("if-none-match", csv.as_str()), accept_csv]),
    ] {
        let r = send(&api, request("GET", path, &headers, "")).await;
        assert_eq!(r.status(), 304, "{path} {headers:?}");
        assert!(r.body().is_empty());
        assert_eq!(header(&r, "etag"), csv);
        assert_eq!(header(&r, "cache-control"), "public, max-age=300");
        assert_eq!(header(&r, "vary"), "Accept");
    }
    // Each validator names its own form only.
    let r = send(
        &api,
        request("GET", &csv_path, &[("if-none-match", &json)], ""),
    )
    .await;
    assert_eq!((r.status().as_u16(), etag(&r)), (200, csv.clone()));
    let r = send(&api, request("GET", &path, &[("if-none-match", &csv)], "")).await;
    assert_eq!((r.status().as_u16(), etag(&r)), (200, json.clone()));
}

#[tokio::test]
async fn accept_selects_csv_without_format_and_format_wins_over_it() {
    let hour = current_hour();
    let (_db, api) = prices_api(hour).await;
    let path = "/api/coins/ethereum/prices?currency=eur&interval=hourly";
    let csv = send(&api, get(&format!("{path}&format=csv"))).await;
    let json = send(&api, get(path)).await;
    assert_eq!(csv_lines(&csv).0.len(), 49, "the header row and 48 hours");
    let browser =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
    for (query, accept, want) in [
        ("", "text/csv", &csv),
        ("", "text/csv; charset=utf-8, application/json;q=0.5", &csv),
        ("", "text/csv;q=0.5, application/json", &json),
        ("", browser, &json),
        ("", "*/*", &json),
        ("&format=json", "text/csv", &json),
        ("&format=csv", "application/json", &csv),
    ] {
        let r = send(
            &api,
            request("GET", &format!("{path}{query}"), &[("accept", accept)], ""),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            (header(&r, "content-type"), r.body()),
            (header(want, "content-type"), want.body()),
            "{query} Accept: {accept}"
        );
        assert_eq!(header(&r, "vary"), "Accept", "{query} Accept: {accept}");
    }
}

#[tokio::test]
async fn errors_stay_json_envelopes_when_csv_is_asked_for() {
    let (_db, api) = prices_api(current_hour()).await;
    let unreachable = app(
        route::prices(),
        ApiState::new(Arc::new(
            AppState::new(config_from(&[
                ("DATABASE_URL", &unreachable_database_url()),
                ("DB_CONNECT_TIMEOUT_SECS", "1"),
            ]))
            .await
            .unwrap(),
        )),
    );
    for (format, accept) in [("&format=csv", "*/*"), ("", "text/csv")] {
        for (api, path, status, code, message) in [
            (
                &api,
                "bitcoin/prices?currency=chf",
                400,
                "INVALID_PARAMETER",
                "currency must be one of usd, eur",
            ),
            (
                &api,
                "bitcoin/prices?from=2025-11-10&to=2025-11-01",
                400,
                "INVALID_PARAMETER",
                "from must not be after to",
            ),
            (
                &api,
                "solana/prices?currency=usd",
                404,
                "NOT_FOUND",
                "unknown coin id",
            ),
            (
                &api,
                "Not-A-Coin/prices?currency=usd",
                404,
                "NOT_FOUND",
                "unknown coin id",
            ),
            (
                &unreachable,
                "bitcoin/prices?currency=usd",
                503,
                "SERVICE_UNAVAILABLE",
                "the database is unavailable",
            ),
        ] {
            let uri = format!("/api/coins/{path}{format}");
            let r = send(api, request("GET", &uri, &[("accept", accept)], "")).await;
            let body = expect_error(&r, status, code);
            let text = body["error"]["message"].as_str().unwrap();
            assert!(text.starts_with(message), "{uri}: {text}");
            assert_eq!(
                header(&r, "content-type"),
                "application/json; charset=utf-8"
            );
            assert_eq!(header(&r, "cache-control"), "no-store");
            assert!(r.headers().get("content-disposition").is_none(), "{uri}");
        }
    }
    for (query, message) in [
        ("format=xml", "format must be json or csv"),
        ("format=CSV", "format must be json or csv"),
        ("format=", "format must be json or csv"),
        (
            "format=csv&format=json",
            "format must be given at most once",
        ),
    ] {
        let uri = format!("/api/coins/bitcoin/prices?{query}");
        let r = send(&api, request("GET", &uri, &[("accept", "text/csv")], "")).await;
        let body = expect_error(&r, 400, "INVALID_PARAMETER");
        assert_eq!(body["error"]["message"], message, "{query}");
    }
}
