//! `POST /api/cron/fetch-data`: the authenticated trigger of an ingestion run.

use http::header::AUTHORIZATION;
use http::StatusCode;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{ApiError, AppState, CachePolicy, Reply, Request};
use crate::ingest::{store, Mode, RunRequest, Trigger};
use crate::launcher::IngestLauncher;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TriggerBody {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    clean_first: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    run_id: Uuid,
}

/// Checks the bearer token in constant time, then starts a run: 202 `{runId}`, 401 for a
/// missing or wrong token, 409 while a run holds the lock, 503 without a configured secret.
pub(super) async fn trigger(
    state: &AppState,
    launcher: Option<&dyn IngestLauncher>,
    request: &Request,
) -> Result<Reply, ApiError> {
    let Some(source) = &state.config.cron_secret else {
        return Err(ApiError::ServiceUnavailable(
            "the cron trigger is disabled: no cron secret is configured".into(),
        ));
    };
    let expected = state.secrets.resolve(source).await.map_err(|e| {
        tracing::error!(error = %e, "cron secret unavailable");
        ApiError::ServiceUnavailable("the cron secret is unavailable; try again shortly".into())
    })?;
    authenticate(request, expected.expose_secret())?;

    let invalid_body = || {
        ApiError::InvalidParameter(
            "the body must be empty or {\"mode\": \"incremental\"|\"full\", \"cleanFirst\": true|false}".into(),
        )
    };
    let body: TriggerBody = match request.body().as_ref() {
        b if b.iter().all(u8::is_ascii_whitespace) => TriggerBody::default(),
        // Only an object: serde would also take a struct written as a JSON array.
        b => match serde_json::from_slice::<serde_json::Value>(b) {
            Ok(value @ serde_json::Value::Object(_)) => {
                serde_json::from_value(value).map_err(|_| invalid_body())?
            }
            _ => return Err(invalid_body()),
        },
    };
    let client = state.db.client().await?;
    if store::run_in_progress(&client).await? {
        return Err(ApiError::Conflict(
            "an ingestion run is already in progress".into(),
        ));
    }
    drop(client);
    let launcher = launcher.ok_or_else(|| {
        ApiError::ServiceUnavailable("no ingestion launcher is configured".into())
    })?;
    let run_id = Uuid::new_v4();
    launcher
        .launch(RunRequest {
            mode: body.mode,
            clean_first: body.clean_first,
            trigger: Trigger::Http,
            run_id: Some(run_id),
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not start the ingestion run");
            ApiError::ServiceUnavailable(
                "the ingestion run could not be started; try again shortly".into(),
            )
        })?;
    tracing::info!(%run_id, mode = body.mode.as_str(), clean_first = body.clean_first, "ingestion run accepted");
    Reply::ok(
        StatusCode::ACCEPTED,
        &Accepted { run_id },
        CachePolicy::NoStore,
    )
}

/// 401 unless the request carries `Authorization: Bearer <expected>`. Both sides are
/// hashed first so the comparison takes the same time whatever the token's length.
fn authenticate(request: &Request, expected: &str) -> Result<(), ApiError> {
    let failure = |reason: &str| {
        // The token itself is never logged. The deploy's metric filter counts this line.
        tracing::warn!(reason, "cron authentication failed");
        ApiError::Unauthorized("a valid bearer token is required".into())
    };
    let Some(header) = request.headers().get(AUTHORIZATION) else {
        return Err(failure("missing Authorization header"));
    };
    let Some(token) = header.to_str().ok().and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return Err(failure("not a Bearer token"));
    };
    let given = Sha256::digest(token.trim().as_bytes());
    let wanted = Sha256::digest(expected.as_bytes());
    if bool::from(given.ct_eq(&wanted)) {
        Ok(())
    } else {
        Err(failure("wrong token"))
    }
}
