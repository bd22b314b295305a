//! The JSON envelope of every answer: [`Reply`] for successes (or, where a route offers one, a
//! CSV table), [`ApiError`] for failures, both turned into responses here; the edge layers add
//! caching and CORS headers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::StatusCode;
use serde::Serialize;

use super::error::ApiError;

/// How a response may be cached (the caching layer writes the headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Data GETs: `public, max-age=300` with a strong ETag (CloudFront caches 5 minutes).
    Public,
    /// Health and runs: `public, s-maxage=10, max-age=0`. CloudFront keeps them 10 s, browsers
    /// not at all: a flood of them reaches the origin at most once per edge per 10 s.
    Edge,
    /// Commands and errors: `no-store`.
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
    /// What the body is: the envelope, or a CSV download.
    pub media: Media,
    /// The request header that chose between the forms of this answer, if one did (`Vary`).
    pub vary: Option<&'static str>,
}

/// What a reply's body is, and so its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// The envelope: `application/json; charset=utf-8`.
    Json,
    /// A CSV table (RFC 4180): `text/csv; charset=utf-8`, with this `Content-Disposition`
    /// (`attachment; filename="..."`).
    Csv { disposition: HeaderValue },
}

#[derive(Serialize)]
struct Success<'a, T: Serialize, M: Serialize> {
    success: bool,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a M>,
}

#[derive(Serialize)]
struct Failure<'a, T: Serialize> {
    success: bool,
    error: ErrorBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
}

/// What went wrong: a code (one per status) and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody<'a> {
    /// `INVALID_PARAMETER` 400, `UNAUTHORIZED` 401, `FORBIDDEN` 403, `NOT_FOUND` 404,
    /// `METHOD_NOT_ALLOWED` 405, `CONFLICT` 409, `INTERNAL` 500, `SERVICE_UNAVAILABLE` 503.
    code: &'a str,
    /// Says what went wrong and, for 400, what is allowed. Generic for 500.
    #[schema(min_length = 1)]
    message: &'a str,
}

impl Reply {
    /// `{"success": true, "data": data}`.
    pub fn ok<T: Serialize>(
        status: StatusCode,
        data: &T,
        cache: CachePolicy,
    ) -> Result<Reply, ApiError> {
        Self::success::<T, ()>(status, data, None, cache)
    }

    /// `{"success": true, "data": data, "meta": meta}`: one page of a list.
    pub fn page<T: Serialize, M: Serialize>(
        data: &T,
        meta: &M,
        cache: CachePolicy,
    ) -> Result<Reply, ApiError> {
        Self::success(StatusCode::OK, data, Some(meta), cache)
    }

    /// A page whose rows are JSON written elsewhere (the market's, by PostgreSQL):
    /// `write_rows` appends the `data` array's members, comma-separated, to the body, where
    /// they are sent as they are: it must write valid JSON (checked in debug builds).
    pub fn page_written<M: Serialize>(
        meta: &M,
        cache: CachePolicy,
        write_rows: impl FnOnce(&mut Vec<u8>) -> Result<(), ApiError>,
    ) -> Result<Reply, ApiError> {
        // The envelope with an empty page; the rows go between its brackets.
        const HEAD: &[u8] = br#"{"success":true,"data":["#;
        let empty = Self::success(StatusCode::OK, &[(); 0], Some(meta), cache)?;
        let tail = empty
            .body
            .strip_prefix(HEAD)
            .ok_or_else(|| ApiError::Internal("an envelope without its data first".into()))?;
        let mut body = HEAD.to_vec();
        write_rows(&mut body)?;
        body.extend_from_slice(tail);
        debug_assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok(),
            "not JSON: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(Reply { body, ..empty })
    }

