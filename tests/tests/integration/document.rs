//! The OpenAPI document is made from the routes' declarations, and what depends on it is
//! checked against it: the committed `openapi.yaml` is that document, and each CloudFront
//! cache policy forwards (and caches on) exactly the query parameters of the routes it serves.

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

/// Every path of the document (`{id}` filled in, as a request has it) with the query
/// parameters of its operations.
fn declared_query_parameters() -> Vec<(String, BTreeSet<String>)> {
    let document = common::api::document();
    document
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let names = [&item.get, &item.post]
                .into_iter()
                .flatten()
                .flat_map(|operation| operation.parameters.iter().flatten())
                .filter(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
                .map(|p| p.name.clone())
                .collect();
            (path.replace("{id}", "bitcoin"), names)
        })
        .collect()
}

/// Whether CloudFront's path pattern (`*` any run of characters, `?` one) matches `path`.
fn pattern_matches(pattern: &[u8], path: &[u8]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, _) => path.is_empty(),
        (Some((b'*', rest)), _) => {
            (0..=path.len()).any(|skip| pattern_matches(rest, &path[skip..]))
        }
        (Some((&p, rest)), Some((&c, tail))) if p == b'?' || p == c => pattern_matches(rest, tail),
        _ => false,
    }
}

/// A cache policy: its logical id and the query strings in its key.
type Policy = (String, BTreeSet<String>);

/// CloudFront's behaviours in the order it tries them (`CacheBehaviors`, then the default,
/// `*`): each path pattern with its cache policy's logical id and whitelisted query strings
/// (`None` for a policy that is not a resource of the template).
fn cloudfront_behaviours() -> Vec<(String, Option<Policy>)> {
    use serde_norway::Value;
    let template: Value = serde_norway::from_str(&repository_file("template.yaml")).unwrap();
    let resources = &template["Resources"];
    let config = &resources["Distribution"]["Properties"]["DistributionConfig"];
    let policy = |behaviour: &Value| {
        let Value::Tagged(reference) = &behaviour["CachePolicyId"] else {
            return None;
        };
        assert!(reference.tag == "Ref", "CachePolicyId: {reference:?}");
        let id = reference.value.as_str().unwrap().to_owned();
        let config = &resources[id.as_str()]["Properties"]["CachePolicyConfig"];
        let strings = &config["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"];
        let names = match strings["QueryStringBehavior"].as_str() {
            Some("none") => BTreeSet::new(),
            Some("whitelist") => strings["QueryStrings"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|name| name.as_str().unwrap().to_owned())
                .collect(),
            other => {
                panic!("{id}: QueryStringBehavior {other:?} keys on what the API does not read")
            }
        };
        Some((id, names))
    };
    let mut behaviours: Vec<_> = config["CacheBehaviors"]
        .as_sequence()
        .expect("the distribution has CacheBehaviors")
        .iter()
        .map(|b| (b["PathPattern"].as_str().unwrap().to_owned(), policy(b)))
        .collect();
    behaviours.push(("*".to_owned(), policy(&config["DefaultCacheBehavior"])));
    behaviours
}

#[test]
fn cloudfront_forwards_exactly_the_query_parameters_the_handlers_declare() {
    let behaviours = cloudfront_behaviours();
    assert!(behaviours
        .iter()
        .any(|(pattern, _)| pattern == "/api/market*"));
    // Per cache policy: the union of the parameters of the routes it serves (a route is
    // served by the first behaviour whose pattern matches its path).
    let mut served: Vec<(String, BTreeSet<String>)> = Vec::new();
    for (path, parameters) in declared_query_parameters() {
        let (pattern, policy) = behaviours
            .iter()
            .find(|(pattern, _)| pattern_matches(pattern.as_bytes(), path.as_bytes()))
            .unwrap();
        assert_ne!(
            pattern, "*",
            "{path} reaches the dashboard's default behaviour"
        );
        let Some((id, _)) = policy else {
            assert!(
                parameters.is_empty(),
                "{path} ({pattern}) reads {parameters:?} through a cache policy the template does not define"
            );
            continue;
        };
        match served.iter_mut().find(|(known, _)| known == id) {
            Some((_, union)) => union.extend(parameters),
            None => served.push((id.clone(), parameters)),
        }
    }
    assert!(served.len() >= 2, "{served:?}");
    for (id, declared) in served {
        let (_, forwarded) = behaviours
            .iter()
            .filter_map(|(_, policy)| policy.as_ref())
            .find(|(known, _)| *known == id)
            .unwrap();
        assert_eq!(
            forwarded, &declared,
            "template.yaml's {id} QueryStrings must be the query parameters of the routes its \
             behaviours serve: one missing there is dropped by CloudFront in AWS (and every \
             value cached under one key)"
        );
        // CloudFront's quota: at most 10 query strings in a cache policy's whitelist.
        assert!(
            forwarded.len() <= 10,
            "{id}: {} query strings exceed CloudFront's 10 per cache policy",
            forwarded.len()
        );
    }
}

#[test]
fn cloudfront_path_patterns_match_as_cloudfront_does() {
    let cases = [
        ("/api/market*", "/api/market", true),
        ("/api/market*", "/api/markets", true),
        ("/api/market*", "/api/coins", false),
        ("/api/*", "/api/coins/bitcoin/prices", true),
        ("/api/*", "/index.html", false),
        ("/api/?oins", "/api/coins", true),
        ("*", "/anything", true),
    ];
    for (pattern, path, matches) in cases {
        assert_eq!(
            pattern_matches(pattern.as_bytes(), path.as_bytes()),
            matches,
            "{pattern} {path}"
        );
    }
}
