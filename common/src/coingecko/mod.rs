//! CoinGecko API v3 client: the endpoints the ingester uses, one rate budget per run, retries
//! that honour `Retry-After`, and errors that say how to fix them. One job per file:
//!
//! - `client`: [`CoinGecko`], one typed call per endpoint: its query and the parsing of its
//!   answer into our types (`null` prices kept as `None`).
//! - `transport`: the HTTP side of every call: pacing, retries with backoff and jitter or
//!   `Retry-After`, the run's deadline, the body cap, the UTF-8 BOM, call counters. It knows
//!   no endpoint's JSON.
//! - `endpoint`: [`CoinGeckoEndpoint`], which endpoint a call is for; each typed call passes
//!   its own to the transport, which counts calls and caps bodies
//!   ([`CoinGeckoEndpoint::body_cap`]) by it.
//! - `error`: [`CgError`], the fix for each documented CoinGecko error code, and 4xx bodies
//!   read into errors: HTML pages from the CDN, and error bodies in two shapes
//!   (`{"status":{...}}` and `{"error":{"status":{...}}}`, or `{"error":"..."}`).
//!
//! The `coingecko_client` integration tests replay these quirks.

mod client;
mod endpoint;
mod error;
mod transport;

pub use client::{
    id_chunks, CoinGecko, CoinInfo, CoinListEntry, MarketEntry, MarketsPage, Quote, Quotes,
    MARKETS_PAGE, MAX_QUERY_IDS_CHARS,
};
pub use endpoint::CoinGeckoEndpoint;
pub use error::CgError;
pub use transport::{
    CallAllowance, CallStats, ClientEvent, EventSink, RetryPolicy, SIMULATOR_HEADER,
};

pub use crate::domain::RawPoint;
