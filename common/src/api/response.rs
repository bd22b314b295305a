//! The JSON envelope, caching headers (ETag, 304) and CORS, applied to every response.

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use lambda_http::Body;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// An HTTP request as API Gateway (payload 2.0) delivers it through `lambda_http`.
pub type Request = http::Request<Body>;
/// An HTTP response as `lambda_http` returns it to API Gateway.
pub type Response = http::Response<Body>;

/// How a response may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Data GETs: `public, max-age=300` with a strong ETag (CloudFront caches 5 minutes).
    Public,
    /// Health, runs, commands and errors: `no-store`.
    NoStore,
}

/// A successful handler result before headers are applied.
#[derive(Debug)]
pub struct Reply {
    /// The status (200 for reads, 202 for accepted commands).
    pub status: StatusCode,
    /// The serialised envelope.
    pub body: Vec<u8>,
    /// Cache policy for this reply.
    pub cache: CachePolicy,
}

#[derive(Serialize)]
struct Success<'a, T: Serialize> {
    success: bool,
    data: &'a T,
}

#[derive(Serialize)]
struct Failure<'a, T: Serialize> {
    success: bool,
    error: ErrorBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl Reply {
    /// `{"success": true, "data": data}`.
    pub fn ok<T: Serialize>(
        status: StatusCode,
        data: &T,
        cache: CachePolicy,
    ) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(&Success {
            success: true,
            data,
        })
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(Reply {
            status,
            body,
            cache,
        })
    }

    /// An error envelope that also carries `data` (health's 503 says what is down).
    pub fn error_with_data<T: Serialize>(error: &ApiError, data: &T) -> Result<Reply, ApiError> {
        error.log_cause();
        let message = error.public_message();
        let body = serde_json::to_vec(&Failure {
            success: false,
            error: ErrorBody {
                code: error.code(),
                message: &message,
            },
            data: Some(data),
        })
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(Reply {
            status: error.status(),
            body,
            cache: CachePolicy::NoStore,
        })
    }
}

/// The error envelope for `error`, logging the cause of 500s (and only there).
pub fn error_response(error: &ApiError) -> Response {
    error.log_cause();
    let message = error.public_message();
    let body = serde_json::to_vec(&Failure::<()> {
        success: false,
        error: ErrorBody {
            code: error.code(),
            message: &message,
        },
        data: None,
    })
    .expect("an error envelope always serialises");
    let mut response = json_response(error.status(), body, CachePolicy::NoStore);
    match error {
        ApiError::MethodNotAllowed { allow } => {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::Unauthorized(_) => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    response
}

/// Applies caching to a successful reply: a strong ETag for public data, and 304 when the
/// request's `If-None-Match` already names it.
pub fn reply_response(request: &Request, reply: Reply) -> Response {
    if reply.cache == CachePolicy::Public
        && reply.status == StatusCode::OK
        && request.method() == Method::GET
    {
        let etag = strong_etag(&reply.body);
        let matches = request
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|candidate| {
                candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(&etag)
            });
        let mut response = if matches {
            let mut r = http::Response::new(Body::Empty);
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            set_cache_headers(&mut r, CachePolicy::Public);
            r
        } else {
            json_response(reply.status, reply.body, CachePolicy::Public)
        };
        response.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex is a valid header"),
        );
        return response;
    }
    json_response(reply.status, reply.body, reply.cache)
}

fn json_response(status: StatusCode, body: Vec<u8>, cache: CachePolicy) -> Response {
    let mut response = http::Response::new(Body::Binary(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    set_cache_headers(&mut response, cache);
    response
}

fn set_cache_headers(response: &mut Response, cache: CachePolicy) {
    let value = match cache {
        CachePolicy::Public => "public, max-age=300",
        CachePolicy::NoStore => "no-store",
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
}

/// A strong validator: the first 128 bits of the body's SHA-256, quoted.
pub fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(34);
    out.push('"');
    for byte in &digest[..16] {
        out.push_str(&format!("{byte:02x}"));
    }
    out.push('"');
    out
}

/// Adds CORS headers when the request's `Origin` is allowed; answers preflights.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    allowed: Vec<String>,
}

impl Cors {
    /// `allowed` holds exact origins, or `*` for any.
    pub fn new(allowed: Vec<String>) -> Self {
        Cors { allowed }
    }

    fn allowed_origin(&self, request: &Request) -> Option<HeaderValue> {
        let origin = request.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.allowed
            .iter()
            .any(|a| a == "*" || a == text)
            .then(|| origin.clone())
    }

    /// The answer to an `OPTIONS` preflight: 204, with CORS headers if the origin is allowed.
    pub fn preflight(&self, request: &Request) -> Response {
        let mut response = http::Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        if self.allowed_origin(request).is_some() {
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, if-none-match"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        self.apply(request, &mut response);
        response
    }

    /// Adds `Access-Control-Allow-Origin` (and `Vary: Origin`) to `response` if allowed.
    pub fn apply(&self, request: &Request, response: &mut Response) {
        if self.allowed.is_empty() {
            return;
        }
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed_origin(request) {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("etag"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().method("GET").uri("/api/coins");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn public_reply_gets_etag_and_304_on_match() {
        let reply = || Reply::ok(StatusCode::OK, &[1, 2, 3], CachePolicy::Public).unwrap();
        let first = reply_response(&get(&[]), reply());
        assert_eq!(first.status(), 200);
        assert_eq!(
            first.headers()[header::CACHE_CONTROL],
            "public, max-age=300"
        );
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34);
        let second = reply_response(
            &get(&[("if-none-match", &format!("\"x\", {etag}"))]),
            reply(),
        );
        assert_eq!(second.status(), 304);
        assert!(matches!(second.body(), Body::Empty));
        assert_eq!(second.headers()[header::ETAG], etag.as_str());
        let other = reply_response(&get(&[("if-none-match", "\"nope\"")]), reply());
        assert_eq!(other.status(), 200);
    }

    #[test]
    fn no_store_reply_has_no_etag() {
        let r = reply_response(
            &get(&[]),
            Reply::ok(StatusCode::OK, &1, CachePolicy::NoStore).unwrap(),
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert!(r.headers().get(header::ETAG).is_none());
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let r = error_response(&ApiError::Internal(
            "relation \"secret_table\" does not exist".into(),
        ));
        let Body::Binary(body) = r.body() else {
            panic!()
        };
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.contains("\"INTERNAL\"") && !text.contains("secret_table"),
            "{text}"
        );
        assert_eq!(r.status(), 500);
    }

    #[test]
    fn cors_only_for_allowed_origins() {
        let cors = Cors::new(vec!["https://app.example".into()]);
        let mut r = http::Response::new(Body::Empty);
        cors.apply(&get(&[("origin", "https://app.example")]), &mut r);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        let mut r = http::Response::new(Body::Empty);
        cors.apply(&get(&[("origin", "https://evil.example")]), &mut r);
        assert!(r
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none());
        let pre = cors.preflight(&get(&[("origin", "https://app.example")]));
        assert_eq!(pre.status(), 204);
        assert!(pre
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
    }
}
