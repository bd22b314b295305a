//! Typed configuration read once from the environment at start-up.
//!
//! Every variable of the README's configuration table is parsed here; a missing or malformed
//! value fails fast with an error that names the variable and shows a valid example. Secret
//! values are wrapped in [`SecretString`] so `Debug` output and logs show them redacted.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// The original's eleven coins: pinned by default, whatever their rank.
pub const DEFAULT_COINS: [&str; 11] = [
    "bitcoin",
    "ethereum",
    "tether",
    "binancecoin",
    "solana",
    "ripple",
    "usd-coin",
    "cardano",
    "dogecoin",
    "tron",
    "avalanche-2",
];

/// The largest coins by market cap tracked when `TRACKED_COINS` is not set (with
/// [`DEFAULT_COINS`] pinned).
pub const DEFAULT_TOP: u32 = 100;

/// The most coins `top:N` may ask for.
pub const MAX_TOP: u32 = 1_000;

/// Currencies tracked when `TRACKED_CURRENCIES` is not set.
pub const DEFAULT_CURRENCIES: [&str; 4] = ["usd", "eur", "gbp", "jpy"];

/// A configuration value that is wrong or absent, naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    /// A variable is set but cannot be used. The value itself is never echoed (it may be a secret).
    #[error("{var} is invalid: {reason} (example: {example})")]
    Invalid {
        var: &'static str,
        reason: String,
        example: &'static str,
    },
}

/// Where a secret value comes from: the environment (local) or Secrets Manager (AWS).
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// The value itself, from a plain environment variable.
    Value(SecretString),
    /// The ARN (or name) of a Secrets Manager secret holding the value.
    SecretsManager(String),
}

/// How the database connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP (local development and tests).
    Disable,
    /// TLS required, server certificate verified against the configured CA bundle (RDS).
    Require,
}

/// Which CoinGecko plan the key belongs to; picks the base URL and the key header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiPlan {
    /// Keyless public API.
    Public,
    /// Demo key: api.coingecko.com with `x-cg-demo-api-key`.
    Demo,
    /// Pro key: pro-api.coingecko.com with `x-cg-pro-api-key`.
    Pro,
}

impl ApiPlan {
    /// The plan's default base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            ApiPlan::Public | ApiPlan::Demo => "https://api.coingecko.com/api/v3",
            ApiPlan::Pro => "https://pro-api.coingecko.com/api/v3",
        }
    }

    /// The header that carries the key, if the plan has one.
    pub fn key_header(self) -> Option<&'static str> {
        match self {
            ApiPlan::Public => None,
            ApiPlan::Demo => Some("x-cg-demo-api-key"),
            ApiPlan::Pro => Some("x-cg-pro-api-key"),
        }
    }
}

/// Database connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL` (a secret: it holds the password) or `DATABASE_SECRET_ARN`.
    pub source: DatabaseSource,
    /// `DB_POOL_MAX_SIZE`: 2 by default, enough for one Lambda invocation at a time.
    pub pool_max_size: usize,
    /// `DB_SSLMODE`: `disable` (default) or `require`.
    pub ssl_mode: SslMode,
    /// `DB_SSL_ROOT_CERT`: PEM bundle of CAs trusted for the server certificate (the RDS bundle).
    pub ssl_root_cert: Option<PathBuf>,
    /// `DB_CONNECT_TIMEOUT_SECS`: how long to wait for a connection before answering 503.
    pub connect_timeout: Duration,
    /// `DB_HOST`: replaces the host of an RDS secret (the RDS Proxy endpoint, when enabled).
    pub host_override: Option<String>,
}

/// Where database credentials come from.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// A libpq-style URL (`postgres://user:pass@host:port/db`).
    Url(SecretString),
    /// An RDS-managed secret (JSON with username, password, host, port, dbname).
    SecretArn(String),
}

