//! `crypto-dashboard serve`: the API (every route the Lambdas serve, behind the same edge
//! layers) and the built dashboard on one local origin, with what CloudFront adds in AWS:
//! compression and long-lived caching of hashed assets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::api::{self, route, ApiState};
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
