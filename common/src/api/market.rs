//! `GET /api/market`: the dashboard's overview of the tracked coins, a page at a time.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::coins::search_param;
use super::currencies::currency_param;
use super::error::ApiError;
use super::extract::{ApiQuery, Bounded};
use super::queries::{self, MarketFilter, MarketSort, SortOrder};
use super::response::{CachePolicy, Reply};
use super::schema::{
    CachedRead, CurrencyCode, ETag, InvalidParameter, PageMeta, Paged, PublicCache,
};
use super::state::ApiState;
use crate::config::is_coin_id;
use crate::domain::is_stale;

/// The most ids `ids` takes.
const MAX_IDS: usize = 250;

/// One coin of the overview.
///
/// The document's schema of the rows PostgreSQL writes with each summary row (migration V12's
/// `market_row_json`, in this order; the route adds `stale`): never built here.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MarketRow {
    id: String,
    symbol: String,
    name: String,
    #[schema(required = true)]
    image_url: Option<String>,
    /// CoinGecko's market-cap rank when last resolved; null when unranked.
    #[schema(required = true, minimum = 1)]
    rank: Option<i32>,
    /// The newest price: the live quote or the latest hourly price, whichever is newer; null
    /// before the pair's first price.
    #[schema(exclusive_minimum = 0)]
    #[schema(required = true)]
    price: Option<f64>,
    /// The time of `price`.
    #[schema(required = true)]
    updated_at: Option<DateTime<Utc>>,
    /// Percent change of the latest hourly price against the last one at least 1 hour older,
    /// else CoinGecko's 1 h change; null without either (4 decimals).
    #[schema(required = true)]
    change1h: Option<f64>,
    /// The live quote's 24 h change when the quote is the newer price, else the percent
    /// change against the last hourly price at least 24 hours older (4 decimals).
    #[schema(required = true)]
    change24h: Option<f64>,
    /// Percent change against the last hourly price at least 7 days older, else CoinGecko's
    /// 7 d change; null without either (4 decimals).
    #[schema(required = true)]
    change7d: Option<f64>,
    /// From the live quote; null without one.
    #[schema(minimum = 0)]
    #[schema(required = true)]
    market_cap: Option<f64>,
    /// From the live quote; null without one.
    #[schema(minimum = 0)]
    #[schema(required = true)]
    volume24h: Option<f64>,
    /// The 7 days up to the latest hour, oldest first, in single precision: the stored hours
    /// when there are at least 24 of them, else CoinGecko's 7-day hourly sparkline, else
    /// empty; every fourth point counted back from the newest (42 for a full week; a line of
    /// fewer than 8 points whole). Prepared when prices are written (a table cell's drawing,
    /// not a price record: the prices route has every hour and every digit).
    sparkline7d: Vec<f64>,
    /// `price` is older than `STALE_AFTER_MINUTES` (120 by default); false without a price.
    stale: bool,
}

/// The query string of the market route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MarketParams {
    /// A tracked currency code (`TRACKED_CURRENCIES`); `usd` by default.
    #[param(value_type = Option<CurrencyCode>, inline, example = "eur")]
    currency: Option<String>,
    /// The page, from 1; 1 by default. A page past the last one is empty (`meta.total` still
    /// counts every match).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, example = 2)]
    page: Option<Bounded<1, 1_000_000>>,
    /// Rows per page, a whole number from 1 to 250; 100 by default.
    #[serde(rename = "perPage")]
    #[param(rename = "perPage", value_type = Option<i64>, minimum = 1, maximum = 250, example = 50)]
    per_page: Option<Bounded<1, 250>>,
    /// The sort key; `rank` by default (unranked coins last, in the configured order).
    #[param(inline)]
    sort: Option<MarketSort>,
    /// `asc` or `desc`; by default `asc` for `rank` and `name`, `desc` for the others. Nulls
    /// come last either way; ties are broken by coin id.
    #[param(inline)]
    order: Option<SortOrder>,
    /// Only coins whose id, symbol or name holds it, ignoring case (the sort still applies).
    /// At most 100 characters; empty means all.
    #[param(max_length = 100, example = "bit")]
    q: Option<String>,
    /// Only these coins: a comma list of at most 250 coin ids without spaces (a watchlist);
    /// unknown ids are ignored, empty means all.
    #[param(
        pattern = "^([a-z0-9][a-z0-9-]{0,99}(,[a-z0-9][a-z0-9-]{0,99}){0,249})?$",
        example = "bitcoin,ethereum"
    )]
    ids: Option<String>,
}

