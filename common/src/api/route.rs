//! The routes, each declared once: a line here names the handler whose `#[utoipa::path]`
//! holds its method, path, parameters and responses. From that line come the route function
//! a per-route Lambda serves (`route::prices()`), [`all`] for the local server, and
//! [`documented`], the same routes with their OpenAPI entries, which only the document
//! builds: a Lambda links no part of the document (its method and path are two constants).

use axum::handler::Handler;
use axum::routing::MethodRouter;
use utoipa::openapi::path::HttpMethod;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::{routes, PathItemExt};

use super::state::{ApiState, Routes};

/// A route as the document declares it: its name, its function and its method and path.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    /// The route function's name, `coins_list`; the function crate `functions/coins-list`
    /// serves it.
    pub name: &'static str,
    /// The route, as [`route::coins_list`](coins_list) gives it.
    pub routes: fn() -> Routes,
    /// Its path template, `/api/coins/{id}`.
    pub path: fn() -> String,
    /// Its methods.
    pub methods: fn() -> Vec<HttpMethod>,
}

/// `handler` at `path` for `methods`, without its document.
fn route<H, T>(path: String, methods: Vec<HttpMethod>, handler: H) -> Routes
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    let methods = methods.iter().fold(MethodRouter::new(), |router, method| {
        router.on(method.to_method_filter(), handler.clone())
    });
    Routes::new().route(&path, methods)
}

macro_rules! routes_of {
    ($($(#[$doc:meta])* $name:ident => $module:ident::$handler:ident;)*) => {
        utoipa_axum::paste! {
            $(
                $(#[$doc])*
                pub fn $name() -> Routes {
                    use utoipa::Path;
                    type Declaration = super::$module::[<__path_ $handler>];
                    route(Declaration::path(), Declaration::methods(), super::$module::$handler)
                }
            )*

            /// Every route, in the document's order.
            pub fn all() -> Routes {
                Routes::new()$(.merge($name()))*
            }

            /// Every route with its OpenAPI entry (what the document is built from).
            pub fn documented() -> OpenApiRouter<ApiState> {
                OpenApiRouter::new()$(.routes(routes!(super::$module::$handler)))*
            }

            /// Every route as declared, in the document's order.
            pub const DECLARED: [Declared; [$(stringify!($name)),*].len()] = [$(Declared {
                name: stringify!($name),
                routes: $name,
                path: <super::$module::[<__path_ $handler>] as utoipa::Path>::path,
                methods: <super::$module::[<__path_ $handler>] as utoipa::Path>::methods,
            }),*];
        }
    };
}

routes_of! {
    /// `GET /api/health`
    health => health::health;
    /// `GET /api/coins`
    coins_list => coins::list;
    /// `GET /api/coins/{id}`
    coin_detail => coins::detail;
    /// `GET /api/currencies`
    currencies => currencies::list;
    /// `GET /api/coins/{id}/prices`
    prices => prices::prices;
    /// `GET /api/market`
    market => market::market;
    /// `POST /api/cron/fetch-data`
    cron_trigger => cron::trigger;
    /// `GET /api/ingestion/runs`
    ingestion_runs => runs::list;
}