    fn success<T: Serialize, M: Serialize>(
        status: StatusCode,
        data: &T,
        meta: Option<&M>,
        cache: CachePolicy,
    ) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(&Success {
            success: true,
            data,
            meta,
        })
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(Reply::json(status, body, cache))
    }

    fn json(status: StatusCode, body: Vec<u8>, cache: CachePolicy) -> Reply {
        Reply {
            status,
            body,
            cache,
            media: Media::Json,
            vary: None,
        }
    }

    /// A 200 with a CSV table, offered for download as `filename` (printable ASCII without
    /// `"` or `\`, so it needs no escaping; anything else is an internal error).
    pub fn csv(body: Vec<u8>, filename: &str, cache: CachePolicy) -> Result<Reply, ApiError> {
        let quotable = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\';
        if !filename.bytes().all(quotable) {
            return Err(ApiError::Internal(
                format!("no quotable file name: {filename:?}").into(),
            ));
        }
        let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(Reply {
            media: Media::Csv { disposition },
            ..Reply::json(StatusCode::OK, body, cache)
        })
    }

    /// The same reply, marked as chosen by the request's `header` (`Vary`, a header name
    /// such as `Accept`): caches keep its forms apart by that header.
    pub fn varying_on(self, header: &'static str) -> Reply {
        Reply {
            vary: Some(header),
            ..self
        }
    }

    /// An error envelope that also carries `data` (health's 503 says what is down).
    pub fn error_with_data<T: Serialize>(error: &ApiError, data: &T) -> Result<Reply, ApiError> {
        let body = failure_body(error, Some(data)).map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(Reply::json(error.status(), body, CachePolicy::NoStore))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = body_response(self.status, self.body, self.cache, &self.media);
        let headers = response.headers_mut();
        if let Media::Csv { disposition } = self.media {
            headers.insert(header::CONTENT_DISPOSITION, disposition);
        }
        if let Some(name) = self.vary {
            headers.append(header::VARY, HeaderValue::from_static(name));
        }
        response
    }
}

impl IntoResponse for ApiError {
    /// The error envelope, logging the cause of 500s (and only there).
    fn into_response(self) -> Response {
        let body = failure_body::<()>(&self, None).expect("an error envelope always serialises");
        let mut response = body_response(self.status(), body, CachePolicy::NoStore, &Media::Json);
        match self {
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
}

/// The error envelope of `error` (with `data` when given), logging the cause of 500s and
/// database outages: the one place an error's body is written.
fn failure_body<T: Serialize>(error: &ApiError, data: Option<&T>) -> serde_json::Result<Vec<u8>> {
    error.log_cause();
    let message = error.public_message();
    serde_json::to_vec(&Failure {
        success: false,
        error: ErrorBody {
            code: error.code(),
            message: &message,
        },
        data,
    })
}

/// A body of `media` with its status; the [`CachePolicy`] rides along as an extension for the
/// caching layer, which turns it into headers.
fn body_response(status: StatusCode, body: Vec<u8>, cache: CachePolicy, media: &Media) -> Response {
    let content_type = match media {
        Media::Json => "application/json; charset=utf-8",
        Media::Csv { .. } => "text/csv; charset=utf-8",
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.extensions_mut().insert(cache);
    response
}

/// A strong validator: the body's 128-bit XXH3, quoted hex.
pub fn strong_etag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_of_written_rows_is_the_envelope_serde_writes() {
        let meta = json!({"total": 2, "page": 1});
        for (rows, written) in [
            (json!([{"a": 1}, {"b": "x"}]), r#"{"a":1},{"b":"x"}"#),
            (json!([]), ""),
        ] {
            let served = Reply::page(&rows, &meta, CachePolicy::Public).unwrap();
            let reply = Reply::page_written(&meta, CachePolicy::Public, |out| {
                out.extend_from_slice(written.as_bytes());
                Ok(())
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(reply.body).unwrap(),
                String::from_utf8(served.body).unwrap()
            );
            assert_eq!(
                (reply.status, reply.cache, reply.media),
                (StatusCode::OK, CachePolicy::Public, Media::Json)
            );
        }
    }
}
