//! The run functions' invocations: EventBridge scheduled events and manual invokes, read
//! into a [`RunRequest`], run, and answered with the report (or an error for Lambda).
//!
//! Two functions run ingestions, each with its own schedule, concurrency and on-failure
//! handling, so that neither waits for the other: `ingest` (history: `full` and
//! `incremental`, daily) and `live-quotes` (mode `latest`, every `LIVE_EVERY_MINUTES`). A
//! scheduled event means that function's scheduled run (trigger `schedule`), whatever it
//! carries; anything else is a manual payload, refused when it asks for the other
//! function's modes.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::ingester::{Ingester, RunRequest};
use super::report::{Mode, RunKind, Status, Trigger};
use crate::state::AppState;

/// A manual invoke: `{"mode": "full"|"incremental", "cleanFirst": bool}` for the ingest
/// function, `{}` or `{"mode": "latest"}` for the live-quotes function. The cron route also
/// sends `trigger: "http"` and the `runId` it already answered with.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManualPayload {
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    clean_first: bool,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    run_id: Option<Uuid>,
}

/// The function that runs `mode` (its crate under `functions/`, its binary): history runs
/// on `ingest`, live quotes on `live-quotes`.
pub fn function_for(mode: Mode) -> &'static str {
    match mode.kind() {
        RunKind::History => "ingest",
        RunKind::Live => "live-quotes",
    }
}

/// The manual payloads the function whose schedule runs `scheduled` accepts.
fn expected(scheduled: Mode) -> &'static str {
    match scheduled.kind() {
        RunKind::History => r#"{"mode": "full"|"incremental", "cleanFirst": true|false}"#,
        RunKind::Live => r#"{} or {"mode": "latest"}"#,
    }
}

