//! What every binary builds once per process (a Lambda container, the local server): the
//! configuration, the secrets reader and the database pool.

use crate::config::Config;
use crate::db::Database;
use crate::secrets::Secrets;

/// What handlers need, built once per container (or once per local server).
pub struct AppState {
    pub config: Config,
    pub secrets: Secrets,
    pub db: Database,
}

impl AppState {
    /// Reads the configuration and builds the secrets client (if any ARN is configured) and
    /// the database pool. Fails fast with a message naming the bad variable.
    pub async fn from_env() -> Result<Self, Error> {
        let config = Config::from_env()?;
        Self::new(config).await
    }

    /// Builds the state for `config`.
    pub async fn new(config: Config) -> Result<Self, Error> {
        let secrets = Secrets::for_config(&config).await;
        let db = Database::connect(&config.database, &secrets).await?;
        Ok(AppState {
            config,
            secrets,
            db,
        })
    }
}

/// A start-up failure: configuration, secrets or database set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}
