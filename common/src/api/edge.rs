//! What stands between a request and a handler, the same in every Lambda and in the local
//! server: one tower layer in front of the router (`edge`), which in order
//!
//! 1. opens an `http` span with method, path and status;
//! 2. with origin verification configured, answers 403 unless the request carries
//!    CloudFront's `X-Origin-Verify` secret (before anything else is looked at);
//! 3. answers an `OPTIONS` preflight on any path: 204;
//! 4. drops one trailing slash (`/api/coins/` is `/api/coins`) and routes HEAD as a method no
//!    route takes;
//! 5. and on the way out: a 405 from the router becomes the envelope with `Allow` naming the
//!    one method; `Cache-Control` from the reply's [`CachePolicy`], and for public replies a
//!    strong ETag and a 304 (with the reply's `Vary`) when `If-None-Match` names it; CORS
//!    headers.
//!
//! One layer of small steps, not a layer per step: each layer costs boxed service clones per
//! request, which showed in the local server's throughput (docs/benchmarks.md). Unknown paths
//! are 404 in the envelope (`no_route`).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri};

use super::error::ApiError;
use super::response::{strong_etag, CachePolicy};
use super::secret_check::{self, ORIGIN_VERIFY_HEADER};
use super::state::{ApiState, Routes};

/// Largest request body a route reads (the cron route's JSON is tiny).
pub const MAX_BODY: usize = 64 * 1024;

/// `routes` behind the edge: the service a Lambda or the local server runs.
pub fn app(routes: Routes, state: ApiState) -> Router {
    let routes = routes
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone());
    // The edge sees the request before the routes do (it may rewrite the path and method):
    // a router of no routes of its own in front of them.
    Router::new()
        .fallback_service(routes)
        .layer(from_fn_with_state(state, edge))
}

#[tracing::instrument(name = "http", skip_all, fields(method = %request.method(), path = %request.uri().path(), status))]
async fn edge(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let origin = request.headers().get(header::ORIGIN).cloned();
    let if_none_match: Vec<HeaderValue> = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .cloned()
        .collect();
    let mut response = if let Err(error) = verify_origin(&state, request.headers()).await {
        error.into_response()
    } else if method == Method::OPTIONS {
        preflight(&state, origin.as_ref())
    } else {
        trim_trailing_slash(request.uri_mut());
        if method == Method::HEAD {
            *request.method_mut() = Method::TRACE;
        }
        let response = methods(next.run(request).await);
        caching(response, method == Method::GET, &if_none_match).await
    };
    if method != Method::OPTIONS {
        allow_origin(&state, origin.as_ref(), response.headers_mut());
    }
    tracing::Span::current().record("status", response.status().as_u16());
    response
}

/// `Vary: Origin` when CORS is configured, and the origin's allowance when it is listed.
fn allow_origin(state: &ApiState, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let allowed = &state.app.config.cors_allowed_origins;
    if allowed.is_empty() {
        return;
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|o| is_allowed(allowed, o)) else {
        return;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("etag"),
    );
}

fn is_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    let text = origin.to_str().unwrap_or_default();
    allowed.iter().any(|a| a == "*" || a == text)
}

