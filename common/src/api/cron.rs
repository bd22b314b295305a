//! `POST /api/cron/fetch-data`: the authenticated trigger of an ingestion run.

use http::header::AUTHORIZATION;
use http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::response::{CachePolicy, Reply, Request};
use super::secret_check;
use crate::ingest::launcher::IngestLauncher;
use crate::ingest::lifecycle::{claim_run, withdraw_claim};
use crate::ingest::{Mode, RunKind, RunRequest, Trigger};
use crate::state::AppState;

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
    let expected = secret_check::expected(state, source, "cron secret").await?;
    authenticate(request, &expected)?;

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
    // Live quotes run on their own function and schedule; this route starts history runs only.
    match body.mode.kind() {
        RunKind::History => {}
        RunKind::Live => return Err(invalid_body()),
    }
    let launcher = launcher.ok_or_else(|| {
        ApiError::ServiceUnavailable("no ingestion launcher is configured".into())
    })?;
    // The claim records the run as `running` before it is launched, atomically, so of two
    // requests in flight at once exactly one is accepted (the other sees the claim: 409).
    let run_id = Uuid::new_v4();
    let mut client = state.db.client().await?;
    if !claim_run(&mut client, run_id, Trigger::Http, body.mode).await? {
        return Err(ApiError::Conflict(
            "an ingestion run is already in progress".into(),
        ));
    }
    // A local launcher runs the ingestion on this pool: leave the connection to it.
    drop(client);
    let launched = launcher
        .launch(RunRequest {
            mode: body.mode,
            clean_first: body.clean_first,
            trigger: Trigger::Http,
            run_id: Some(run_id),
        })
        .await;
    if let Err(e) = launched {
        tracing::error!(error = %e, "could not start the ingestion run");
        let withdrawn = match state.db.client().await {
            Ok(client) => withdraw_claim(&client, run_id)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = withdrawn {
            tracing::error!(error = %e, "could not withdraw the run's claim; it expires by itself");
        }
        return Err(ApiError::ServiceUnavailable(
            "the ingestion run could not be started; try again shortly".into(),
        ));
    }
    tracing::info!(%run_id, mode = body.mode.as_str(), clean_first = body.clean_first, "ingestion run accepted");
    Reply::ok(
        StatusCode::ACCEPTED,
        &Accepted { run_id },
        CachePolicy::NoStore,
    )
}

/// 401 unless the request carries `Authorization: Bearer <expected>`.
fn authenticate(request: &Request, expected: &SecretString) -> Result<(), ApiError> {
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
    if secret_check::matches(token, expected) {
        Ok(())
    } else {
        Err(failure("wrong token"))
    }
}
