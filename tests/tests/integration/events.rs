//! Every file in `events/` parses as the event type of the function it is for, and every
//! function has at least one event.

use common::api::{match_route, Endpoint};

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

/// The function an API Gateway event is for, by the route it carries.
fn http_function(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Health => "health",
        Endpoint::CoinsList => "coins-list",
        Endpoint::CoinDetail => "coin-detail",
        Endpoint::Currencies => "currencies",
        Endpoint::Prices => "prices",
        Endpoint::Market => "market",
        Endpoint::CronTrigger => "cron-trigger",
        Endpoint::IngestionRuns => "ingestion-runs",
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
            function
        } else if name.starts_with("migrate-") {
            serde_json::from_str::<
                aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest,
            >(&text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            "migrate"
        } else {
            let request =
                lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let route = match_route(request.method(), request.uri().path())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // No payload asks for fixed dates: the routes default to ranges ending now, so a
            // payload keeps finding data as the calendar moves on.
            for pair in request.uri().query().unwrap_or("").split('&') {
                let key = pair.split('=').next().unwrap_or("");
                assert!(
                    key != "from" && key != "to",
                    "{name} asks for a fixed {key}: leave it to the route's default"
                );
            }
            let function = http_function(route.endpoint);
            assert!(
                name.starts_with(function),
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
    let covered: std::collections::BTreeSet<String> =
        covered.into_iter().map(String::from).collect();
    assert_eq!(covered, crates, "every function has an event in events/");
}
