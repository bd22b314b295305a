//! The OpenAPI document, built from the routes: each handler's `#[utoipa::path]` gives its
//! path, parameters and responses, the types give the schemas (shared ones in `schema`). What
//! no handler owns is here: the document's prose (`api.md`), its tags and the security scheme.
//! `crypto-dashboard openapi` prints it; the committed `openapi.yaml` is that output.

use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::route;
use super::schema::{
    Conflict, Forbidden, Internal, InvalidParameter, MethodNotAllowed, NotFound, NotModified,
    ServiceUnavailable, Unauthorized,
};
use super::state::ApiState;

/// The whole document: every route ([`route::documented`]) under the API's description.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = OpenApiRouter::<ApiState>::with_openapi(ApiDoc::openapi())
        .merge(route::documented())
        .into_openapi();
    optional_bodies_are_absent_not_null(&mut document);
    document
}

/// A handler's `Option<T>` body means "the body may be left out" (the cron route takes an
/// empty one), not "the body may be JSON `null`" (a 400): utoipa writes `oneOf: [null, T]`;
/// this makes it `T` in a request body that is not required.
fn optional_bodies_are_absent_not_null(document: &mut utoipa::openapi::OpenApi) {
    let operations = document
        .paths
        .paths
        .values_mut()
        .flat_map(|item| [&mut item.get, &mut item.post].into_iter().flatten());
    for operation in operations {
        let Some(body) = operation.request_body.as_mut() else {
            continue;
        };
        for content in body.content.values_mut() {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                let not_null = one_of.items.iter().find(|item| {
                    !matches!(item, RefOr::T(Schema::Object(o)) if o.schema_type == Type::Null.into())
                });
                content.schema = not_null.cloned();
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "crypto-dashboard API",
        description = include_str!("api.md"),
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "The same origin as the dashboard (CloudFront in AWS, `crypto-dashboard serve` locally).")),
    tags(
        (name = "status", description = "Health and ingestion history."),
        (name = "data", description = "Cached data reads for the dashboard."),
        (name = "ingestion", description = "Starting an ingestion run."),
    ),
    components(schemas(super::coins::Latest), responses(
        NotModified, InvalidParameter, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
        Conflict, Internal, ServiceUnavailable,
    )),
    modifiers(&CronBearer),
)]
struct ApiDoc;

/// The cron route's bearer token.
struct CronBearer;

impl Modify for CronBearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The cron secret (`CRON_SECRET` or the Secrets Manager secret `CRON_SECRET_ARN`; at least 32 bytes).",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("cronBearer", SecurityScheme::Http(scheme));
    }
}
