//! Secrets Manager in tests: the moto_server endpoint, an SDK client pointed at it, and
//! secrets created there under unique names.

/// The Secrets Manager emulator's endpoint (`MOTO_ENDPOINT`, exported by `make test`).
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the tests with `make test` (it starts moto_server)")
}

/// A Secrets Manager client of the real AWS SDK pointed at moto_server.
pub async fn moto_secrets_client() -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::{Credentials, Region};
    let sdk = common::aws::sdk_config_loader()
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

/// Creates `crypto-dashboard/<kind>-<uuid>` holding `value` in moto; returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    kind: &str,
    value: String,
) -> String {
    client
        .create_secret()
        .name(format!(
            "crypto-dashboard/{kind}-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .secret_string(value)
        .send()
        .await
        .expect("create_secret on moto")
        .arn()
        .expect("moto returns an ARN")
        .to_owned()
}

/// A secrets reader whose cache reads from moto through `client`, entries kept for `ttl`.
pub fn moto_secrets(
    client: &aws_sdk_secretsmanager::Client,
    ttl: std::time::Duration,
) -> common::secrets::Secrets {
    common::secrets::Secrets::with_cache(std::sync::Arc::new(common::secrets::SecretCache::new(
        client.clone(),
        ttl,
    )))
}

/// The state of `config` reading its secrets through `secrets` (moto) instead of the
/// process's own AWS configuration.
pub async fn state_with_secrets(
    config: common::config::Config,
    secrets: common::secrets::Secrets,
) -> common::state::AppState {
    common::state::AppState {
        db: common::db::Database::connect(&config.database, &secrets)
            .await
            .expect("pool builds"),
        config,
        secrets,
    }
}
