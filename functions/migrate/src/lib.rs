//! The migrate Lambda's work: a CloudFormation custom resource that applies the migrations
//! on every deploy and keeps the application's database roles (read-only for the HTTP
//! functions, read-write for the ingester, `ingestion_runs` only for the cron trigger) in step
//! with their secrets.
//!
//! CloudFormation waits for an HTTP `PUT` to the pre-signed `ResponseURL`, so every request
//! is answered SUCCESS or FAILED (never left to time out), and the handler itself returns
//! `Ok` either way: an error would make Lambda retry an asynchronous invoke.

use std::time::Duration;

use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use common::config::{is_coin_id, SecretSource};
use common::state::AppState;

/// What a migration run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationOutcome {
    /// Migrations applied now (empty when the schema was current).
    pub applied: Vec<String>,
    /// The read-only role created or updated, if a reader secret is configured.
    pub reader_role: Option<String>,
    /// The ingester's role created or updated, if a writer secret is configured.
    pub writer_role: Option<String>,
    /// The cron trigger's role created or updated, if a trigger secret is configured.
    pub trigger_role: Option<String>,
}

/// A login role of the application, with the table privileges it is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRole {
    /// The read functions: `SELECT` only.
    Reader,
    /// The ingester: reads and writes rows, but cannot change the schema, truncate, or touch
    /// the migration history.
    Writer,
    /// The cron trigger: claims and withdraws runs in `ingestion_runs`, and nothing else.
    Trigger,
}

impl AppRole {
    fn label(self) -> &'static str {
        match self {
            AppRole::Reader => "reader",
            AppRole::Writer => "writer",
            AppRole::Trigger => "trigger",
        }
    }

    /// The role's rights, as a `format()` template whose first `%I` is the database and every
    /// other one the role: reader and writer on every table (and by default on tables later
    /// migrations create), the trigger on `ingestion_runs` alone (whatever it held before).
    fn grants(self) -> String {
        let connect = "GRANT CONNECT ON DATABASE %I TO %I; GRANT USAGE ON SCHEMA public TO %I;";
        let on_every_table = |privileges: &str| {
            format!(
                "{connect} GRANT {privileges} ON ALL TABLES IN SCHEMA public TO %I;
                 REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON refinery_schema_history FROM %I;
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {privileges} ON TABLES TO %I;"
            )
        };
        match self {
            AppRole::Reader => on_every_table("SELECT"),
            AppRole::Writer => on_every_table("SELECT, INSERT, UPDATE, DELETE"),
            AppRole::Trigger => format!(
                "{connect} REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I;
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ingestion_runs TO %I;"
            ),
        }
    }
}

/// Applies pending migrations, then creates or updates the roles whose secrets are configured.
pub async fn migrate(state: &AppState) -> Result<MigrationOutcome, String> {
    let applied = state.db.migrate().await.map_err(|e| e.to_string())?;
    let reader_role =
        ensure_configured_role(state, AppRole::Reader, &state.config.reader_secret_arn).await?;
    let writer_role =
        ensure_configured_role(state, AppRole::Writer, &state.config.writer_secret_arn).await?;
    let trigger_role =
        ensure_configured_role(state, AppRole::Trigger, &state.config.trigger_secret_arn).await?;
    Ok(MigrationOutcome {
        applied,
        reader_role,
        writer_role,
        trigger_role,
    })
}

async fn ensure_configured_role(
    state: &AppState,
    role: AppRole,
    secret_arn: &Option<String>,
) -> Result<Option<String>, String> {
    match secret_arn {
        None => Ok(None),
        Some(arn) => ensure_role(state, role, arn).await.map(Some),
    }
}

#[derive(Deserialize)]
struct RoleSecret {
    username: String,
    password: String,
}

