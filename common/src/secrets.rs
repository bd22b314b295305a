//! Secrets from AWS Secrets Manager, read once per container and cached.
//!
//! Values are cached for at most [`MAX_TTL`] so a rotated secret is picked up within minutes,
//! and [`Secrets::refresh`] forces a re-read (used when PostgreSQL rejects a rotated password).
//! [`Secrets::resolve_with_previous`] also reads the version before the last rotation
//! (`AWSPREVIOUS`), for a value a peer may still send while the rotation reaches it.
//! Plain environment values ([`SecretSource::Value`]) never touch the SDK, so local runs need
//! no AWS credentials. Secret values are [`SecretString`]s and are never logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::config::{Config, DatabaseSource, SecretSource};

/// The longest a cached secret value is trusted before it is read again.
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// A secret could not be read. Messages name the secret id and the cause, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The SDK call failed (network, permissions, unknown secret).
    #[error("could not read secret {id} from Secrets Manager: {message}")]
    Fetch { id: String, message: String },
    /// The secret exists but holds no string (binary secrets are not supported).
    #[error("secret {id} has no string value")]
    Empty { id: String },
    /// The secret's value is not in the expected shape.
    #[error("secret {id} is malformed: {reason}")]
    Malformed { id: String, reason: String },
}

/// A Secrets Manager client with a per-secret TTL cache.
pub struct SecretCache {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    fetches: AtomicU64,
}

/// One cached secret: its current value, read at `at`, and once asked for, the previous one
/// (`None` inside: the secret has no `AWSPREVIOUS` version), which expires with it.
struct Entry {
    current: SecretString,
    previous: Option<Option<SecretString>>,
    at: Instant,
}

/// The version stage of the value before the last rotation.
const PREVIOUS_STAGE: &str = "AWSPREVIOUS";

impl SecretCache {
    /// Wraps an SDK client; `ttl` is capped at [`MAX_TTL`].
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        SecretCache {
            client,
            ttl: ttl.min(MAX_TTL),
            entries: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        }
    }

    /// Builds the SDK client from the default AWS configuration chain (region, credentials,
    /// `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let sdk = crate::aws::sdk_config().await;
        Self::new(aws_sdk_secretsmanager::Client::new(&sdk), MAX_TTL)
    }

    /// The secret's value, from the cache while it is fresh.
    pub async fn get(&self, id: &str) -> Result<SecretString, SecretError> {
        let mut entries = self.entries.lock().await;
        Ok(self.fresh_entry(&mut entries, id).await?.current.clone())
    }

    /// The current value and, when the secret has one, the value before the last rotation
    /// (`AWSPREVIOUS`), both from the cache while it is fresh. Failing to read the previous
    /// value is logged and leaves only the current one.
    pub async fn get_with_previous(
        &self,
        id: &str,
    ) -> Result<(SecretString, Option<SecretString>), SecretError> {
        let mut entries = self.entries.lock().await;
        let entry = self.fresh_entry(&mut entries, id).await?;
        if entry.previous.is_none() {
            let previous = self.fetch_stage(id, Some(PREVIOUS_STAGE)).await;
            entry.previous = Some(previous.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the previous version of a secret could not be read");
                None
            }));
        }
        Ok((entry.current.clone(), entry.previous.clone().flatten()))
    }

    /// Reads the secret again regardless of the cache (after a rotation); its previous value
    /// is read again when next asked for.
    pub async fn refresh(&self, id: &str) -> Result<SecretString, SecretError> {
        let mut entries = self.entries.lock().await;
        let value = self.fetch(id).await?;
        entries.insert(id.to_owned(), Entry::new(value.clone()));
        Ok(value)
    }

    /// The cached entry of `id`, read again when missing or older than the TTL.
    async fn fresh_entry<'a>(
        &self,
        entries: &'a mut HashMap<String, Entry>,
        id: &str,
    ) -> Result<&'a mut Entry, SecretError> {
        if entries.get(id).is_none_or(|e| e.at.elapsed() >= self.ttl) {
            let value = self.fetch(id).await?;
            entries.insert(id.to_owned(), Entry::new(value));
        }
        Ok(entries.get_mut(id).expect("inserted above"))
    }

    /// How many times the SDK was called (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn fetch(&self, id: &str) -> Result<SecretString, SecretError> {
        self.fetch_stage(id, None)
            .await?
            .ok_or_else(|| SecretError::Fetch {
                id: id.to_owned(),
                message: "the secret has no current version".into(),
            })
    }

    /// The value of `id` at `stage` (`None`: `AWSCURRENT`); `Ok(None)` when the secret has no
    /// version at that stage.
    #[tracing::instrument(skip(self), fields(secret_id = %id))]
    async fn fetch_stage(
        &self,
        id: &str,
        stage: Option<&str>,
    ) -> Result<Option<SecretString>, SecretError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // Boxed: the SDK's future is deep, and every caller's future (a whole ingestion run's
        // included) would otherwise nest it, past the compiler's query depth limit.
        let call = self
            .client
            .get_secret_value()
            .secret_id(id)
            .set_version_stage(stage.map(str::to_owned))
            .send();
        let output = match Box::pin(call).await {
            Ok(output) => output,
            Err(e)
                if stage.is_some()
                    && e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(SecretError::Fetch {
                    id: id.to_owned(),
                    message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })
            }
        };
        let value = output
            .secret_string()
            .ok_or_else(|| SecretError::Empty { id: id.to_owned() })?;
        tracing::debug!("secret read from Secrets Manager");
        Ok(Some(SecretString::from(value.to_owned())))
    }
}

