//! Shared-secret checks of the HTTP boundary: the cron route's bearer token and the origin
//! header CloudFront adds. Both trim the configured value (a secret stored with a trailing
//! newline must still work), refuse to run with a short one, and compare in constant time.
//! The origin header may carry the secret's current or previous value (a rotation reaches
//! CloudFront's edges minutes after the functions).

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::SecretSource;
use crate::state::AppState;

/// The header CloudFront adds to every API request, carrying the origin verification secret.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// The shortest configured secret accepted; a shorter (or empty) one fails closed.
pub const MIN_SECRET_BYTES: usize = 32;

/// The configured secret `what`, trimmed; 503 when it cannot be read or is too short.
pub(super) async fn expected(
    state: &AppState,
    source: &SecretSource,
    what: &'static str,
) -> Result<SecretString, ApiError> {
    let unavailable =
        || ApiError::ServiceUnavailable(format!("the {what} is unavailable; try again shortly"));
    let value = state.secrets.resolve(source).await.map_err(|e| {
        tracing::error!(error = %e, secret = what, "secret unavailable");
        unavailable()
    })?;
    long_enough(value, what)
}

/// The origin-verify values accepted: the current one (503 as for [`expected`]) and, from
/// Secrets Manager, the previous one when it is long enough.
pub(super) async fn expected_current_and_previous(
    state: &AppState,
    source: &SecretSource,
    what: &'static str,
) -> Result<Vec<SecretString>, ApiError> {
    let unavailable =
        || ApiError::ServiceUnavailable(format!("the {what} is unavailable; try again shortly"));
    let (current, previous) = state
        .secrets
        .resolve_with_previous(source)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, secret = what, "secret unavailable");
            unavailable()
        })?;
    let mut accepted = vec![long_enough(current, what)?];
    accepted.extend(previous.and_then(|p| long_enough(p, what).ok()));
    Ok(accepted)
}

/// `value` trimmed, or 503 (logged) when that is shorter than [`MIN_SECRET_BYTES`].
fn long_enough(value: SecretString, what: &'static str) -> Result<SecretString, ApiError> {
    let trimmed = value.expose_secret().trim();
    if trimmed.len() < MIN_SECRET_BYTES {
        tracing::error!(
            secret = what,
            bytes = trimmed.len(),
            minimum = MIN_SECRET_BYTES,
            "the configured secret is empty or too short; refusing every request"
        );
        return Err(ApiError::ServiceUnavailable(format!(
            "the {what} is unavailable; try again shortly"
        )));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// Whether `given` matches any of `accepted`, comparing with every one (constant time each).
pub(super) fn matches_any(given: &str, accepted: &[SecretString]) -> bool {
    accepted
        .iter()
        .fold(false, |found, expected| found | matches(given, expected))
}

/// Whether `given` (trimmed) equals `expected`. Both sides are hashed first so the
/// comparison takes the same time whatever their lengths.
pub(super) fn matches(given: &str, expected: &SecretString) -> bool {
    let given = Sha256::digest(given.trim().as_bytes());
    let wanted = Sha256::digest(expected.expose_secret().as_bytes());
    bool::from(given.ct_eq(&wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_trims_the_given_value_and_compares_exactly() {
        let expected = SecretString::from("a".repeat(40));
        assert!(matches(&format!(" {}\n", "a".repeat(40)), &expected));
        assert!(!matches(&"a".repeat(39), &expected));
        assert!(!matches(&"a".repeat(41), &expected));
        assert!(!matches("", &expected));
    }
}
