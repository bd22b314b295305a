//! What every command needs: the state built from the environment, stdout that fails
//! loudly, and database errors that say where we tried to connect and what to check.

use common::config::{Config, DatabaseConfig, DatabaseSource};
use common::db::DbError;
use common::state::AppState;
use secrecy::ExposeSecret;
use tokio_postgres::error::SqlState;

/// Loads configuration and builds the state, with errors phrased for a terminal.
pub async fn state() -> Result<AppState, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    AppState::new(config).await.map_err(|e| e.to_string())
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the output quietly.
pub fn print_stdout(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// A database error for a terminal: where we tried to connect and what to check when the
/// server could not be reached, `migrate` when the schema is missing.
pub fn db_error(e: &DbError, config: &DatabaseConfig) -> String {
    if e.is_unavailable() {
        return format!("{e}\n{}", connection_hint(config));
    }
    let DbError::Query(query) = e else {
        return e.to_string();
    };
    // The server's own words ("relation ... does not exist"), not just "db error".
    let message = match query.as_db_error() {
        Some(server) => format!("database query failed: {}", server.message()),
        None => e.to_string(),
    };
    if query.code() == Some(&SqlState::UNDEFINED_TABLE) {
        format!("{message}\n  hint: the schema is missing; run `crypto-dashboard migrate` first")
    } else {
        message
    }
}

/// Where the database was looked for, and what to check.
pub fn connection_hint(config: &DatabaseConfig) -> String {
    let variable = match config.source {
        DatabaseSource::Url(_) => "DATABASE_URL",
        DatabaseSource::SecretArn(_) => "DATABASE_SECRET_ARN (and DB_HOST)",
    };
    format!(
        "  tried: {}\n  check: is PostgreSQL running there? (`make dev` starts one) Is {variable} right?",
        database_target(config)
    )
}

/// `host:port/database (user name)` of the configured database; never the password.
pub fn database_target(config: &DatabaseConfig) -> String {
    let url = match &config.source {
        DatabaseSource::Url(url) => url,
        DatabaseSource::SecretArn(arn) => {
            let host = config.host_override.as_deref().unwrap_or("its host");
            return format!("{host}, as secret {arn} describes");
        }
    };
    let Ok(pg) = url.expose_secret().parse::<tokio_postgres::Config>() else {
        return "DATABASE_URL (which could not be parsed)".into();
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(dir) => format!("{}:{port}", dir.display()),
        })
        .collect();
    let user = pg.get_user().unwrap_or("postgres");
    format!(
        "{}/{} (user {user})",
        hosts.join(","),
        pg.get_dbname().unwrap_or(user)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> DatabaseConfig {
        Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.to_owned()))
            .unwrap()
            .database
    }

    #[test]
    fn the_target_names_host_port_and_database_but_never_the_password() {
        let target = database_target(&config("postgres://app:hunter2@db.local:6543/prices"));
        assert_eq!(target, "db.local:6543/prices (user app)");
        let target = database_target(&config("postgresql://app:hunter2@127.0.0.1/prices"));
        assert_eq!(target, "127.0.0.1:5432/prices (user app)");
        let hint = connection_hint(&config("postgres://app:hunter2@db.local:6543/prices"));
        assert!(!hint.contains("hunter2"), "{hint}");
        assert!(
            hint.contains("make dev") && hint.contains("DATABASE_URL"),
            "{hint}"
        );
    }
}