/// With origin verification configured, only requests carrying CloudFront's `X-Origin-Verify`
/// secret (its current value, or the previous one while a rotation reaches the edges) get
/// through; the rest are 403 (the execute-api URL is public).
async fn verify_origin(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(source) = &state.app.config.origin_verify_secret else {
        return Ok(());
    };
    let accepted = secret_check::expected_current_and_previous(
        &state.app,
        source,
        "origin verification secret",
    )
    .await?;
    let given = headers
        .get(ORIGIN_VERIFY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if secret_check::matches_any(given, &accepted) {
        return Ok(());
    }
    tracing::warn!("request without a valid origin header (not through CloudFront)");
    Err(ApiError::Forbidden(
        "requests must come through the dashboard's CloudFront distribution".into(),
    ))
}

/// The answer to an `OPTIONS` preflight: 204, with CORS headers if the origin is allowed.
fn preflight(state: &ApiState, origin: Option<&HeaderValue>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    if origin.is_some_and(|o| is_allowed(&state.app.config.cors_allowed_origins, o)) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, if-none-match"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    allow_origin(state, origin, headers);
    response
}

/// `Cache-Control` from the reply's [`CachePolicy`] (none given: `no-store`). A public 200 to a
/// GET gets a strong ETag, and a 304 without body when `If-None-Match` names it (or `*`, or
/// the ETag as a weak validator).
async fn caching(response: Response, is_get: bool, if_none_match: &[HeaderValue]) -> Response {
    let policy = response.extensions().get::<CachePolicy>().copied();
    let policy = policy.unwrap_or(CachePolicy::NoStore);
    let (mut parts, body) = response.into_parts();
    let cache_control = match policy {
        CachePolicy::Public => "public, max-age=300",
        CachePolicy::Edge => "public, s-maxage=10, max-age=0",
        CachePolicy::NoStore => "no-store",
    };
    parts.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if policy != CachePolicy::Public || parts.status != StatusCode::OK || !is_get {
        return Response::from_parts(parts, body);
    }
    // The reply is one buffer already: collecting it copies nothing.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::Internal(Box::new(e)).into_response(),
    };
    let etag = strong_etag(&bytes);
    let named = if_none_match
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|c| c == "*" || c == etag || c.strip_prefix("W/") == Some(&etag));
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header");
    if named {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        let headers = not_modified.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        headers.insert(header::ETAG, etag);
        // A 304 carries the Vary its 200 would (RFC 9110 15.4.5): caches key it the same way.
        for vary in parts.headers.get_all(header::VARY) {
            headers.append(header::VARY, vary.clone());
        }
        return not_modified;
    }
    parts.headers.insert(header::ETAG, etag);
    Response::from_parts(parts, Body::from(bytes))
}

/// `/api/coins/` is `/api/coins`: one trailing slash is dropped before routing (two are not a
/// path of the API).
fn trim_trailing_slash(uri: &mut Uri) {
    let path = uri.path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = match uri.query() {
        Some(query) => format!("{}?{query}", &path[..path.len() - 1]),
        None => path[..path.len() - 1].to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = trimmed.parse().ok();
    if let Ok(trimmed) = Uri::from_parts(parts) {
        *uri = trimmed;
    }
}

/// A known path called with a method it does not take: 405 with `Allow` naming the one it
/// does (axum's router answers the 405 and names the methods; this puts it in the envelope).
/// HEAD is not a method of the API (API Gateway routes GET only): `edge` routes it as a
/// method no route takes, so it gets this 405 too rather than a GET's answer without a body.
fn methods(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let takes_post = response
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim() == "POST"));
    let allow = if takes_post { "POST" } else { "GET" };
    ApiError::MethodNotAllowed { allow }.into_response()
}

