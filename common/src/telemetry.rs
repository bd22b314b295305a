//! Logging set-up: JSON lines in Lambda (with the request id from the runtime's span),
//! readable lines on a terminal locally. Levels come from `AWS_LAMBDA_LOG_LEVEL`, else
//! `RUST_LOG`, else `info`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Targets that log whole payloads below INFO, capped at INFO whatever the level asked for:
/// at TRACE the Lambda runtime logs every raw event (the cron route's `Authorization:
/// Bearer ...`, the migrate function's pre-signed response URL), the SDK logs responses
/// (Secrets Manager's carry secret values), and the PostgreSQL driver logs statement
/// parameters.
pub const PINNED_TARGETS: [&str; 14] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_config",
    "aws_sdk_secretsmanager",
    "aws_sdk_lambda",
    "hyper",
    "hyper_util",
    "tokio_postgres",
];

/// The cap of [`PINNED_TARGETS`]; everything else passes through to the level filter.
pub fn pinned_targets() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(PINNED_TARGETS.map(|t| (t, LevelFilter::INFO)))
}

/// True when running inside AWS Lambda (or a local emulator of it).
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// Installs the global subscriber once; later calls do nothing. Logs go to stderr locally
/// (stdout carries the CLI's JSON report) and to stdout in Lambda (CloudWatch reads both).
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let filter =
        EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let text_requested =
        std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let _ = if in_lambda() && !text_requested {
        // CloudWatch adds its own timestamp; the runtime's span carries `requestId`.
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .with_writer(std::io::stdout)
            .finish()
            .with(pinned_targets())
            .try_init()
    } else if in_lambda() {
        builder
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stdout)
            .finish()
            .with(pinned_targets())
            .try_init()
    } else {
        builder
            .with_writer(std::io::stderr)
            .finish()
            .with(pinned_targets())
            .try_init()
    };
    tracing::debug!(%level, "logging initialised");
}
