//! [`CgError`]: how a CoinGecko call failed, its short code for reports, whether to retry it,
//! and the fix for each documented CoinGecko error code read from a 4xx body.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::FailureCode;

/// A failed CoinGecko call. [`CgError::code`] is the short code kept in run reports.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CgError {
    /// 429 after every retry, or a `Retry-After` longer than the time left.
    #[error("rate limited by CoinGecko (HTTP 429{})", retry_after_text(*.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx after every retry.
    #[error("CoinGecko answered HTTP {status} ({content_type})")]
    Server { status: u16, content_type: String },
    /// No answer within the request timeout.
    #[error("CoinGecko did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed (DNS, refused, reset).
    #[error("could not reach CoinGecko: {0}")]
    Connection(String),
    /// A documented CoinGecko error code; `fix` says what to change.
    #[error("CoinGecko error {code}: {message}. Fix: {fix}")]
    Api {
        code: u32,
        message: String,
        fix: &'static str,
    },
    /// 404: the coin id does not exist on CoinGecko.
    #[error("CoinGecko does not know this id: {0}")]
    NotFound(String),
    /// Another 4xx.
    #[error("CoinGecko rejected the request with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The body is not the JSON we expect (an HTML page, truncated or wrong shape), or is
    /// larger than its endpoint can need (`too_large`, never retried: it would come again).
    #[error("unexpected CoinGecko response: HTTP {status}, content-type {content_type}: {detail}")]
    Malformed {
        status: u16,
        content_type: String,
        detail: String,
        too_large: bool,
    },
    /// The run's deadline arrived before the call could be made or retried.
    #[error("stopped: the run's deadline does not leave time for this call")]
    Deadline,
    /// The run's share of the month's call budget is spent (no request was sent).
    #[error("stopped: the month's CoinGecko call budget (COINGECKO_MONTHLY_CALLS) leaves no call for this")]
    BudgetSpent,
}

fn retry_after_text(d: Option<Duration>) -> String {
    d.map(|d| format!(", Retry-After {}s", d.as_secs()))
        .unwrap_or_default()
}

impl CgError {
    /// Short code for reports and metrics.
    pub fn code(&self) -> FailureCode {
        match self {
            CgError::RateLimited { .. } => FailureCode::RateLimited,
            CgError::Server { .. } => FailureCode::Upstream5xx,
            CgError::Timeout(_) => FailureCode::Timeout,
            CgError::Connection(_) => FailureCode::Connection,
            CgError::Api { code, .. } => FailureCode::CoinGecko(*code),
            CgError::NotFound(_) => FailureCode::NotFound,
            CgError::Rejected { .. } => FailureCode::Http4xx,
            CgError::Malformed { .. } => FailureCode::MalformedBody,
            CgError::Deadline => FailureCode::Deadline,
            CgError::BudgetSpent => FailureCode::BudgetSpent,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CgError::RateLimited { .. }
                | CgError::Server { .. }
                | CgError::Timeout(_)
                | CgError::Connection(_)
                | CgError::Malformed {
                    too_large: false,
                    ..
                }
        )
    }
}

/// What to change for each documented CoinGecko error code.
fn fix_for(code: u32) -> Option<&'static str> {
    Some(match code {
        10002 => "the API key is missing or invalid: set COINGECKO_API_KEY (or COINGECKO_API_KEY_SECRET_ARN) and COINGECKO_API_PLAN=demo|pro to match it",
        10005 => "this endpoint is not in your CoinGecko plan: upgrade the plan or stop calling the endpoint",
        10010 => "a Pro key was sent to api.coingecko.com: set COINGECKO_API_PLAN=pro so requests go to pro-api.coingecko.com",
        10011 => "a Demo key was sent to pro-api.coingecko.com: set COINGECKO_API_PLAN=demo so requests go to api.coingecko.com",
        10012 => "the public and Demo plans only reach 365 days back: set HISTORY_DAYS to 365 or less, or COINGECKO_API_PLAN=pro with a Pro key",
        _ => return None,
    })
}

/// Interprets a 4xx body: a documented error code, "coin not found", or the status.
pub(super) fn client_error(status: u16, content_type: &str, body: &[u8]) -> CgError {
    #[derive(Deserialize)]
    struct StatusBody {
        error_code: Option<u32>,
        error_message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Text(String),
        Nested { status: StatusBody },
    }
    #[derive(Deserialize)]
    struct Body {
        status: Option<StatusBody>,
        error: Option<ErrorField>,
    }
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let (code, message) = match parsed {
        Some(Body {
            status: Some(s), ..
        })
        | Some(Body {
            error: Some(ErrorField::Nested { status: s }),
            ..
        }) => (s.error_code, s.error_message.unwrap_or_default()),
        Some(Body {
            error: Some(ErrorField::Text(text)),
            ..
        }) => (None, text),
        _ => (None, format!("content-type {content_type}")),
    };
    if let Some(code) = code {
        if let Some(fix) = fix_for(code) {
            return CgError::Api { code, message, fix };
        }
    }
    if status == 404 {
        return CgError::NotFound(message);
    }
    CgError::Rejected { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_name_their_fix() {
        let body = br#"{"status":{"error_code":10012,"error_message":"Your request exceeds the allowed time range."}}"#;
        let e = client_error(401, "application/json", body);
        assert_eq!(e.code(), FailureCode::CoinGecko(10012));
        assert!(e.to_string().contains("365 days"), "{e}");
        let nested =
            br#"{"error":{"status":{"error_code":10010,"error_message":"pro key on public"}}}"#;
        assert!(client_error(400, "application/json", nested)
            .to_string()
            .contains("COINGECKO_API_PLAN=pro"));
        let e = client_error(
            401,
            "application/json",
            br#"{"status":{"error_code":10011,"error_message":"x"}}"#,
        );
        assert!(e.to_string().contains("COINGECKO_API_PLAN=demo"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn unknown_coin_is_not_found_and_other_4xx_rejected() {
        let e = client_error(404, "application/json", br#"{"error":"coin not found"}"#);
        assert_eq!(e, CgError::NotFound("coin not found".into()));
        let e = client_error(
            422,
            "application/json",
            br#"{"error":"Missing parameter vs_currency"}"#,
        );
        assert!(matches!(e, CgError::Rejected { status: 422, .. }));
        let e = client_error(403, "text/html", b"<html>blocked</html>");
        assert!(e.to_string().contains("text/html"), "{e}");
    }
}