impl Entry {
    fn new(current: SecretString) -> Self {
        Entry {
            current,
            previous: None,
            at: Instant::now(),
        }
    }
}

/// Resolves [`SecretSource`]s: plain values directly, ARNs through a shared [`SecretCache`].
#[derive(Clone, Default)]
pub struct Secrets {
    cache: Option<Arc<SecretCache>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("secrets_manager", &self.cache.is_some())
            .finish()
    }
}

impl Secrets {
    /// Builds the SDK client only if the configuration names at least one secret ARN, so a
    /// purely local configuration starts without touching AWS.
    pub async fn for_config(config: &Config) -> Self {
        let needs_sdk = matches!(config.database.source, DatabaseSource::SecretArn(_))
            || matches!(
                config.coingecko.api_key,
                Some(SecretSource::SecretsManager(_))
            )
            || matches!(config.cron_secret, Some(SecretSource::SecretsManager(_)))
            || matches!(
                config.origin_verify_secret,
                Some(SecretSource::SecretsManager(_))
            )
            || config.reader_secret_arn.is_some()
            || config.writer_secret_arn.is_some()
            || config.trigger_secret_arn.is_some();
        if needs_sdk {
            Self::with_cache(Arc::new(SecretCache::from_env().await))
        } else {
            Self::default()
        }
    }

    /// Uses the given cache for ARNs (tests point it at a local emulator).
    pub fn with_cache(cache: Arc<SecretCache>) -> Self {
        Secrets { cache: Some(cache) }
    }

    /// The value of `source`.
    pub async fn resolve(&self, source: &SecretSource) -> Result<SecretString, SecretError> {
        match source {
            SecretSource::Value(v) => Ok(v.clone()),
            SecretSource::SecretsManager(id) => self.cache_for(id)?.get(id).await,
        }
    }

    /// The value of `source` and, from Secrets Manager, the value before its last rotation
    /// (`AWSPREVIOUS`) when there is one: what a peer that has not caught up may still send.
    pub async fn resolve_with_previous(
        &self,
        source: &SecretSource,
    ) -> Result<(SecretString, Option<SecretString>), SecretError> {
        match source {
            SecretSource::Value(v) => Ok((v.clone(), None)),
            SecretSource::SecretsManager(id) => self.cache_for(id)?.get_with_previous(id).await,
        }
    }

    /// The value of `source`, re-read from Secrets Manager if it comes from there.
    pub async fn refresh(&self, source: &SecretSource) -> Result<SecretString, SecretError> {
        match source {
            SecretSource::Value(v) => Ok(v.clone()),
            SecretSource::SecretsManager(id) => self.cache_for(id)?.refresh(id).await,
        }
    }

    fn cache_for(&self, id: &str) -> Result<&SecretCache, SecretError> {
        self.cache.as_deref().ok_or_else(|| SecretError::Fetch {
            id: id.to_owned(),
            message: "no Secrets Manager client was configured".into(),
        })
    }
}

/// Database credentials as stored by RDS (`SecretTargetAttachment` adds host, port, dbname),
/// or a plain `postgres://` URL stored as the secret string. `host_override` (`DB_HOST`)
/// replaces the JSON's host, e.g. with the RDS Proxy endpoint.
pub fn database_url_from_secret(
    id: &str,
    secret: &SecretString,
    host_override: Option<&str>,
) -> Result<SecretString, SecretError> {
    let raw = secret.expose_secret().trim();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok(SecretString::from(raw.to_owned()));
    }
    #[derive(serde::Deserialize)]
    struct RdsSecret {
        username: String,
        password: String,
        host: String,
        #[serde(default)]
        port: Option<serde_json::Value>,
        #[serde(default, alias = "dbName", alias = "database")]
        dbname: Option<String>,
    }
    let parsed: RdsSecret = serde_json::from_str(raw).map_err(|e| SecretError::Malformed {
        id: id.to_owned(),
        // serde's message names the missing field or the position, never the content.
        reason: format!("expected JSON with username, password, host (port, dbname optional): {e}"),
    })?;
    let port = match parsed.port {
        None => 5432,
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(5432),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(5432),
        Some(_) => 5432,
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(SecretString::from(format!(
        "postgres://{}:{}@{}:{}/{}",
        enc(&parsed.username),
        enc(&parsed.password),
        host_override.unwrap_or(&parsed.host),
        port,
        enc(parsed.dbname.as_deref().unwrap_or("postgres")),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secret_json_becomes_a_url_with_escaped_password() {
        let s = SecretString::from(
            r#"{"username":"app","password":"p@ss:w/rd","host":"db.example","port":5433,"dbname":"prices","engine":"postgres"}"#.to_owned(),
        );
        let url = database_url_from_secret("id", &s, None).unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://app:p%40ss%3Aw%2Frd@db.example:5433/prices"
        );
        let parsed: tokio_postgres::Config = url.expose_secret().parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"p@ss:w/rd"[..]));
    }

    #[test]
    fn malformed_secret_names_fields_but_not_values() {
        let s = SecretString::from(r#"{"username":"app","password":"hunter2"}"#.to_owned());
        let err = database_url_from_secret("db-secret", &s, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("db-secret") && err.contains("host"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn plain_url_secret_is_used_as_is() {
        let s = SecretString::from("postgres://a:b@h:1/d".to_owned());
        assert_eq!(
            database_url_from_secret("x", &s, None)
                .unwrap()
                .expose_secret(),
            "postgres://a:b@h:1/d"
        );
    }
}
