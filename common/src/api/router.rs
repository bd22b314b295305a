//! Matches a method and path to an [`Endpoint`]: the same table for every Lambda and for the
//! local server, so local behaviour is Lambda behaviour.

use http::Method;

use super::error::ApiError;
use crate::config::is_coin_id;

/// One route of the HTTP API (openapi.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /api/health`
    Health,
    /// `GET /api/coins`
    CoinsList,
    /// `GET /api/coins/{id}`
    CoinDetail,
    /// `GET /api/currencies`
    Currencies,
    /// `GET /api/coins/{id}/prices`
    Prices,
    /// `GET /api/market`
    Market,
    /// `POST /api/cron/fetch-data`
    CronTrigger,
    /// `GET /api/ingestion/runs`
    IngestionRuns,
}

impl Endpoint {
    /// Every endpoint, in the order of openapi.yaml's paths.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Health,
        Endpoint::CoinsList,
        Endpoint::CoinDetail,
        Endpoint::Currencies,
        Endpoint::Prices,
        Endpoint::Market,
        Endpoint::CronTrigger,
        Endpoint::IngestionRuns,
    ];

    /// The one method the endpoint accepts.
    pub fn method(self) -> Method {
        match self {
            Endpoint::CronTrigger => Method::POST,
            _ => Method::GET,
        }
    }
}

/// A matched route and its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    /// The `{id}` of coin routes, validated as a coin id.
    pub coin_id: Option<String>,
}

/// Resolves `method` + `path`: 404 for unknown paths (and coin ids that cannot exist),
/// 405 for a known path with the wrong method.
pub fn match_route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').collect();
    let (endpoint, raw_id) = match segments.as_slice() {
        ["", "api", "health"] => (Endpoint::Health, None),
        ["", "api", "coins"] => (Endpoint::CoinsList, None),
        ["", "api", "coins", id] => (Endpoint::CoinDetail, Some(*id)),
        ["", "api", "coins", id, "prices"] => (Endpoint::Prices, Some(*id)),
        ["", "api", "currencies"] => (Endpoint::Currencies, None),
        ["", "api", "market"] => (Endpoint::Market, None),
        ["", "api", "cron", "fetch-data"] => (Endpoint::CronTrigger, None),
        ["", "api", "ingestion", "runs"] => (Endpoint::IngestionRuns, None),
        _ => {
            return Err(ApiError::NotFound(format!(
                "no route for {}",
                printable(path)
            )))
        }
    };
    if method != endpoint.method() {
        return Err(ApiError::MethodNotAllowed {
            allow: if endpoint.method() == Method::POST {
                "POST"
            } else {
                "GET"
            },
        });
    }
    let coin_id = match raw_id {
        None => None,
        Some(raw) => {
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().ok();
            match decoded {
                Some(id) if is_coin_id(&id) => Some(id.into_owned()),
                _ => return Err(ApiError::NotFound("unknown coin id".into())),
            }
        }
    };
    Ok(Route { endpoint, coin_id })
}

/// The path as it may appear in an error message: short, printable ASCII only.
fn printable(path: &str) -> String {
    let mut out: String = path
        .chars()
        .take(80)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if path.len() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_path_matches() {
        let cases = [
            ("GET", "/api/health", Endpoint::Health, None),
            ("GET", "/api/coins", Endpoint::CoinsList, None),
            ("GET", "/api/coins/", Endpoint::CoinsList, None),
            (
                "GET",
                "/api/coins/avalanche-2",
                Endpoint::CoinDetail,
                Some("avalanche-2"),
            ),
            (
                "GET",
                "/api/coins/bitcoin/prices",
                Endpoint::Prices,
                Some("bitcoin"),
            ),
            ("GET", "/api/currencies", Endpoint::Currencies, None),
            ("GET", "/api/market", Endpoint::Market, None),
            ("POST", "/api/cron/fetch-data", Endpoint::CronTrigger, None),
            ("GET", "/api/ingestion/runs", Endpoint::IngestionRuns, None),
        ];
        for (method, path, endpoint, id) in cases {
            let route = match_route(&method.parse().unwrap(), path).unwrap();
            assert_eq!(route.endpoint, endpoint, "{path}");
            assert_eq!(route.coin_id.as_deref(), id, "{path}");
        }
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_404() {
        let e = match_route(&Method::POST, "/api/coins").unwrap_err();
        assert!(matches!(e, ApiError::MethodNotAllowed { allow: "GET" }));
        let e = match_route(&Method::GET, "/api/cron/fetch-data").unwrap_err();
        assert!(matches!(e, ApiError::MethodNotAllowed { allow: "POST" }));
        for path in [
            "/",
            "/api",
            "/api/coins/bitcoin/prices/extra",
            "/api//coins",
            "/../etc/passwd",
        ] {
            assert!(
                matches!(match_route(&Method::GET, path), Err(ApiError::NotFound(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn hostile_coin_ids_are_404() {
        for id in [
            "%00",
            "..%2F..",
            "Bitcoin",
            "%FF",
            "bit%20coin",
            "'%20OR%201=1",
            &"a".repeat(200),
        ] {
            let path = format!("/api/coins/{id}/prices");
            assert!(
                matches!(match_route(&Method::GET, &path), Err(ApiError::NotFound(_))),
                "{id}"
            );
        }
    }
}