/// `CREATE ROLE` (or `ALTER ROLE`) with the SCRAM verifier of the secret's password, then
/// the role's grants. The statements are built server-side with `format('%I', '%L')`, so
/// names are quoted by PostgreSQL itself; the password is never logged or sent.
async fn ensure_role(state: &AppState, role: AppRole, arn: &str) -> Result<String, String> {
    let label = role.label();
    // Always read afresh: a deploy after a rotation must use the new password.
    let raw = state
        .secrets
        .refresh(&SecretSource::SecretsManager(arn.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    let secret: RoleSecret = serde_json::from_str(raw.expose_secret()).map_err(|e| {
        format!("{label} secret {arn} must be JSON with username and password: {e}")
    })?;
    if !is_coin_id(&secret.username.replace('_', "-")) {
        return Err(format!(
            "{label} secret {arn}: the username must be lowercase letters, digits and underscores"
        ));
    }
    let client = state.db.client().await.map_err(|e| e.to_string())?;
    // The server gets a SCRAM-SHA-256 verifier computed here, never the password: a failed or
    // slow statement (and its parameters) lands in PostgreSQL's log, which RDS exports.
    let verifier = postgres_protocol::password::scram_sha_256(secret.password.as_bytes());
    let create: String = client
        .query_one(
            "SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)
                                THEN 'ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L'
                                ELSE 'CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L' END,
                           $1::text, $2::text) AS statement",
            &[&secret.username, &verifier],
        )
        .await
        .and_then(|row| row.try_get("statement"))
        .map_err(|e| format!("preparing the {label} role: {}", db_message(&e)))?;
    client
        .batch_execute(&create)
        .await
        // Only the SQLSTATE: the statement holds the password's verifier.
        .map_err(|e| {
            format!(
                "creating the {label} role failed (SQLSTATE {})",
                e.code().map(|c| c.code()).unwrap_or("?")
            )
        })?;
    // The grants are constants of this file, never input; the names are quoted by format().
    let template = role.grants();
    let names = vec!["$1::text"; template.matches("%I").count() - 1].join(", ");
    let grants: String = client
        .query_one(
            &format!("SELECT format('{template}', current_database(), {names}) AS statement"),
            &[&secret.username],
        )
        .await
        .and_then(|row| row.try_get("statement"))
        .map_err(|e| format!("preparing the {label} grants: {}", db_message(&e)))?;
    client
        .batch_execute(&grants)
        .await
        .map_err(|e| format!("granting the {label} role: {}", db_message(&e)))?;
    tracing::info!(role = %secret.username, kind = label, "database role is in step with its secret");
    Ok(secret.username)
}

/// PostgreSQL's message for statements that carry no secret.
fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string())
}

/// Handles one invocation: a CloudFormation custom-resource request (answered through its
/// `ResponseURL`), or any other payload as "migrate now" (a manual invoke).
pub async fn handle(
    state: &AppState,
    http: &reqwest::Client,
    payload: Value,
    time_left: Duration,
) -> Result<Value, String> {
    if payload.get("RequestType").is_none() {
        let outcome = migrate(state).await?;
        return Ok(serde_json::to_value(outcome).expect("serialises"));
    }
    let request: CloudFormationCustomResourceRequest = serde_json::from_value(payload)
        .map_err(|e| format!("malformed CloudFormation request: {e}"))?;
    let (kind, url, stack_id, request_id, logical_id, physical_id) = match &request {
        CloudFormationCustomResourceRequest::Create(r) => (
            "Create",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            None,
        ),
        CloudFormationCustomResourceRequest::Update(r) => (
            "Update",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(r.physical_resource_id.clone()),
        ),
        CloudFormationCustomResourceRequest::Delete(r) => (
            "Delete",
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(r.physical_resource_id.clone()),
        ),
        _ => return Err("unsupported CloudFormation request type".into()),
    };
    // Stable across updates: a new id would make CloudFormation "delete" the old resource.
    let physical_id =
        physical_id.unwrap_or_else(|| format!("{}-database-migrations", stack_name(stack_id)));
    tracing::info!(request_type = kind, %logical_id, "custom resource request");
    let result = if kind == "Delete" {
        // Deleting the stack never drops data.
        Ok(MigrationOutcome {
            applied: vec![],
            reader_role: None,
            writer_role: None,
            trigger_role: None,
        })
    } else {
        // Answer FAILED with time to spare rather than let CloudFormation wait for an hour.
        let budget = time_left
            .saturating_sub(Duration::from_secs(15))
            .max(Duration::from_secs(1));
        match tokio::time::timeout(budget, migrate(state)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "migrations did not finish within {}s",
                budget.as_secs()
            )),
        }
    };
    let (status, reason, data) = match &result {
        Ok(outcome) => (
            "SUCCESS",
            format!(
                "applied: {}",
                if outcome.applied.is_empty() {
                    "none".into()
                } else {
                    outcome.applied.join(", ")
                }
            ),
            json!({
                "Applied": outcome.applied.join(","),
                "ReaderRole": outcome.reader_role.clone().unwrap_or_default(),
                "WriterRole": outcome.writer_role.clone().unwrap_or_default(),
                "TriggerRole": outcome.trigger_role.clone().unwrap_or_default(),
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "migrations failed");
            (
                "FAILED",
                format!("{e} (see the migrate function's CloudWatch logs)"),
                json!({}),
            )
        }
    };
    let response = json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "NoEcho": false,
        "Data": data,
    });
    // The pre-signed URL's signature covers no Content-Type: send none.
    let put = http
        .put(url.as_str())
        .body(response.to_string())
        .send()
        .await
        .and_then(|r| r.error_for_status());
    if let Err(e) = put {
        tracing::error!(error = %e.without_url(), "could not answer CloudFormation");
        return Err("could not deliver the custom resource response".into());
    }
    Ok(response)
}

/// `arn:aws:cloudformation:region:account:stack/NAME/uuid` → `NAME`.
fn stack_name(stack_id: &str) -> &str {
    stack_id.split('/').nth(1).unwrap_or("stack")
}

#[cfg(test)]
mod tests {
    #[test]
    fn stack_name_comes_from_the_arn() {
        assert_eq!(
            super::stack_name("arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-dashboard/5b0f0e40-ac2a-11ef-8d4e-0a1b2c3d4e5f"),
            "crypto-dashboard"
        );
    }
}