/// CoinGecko access settings.
#[derive(Debug, Clone)]
pub struct CoinGeckoConfig {
    /// `COINGECKO_API_PLAN`.
    pub plan: ApiPlan,
    /// `COINGECKO_API_KEY` or `COINGECKO_API_KEY_SECRET_ARN`.
    pub api_key: Option<SecretSource>,
    /// `COINGECKO_BASE_URL`, else the plan's.
    pub base_url: String,
    /// `COINGECKO_RATE_LIMIT_PER_MIN` (default 30).
    pub rate_limit_per_min: u32,
    /// `COINGECKO_MONTHLY_CALLS` (default 10,000 on `public` and `demo`, 500,000 on `pro`):
    /// the hard cap on calls (retries included) in a calendar month (UTC), over all runs.
    pub monthly_calls: u32,
}

/// `TRACKED_COINS`: the `top` largest coins by market cap (if any) plus the `pinned` ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedCoins {
    /// `top:N`: the N largest coins by market cap, resolved from `/coins/markets`.
    pub top: Option<u32>,
    /// Ids followed whatever their rank, in configured order.
    pub pinned: Vec<String>,
}

impl TrackedCoins {
    /// Parses `top:N,id,id,...` (at most one `top:N`, 1 <= N <= [`MAX_TOP`]).
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        const VAR: &str = "TRACKED_COINS";
        const EXAMPLE: &str = "top:100,bitcoin,ethereum";
        let mut tracked = TrackedCoins {
            top: None,
            pinned: Vec::new(),
        };
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(n) = item.strip_prefix("top:") {
                let n = match n.parse::<u32>() {
                    Ok(n) if (1..=MAX_TOP).contains(&n) => n,
                    _ => {
                        return Err(invalid(
                            VAR,
                            &format!("{item:?}: top:N takes a whole number from 1 to {MAX_TOP}"),
                            EXAMPLE,
                        ))
                    }
                };
                if tracked.top.replace(n).is_some() {
                    return Err(invalid(VAR, "gives top:N more than once", EXAMPLE));
                }
            } else if !is_coin_id(item) {
                return Err(invalid(
                    VAR,
                    &format!(
                        "{item:?} is neither top:N nor a lowercase id (letters, digits and dashes)"
                    ),
                    EXAMPLE,
                ));
            } else if !tracked.pinned.iter().any(|i| i == item) {
                tracked.pinned.push(item.to_owned());
            }
        }
        if tracked.top.is_none() && tracked.pinned.is_empty() {
            return Err(invalid(VAR, "must give top:N or at least one id", EXAMPLE));
        }
        Ok(tracked)
    }
}

