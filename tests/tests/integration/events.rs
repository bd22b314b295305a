//! Every file in `events/` parses as the event type of the function it is for, and every
//! function has at least one event.

use common::api::route;
use utoipa::openapi::path::HttpMethod;

fn events() -> Vec<(String, String)> {
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The function crate that serves the route `name` (`coins_list`: `coins-list`).
fn crate_of(name: &str) -> String {
    name.replace('_', "-")
}

/// The HTTP function whose route takes `method` + `path` (its `{id}` matching any segment).
fn http_function(method: &http::Method, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    route::DECLARED.into_iter().find_map(|declared| {
        let takes = (declared.methods)().iter().any(|m| match *method {
            http::Method::GET => matches!(m, HttpMethod::Get),
            http::Method::POST => matches!(m, HttpMethod::Post),
            _ => false,
        });
        let template = (declared.path)();
        let template: Vec<&str> = template.split('/').collect();
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s);
        (takes && matches).then(|| crate_of(declared.name))
    })
}

#[test]
fn each_route_has_a_function_crate_named_after_it_that_serves_it() {
    for declared in route::DECLARED {
        let main = format!(
            "{}/../functions/{}/src/main.rs",
            env!("CARGO_MANIFEST_DIR"),
            crate_of(declared.name)
        );
        let text = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{main}: {e}"));
        let serves = format!("route::{}", declared.name);
        assert!(text.contains(&serves), "{main} serves {serves}");
    }
}

#[test]
fn every_event_file_parses_as_its_functions_event_type() {
    let mut covered = std::collections::BTreeSet::new();
    for (name, text) in events() {
        let run_function = [
            ("ingest", ingest_function::SCHEDULED),
            ("live-quotes", live_quotes_function::SCHEDULED),
        ]
        .into_iter()
        .find(|(function, _)| name.starts_with(&format!("{function}-")));
        let function = if let Some((function, scheduled)) = run_function {
            // A payload of the function it is named after, never of the other run function.
            let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
            let request = common::ingest::invocation::run_request(payload, scheduled)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                common::ingest::invocation::function_for(request.mode),
                function,
                "{name}"
            );
            // A `*-scheduled.json` is what EventBridge sends: a scheduled run.
            assert_eq!(
                request.trigger == common::ingest::Trigger::Schedule,
                name.ends_with("-scheduled.json"),
                "{name}: trigger {:?}",
                request.trigger
            );
            function.to_owned()
        } else if name.starts_with("migrate-") {
            serde_json::from_str::<
                aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest,
            >(&text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            "migrate".to_owned()
        } else {
            let request =
                lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let function = http_function(request.method(), request.uri().path())
                .unwrap_or_else(|| panic!("{name}: no function serves its route"));
            // No payload asks for fixed dates: the routes default to ranges ending now, so a
            // payload keeps finding data as the calendar moves on.
            for pair in request.uri().query().unwrap_or("").split('&') {
                let key = pair.split('=').next().unwrap_or("");
                assert!(
                    key != "from" && key != "to",
                    "{name} asks for a fixed {key}: leave it to the route's default"
                );
            }
            assert!(
                name.starts_with(&function),
                "{name} carries a route of {function}; name it {function}*.json"
            );
            function
        };
        covered.insert(function);
    }
    let crates: std::collections::BTreeSet<String> =
        std::fs::read_dir(format!("{}/../functions", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(covered, crates, "every function has an event in events/");
}
