//! Lambda for `GET /api/currencies`: wiring only; the handler lives in `common::api`.

use common::api::route;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    common::lambda::serve_http(route::currencies).await
}
