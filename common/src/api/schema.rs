//! The schemas and responses the routes share in their `#[utoipa::path]` declarations: the
//! envelope, the caching headers, the error responses (`components/responses`) and the sets
//! of them a route names.

use std::borrow::Cow;

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToResponse, ToSchema};

/// `{"success": true, "data": T}`: every success.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema: the reply is serialised by `Reply::ok`
#[schema(bound = "T: ToSchema")]
pub(super) struct Envelope<T> {
    /// Always true.
    success: bool,
    data: T,
}

/// `{"success": true, "data": T, "meta": PageMeta}`: a success that is one page of a list.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema: the reply is serialised by `Reply::page`
#[schema(bound = "T: ToSchema")]
pub(super) struct Paged<T> {
    /// Always true.
    success: bool,
    data: T,
    meta: PageMeta,
}

/// Where a page is in its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageMeta {
    /// How many items the whole list has (those matching the filters).
    #[schema(minimum = 0)]
    pub total: i64,
    /// The page (from 1); past the last one a page is empty.
    #[schema(minimum = 1)]
    pub page: i64,
    /// The most items a page holds.
    #[schema(minimum = 1, maximum = 250)]
    pub per_page: i64,
}

/// A string schema that takes one value.
fn constant(value: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
        .build()
}

fn header(schema: Object, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

fn no_store() -> Header {
    header(constant("no-store"), "Never cached.")
}

/// Schemas written out by hand (a fixed value, a pattern, a configured default), each a type
/// the routes' declarations name.
macro_rules! schemas {
    ($($(#[$doc:meta])* $name:ident = $schema:expr;)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                stringify!($name).into()
            }
        }
    )*};
}

schemas! {
    /// The `Cache-Control` of data GETs.
    PublicCache = constant("public, max-age=300");
    /// The `Cache-Control` of health and runs: CloudFront keeps them 10 s, browsers not at all.
    EdgeCache = constant("public, s-maxage=10, max-age=0");
    /// The `Cache-Control` of commands and errors.
    NoStore = constant("no-store");
    /// A strong validator: the first 128 bits of the body's SHA-256 in hex, quoted.
    ETag = etag();
    /// The `Vary` of an answer whose form `Accept` may choose: it lists `Accept` (beside
    /// `Origin` where CORS is configured, `Accept-Encoding` where the answer is compressed).
    VaryAccept = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("(^|, *)Accept(,|$)"));
    /// The prices route's CSV table: a header row, then a row per point, CRLF line ends.
    PricesCsv = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            r"^(date,price\r\n({CSV_DATE},{CSV_PRICE}\r\n)*|timestamp,price\r\n({CSV_DATE}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}Z,{CSV_PRICE}\r\n)*)$"
        )))
        .description(Some(
            "RFC 4180 with CRLF line ends: the header row `date,price` (daily) or `timestamp,price` (hourly), then one row per point, oldest first, each date, timestamp and price written as the JSON answer writes it (no thousands separators; an exponent only where the JSON has one, below 1e-5 and from 1e16 on).",
        ));
    /// The CSV answer's file name: coin, currency, interval and the effective range (dates, or
    /// UTC instants without `:`).
    CsvDisposition = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            r#"^attachment; filename="[a-z0-9-]+-[a-z]{{2,10}}-(daily-{CSV_DATE}-{CSV_DATE}|hourly-{CSV_INSTANT}-{CSV_INSTANT})\.csv"$"#
        )))
        .examples(["attachment; filename=\"bitcoin-usd-daily-2025-01-01-2025-01-31.csv\""]);
    /// A tracked currency: the default set is the schema's (`TRACKED_CURRENCIES` configures
    /// it).
    CurrencyCode = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(crate::config::DEFAULT_CURRENCIES))
        .description(Some(
            "A tracked currency (the default set; `TRACKED_CURRENCIES` configures it).",
        ));
}

/// A price as JSON writes it (serde_json: shortest round-trip digits, an exponent below 1e-5
/// and from 1e16 on), a date, and an instant in a file name (ISO 8601's basic form in UTC).
const CSV_PRICE: &str = r"[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?";
const CSV_DATE: &str = "[0-9]{4}-[0-9]{2}-[0-9]{2}";
const CSV_INSTANT: &str = "[0-9]{8}T[0-9]{6}Z";

