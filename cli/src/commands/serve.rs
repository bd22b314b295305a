//! `crypto-dashboard serve`: the API (every route the Lambdas serve, behind the same edge
//! layers) and the built dashboard on one local origin, with what CloudFront adds in AWS:
//! compression and long-lived caching of hashed assets. It answers only requests addressed to
//! it by a loopback name or its bound address (`Host`), so a web page cannot reach it through
//! DNS rebinding.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::api::{self, route, ApiError, ApiState};
use common::ingest::launcher::LocalLauncher;
use common::ingest::{Ingester, Mode, RunRequest, Trigger};
use common::state::AppState;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

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

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let mut config = common::config::Config::from_env().map_err(|e| e.to_string())?;
    config.database.pool_max_size = args.pool_size.clamp(1, 64);
    let state = Arc::new(AppState::new(config).await.map_err(|e| e.to_string())?);
    if let Some(every) = state.config.live_every {
        tokio::spawn(refresh_live_quotes(state.clone(), every));
    }
    let launcher = Arc::new(LocalLauncher::new(state.clone()));
    let api = api::app(route::all(), ApiState::new(state).with_launcher(launcher));
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
    let app = dashboard(args.dashboard_dir)
        .fallback_service(api)
        .layer(CompressionLayer::new());
    let app = only_local_hosts(app, LocalHosts::new(&args.host, addr));
    eprintln!("serving the API and dashboard on http://{addr} (Ctrl-C to stop)");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The `Host` names this server answers to: `127.0.0.1`, `localhost` and the address it is
/// bound to (`--host`, and the socket's own address), each with or without a port.
#[derive(Debug, Clone)]
struct LocalHosts(Vec<String>);

impl LocalHosts {
    fn new(host: &str, bound: SocketAddr) -> Self {
        let ip = match bound {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), ip];
        names.push(host.to_ascii_lowercase());
        names.dedup();
        LocalHosts(names)
    }

    /// Whether a `Host` header names this server (a name above, then an optional `:port`).
    fn allows(&self, host: Option<&HeaderValue>) -> bool {
        let Some(host) = host.and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.trim().to_ascii_lowercase();
        // `[v6]:port`, `[v6]`, `name:port` or `name`; the port must be digits, its value is
        // not checked.
        let name = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => {
                let port = &host[colon + 1..];
                if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return false;
                }
                &host[..colon]
            }
            _ => host.as_str(),
        };
        self.0.iter().any(|allowed| allowed == name)
    }
}

/// `app` behind the `Host` check: any other `Host` (or none) is 403 in the API's envelope. A
/// page on another site that rebinds its name to 127.0.0.1 still sends its own name.
fn only_local_hosts(app: Router, hosts: LocalHosts) -> Router {
    app.layer(from_fn_with_state(Arc::new(hosts), check_host))
}

async fn check_host(
    State(hosts): State<Arc<LocalHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if hosts.allows(request.headers().get(header::HOST)) {
        return next.run(request).await;
    }
    tracing::warn!("request with a Host that is not this server's; refused");
    ApiError::Forbidden(
        "this server answers only requests to 127.0.0.1, localhost or its bound address".into(),
    )
    .into_response()
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

/// The built dashboard: `/` is `index.html` (revalidated every time), `/assets/<hashed
/// name>` is cached for a year. Nothing else is served from disk: every other path is the
/// API's (which answers unknown ones 404).
fn dashboard(dir: PathBuf) -> Router {
    let assets = ServeDir::new(dir.join("assets"));
    let immutable = HeaderValue::from_static("public, max-age=31536000, immutable");
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .nest_service(
            "/assets",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    immutable,
                ))
                .service(assets),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(Arc::new(dir))
}

/// `index.html`, read on each request (a rebuild shows without a restart), or a page saying
/// how to build it.
async fn index(State(dir): State<Arc<PathBuf>>) -> Response {
    let Ok(html) = tokio::fs::read(dir.join("index.html")).await else {
        return placeholder();
    };
    html_response(html)
}

fn html_response(html: impl Into<Body>) -> Response {
    let mut response = Response::new(html.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn placeholder() -> Response {
    html_response(
        "<!doctype html><meta charset=utf-8><title>crypto-dashboard</title>\
         <h1>crypto-dashboard</h1><p>The API is up: try <a href=\"/api/market\">/api/market</a>.</p>\
         <p>The dashboard is not built yet: run <code>npm ci &amp;&amp; npm run build</code> in <code>dashboard/</code>.</p>",
    )
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    async fn status(hosts: &LocalHosts, host: Option<&str>) -> u16 {
        let app = only_local_hosts(
            Router::new().route("/", get(|| async { "ok" })),
            hosts.clone(),
        );
        let mut request = axum::http::Request::builder().uri("/");
        if let Some(host) = host {
            request = request.header(header::HOST, host);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn only_loopback_names_and_the_bound_address_are_answered() {
        let loopback = LocalHosts::new("127.0.0.1", "127.0.0.1:3000".parse().unwrap());
        for ok in ["127.0.0.1:3000", "127.0.0.1", "localhost:3000", "LocalHost"] {
            assert_eq!(status(&loopback, Some(ok)).await, 200, "{ok}");
        }
        for refused in [
            Some("evil.example"),
            Some("evil.example:3000"),
            Some("127.0.0.1.evil.example"),
            Some("localhost.evil.example:3000"),
            Some("192.168.1.5:3000"),
            Some("127.0.0.1:3000@evil.example"),
            Some(""),
            None,
        ] {
            assert_eq!(status(&loopback, refused).await, 403, "{refused:?}");
        }
        let lan = LocalHosts::new("192.168.1.5", "192.168.1.5:8080".parse().unwrap());
        assert_eq!(status(&lan, Some("192.168.1.5:8080")).await, 200);
        let v6 = LocalHosts::new("::1", "[::1]:3000".parse().unwrap());
        assert_eq!(status(&v6, Some("[::1]:3000")).await, 200);
        assert_eq!(status(&v6, Some("[::2]:3000")).await, 403);
    }
}
