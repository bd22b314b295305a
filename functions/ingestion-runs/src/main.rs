//! Lambda for `GET /api/ingestion/runs`: wiring only; the handler lives in `common::api`.

use common::api::route;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    common::lambda::serve_http(route::ingestion_runs).await
}
