//! The AWS SDK's shared configuration: the default chain (region, credentials,
//! `AWS_ENDPOINT_URL`) over an HTTPS client on rustls with ring, built once per container.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

static SDK_CONFIG: tokio::sync::OnceCell<aws_config::SdkConfig> =
    tokio::sync::OnceCell::const_new();

/// The SDK configuration from the environment with the ring-based HTTPS client, loaded once
/// per process: every client built from it (Secrets Manager, Lambda) shares the credentials
/// chain and the HTTPS client with its root certificates and connections.
pub async fn sdk_config() -> aws_config::SdkConfig {
    SDK_CONFIG
        .get_or_init(|| sdk_config_loader().load())
        .await
        .clone()
}

/// The default configuration loader with the ring-based HTTPS client, for callers that set
/// more (a test's endpoint and credentials).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}