/// A validated market request (the currency aside: it is checked against the configuration).
#[derive(Debug, Clone, PartialEq)]
struct MarketQuery {
    page: i64,
    per_page: i64,
    sort: MarketSort,
    order: SortOrder,
    q: Option<String>,
    ids: Option<Vec<String>>,
}

/// Applies the market rules: defaults, the sort's default order, `q` and `ids`.
fn parse_market_query(params: MarketParams) -> Result<MarketQuery, ApiError> {
    let sort = params.sort.unwrap_or_default();
    Ok(MarketQuery {
        page: params.page.map_or(1, |Bounded(n)| n),
        per_page: params.per_page.map_or(100, |Bounded(n)| n),
        sort,
        order: params.order.unwrap_or(sort.default_order()),
        q: search_param(params.q)?,
        ids: params.ids.as_deref().map(ids_param).transpose()?.flatten(),
    })
}

/// `ids`: a comma list of 1 to [`MAX_IDS`] coin ids (no spaces, no empty entries), as
/// distinct ids in their order; empty means no filter (`None`).
fn ids_param(text: &str) -> Result<Option<Vec<String>>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let mut ids: Vec<String> = Vec::new();
    for (n, id) in text.split(',').enumerate() {
        if n == MAX_IDS {
            return Err(ApiError::InvalidParameter(format!(
                "ids takes at most {MAX_IDS} coin ids"
            )));
        }
        if !is_coin_id(id) {
            return Err(ApiError::InvalidParameter(
                "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)".into(),
            ));
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(Some(ids))
}

/// One page of the tracked coins in one currency, sorted and filtered.
///
/// Each row: the newest price (the live quote or the latest hourly price, whichever is
/// newer) with its own time and a stale mark, rank, percent changes over 1 hour, 24 hours and
/// 7 days (rounded to 4 decimals; from the stored hours, else from CoinGecko's market data;
/// the 24-hour change is the live quote's when the quote is newer), market cap and 24-hour
/// volume from the live quote, and a 7-day sparkline (oldest first). A tracked coin without a
/// price in the currency is listed with nulls (and an empty sparkline). Every row is prepared
/// when prices are written; the route reads one page of them through an index. `meta` says
/// where the page is: `total` counts the coins matching `q` and `ids`. Cached 5 minutes;
/// conditional with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/api/market",
    tag = "data",
    operation_id = "getMarket",
    params(MarketParams),
    responses(
        (status = 200, description = "One page of the tracked coins, with `meta` beside `data`.",
            body = Paged<Vec<MarketRow>>,
            headers(("Cache-Control" = inline(PublicCache)), ("ETag" = inline(ETag)))),
        (status = 400, response = InvalidParameter),
        CachedRead,
    ),
)]
pub(super) async fn market(
    State(api): State<ApiState>,
    ApiQuery(params): ApiQuery<MarketParams>,
) -> Result<Reply, ApiError> {
    let state = &*api.app;
    let currency = currency_param(state, params.currency.as_deref())?;
    let query = parse_market_query(params)?;
    let filter = MarketFilter {
        currency: &currency,
        text: query.q.as_deref(),
        ids: query.ids.as_deref(),
        sort: query.sort,
        order: query.order,
    };
    let client = state.db.client().await?;
    let offset = (query.page - 1) * query.per_page;
    let (page, total) = tokio::try_join!(
        queries::market_page(&client, &filter, query.per_page, offset),
        queries::market_total(&client, &filter),
    )?;
    let meta = PageMeta {
        total,
        page: query.page,
        per_page: query.per_page,
    };
    let rows = page.rows()?;
    let now = Utc::now();
    Reply::page_written(&meta, CachePolicy::Public, |out| {
        out.reserve(rows.iter().map(|r| r.json.len() + 16).sum());
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let stale = row
                .price_at
                .is_some_and(|at| is_stale(at, now, state.config.stale_after));
            write_row(out, row.json, stale)?;
        }
        Ok(())
    })
}

