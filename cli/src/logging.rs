//! Logs of the local binary: on stderr, coloured only on a terminal, and printed above the
//! progress bars while `ingest` draws them.

use std::io::{IsTerminal, Write};

use indicatif::MultiProgress;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over `default_level`.
pub fn init(default_level: &str, bars: MultiProgress) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(AboveBars(bars))
        .finish()
        .with(common::telemetry::pinned_targets())
        .try_init();
}

/// Writes each log line to stderr with the progress bars (if drawn) cleared meanwhile.
#[derive(Clone)]
struct AboveBars(MultiProgress);

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = AboveBars;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for AboveBars {
    /// The formatter hands over one whole line per call.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