fn etag() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r#"^"[0-9a-f]{32}"$"#))
        .build()
}

/// The error envelope with `code`: `{"success": false, "error": {"code", "message"}}`.
pub(super) fn error_envelope(code: &str, message: Option<&str>) -> Object {
    let message = match message {
        Some(fixed) => constant(fixed),
        None => ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .description(Some(
                "Says what went wrong and, for 400, what is allowed. Generic for 500.",
            ))
            .build(),
    };
    let error = ObjectBuilder::new()
        .property("code", constant(code))
        .property("message", message)
        .required("code")
        .required("message")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    ObjectBuilder::new()
        .property(
            "success",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([false])),
        )
        .property("error", error)
        .required("success")
        .required("error")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

/// An error response: `description`, `Cache-Control: no-store` and the envelope with `code`.
fn error_response(code: &str, description: &str) -> ResponseBuilder {
    let message = (code == "INTERNAL").then_some("internal error; the details were logged");
    ResponseBuilder::new()
        .description(description)
        .header("Cache-Control", no_store())
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(error_envelope(code, message)))
                .build(),
        )
}

/// The shared error responses: `components/responses/<Name>`, named by the routes.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                let response = error_response($code, $description);
                let response = match $code {
                    "METHOD_NOT_ALLOWED" => response.header(
                        "Allow",
                        header(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(["GET", "POST"]))
                                .build(),
                            "The one method the path accepts.",
                        ),
                    ),
                    _ => response,
                };
                (stringify!($name), response.build().into())
            }
        }
    )*};
}

error_responses! {
    /// 400.
    InvalidParameter = "INVALID_PARAMETER",
        "A parameter (or the body) is malformed or out of range; the message says what is allowed.";
    /// 401.
    Unauthorized = "UNAUTHORIZED", "The bearer token is missing or wrong.";
    /// 403.
    Forbidden = "FORBIDDEN",
        "Origin verification is configured and the request did not come through CloudFront: it lacks the `X-Origin-Verify` header that CloudFront adds, or carries a wrong value. Only a deployment with `ORIGIN_VERIFY_SECRET` / `ORIGIN_VERIFY_SECRET_ARN` answers this; clients of the CloudFront URL never see it.";
    /// 404.
    NotFound = "NOT_FOUND",
        "An unknown coin id, or (for any path not in this document) no such route.";
    /// 405.
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
        "Any path of this document called with a method it does not list (`HEAD` included; `OPTIONS` is a CORS preflight instead).";
    /// 409.
    Conflict = "CONFLICT", "An ingestion run is already in progress.";
    /// 500.
    Internal = "INTERNAL",
        "An unexpected failure; the message is generic and the details are only logged.";
    /// 503.
    ServiceUnavailable = "SERVICE_UNAVAILABLE",
        "A dependency (the database, a secret, the run launcher) is unavailable; try again shortly.";
}

/// 304: the body named by `If-None-Match` is still current.
pub(super) struct NotModified;

impl<'s> ToResponse<'s> for NotModified {
    fn response() -> (&'s str, RefOr<Response>) {
        let response = ResponseBuilder::new()
            .description("The body named by `If-None-Match` is still current; no body.")
            .header(
                "Cache-Control",
                header(
                    constant("public, max-age=300"),
                    "Data GETs are cacheable for 5 minutes.",
                ),
            )
            .header("ETag", header(etag(), "The current body's validator."))
            .build();
        ("NotModified", response.into())
    }
}

/// References to shared responses by status, for a route's `responses(...)`.
macro_rules! response_set {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal => $response:ident),*];)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                [$(($status.to_string(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(stringify!($response))))),*]
                    .into_iter()
                    .collect()
            }
        }
    )*};
}

response_set! {
    /// What every route may answer besides its own statuses: 403 (origin verification), 500
    /// and 503 (the database or a secret is unavailable).
    Failures = [403 => Forbidden, 500 => Internal, 503 => ServiceUnavailable];
    /// [`Failures`] and 304: a cached data read.
    CachedRead = [304 => NotModified, 403 => Forbidden, 500 => Internal, 503 => ServiceUnavailable];
}