/// Interprets the invoke payload of the function whose schedule runs `scheduled`
/// (`Mode::Incremental` for ingest, `Mode::Latest` for live-quotes).
///
/// An EventBridge scheduled event runs `scheduled` with trigger `schedule` (an incremental
/// run fetches 90 days for pairs that have no data yet). Anything else must be a valid
/// manual payload of this function: its mode defaults to `scheduled`, and a mode of the other
/// function is refused, naming that function.
pub fn run_request(payload: serde_json::Value, scheduled: Mode) -> Result<RunRequest, String> {
    let function = function_for(scheduled);
    let is_scheduled = payload.get("source").and_then(|s| s.as_str()) == Some("aws.events")
        || payload.get("detail-type").is_some();
    if is_scheduled {
        let event: EventBridgeEvent = serde_json::from_value(payload)
            .map_err(|e| format!("malformed EventBridge event: {e}"))?;
        tracing::info!(function, mode = scheduled.as_str(), rule = ?event.resources.as_ref().and_then(|r| r.first()), time = ?event.time, "scheduled run");
        return Ok(RunRequest {
            mode: scheduled,
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
        format!(
            "invalid payload for the {function} function: {e}; expected {}",
            expected(scheduled)
        )
    })?;
    let mode = manual.mode.unwrap_or(scheduled);
    if mode.kind() != scheduled.kind() {
        return Err(format!(
            "mode {} runs on the {} function, not on {function}; this function expects {}",
            mode.as_str(),
            function_for(mode),
            expected(scheduled)
        ));
    }
    if manual.clean_first && mode.kind() == RunKind::Live {
        return Err(format!(
            "cleanFirst replaces stored history, which mode {} does not write; expected {}",
            mode.as_str(),
            expected(scheduled)
        ));
    }
    Ok(RunRequest {
        mode,
        clean_first: manual.clean_first,
        trigger: manual.trigger.unwrap_or(Trigger::Manual),
        run_id: manual.run_id,
    })
}

/// One invocation of the function whose schedule runs `scheduled`: the run `payload` asks
/// for, until `deadline`.
///
/// Returns the run report, or an error when the payload is not one of this function's or
/// the run could do nothing (status `failed`: database unreachable, every pair failed), so
/// that Lambda hands the event to the function's on-failure handling.
pub async fn handle(
    state: &AppState,
    payload: serde_json::Value,
    scheduled: Mode,
    deadline: Instant,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let function = function_for(scheduled);
    let request = run_request(payload, scheduled)?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    tracing::info!(
        function,
        mode = request.mode.as_str(),
        trigger = request.trigger.as_str(),
        remaining_ms = remaining.as_millis() as u64,
        "ingestion invoked"
    );
    let ingester = Ingester::new(&state.config, &state.secrets, &state.db);
    // Boxed: the run's future is deeply nested, and inline in the callers' futures (the
    // function crates' handlers, the Lambda runtime's service) it takes the compiler past its
    // layout query depth. One allocation per invocation.
    let report = Box::pin(ingester.run(request, Some(deadline))).await;
    // CloudWatch turns this line into metrics (Embedded Metric Format).
    println!("{}", report.emf_line(function));
    if report.status == Status::Failed {
        let codes: Vec<String> = report.failures.iter().map(|f| f.code.to_string()).collect();
        return Err(lambda_runtime::Error::from(format!(
            "ingestion run {} (mode {}) failed: {}",
            report.run_id,
            report.mode.as_str(),
            codes.join(", ")
        )));
    }
    Ok(serde_json::to_value(&report)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What EventBridge sends a target of a schedule that has no `Input`.
    fn scheduled_event(rule: &str) -> serde_json::Value {
        json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2025-11-28T02:10:00Z",
            "region": "us-east-1",
            "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
            "detail": {}
        })
    }

    fn summary(r: &RunRequest) -> (Mode, bool, Trigger, Option<Uuid>) {
        (r.mode, r.clean_first, r.trigger, r.run_id)
    }

    #[test]
    fn each_functions_schedule_runs_its_own_mode_as_trigger_schedule() {
        let live = run_request(
            scheduled_event("crypto-dashboard-LiveQuotesFunctionSchedule-1ABC"),
            Mode::Latest,
        )
        .unwrap();
        assert_eq!(
            summary(&live),
            (Mode::Latest, false, Trigger::Schedule, None)
        );
        let daily = run_request(
            scheduled_event("crypto-dashboard-IngestFunctionDaily-1ABC"),
            Mode::Incremental,
        )
        .unwrap();
        assert_eq!(
            summary(&daily),
            (Mode::Incremental, false, Trigger::Schedule, None)
        );
    }

    #[test]
    fn a_hand_made_live_refresh_is_manual() {
        for payload in [
            json!({}),
            serde_json::Value::Null,
            json!({"mode": "latest"}),
        ] {
            let r = run_request(payload.clone(), Mode::Latest).unwrap();
            assert_eq!(
                summary(&r),
                (Mode::Latest, false, Trigger::Manual, None),
                "{payload}"
            );
        }
    }

    #[test]
    fn manual_history_payloads() {
        let r = run_request(
            json!({"mode": "full", "cleanFirst": true}),
            Mode::Incremental,
        )
        .unwrap();
        assert_eq!(
            (r.mode, r.clean_first, r.trigger),
            (Mode::Full, true, Trigger::Manual)
        );
        let r = run_request(json!({}), Mode::Incremental).unwrap();
        assert_eq!((r.mode, r.clean_first), (Mode::Incremental, false));
        let r = run_request(serde_json::Value::Null, Mode::Incremental).unwrap();
        assert_eq!(r.mode, Mode::Incremental);
    }

    #[test]
    fn a_mode_of_the_other_function_is_refused_naming_that_function() {
        for mode in ["full", "incremental"] {
            let err = run_request(json!({ "mode": mode }), Mode::Latest).unwrap_err();
            assert!(
                err.contains(&format!("mode {mode} runs on the ingest function")),
                "{err}"
            );
            assert!(err.contains(r#"{"mode": "latest"}"#), "{err}");
        }
        let err = run_request(json!({"mode": "latest"}), Mode::Incremental).unwrap_err();
        assert!(
            err.contains("mode latest runs on the live-quotes function"),
            "{err}"
        );
        let err = run_request(json!({"cleanFirst": true}), Mode::Latest).unwrap_err();
        assert!(err.contains("cleanFirst"), "{err}");
    }

    #[test]
    fn bad_payloads_say_what_is_expected() {
        for scheduled in [Mode::Incremental, Mode::Latest] {
            for bad in [
                json!({"mode": "everything"}),
                json!({"cleanfirst": true}),
                json!([1, 2]),
                json!({"cleanFirst": "yes"}),
            ] {
                let err = run_request(bad.clone(), scheduled).unwrap_err();
                assert!(err.contains("expected"), "{bad}: {err}");
                assert!(err.contains(function_for(scheduled)), "{bad}: {err}");
            }
        }
    }
}