impl Default for TrackedCoins {
    /// `top:100` plus the original's eleven pinned.
    fn default() -> Self {
        TrackedCoins {
            top: Some(DEFAULT_TOP),
            pinned: DEFAULT_COINS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// How far back prices are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// `HISTORY_DAYS` (default 365, at most 365 below the Pro plan): a pair with fewer daily
    /// rows gets one backfill call of daily snapshots over this many days. 90 or less turns
    /// the backfill off (the hourly window covers 90 days).
    pub days: u32,
    /// `HOURLY_RETENTION_DAYS` (unset: keep every hour): hourly rows older than this are
    /// pruned when their pair is written; their daily rows stay.
    pub hourly_retention_days: Option<u32>,
}

/// The whole configuration of one process (a Lambda container or the local binary).
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub coingecko: CoinGeckoConfig,
    /// `CRON_SECRET` or `CRON_SECRET_ARN`; `None` makes the cron route answer 503 (fail closed).
    pub cron_secret: Option<SecretSource>,
    /// `ORIGIN_VERIFY_SECRET` or `ORIGIN_VERIFY_SECRET_ARN`: the value CloudFront sends in
    /// `X-Origin-Verify`; when set, requests without it are 403. `None`: no check (local).
    pub origin_verify_secret: Option<SecretSource>,
    /// `TRACKED_COINS`: the top N by market cap and the pinned ids.
    pub tracked_coins: TrackedCoins,
    /// `TRACKED_CURRENCIES` (comma-separated lowercase codes).
    pub tracked_currencies: Vec<String>,
    /// `CORS_ALLOWED_ORIGINS` (comma-separated origins, or `*`); empty sends no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// `STALE_AFTER_MINUTES` (default 120): a latest price older than this is shown `stale`.
    pub stale_after: Duration,
    /// How deep the stored history goes and how long hourly rows are kept.
    pub history: HistoryConfig,
    /// `LIVE_EVERY_MINUTES` (default 10, the template's `LiveQuotesEveryMinutes`; 0 = off):
    /// how often live quotes are refreshed. Health calls a live refresh stale after three
    /// intervals.
    pub live_every: Option<Duration>,
    /// `INGEST_FUNCTION_NAME`: the ingest Lambda the cron route invokes asynchronously in AWS.
    pub ingest_function_name: Option<String>,
    /// `DATABASE_READER_SECRET_ARN`: the read-only role's credentials, kept in step by the
    /// migrate function.
    pub reader_secret_arn: Option<String>,
    /// `DATABASE_WRITER_SECRET_ARN`: the ingester's role's credentials, kept in step by the
    /// migrate function.
    pub writer_secret_arn: Option<String>,
    /// `DATABASE_TRIGGER_SECRET_ARN`: the cron trigger's role's credentials (`ingestion_runs`
    /// only), kept in step by the migrate function.
    pub trigger_secret_arn: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let database = DatabaseConfig {
            source: match (get("DATABASE_URL"), get("DATABASE_SECRET_ARN")) {
                (Some(url), _) => {
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                        return Err(invalid(
                            "DATABASE_URL",
                            "must be a postgres:// or postgresql:// URL",
                            "postgres://app:password@127.0.0.1:5432/crypto_dashboard",
                        ));
                    }
                    DatabaseSource::Url(SecretString::from(url))
                }
                (None, Some(arn)) => DatabaseSource::SecretArn(arn),
                (None, None) => {
                    return Err(ConfigError::Missing {
                        var: "DATABASE_URL",
                        hint: "set DATABASE_URL (e.g. postgres://app:password@127.0.0.1:5432/crypto_dashboard) \
                               or DATABASE_SECRET_ARN (an RDS-managed secret)",
                    })
                }
            },
            pool_max_size: parse_number(get("DB_POOL_MAX_SIZE"), "DB_POOL_MAX_SIZE", 2, 1..=64, "2")?,
            ssl_mode: match get("DB_SSLMODE").as_deref() {
                None | Some("disable") => SslMode::Disable,
                Some("require") => SslMode::Require,
                Some(_) => return Err(invalid("DB_SSLMODE", "must be disable or require", "require")),
            },
            ssl_root_cert: get("DB_SSL_ROOT_CERT").map(PathBuf::from),
            connect_timeout: Duration::from_secs(parse_number(
                get("DB_CONNECT_TIMEOUT_SECS"),
                "DB_CONNECT_TIMEOUT_SECS",
                5,
                1..=60,
                "5",
            )?),
            host_override: get("DB_HOST"),
        };
        if database.ssl_mode == SslMode::Require && database.ssl_root_cert.is_none() {
            return Err(ConfigError::Missing {
                var: "DB_SSL_ROOT_CERT",
                hint: "DB_SSLMODE=require needs the CA bundle that signed the server certificate \
                       (e.g. /opt/rds/global-bundle.pem)",
            });
        }

