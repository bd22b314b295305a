//! Secrets Manager through the real AWS SDK against moto_server: caching, RDS-style
//! database secrets, and recovery from a password rotation.

use std::sync::Arc;
use std::time::Duration;

use common::config::SecretSource;
use common::db::Database;
use common::secrets::{SecretCache, Secrets};
use integration_tests::{config_from, TestDb};
use secrecy::ExposeSecret;

use integration_tests::moto_secrets_client as moto_client;

async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("crypto-dashboard/test-{}", uuid::Uuid::new_v4().simple());
    let out = client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create_secret on moto");
    out.arn().expect("arn").to_owned()
}

#[tokio::test]
async fn a_secret_is_read_once_and_then_served_from_the_cache() {
    let client = moto_client().await;
    let arn = create_secret(&client, "cron-token-1").await;
    let cache = Arc::new(SecretCache::new(client.clone(), Duration::from_secs(300)));
    let secrets = Secrets::with_cache(cache.clone());
    let source = SecretSource::SecretsManager(arn.clone());

    assert_eq!(
        secrets.resolve(&source).await.unwrap().expose_secret(),
        "cron-token-1"
    );
    assert_eq!(
        secrets.resolve(&source).await.unwrap().expose_secret(),
        "cron-token-1"
    );
    assert_eq!(
        cache.fetch_count(),
        1,
        "the second read must come from the cache"
    );

    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("cron-token-2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        secrets.refresh(&source).await.unwrap().expose_secret(),
        "cron-token-2"
    );
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn an_expired_entry_is_read_again() {
    let client = moto_client().await;
    let arn = create_secret(&client, "v1").await;
    let cache = SecretCache::new(client.clone(), Duration::from_millis(50));
    assert_eq!(cache.get(&arn).await.unwrap().expose_secret(), "v1");
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(cache.get(&arn).await.unwrap().expose_secret(), "v2");
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn a_missing_secret_gives_an_error_naming_it() {
    let cache = SecretCache::new(moto_client().await, Duration::from_secs(60));
    let err = cache
        .get("crypto-dashboard/does-not-exist")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("crypto-dashboard/does-not-exist"), "{err}");
}

#[tokio::test]
async fn the_pool_recovers_from_a_password_rotation_by_rereading_the_secret() {
    let db = TestDb::migrated().await;
    let admin = db.client().await;
    let role = format!("app_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'old-password'; GRANT CONNECT ON DATABASE {} TO {role};",
            db.name
        ))
        .await
        .unwrap();

    let pg: tokio_postgres::Config = db.url.parse().unwrap();
    let host = "127.0.0.1";
    let port = pg.get_ports()[0];
    let secret_json = |password: &str| {
        serde_json::json!({
            "engine": "postgres", "username": role, "password": password,
            "host": host, "port": port, "dbname": db.name,
        })
        .to_string()
    };
    let client = moto_client().await;
    let arn = create_secret(&client, &secret_json("old-password")).await;
    let cache = Arc::new(SecretCache::new(client.clone(), Duration::from_secs(300)));
    let secrets = Secrets::with_cache(cache.clone());
    let config = config_from(&[("DATABASE_SECRET_ARN", &arn), ("DB_POOL_MAX_SIZE", "1")]);

    let database = Database::connect(&config.database, &secrets).await.unwrap();
    database
        .ping()
        .await
        .expect("connects with the secret's password");
    assert_eq!(cache.fetch_count(), 1);

    // Rotate: new password in PostgreSQL and in the secret; existing sessions are cut.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {role} PASSWORD 'new-password';
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}';"
        ))
        .await
        .unwrap();
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret_json("new-password"))
        .send()
        .await
        .unwrap();

    // The server must really check passwords for this role, or the test proves nothing.
    let old_url = format!("postgres://{role}:old-password@{host}:{port}/{}", db.name);
    let refused = tokio_postgres::connect(&old_url, tokio_postgres::NoTls)
        .await
        .err()
        .expect("the server accepted the old password: this test needs password authentication for non-admin roles");
    assert_eq!(refused.code().map(|c| c.code()), Some("28P01"), "{refused}");

    database
        .ping()
        .await
        .expect("recovers after re-reading the rotated secret");
    assert_eq!(cache.fetch_count(), 2, "exactly one forced re-read");
    database.ping().await.unwrap();
    assert_eq!(cache.fetch_count(), 2);
}
