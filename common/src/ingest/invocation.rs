//! The ingest Lambda's payloads: EventBridge scheduled events and manual invokes.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use uuid::Uuid;

use super::report::{Mode, Trigger};
use super::run::RunRequest;

/// A manual invoke: `{"mode": "full"|"incremental", "cleanFirst": bool}`. The cron route
/// also sends `trigger: "http"` and the `runId` it already answered with.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManualPayload {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    clean_first: bool,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    run_id: Option<Uuid>,
}

/// Interprets the invoke payload. EventBridge schedules run incrementally (which fetches
/// 90 days for pairs that have no data yet); anything else must be a valid manual payload.
pub fn run_request(payload: serde_json::Value) -> Result<RunRequest, String> {
    let is_scheduled = payload.get("source").and_then(|s| s.as_str()) == Some("aws.events")
        || payload.get("detail-type").is_some();
    if is_scheduled {
        let event: EventBridgeEvent = serde_json::from_value(payload)
            .map_err(|e| format!("malformed EventBridge event: {e}"))?;
        tracing::info!(rule = ?event.resources.as_ref().and_then(|r| r.first()), time = ?event.time, "scheduled run");
        return Ok(RunRequest {
            mode: Mode::Incremental,
            clean_first: false,
            trigger: Trigger::Schedule,
            run_id: None,
        });
    }
    let payload = if payload.is_null() {
        serde_json::json!({})
    } else {
        payload
    };
    let manual: ManualPayload = serde_json::from_value(payload).map_err(|e| {
        format!("invalid payload: {e}; expected {{\"mode\": \"full\"|\"incremental\", \"cleanFirst\": true|false}}")
    })?;
    Ok(RunRequest {
        mode: manual.mode,
        clean_first: manual.clean_first,
        trigger: manual.trigger.unwrap_or(Trigger::Manual),
        run_id: manual.run_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_payloads() {
        let r = run_request(json!({"mode": "full", "cleanFirst": true})).unwrap();
        assert_eq!(
            (r.mode, r.clean_first, r.trigger),
            (Mode::Full, true, Trigger::Manual)
        );
        let r = run_request(json!({})).unwrap();
        assert_eq!((r.mode, r.clean_first), (Mode::Incremental, false));
        let r = run_request(serde_json::Value::Null).unwrap();
        assert_eq!(r.mode, Mode::Incremental);
    }

    #[test]
    fn bad_payloads_say_what_is_expected() {
        for bad in [
            json!({"mode": "everything"}),
            json!({"cleanfirst": true}),
            json!([1, 2]),
            json!({"cleanFirst": "yes"}),
        ] {
            let err = run_request(bad.clone()).unwrap_err();
            assert!(err.contains("expected"), "{bad}: {err}");
        }
    }
}
