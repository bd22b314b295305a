//! Lambda for `GET /api/coins/{id}/prices`: wiring only; the handler lives in `common::api`.

use common::api::route;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    common::lambda::serve_http(route::prices).await
}
