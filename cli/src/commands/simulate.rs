//! `crypto-dashboard simulate-coingecko`: the CoinGecko simulator as a server.

use std::process::ExitCode;
use std::time::Duration;

use simulator::{self, Faults, SimPlan, SimulatorConfig};

/// Flags of `simulate-coingecko`.
#[derive(clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Seed of the synthetic price walks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Requests per minute before answering 429 with Retry-After (default: unlimited).
    #[arg(long, value_name = "PER_MIN")]
    rate_limit: Option<u32>,
    /// Host and key to impersonate: public (no key), demo or pro (need --key).
    #[arg(long, value_enum, default_value_t = PlanArg::Public)]
    plan: PlanArg,
    /// The key the demo or pro plan requires.
    #[arg(long, env = "SIMULATOR_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Ids to serve besides the built-in universe of 1,000 coins (default: TRACKED_COINS;
    /// a `top:N` entry is ignored).
    #[arg(long, value_delimiter = ',', env = "TRACKED_COINS")]
    coins: Vec<String>,
    /// Share of requests answered 500/502/503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered with a CDN HTML error page.
    #[arg(long, default_value_t = 0.0)]
    html_rate: f64,
    /// Share of responses whose JSON is cut off.
    #[arg(long, default_value_t = 0.0)]
    truncate_rate: f64,
    /// Share of price values sent as null.
    #[arg(long, default_value_t = 0.0)]
    null_rate: f64,
    /// Share of requests delayed by --slow-ms.
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    /// How long a slow response is delayed, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
    /// Answer the first N requests with 429.
    #[arg(long, default_value_t = 0)]
    storm: u32,
    /// Retry-After seconds sent with storm 429s.
    #[arg(long)]
    storm_retry_after: Option<u64>,
    /// Storm 429s come as a CDN HTML page.
    #[arg(long)]
    storm_html: bool,
    /// Answer the first N market-chart requests with 500.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Always fail market-chart requests for this coin (repeatable).
    #[arg(long)]
    fail_coin: Vec<String>,
    /// Fail every market-chart request over 90 days (the history backfill's daily ranges).
    #[arg(long)]
    fail_daily_ranges: bool,
    /// Answer every market-chart request with well-formed JSON of N MiB, streamed chunked.
    #[arg(long, value_name = "N", default_value_t = 0)]
    huge_body_mb: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PlanArg {
    Public,
    Demo,
    Pro,
}

/// Serves until Ctrl-C.
pub async fn run(args: Args) -> Result<ExitCode, String> {
    let plan = match (args.plan, args.key) {
        (PlanArg::Public, _) => SimPlan::Public,
        (PlanArg::Demo, Some(key)) => SimPlan::Demo(key),
        (PlanArg::Pro, Some(key)) => SimPlan::Pro(key),
        (_, None) => {
            return Err("--plan demo and --plan pro need --key (or SIMULATOR_API_KEY)".into())
        }
    };
    let mut config = SimulatorConfig {
        seed: args.seed,
        plan,
        rate_limit_per_min: args.rate_limit,
        faults: Faults {
            error_rate: args.error_rate,
            html_rate: args.html_rate,
            truncate_rate: args.truncate_rate,
            null_rate: args.null_rate,
            slow_rate: args.slow_rate,
            slow: Duration::from_millis(args.slow_ms),
            storm: args.storm,
            storm_retry_after: args.storm_retry_after,
            storm_html: args.storm_html,
            fail_first: args.fail_first,
            fail_coins: args.fail_coin,
            fail_daily_ranges: args.fail_daily_ranges,
            huge_body_mb: args.huge_body_mb,
        },
        ..SimulatorConfig::default()
    };
    if !args.coins.is_empty() {
        config.coins = args.coins;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("************************************************************************");
    eprintln!("*  SIMULATED CoinGecko API on http://{addr}/api/v3");
    eprintln!(
        "*  Prices are synthetic (seed {}), NOT market data.",
        args.seed
    );
    eprintln!("*  Use: COINGECKO_BASE_URL=http://{addr}/api/v3");
    eprintln!("************************************************************************");
    simulator::serve(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
