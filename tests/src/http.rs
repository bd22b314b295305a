//! Requests as API Gateway delivers them, sent through the API's router as a Lambda or the
//! local server runs it; the JSON body of a response, and the event payloads of `events/`.

use tower::ServiceExt;

/// A response with its body read: what a client receives.
pub type Response = http::Response<axum::body::Bytes>;

/// Sends `request` through `app` (tower's `oneshot`, as `lambda_http` and `axum::serve` do)
/// and reads the whole body.
pub async fn send(app: &axum::Router, request: lambda_http::Request) -> Response {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a response body reads in full");
    Response::from_parts(parts, body)
}

/// A `GET` of `uri` without headers or body.
pub fn get(uri: &str) -> lambda_http::Request {
    request("GET", uri, &[], "")
}

/// Builds a request as API Gateway would deliver it for `method` `uri`.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(lambda_http::Body::from(body.to_owned()))
        .unwrap()
}

/// The JSON body of a response.
pub fn json_body(response: &Response) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(response.body().as_ref())
        )
    })
}

/// Reads a file of `events/` (the payloads used with `cargo lambda invoke --data-file`).
pub fn event(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The body as text, for failure messages.
fn body_text(response: &Response) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

/// Asserts a success envelope (`{"success": true, "data": ...}`) with `status`; returns
/// its `data` for the caller to check.
pub fn expect_data(response: &Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status(), status, "{}", body_text(response));
    let body = json_body(response);
    assert_eq!(body["success"], true, "{body}");
    assert!(body.get("error").is_none(), "{body}");
    body.get("data")
        .cloned()
        .unwrap_or_else(|| panic!("no data in {body}"))
}

/// Asserts an error envelope (`{"success": false, "error": {"code", "message"}}`) with
/// `status` and `code`; returns the whole body (its message and any data) for the caller.
pub fn expect_error(response: &Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status(), status, "{}", body_text(response));
    let body = json_body(response);
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "an error says what went wrong: {body}");
    body
}

/// `POST /api/cron/fetch-data` with `Authorization: Bearer <token>` and `body`.
pub fn cron_post(token: &str, body: &str) -> lambda_http::Request {
    let auth = format!("Bearer {token}");
    request(
        "POST",
        "/api/cron/fetch-data",
        &[("authorization", &auth)],
        body,
    )
}