        let plan = match get("COINGECKO_API_PLAN").as_deref() {
            None | Some("public") => ApiPlan::Public,
            Some("demo") => ApiPlan::Demo,
            Some("pro") => ApiPlan::Pro,
            Some(_) => {
                return Err(invalid(
                    "COINGECKO_API_PLAN",
                    "must be public, demo or pro",
                    "demo",
                ))
            }
        };
        let api_key = secret_source(
            get("COINGECKO_API_KEY"),
            get("COINGECKO_API_KEY_SECRET_ARN"),
        );
        if plan != ApiPlan::Public && api_key.is_none() {
            return Err(ConfigError::Missing {
                var: "COINGECKO_API_KEY",
                hint: "the demo and pro plans need a key: set COINGECKO_API_KEY or \
                       COINGECKO_API_KEY_SECRET_ARN, or COINGECKO_API_PLAN=public",
            });
        }
        let base_url = match get("COINGECKO_BASE_URL") {
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        "COINGECKO_BASE_URL",
                        "must be an http:// or https:// URL",
                        "http://127.0.0.1:8090/api/v3",
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
            None => plan.base_url().to_owned(),
        };
        let coingecko = CoinGeckoConfig {
            plan,
            api_key,
            base_url,
            rate_limit_per_min: parse_number(
                get("COINGECKO_RATE_LIMIT_PER_MIN"),
                "COINGECKO_RATE_LIMIT_PER_MIN",
                30,
                1..=100_000,
                "30",
            )?,
            monthly_calls: parse_number(
                get("COINGECKO_MONTHLY_CALLS"),
                "COINGECKO_MONTHLY_CALLS",
                match plan {
                    ApiPlan::Public | ApiPlan::Demo => 10_000,
                    ApiPlan::Pro => 500_000,
                },
                1..=100_000_000,
                "10000",
            )?,
        };

        let history = HistoryConfig {
            days: parse_number(get("HISTORY_DAYS"), "HISTORY_DAYS", 365, 90..=3660, "365")?,
            hourly_retention_days: get("HOURLY_RETENTION_DAYS")
                .map(|raw| parse_number(Some(raw), "HOURLY_RETENTION_DAYS", 0, 90..=36_600, "400"))
                .transpose()?,
        };
        if history.days > 365 && plan != ApiPlan::Pro {
            return Err(invalid(
                "HISTORY_DAYS",
                "the public and Demo plans reach 365 days back (CoinGecko error 10012 beyond \
                 it): at most 365 unless COINGECKO_API_PLAN=pro",
                "365",
            ));
        }

        let tracked_coins = match get("TRACKED_COINS") {
            Some(raw) => TrackedCoins::parse(&raw)?,
            None => TrackedCoins::default(),
        };
        let tracked_currencies = parse_currencies(get("TRACKED_CURRENCIES"))?;
        let cors_allowed_origins = get("CORS_ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        Ok(Config {
            database,
            coingecko,
            cron_secret: secret_source(get("CRON_SECRET"), get("CRON_SECRET_ARN")),
            origin_verify_secret: secret_source(
                get("ORIGIN_VERIFY_SECRET"),
                get("ORIGIN_VERIFY_SECRET_ARN"),
            ),
            tracked_coins,
            tracked_currencies,
            cors_allowed_origins,
            stale_after: Duration::from_secs(
                60 * parse_number(
                    get("STALE_AFTER_MINUTES"),
                    "STALE_AFTER_MINUTES",
                    120u64,
                    1..=10_080,
                    "120",
                )?,
            ),
            history,
            live_every: match parse_number(
                get("LIVE_EVERY_MINUTES"),
                "LIVE_EVERY_MINUTES",
                10u64,
                0..=1440,
                "10",
            )? {
                0 => None,
                minutes => Some(Duration::from_secs(60 * minutes)),
            },
            ingest_function_name: get("INGEST_FUNCTION_NAME"),
            reader_secret_arn: get("DATABASE_READER_SECRET_ARN"),
            writer_secret_arn: get("DATABASE_WRITER_SECRET_ARN"),
            trigger_secret_arn: get("DATABASE_TRIGGER_SECRET_ARN"),
        })
    }
}

/// True for a plausible CoinGecko coin id (lowercase letters, digits, dashes).
pub fn is_coin_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// True for a plausible currency code (2-10 lowercase letters).
pub fn is_currency_code(s: &str) -> bool {
    (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

fn invalid(var: &'static str, reason: &str, example: &'static str) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.to_owned(),
        example,
    }
}

fn secret_source(value: Option<String>, arn: Option<String>) -> Option<SecretSource> {
    match (value, arn) {
        (Some(v), _) => Some(SecretSource::Value(SecretString::from(v))),
        (None, Some(arn)) => Some(SecretSource::SecretsManager(arn)),
        (None, None) => None,
    }
}

fn parse_number<T>(
    raw: Option<String>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    example: &'static str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(ConfigError::Invalid {
            var,
            reason: format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
            example,
        }),
    }
}

