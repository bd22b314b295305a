//! Starts a run by invoking the ingest function asynchronously.

use common::ingest::launcher::{IngestLauncher, LaunchError, LaunchFuture};
use common::ingest::RunRequest;

/// Invokes the ingest function with `InvocationType::Event` (Lambda queues it and retries).
pub struct LambdaLauncher {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaLauncher {
    /// A launcher for `function_name`, with the SDK configured from the environment.
    pub async fn from_env(function_name: String) -> Self {
        let sdk = common::aws::sdk_config().await;
        Self::new(aws_sdk_lambda::Client::new(&sdk), function_name)
    }

    /// A launcher invoking `function_name` through `client`.
    pub fn new(client: aws_sdk_lambda::Client, function_name: String) -> Self {
        LambdaLauncher {
            client,
            function_name,
        }
    }

    /// The ingest function's payload for `request`: what its strict parser
    /// (`common::ingest::invocation::run_request`) reads back as the same request.
    pub fn payload(request: &RunRequest) -> serde_json::Value {
        serde_json::json!({
            "mode": request.mode,
            "cleanFirst": request.clean_first,
            "trigger": request.trigger,
            "runId": request.run_id,
        })
    }
}

impl IngestLauncher for LambdaLauncher {
    fn launch(&self, request: RunRequest) -> LaunchFuture<'_> {
        Box::pin(async move {
            let payload = Self::payload(&request);
            self.client
                .invoke()
                .function_name(&self.function_name)
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
                .send()
                .await
                .map_err(|e| {
                    LaunchError(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())
                })?;
            Ok(())
        })
    }
}
