//! `POST /api/cron/fetch-data`: the authenticated trigger of an ingestion run.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::response::{CachePolicy, Reply};
use super::schema::{Conflict, Envelope, Failures, InvalidParameter, NoStore, Unauthorized};
use super::secret_check;
use super::state::ApiState;
use crate::ingest::lifecycle::{claim_run, withdraw_claim};
use crate::ingest::{Mode, RunRequest, Trigger};

/// What to run; an empty body is `{}`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"mode": "incremental", "cleanFirst": false}))]
pub(super) struct TriggerBody {
    #[serde(default)]
    mode: HistoryMode,
    /// Replace each pair's rows (in the same transaction as its new data).
    #[serde(default)]
    clean_first: bool,
}

/// The runs this route starts: history runs. Live quotes run on their own function and
/// schedule, so `latest` is not a value here (400).
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum HistoryMode {
    /// The last 90 days of every pair.
    Full,
    /// From 48 hours before each pair's newest stored hour.
    #[default]
    Incremental,
}

impl From<HistoryMode> for Mode {
    fn from(mode: HistoryMode) -> Mode {
        match mode {
            HistoryMode::Full => Mode::Full,
            HistoryMode::Incremental => Mode::Incremental,
        }
    }
}

/// The started run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Accepted {
    /// The id the run is recorded under in `GET /api/ingestion/runs`.
    run_id: Uuid,
}

/// Start an ingestion run (asynchronously).
///
/// Checked in this order: 403 when origin verification is configured and the request did not
/// come through CloudFront; 503 if no cron secret is configured, it cannot be read, or it is
/// shorter than 32 bytes (fail closed); 401 unless `Authorization: Bearer <CRON_SECRET>`
/// (constant-time compare; the scheme may be `Bearer` or `bearer`); 400 for a body that is
/// neither empty (or whitespace) nor the JSON object below; 409 while a run holds the
/// ingestion lock; otherwise the run is started (Lambda async invoke in AWS, a background
/// task locally) and 202 returns its id. The run then shows in `GET /api/ingestion/runs`
/// (status `running`, then its outcome). The request's Content-Type is not checked.
#[utoipa::path(
    post,
    path = "/api/cron/fetch-data",
    tag = "ingestion",
    operation_id = "triggerIngestion",
    security(("cronBearer" = [])),
    request_body(content = Option<TriggerBody>, content_type = "application/json",
        description = "Optional: an empty body is an incremental run without cleaning."),
    responses(
        (status = 202, description = "The run was started.", body = Envelope<Accepted>,
            headers(("Cache-Control" = inline(NoStore)))),
        (status = 400, response = InvalidParameter),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        Failures,
    ),
)]
pub(super) async fn trigger(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let Some(source) = &state.config.cron_secret else {
        return Err(ApiError::ServiceUnavailable(
            "the cron trigger is disabled: no cron secret is configured".into(),
        ));
    };
    let expected = secret_check::expected(state, source, "cron secret").await?;
    authenticate(&headers, &expected)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "the request body is larger than {} KiB",
            super::edge::MAX_BODY / 1024
        )),
        _ => ApiError::InvalidParameter("the request body could not be read".into()),
    })?;

    let invalid_body = || {
        ApiError::InvalidParameter(
            "the body must be empty or {\"mode\": \"incremental\"|\"full\", \"cleanFirst\": true|false}".into(),
        )
    };
    let body: TriggerBody = match body.as_ref() {
        b if b.iter().all(u8::is_ascii_whitespace) => TriggerBody::default(),
        // Only an object: serde would also take a struct written as a JSON array.
        b => match serde_json::from_slice::<serde_json::Value>(b) {
            Ok(value @ serde_json::Value::Object(_)) => {
                serde_json::from_value(value).map_err(|_| invalid_body())?
            }
            _ => return Err(invalid_body()),
        },
    };
    let mode = Mode::from(body.mode);
    let launcher = api.launcher.as_deref().ok_or_else(|| {
        ApiError::ServiceUnavailable("no ingestion launcher is configured".into())
    })?;
    // The claim records the run as `running` before it is launched, atomically, so of two
    // requests in flight at once exactly one is accepted (the other sees the claim: 409).
    let run_id = Uuid::new_v4();
    let mut client = state.db.client().await?;
    if !claim_run(&mut client, run_id, Trigger::Http, mode).await? {
        return Err(ApiError::Conflict(
            "an ingestion run is already in progress".into(),
        ));
    }
    // A local launcher runs the ingestion on this pool: leave the connection to it.
    drop(client);
    let launched = launcher
        .launch(RunRequest {
            mode,
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
    tracing::info!(%run_id, mode = mode.as_str(), clean_first = body.clean_first, "ingestion run accepted");
    Reply::ok(
        StatusCode::ACCEPTED,
        &Accepted { run_id },
        CachePolicy::NoStore,
    )
}

/// 401 unless the request carries `Authorization: Bearer <expected>`.
fn authenticate(headers: &HeaderMap, expected: &SecretString) -> Result<(), ApiError> {
    let failure = |reason: &str| {
        // The token itself is never logged. The deploy's metric filter counts this line. The
        // client is the first X-Forwarded-For hop (the viewer as CloudFront saw it, or what the
        // viewer wrote there: CloudFront's own log has the address that connected).
        let client = first_forwarded_hop(headers)
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into());
        tracing::warn!(reason, client = %client, "cron authentication failed");
        ApiError::Unauthorized("a valid bearer token is required".into())
    };
    let Some(header) = headers.get(AUTHORIZATION) else {
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

/// The first address of `X-Forwarded-For`, if it is one (anything else, a name or an injected
/// text, is not logged).
fn first_forwarded_hop(headers: &HeaderMap) -> Option<std::net::IpAddr> {
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_forwarded_hop_is_an_address_or_nothing() {
        let hop = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            first_forwarded_hop(&headers).map(|ip| ip.to_string())
        };
        assert_eq!(
            hop("203.0.113.7, 198.51.100.2").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(hop(" 2001:db8::1 ").as_deref(), Some("2001:db8::1"));
        assert_eq!(hop("evil\" injected=1, 198.51.100.2"), None);
        assert_eq!(hop(""), None);
        assert_eq!(first_forwarded_hop(&HeaderMap::new()), None);
    }
}
