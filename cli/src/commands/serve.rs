//! `crypto-dashboard serve`: the API (the Lambdas' handler code, unchanged) and the built
//! dashboard on one local origin, as CloudFront serves them in AWS.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use common::api::{error_response, Api, ApiError};
use common::ingest::launcher::LocalLauncher;
use common::ingest::{Ingester, Mode, RunRequest, Trigger};
use common::state::AppState;

/// Largest request body accepted (the cron route's JSON is tiny).
const MAX_BODY: usize = 64 * 1024;

/// Flags of `serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 3000, env = "PORT")]
    port: u16,
    /// Address to bind (loopback by default; the server has no TLS).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Directory of the built dashboard (`npm run build` in dashboard/).
    #[arg(long, default_value = "dashboard/dist", env = "DASHBOARD_DIR")]
    dashboard_dir: PathBuf,
    /// Database connections for this server (a Lambda uses 1-2; a local server more).
    #[arg(long, default_value_t = 8)]
    pool_size: usize,
}

struct Server {
    api: Api,
    dashboard: PathBuf,
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let mut config = common::config::Config::from_env().map_err(|e| e.to_string())?;
    config.database.pool_max_size = args.pool_size.clamp(1, 64);
    let state = Arc::new(AppState::new(config).await.map_err(|e| e.to_string())?);
    if let Some(every) = state.config.live_every {
        tokio::spawn(refresh_live_quotes(state.clone(), every));
    }
    let api = Api::new(state.clone()).with_launcher(Arc::new(LocalLauncher::new(state)));
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !args.dashboard_dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %args.dashboard_dir.display(),
            "dashboard not built: run `npm ci && npm run build` in dashboard/ (make dev does); the API works without it"
        );
    }
    let server = Arc::new(Server {
        api,
        dashboard: args.dashboard_dir,
    });
    let app = axum::Router::new().fallback(handle).with_state(server);
    eprintln!("serving the API and dashboard on http://{addr} (Ctrl-C to stop)");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The local stand-in for the live-quote schedule (`LIVE_EVERY_MINUTES`, 0 = off): a refresh
/// every interval, the first one interval after start (`make dev` refreshes once before it
/// serves), so health's live part stays true while the server runs.
async fn refresh_live_quotes(state: Arc<AppState>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let request = RunRequest {
            mode: Mode::Latest,
            clean_first: false,
            trigger: Trigger::Schedule,
            run_id: None,
        };
        let report = Ingester::new(&state.config, &state.secrets, &state.db)
            .run(request, None)
            .await;
        tracing::info!(status = report.status.as_str(), "live quotes refreshed");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/") || request.uri().path() == "/api" {
        return api(&server.api, request).await;
    }
    dashboard(&server.dashboard, request.method(), request.uri().path()).await
}

/// Hands the request to the same [`Api::handle`] the Lambdas run.
async fn api(api: &Api, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return envelope(ApiError::PayloadTooLarge(
            "the request body is larger than 64 KiB".into(),
        ));
    };
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    to_axum(api.handle(http::Request::from_parts(parts, body)).await)
}

/// The API's response as axum sends it.
fn to_axum(response: common::api::Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes))
}

/// The built dashboard: `/` is `index.html` (revalidated every time), `/assets/<hashed
/// name>` is cached for a year. Nothing else is served from disk.
async fn dashboard(dir: &Path, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return envelope(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let (file, cache) = match path {
        "/" | "/index.html" => (dir.join("index.html"), "no-cache"),
        _ => match path
            .strip_prefix("/assets/")
            .filter(|name| is_plain_file_name(name))
        {
            Some(name) => (
                dir.join("assets").join(name),
                "public, max-age=31536000, immutable",
            ),
            None => return envelope(ApiError::NotFound("no such page or file".into())),
        },
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(_) if path == "/" || path == "/index.html" => return placeholder(),
        Err(_) => return envelope(ApiError::NotFound("no such page or file".into())),
    };
    let mut response = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(bytes))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Letters, digits, dots, dashes and underscores only: no traversal, no hidden files.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") | Some("map") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// An error envelope built by the API's own code (the same body, status and headers).
fn envelope(error: ApiError) -> Response {
    to_axum(error_response(&error))
}

fn placeholder() -> Response {
    let html = "<!doctype html><meta charset=utf-8><title>crypto-dashboard</title>\
                <h1>crypto-dashboard</h1><p>The API is up: try <a href=\"/api/market\">/api/market</a>.</p>\
                <p>The dashboard is not built yet: run <code>npm ci &amp;&amp; npm run build</code> in <code>dashboard/</code>.</p>";
    let mut response = Response::new(Body::from(html));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_asset_names_are_served() {
        for ok in ["app-3F2A9C.js", "app-1.css", "logo_2.svg"] {
            assert!(is_plain_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../Cargo.toml",
            "..",
            ".env",
            "a/b.js",
            "%2e%2e",
            "a\0b",
        ] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