/// A prepared row (a JSON object, [`MarketRow`] but `stale`) with `stale` added as its last
/// member.
fn write_row(out: &mut Vec<u8>, object: &str, stale: bool) -> Result<(), ApiError> {
    let members = object.strip_suffix('}').ok_or_else(|| {
        ApiError::Internal(format!("a market row that is no JSON object: {object:.40}").into())
    })?;
    out.extend_from_slice(members.as_bytes());
    out.extend_from_slice(if stale {
        br#","stale":true}"#
    } else {
        br#","stale":false}"#
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::FromRequestParts;

    async fn parse(query: &str) -> Result<MarketQuery, String> {
        let request = http::Request::get(format!("/api/market?{query}"))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let ApiQuery(params) = ApiQuery::<MarketParams>::from_request_parts(&mut parts, &())
            .await
            .map_err(|e| e.to_string())?;
        parse_market_query(params).map_err(|e| e.to_string())
    }

    #[test]
    fn a_prepared_row_gets_stale_as_its_last_member() {
        let mut out = Vec::new();
        write_row(&mut out, r#"{"id":"bitcoin","price":1}"#, true).unwrap();
        out.push(b',');
        write_row(&mut out, r#"{"id":"ether"}"#, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"bitcoin","price":1,"stale":true},{"id":"ether","stale":false}"#
        );
        let error = write_row(&mut Vec::new(), "[1,2]", false).unwrap_err();
        assert!(matches!(error, ApiError::Internal(_)), "{error:?}");
    }

    #[tokio::test]
    async fn defaults_are_the_first_hundred_by_rank() {
        let defaults = MarketQuery {
            page: 1,
            per_page: 100,
            sort: MarketSort::Rank,
            order: SortOrder::Asc,
            q: None,
            ids: None,
        };
        assert_eq!(parse("").await.unwrap(), defaults);
        assert_eq!(parse("q=+&ids=&currency=eur").await.unwrap(), defaults);
    }

    #[tokio::test]
    async fn reads_every_parameter_and_defaults_the_order_by_sort() {
        let q = parse(
            "page=3&perPage=250&sort=marketCap&order=asc&q=+Bit+&ids=bitcoin,ethereum,bitcoin",
        )
        .await
        .unwrap();
        assert_eq!(
            q,
            MarketQuery {
                page: 3,
                per_page: 250,
                sort: MarketSort::MarketCap,
                order: SortOrder::Asc,
                q: Some("Bit".into()),
                ids: Some(vec!["bitcoin".into(), "ethereum".into()]),
            }
        );
        let orders = [
            ("rank", SortOrder::Asc),
            ("name", SortOrder::Asc),
            ("price", SortOrder::Desc),
            ("change1h", SortOrder::Desc),
            ("change24h", SortOrder::Desc),
            ("change7d", SortOrder::Desc),
            ("marketCap", SortOrder::Desc),
            ("volume24h", SortOrder::Desc),
        ];
        for (sort, order) in orders {
            assert_eq!(
                parse(&format!("sort={sort}")).await.unwrap().order,
                order,
                "{sort}"
            );
        }
        assert_eq!(
            parse("sort=name&order=desc").await.unwrap().order,
            SortOrder::Desc
        );
        let ids: Vec<String> = (0..250).map(|n| format!("coin-{n}")).collect();
        let q = parse(&format!("ids={}", ids.join(","))).await.unwrap();
        assert_eq!(q.ids, Some(ids));
    }

    #[tokio::test]
    async fn says_which_parameter_is_wrong_and_what_it_takes() {
        let too_many: Vec<String> = (0..251).map(|n| format!("coin-{n}")).collect();
        let too_many = format!("ids={}", too_many.join(","));
        let long_q = format!("q={}", "a".repeat(101));
        let cases = [
            ("page=0", "page must be a whole number from 1 to 1000000"),
            ("page=x", "page must be a whole number from 1 to 1000000"),
            ("perPage=0", "perPage must be a whole number from 1 to 250"),
            ("perPage=251", "perPage must be a whole number from 1 to 250"),
            (
                "sort=volume",
                "sort must be rank, name, price, change1h, change24h, change7d, marketCap or volume24h",
            ),
            ("order=up", "order must be asc or desc"),
            ("sort=rank&sort=name", "sort must be given at most once"),
            (long_q.as_str(), "q must be at most 100 characters"),
            (too_many.as_str(), "ids takes at most 250 coin ids"),
            (
                "ids=bitcoin,Ethereum",
                "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)",
            ),
            (
                "ids=bitcoin,,ethereum",
                "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)",
            ),
            (
                "ids=bitcoin,+ethereum",
                "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)",
            ),
            (
                "ids=bit%20coin",
                "ids must be a comma list of coin ids (lower-case letters, digits and hyphens, as in bitcoin,ethereum)",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(parse(query).await.unwrap_err(), message, "{query}");
        }
    }
}
