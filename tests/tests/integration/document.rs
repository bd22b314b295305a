//! The OpenAPI document is made from the routes' declarations, and what depends on it is
//! checked against it: the committed `openapi.yaml` is that document, and CloudFront forwards
//! (and caches on) exactly the query parameters the handlers declare.

use std::collections::BTreeSet;

fn repository_file(name: &str) -> String {
    let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_committed_openapi_yaml_is_the_document_the_routes_declare() {
    let generated = common::api::document().to_yaml().unwrap();
    let committed = repository_file("openapi.yaml");
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(g, c)| g != c)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "openapi.yaml is not what the routes declare (first difference at line {}): \
             regenerate it with `cargo run -q --bin crypto-dashboard -- openapi > openapi.yaml`",
            line + 1
        );
    }
}

/// The query parameters of every operation of the document.
fn declared_query_parameters() -> BTreeSet<String> {
    let document = common::api::document();
    document
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.get, &item.post].into_iter().flatten())
        .flat_map(|operation| operation.parameters.iter().flatten())
        .filter(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
        .map(|p| p.name.clone())
        .collect()
}

/// The `QueryStrings: [...]` list of the API's CloudFront cache policy in template.yaml.
fn cloudfront_query_strings() -> BTreeSet<String> {
    let template = repository_file("template.yaml");
    let policy = template
        .split("\n  ApiCachePolicy:\n")
        .nth(1)
        .expect("template.yaml has an ApiCachePolicy resource");
    let list = policy
        .lines()
        .find_map(|line| line.trim().strip_prefix("QueryStrings:"))
        .expect("ApiCachePolicy lists its QueryStrings");
    list.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn cloudfront_forwards_exactly_the_query_parameters_the_handlers_declare() {
    let declared = declared_query_parameters();
    let forwarded = cloudfront_query_strings();
    assert!(!declared.is_empty());
    assert_eq!(
        forwarded, declared,
        "template.yaml's ApiCachePolicy QueryStrings must be the handlers' query parameters: \
         one missing there is dropped by CloudFront in AWS (and every value cached under one key)"
    );
    // CloudFront's quota: at most 10 query strings in a cache policy's whitelist.
    assert!(
        forwarded.len() <= 10,
        "{} query strings exceed CloudFront's 10 per cache policy",
        forwarded.len()
    );
}