/// `TRACKED_CURRENCIES`: lowercase codes, deduplicated in order; `usd,eur,gbp,jpy` when unset.
fn parse_currencies(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "TRACKED_CURRENCIES";
    let Some(raw) = raw else {
        return Ok(DEFAULT_CURRENCIES.iter().map(|s| s.to_string()).collect());
    };
    let mut codes: Vec<String> = Vec::new();
    for code in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !is_currency_code(code) {
            return Err(invalid(
                VAR,
                &format!("{code:?} is not a currency code (2 to 10 lowercase letters)"),
                "usd,eur",
            ));
        }
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_owned());
        }
    }
    if codes.is_empty() {
        return Err(invalid(VAR, "must list at least one code", "usd,eur"));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:5432/db");

    #[test]
    fn defaults_apply_with_only_a_database() {
        let c = config(&[DB]).unwrap();
        assert_eq!(c.tracked_coins.top, Some(100));
        assert_eq!(c.tracked_coins.pinned, DEFAULT_COINS);
        assert_eq!(c.coingecko.monthly_calls, 10_000);
        assert_eq!(c.tracked_currencies, ["usd", "eur", "gbp", "jpy"]);
        assert_eq!(c.database.pool_max_size, 2);
        assert_eq!(c.coingecko.rate_limit_per_min, 30);
        assert_eq!(c.coingecko.base_url, "https://api.coingecko.com/api/v3");
        assert!(c.cron_secret.is_none());
    }

    #[test]
    fn missing_database_names_both_variables() {
        let err = config(&[]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                var: "DATABASE_URL",
                ..
            }
        ));
        assert!(err.to_string().contains("DATABASE_SECRET_ARN"));
    }

    #[test]
    fn each_malformed_variable_gives_its_own_error() {
        let cases: &[(&str, &str)] = &[
            ("DATABASE_URL", "mysql://x"),
            ("DB_POOL_MAX_SIZE", "zero"),
            ("DB_POOL_MAX_SIZE", "0"),
            ("DB_SSLMODE", "maybe"),
            ("DB_CONNECT_TIMEOUT_SECS", "-1"),
            ("COINGECKO_API_PLAN", "enterprise"),
            ("COINGECKO_BASE_URL", "ftp://x"),
            ("COINGECKO_RATE_LIMIT_PER_MIN", "fast"),
            ("TRACKED_COINS", "Bitcoin"),
            ("TRACKED_COINS", "top:0"),
            ("TRACKED_COINS", "top:1001"),
            ("TRACKED_COINS", "top:10,top:20"),
            ("TRACKED_COINS", " , "),
            ("COINGECKO_MONTHLY_CALLS", "0"),
            ("TRACKED_CURRENCIES", "US$"),
            ("TRACKED_CURRENCIES", " , "),
        ];
        for (var, value) in cases {
            let mut vars = vec![DB];
            if *var != "DATABASE_URL" {
                vars.push((var, value));
            } else {
                vars[0] = (var, value);
            }
            let err = config(&vars).unwrap_err();
            match &err {
                ConfigError::Invalid { var: v, .. } => assert_eq!(v, var, "{err}"),
                other => panic!("{var}={value}: expected Invalid, got {other:?}"),
            }
            assert!(err.to_string().starts_with(var), "{err}");
            assert!(err.to_string().contains("example"), "{err}");
        }
    }

    #[test]
    fn required_companions_are_named() {
        let err = config(&[DB, ("DB_SSLMODE", "require")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                var: "DB_SSL_ROOT_CERT",
                ..
            }
        ));
        let err = config(&[DB, ("COINGECKO_API_PLAN", "pro")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                var: "COINGECKO_API_KEY",
                ..
            }
        ));
    }

    #[test]
    fn plans_pick_base_url_and_header() {
        let c = config(&[
            DB,
            ("COINGECKO_API_PLAN", "pro"),
            ("COINGECKO_API_KEY", "k"),
        ])
        .unwrap();
        assert_eq!(c.coingecko.base_url, "https://pro-api.coingecko.com/api/v3");
        assert_eq!(c.coingecko.plan.key_header(), Some("x-cg-pro-api-key"));
        let c = config(&[
            DB,
            ("COINGECKO_API_PLAN", "demo"),
            ("COINGECKO_API_KEY_SECRET_ARN", "arn:x"),
        ])
        .unwrap();
        assert_eq!(c.coingecko.plan.key_header(), Some("x-cg-demo-api-key"));
        assert!(matches!(
            c.coingecko.api_key,
            Some(SecretSource::SecretsManager(_))
        ));
        let c = config(&[DB, ("COINGECKO_BASE_URL", "http://127.0.0.1:9/api/v3/")]).unwrap();
        assert_eq!(c.coingecko.base_url, "http://127.0.0.1:9/api/v3");
    }

    #[test]
    fn lists_are_trimmed_and_deduplicated() {
        let c = config(&[DB, ("TRACKED_COINS", " bitcoin, ethereum ,bitcoin,")]).unwrap();
        assert_eq!(c.tracked_coins.pinned, ["bitcoin", "ethereum"]);
        assert_eq!(c.tracked_coins.top, None);
        let c = config(&[DB, ("TRACKED_CURRENCIES", "usd, eur,usd")]).unwrap();
        assert_eq!(c.tracked_currencies, ["usd", "eur"]);
    }

    #[test]
    fn tracked_coins_take_one_top_n_and_pinned_ids_in_any_order() {
        let c = config(&[DB, ("TRACKED_COINS", "monero, top:250 ,bitcoin")]).unwrap();
        assert_eq!(c.tracked_coins.top, Some(250));
        assert_eq!(c.tracked_coins.pinned, ["monero", "bitcoin"]);
        let c = config(&[DB, ("TRACKED_COINS", "top:1000")]).unwrap();
        assert_eq!(c.tracked_coins.top, Some(1000));
        assert!(c.tracked_coins.pinned.is_empty());
        let err = TrackedCoins::parse("top:ten").unwrap_err().to_string();
        assert!(err.contains("1 to 1000"), "{err}");
    }

    #[test]
    fn the_monthly_call_budget_defaults_by_plan() {
        let pro = config(&[
            DB,
            ("COINGECKO_API_PLAN", "pro"),
            ("COINGECKO_API_KEY", "k"),
        ]);
        assert_eq!(pro.unwrap().coingecko.monthly_calls, 500_000);
        let set = config(&[DB, ("COINGECKO_MONTHLY_CALLS", "2500")]).unwrap();
        assert_eq!(set.coingecko.monthly_calls, 2_500);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let c = config(&[
            DB,
            ("COINGECKO_API_PLAN", "demo"),
            ("COINGECKO_API_KEY", "CG-topsecretkey"),
            ("CRON_SECRET", "cron-topsecret"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        for secret in ["hunter2", "topsecretkey", "cron-topsecret"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn errors_never_echo_secret_values() {
        let err = config(&[("DATABASE_URL", "mysql://root:hunter2@db")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn history_is_a_year_deep_by_default_and_longer_only_with_pro() {
        let c = config(&[DB]).unwrap();
        assert_eq!(c.history.days, 365);
        assert_eq!(c.history.hourly_retention_days, None);
        let err = config(&[DB, ("HISTORY_DAYS", "730")]).unwrap_err();
        assert!(err.to_string().contains("COINGECKO_API_PLAN=pro"), "{err}");
        let pro = config(&[
            DB,
            ("COINGECKO_API_PLAN", "pro"),
            ("COINGECKO_API_KEY", "k"),
            ("HISTORY_DAYS", "3660"),
            ("HOURLY_RETENTION_DAYS", "400"),
        ])
        .unwrap();
        assert_eq!(pro.history.days, 3660);
        assert_eq!(pro.history.hourly_retention_days, Some(400));
        // Pruning inside the 90-day window a full run refetches would delete what it wrote.
        assert!(config(&[DB, ("HOURLY_RETENTION_DAYS", "30")]).is_err());
        assert!(config(&[DB, ("HISTORY_DAYS", "3661")]).is_err());
    }
}
