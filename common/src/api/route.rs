//! The routes: each function is one route with its document, declared by its handler's
//! `#[utoipa::path]`. A per-route Lambda serves one of them; the local server and the
//! OpenAPI document take [`all`].

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::Routes;

macro_rules! routes_of {
    ($($(#[$doc:meta])* $name:ident => $($handler:ident)::+;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> Routes {
                OpenApiRouter::new().routes(routes!($($handler)::+))
            }
        )*
        /// Every route, in the document's order.
        pub fn all() -> Routes {
            OpenApiRouter::new()$(.merge($name()))*
        }

        /// Every route function by its name (`prices`): the function crate named after it
        /// (`functions/prices`) serves it.
        pub const BY_NAME: [(&str, fn() -> Routes); [$(stringify!($name)),*].len()] =
            [$((stringify!($name), $name)),*];
    };
}

routes_of! {
    /// `GET /api/health`
    health => super::health::health;
    /// `GET /api/coins`
    coins_list => super::coins::list;
    /// `GET /api/coins/{id}`
    coin_detail => super::coins::detail;
    /// `GET /api/currencies`
    currencies => super::currencies::list;
    /// `GET /api/coins/{id}/prices`
    prices => super::prices::prices;
    /// `GET /api/market`
    market => super::market::market;
    /// `POST /api/cron/fetch-data`
    cron_trigger => super::cron::trigger;
    /// `GET /api/ingestion/runs`
    ingestion_runs => super::runs::list;
}
