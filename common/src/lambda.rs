//! Shared wiring for the HTTP Lambdas: build the state once per container, then serve one
//! route behind the API's edge with `lambda_http`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::api::{self, ApiState, Routes};
use crate::config::{Config, ConfigError};
use crate::state::AppState;

/// Set to `off` to run an HTTP function inside a Lambda runtime without origin verification:
/// for local emulators only (`cargo lambda watch`, `sam local`), which set
/// `AWS_LAMBDA_FUNCTION_NAME` like Lambda does.
pub const ORIGIN_VERIFY_SWITCH: &str = "ORIGIN_VERIFY";

/// Runs an HTTP Lambda serving `route` (one of [`api::route`]). Configuration errors end the
/// init phase with a message naming the variable; after that every request gets an `Ok`
/// response.
pub async fn serve_http(route: fn() -> Routes) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let state = AppState::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    require_origin_verification(&state.config, |name| std::env::var(name).ok())
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    run(route(), ApiState::new(Arc::new(state))).await
}

/// Origin verification fails closed: inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) an HTTP
/// function without `ORIGIN_VERIFY_SECRET[_ARN]` would serve direct execute-api calls, so it
/// refuses to start unless `ORIGIN_VERIFY=off` says that is meant. Outside Lambda (`serve`,
/// tests) nothing is required. A configured secret is checked whatever `ORIGIN_VERIFY` says.
pub fn require_origin_verification(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let off = match get(ORIGIN_VERIFY_SWITCH).as_deref().map(str::trim) {
        None => false,
        Some("off") => true,
        Some(_) => {
            return Err(ConfigError::Invalid {
                var: ORIGIN_VERIFY_SWITCH,
                reason: "the only value is off (leave it unset in AWS)".into(),
                example: "off",
            })
        }
    };
    if config.origin_verify_secret.is_some() || off || get("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        return Ok(());
    }
    Err(ConfigError::Missing {
        var: "ORIGIN_VERIFY_SECRET_ARN",
        hint: "an HTTP function in Lambda without it would answer direct execute-api calls: set \
               ORIGIN_VERIFY_SECRET_ARN (or ORIGIN_VERIFY_SECRET), or ORIGIN_VERIFY=off in a \
               local emulator only",
    })
}

/// Serves `routes` with `state` on the Lambda runtime.
pub async fn run(routes: Routes, state: ApiState) -> Result<(), lambda_http::Error> {
    lambda_http::run(api::app(routes, state)).await
}

/// Converts a Lambda deadline (milliseconds since the epoch) into a monotonic instant.
/// Values too small to be an epoch time (before 2001) are read as milliseconds from now:
/// the `cargo lambda watch` emulator sends its timeout that way.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    if deadline_ms < 1_000_000_000_000 {
        return Instant::now() + Duration::from_millis(deadline_ms);
    }
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)]) -> Result<(), ConfigError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let config = Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some("postgres://nobody@127.0.0.1:9/none".into()),
            _ => lookup(name),
        })
        .unwrap();
        require_origin_verification(&config, lookup)
    }

    #[test]
    fn inside_lambda_an_http_function_without_an_origin_secret_refuses_to_start() {
        let err = check(&[("AWS_LAMBDA_FUNCTION_NAME", "health")]).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Missing {
                    var: "ORIGIN_VERIFY_SECRET_ARN",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("ORIGIN_VERIFY=off"), "{err}");
    }

    #[test]
    fn a_secret_or_an_explicit_off_lets_it_start_and_outside_lambda_nothing_is_needed() {
        let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "health");
        check(&[lambda, ("ORIGIN_VERIFY_SECRET_ARN", "arn:x")]).unwrap();
        check(&[lambda, ("ORIGIN_VERIFY_SECRET", &"v".repeat(40))]).unwrap();
        check(&[lambda, ("ORIGIN_VERIFY", "off")]).unwrap();
        check(&[]).unwrap();
        for wrong in ["on", "false", "0"] {
            let err = check(&[lambda, ("ORIGIN_VERIFY", wrong)]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: "ORIGIN_VERIFY",
                        ..
                    }
                ),
                "{wrong}: {err}"
            );
        }
    }
}
