//! The HTTP API: axum handlers, each declared once with its OpenAPI entry
//! (`#[utoipa::path]`), served behind the same edge layers by every Lambda and the local
//! server.
//!
//! - [`route`]: one function per route (a per-route Lambda serves one) and [`route::all`].
//! - `edge` ([`app`]): the layers around the routes (origin check, CORS, caching, 404/405).
//! - `state`: [`ApiState`], what the handlers are given, and [`Routes`].
//! - one module per route: `health`, `coins` (list and detail), `currencies`, `prices`,
//!   `market`, `runs` (ingestion runs), `cron` (the authenticated trigger).
//! - `queries`: the read SQL the handlers use.
//! - `extract`: the query-string and coin-id extractors.
//! - `format`: JSON or CSV, from the `format` parameter or the `Accept` header.
//! - `secret_check`: the bearer token and the CloudFront origin header.
//! - `error` ([`ApiError`]) and `response` ([`Reply`]): one error type mapped to status and
//!   envelope, and the success envelope.
//! - `schema` (what the routes' declarations share) and `document` ([`document`]): the
//!   OpenAPI document.

mod coins;
mod cron;
mod currencies;
mod document;
mod edge;
mod error;
mod extract;
mod format;
mod health;
mod market;
mod prices;
mod queries;
mod response;
pub mod route;
mod runs;
mod schema;
mod secret_check;
mod state;

pub use coins::plain_text;
pub use document::document;
pub use edge::{app, MAX_BODY};
pub use error::ApiError;
pub use extract::{ApiQuery, Bounded, CoinId};
pub use response::{strong_etag, CachePolicy, Media, Reply};
pub use secret_check::{MIN_SECRET_BYTES, ORIGIN_VERIFY_HEADER};
pub use state::{ApiState, Routes};
