//! The one error type of the HTTP boundary and its mapping to status and envelope.

use http::StatusCode;

use crate::db::DbError;

/// Every expected failure of a route. Mapped to a status and an error code in one place
/// ([`ApiError::status`], [`ApiError::code`]); internal details are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a parameter is malformed or out of range; the message says what is allowed.
    #[error("{0}")]
    InvalidParameter(String),
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the request did not come through CloudFront (origin verification is configured
    /// and `X-Origin-Verify` is missing or wrong).
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown route or resource.
    #[error("{0}")]
    NotFound(String),
    /// 413: the body is larger than the server takes (the local server; API Gateway has its
    /// own limit). Its code is `INVALID_PARAMETER`, as for any request the API refuses.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 405: the route exists but not for this method; `allow` lists the methods it takes.
    #[error("method not allowed; this route accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// 409: the request conflicts with current state (a run already in progress).
    #[error("{0}")]
    Conflict(String),
    /// 503: a dependency (a secret, the launcher) is unavailable; try again later.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 503: the database cannot be reached right now; the cause is logged, never sent.
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable(#[source] DbError),
    /// 500: a bug or an unexpected failure. The cause is logged where the response is built;
    /// the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

/// The cause of an internal error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::ServiceUnavailable(_) | ApiError::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidParameter(_) | ApiError::PayloadTooLarge(_) => "INVALID_PARAMETER",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::ServiceUnavailable(_) | ApiError::DatabaseUnavailable(_) => {
                "SERVICE_UNAVAILABLE"
            }
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// The envelope's `error.message`: the error's text, except for 500s.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; the details were logged".to_owned(),
            other => other.to_string(),
        }
    }

    /// Logs what the client is not told: the cause of a 500 (error) or of a database outage
    /// (warning), with its whole source chain. Called once, where the response is built.
    pub fn log_cause(&self) {
        let chain = |e: &dyn std::error::Error| {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        };
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %chain(cause.as_ref()), "request failed")
            }
            ApiError::DatabaseUnavailable(cause) => {
                tracing::warn!(cause = %chain(cause), "database unavailable")
            }
            _ => {}
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            ApiError::DatabaseUnavailable(e)
        } else {
            ApiError::Internal(Box::new(e))
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Query(e).into()
    }
}