/// Any path the routes do not know: 404 in the envelope.
async fn no_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", printable(uri.path())))
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
    use std::sync::Arc;

    use axum::routing::{get, post};
    use tower::ServiceExt;

    use super::*;
    use crate::api::response::Reply;
    use crate::config::Config;
    use crate::state::AppState;

    /// The edge around two tiny routes; the database is never reached.
    async fn edge() -> Router {
        let config = Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some("postgres://nobody@127.0.0.1:9/none".into()),
            "CORS_ALLOWED_ORIGINS" => Some("https://app.example".into()),
            _ => None,
        })
        .unwrap();
        let state = ApiState::new(Arc::new(AppState::new(config).await.unwrap()));
        let routes = Routes::new()
            .route(
                "/data",
                get(|| async { Reply::ok(StatusCode::OK, &[1, 2, 3], CachePolicy::Public) }),
            )
            .route(
                "/negotiated",
                get(|| async {
                    Reply::ok(StatusCode::OK, &"json", CachePolicy::Public)
                        .map(|reply| reply.varying_on("Accept"))
                }),
            )
            .route(
                "/status",
                get(|| async { Reply::ok(StatusCode::OK, &"ok", CachePolicy::Edge) }),
            )
            .route(
                "/command",
                post(|| async { ApiError::Internal("relation \"secret_table\" is gone".into()) }),
            );
        app(routes, state)
    }

    async fn call(method: &str, uri: &str, headers: &[(&str, &str)]) -> (Response, String) {
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = edge()
            .await
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        (Response::from_parts(parts, Body::empty()), text)
    }

    #[tokio::test]
    async fn public_replies_get_an_etag_and_a_304_when_it_is_named() {
        let (first, body) = call("GET", "/data", &[]).await;
        assert_eq!(first.status(), 200);
        assert_eq!(body, r#"{"success":true,"data":[1,2,3]}"#);
        assert_eq!(first.headers()["cache-control"], "public, max-age=300");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        for named in [format!("\"x\", {etag}"), format!("W/{etag}"), "*".into()] {
            let (again, body) = call("GET", "/data", &[("if-none-match", &named)]).await;
            assert_eq!(
                (again.status().as_u16(), body.as_str()),
                (304, ""),
                "{named}"
            );
            assert_eq!(again.headers()["etag"], etag.as_str());
        }
        let (other, _) = call("GET", "/data", &[("if-none-match", "\"nope\"")]).await;
        assert_eq!(other.status(), 200);
    }

    #[tokio::test]
    async fn a_negotiated_reply_and_its_304_vary_on_accept_beside_origin() {
        let varies = |r: &Response| -> Vec<String> {
            let vary = r.headers().get_all("vary").iter();
            vary.map(|v| v.to_str().unwrap().to_owned()).collect()
        };
        let origin = ("origin", "https://app.example");
        let (first, _) = call("GET", "/negotiated", &[origin]).await;
        assert_eq!(first.status(), 200);
        assert_eq!(varies(&first), ["Accept", "Origin"]);
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let (again, _) = call("GET", "/negotiated", &[origin, ("if-none-match", &etag)]).await;
        assert_eq!(again.status(), 304);
        assert_eq!(varies(&again), ["Accept", "Origin"]);
        let (plain, _) = call("GET", "/data", &[]).await;
        assert_eq!(varies(&plain), ["Origin"], "a reply that no header chose");
    }

    #[tokio::test]
    async fn edge_replies_are_cached_by_cloudfront_for_seconds_and_by_browsers_not_at_all() {
        let (r, body) = call("GET", "/status", &[]).await;
        assert_eq!(
            (r.status().as_u16(), body.as_str()),
            (200, r#"{"success":true,"data":"ok"}"#)
        );
        assert_eq!(
            r.headers()["cache-control"],
            "public, s-maxage=10, max-age=0"
        );
        assert!(r.headers().get("etag").is_none());
    }

    #[tokio::test]
    async fn errors_are_envelopes_that_are_never_cached_and_hide_internal_causes() {
        let (r, body) = call("POST", "/command", &[]).await;
        assert_eq!(r.status(), 500);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers().get("etag").is_none());
        assert!(
            body.contains("\"INTERNAL\"") && !body.contains("secret_table"),
            "{body}"
        );
        let (r, body) = call("GET", "/nowhere", &[]).await;
        assert_eq!(r.status(), 404);
        assert!(body.contains("no route for /nowhere"), "{body}");
    }

    #[tokio::test]
    async fn other_methods_and_head_are_405_naming_the_one_method() {
        for (method, path, allow) in [
            ("POST", "/data", "GET"),
            ("HEAD", "/data", "GET"),
            ("DELETE", "/data", "GET"),
            ("GET", "/command", "POST"),
        ] {
            let (r, body) = call(method, path, &[]).await;
            assert_eq!(r.status(), 405, "{method} {path}");
            assert_eq!(r.headers()["allow"], allow, "{method} {path}");
            assert!(body.contains("METHOD_NOT_ALLOWED"), "{body}");
        }
    }

    #[tokio::test]
    async fn one_trailing_slash_is_ignored_two_are_not_a_path() {
        assert_eq!(call("GET", "/data/?a=1", &[]).await.0.status(), 200);
        assert_eq!(call("GET", "/data//", &[]).await.0.status(), 404);
    }

    #[tokio::test]
    async fn cors_only_for_allowed_origins_and_preflights_on_any_path() {
        let (r, _) = call("GET", "/data", &[("origin", "https://app.example")]).await;
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert_eq!(r.headers()["vary"], "Origin");
        let (r, _) = call("GET", "/data", &[("origin", "https://evil.example")]).await;
        assert!(r.headers().get("access-control-allow-origin").is_none());
        assert_eq!(r.headers()["vary"], "Origin");
        let (pre, body) = call("OPTIONS", "/anything", &[("origin", "https://app.example")]).await;
        assert_eq!((pre.status().as_u16(), body.as_str()), (204, ""));
        assert!(pre.headers().contains_key("access-control-allow-methods"));
        assert_eq!(
            pre.headers()["access-control-allow-origin"],
            "https://app.example"
        );
    }
}
