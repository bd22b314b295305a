//! Logging set-up: JSON lines in Lambda (with the request id from the runtime's span),
//! readable lines on a terminal locally. Levels come from `AWS_LAMBDA_LOG_LEVEL`, else
//! `RUST_LOG`, else `info`.

use tracing_subscriber::EnvFilter;

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
            .try_init()
    } else if in_lambda() {
        builder
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stdout)
            .try_init()
    } else {
        builder.with_writer(std::io::stderr).try_init()
    };
}
