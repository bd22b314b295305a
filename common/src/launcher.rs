//! Starting an ingestion run without waiting for it: an asynchronous Lambda invoke in AWS,
//! a background task locally. The cron route depends only on [`IngestLauncher`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api::AppState;
use crate::ingest::{IngestEvent, Ingester, RunRequest};

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LaunchError(pub String);

/// The future a launcher returns.
pub type LaunchFuture<'a> = Pin<Box<dyn Future<Output = Result<(), LaunchError>> + Send + 'a>>;

/// Starts a run and returns once it is under way (not once it is done).
pub trait IngestLauncher: Send + Sync {
    fn launch(&self, request: RunRequest) -> LaunchFuture<'_>;
}

/// Invokes the ingest function with `InvocationType::Event` (Lambda queues it and retries).
pub struct LambdaLauncher {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaLauncher {
    /// A launcher for `function_name`, with the SDK configured from the environment.
    pub async fn from_env(function_name: String) -> Self {
        let sdk = crate::aws::sdk_config().await;
        LambdaLauncher {
            client: aws_sdk_lambda::Client::new(&sdk),
            function_name,
        }
    }
}

impl IngestLauncher for LambdaLauncher {
    fn launch(&self, request: RunRequest) -> LaunchFuture<'_> {
        Box::pin(async move {
            let payload = serde_json::json!({
                "mode": request.mode,
                "cleanFirst": request.clean_first,
                "trigger": request.trigger,
                "runId": request.run_id,
            });
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

/// Runs the ingestion in a background task of this process (`crypto-dashboard serve`).
pub struct LocalLauncher {
    state: Arc<AppState>,
}

impl LocalLauncher {
    pub fn new(state: Arc<AppState>) -> Self {
        LocalLauncher { state }
    }
}

impl IngestLauncher for LocalLauncher {
    fn launch(&self, request: RunRequest) -> LaunchFuture<'_> {
        let state = self.state.clone();
        Box::pin(async move {
            let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
            let started_tx = Mutex::new(Some(started_tx));
            tokio::spawn(async move {
                let mut ingester = Ingester::new(&state.config, &state.secrets, &state.db);
                ingester.progress = Some(Arc::new(move |event| {
                    if matches!(event, IngestEvent::Started { .. }) {
                        if let Some(tx) = started_tx.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                    }
                }));
                ingester.run(request, None).await
            });
            // Return once the run holds the lock (or ended early), so a second request
            // right after this one sees it and gets 409.
            let _ = tokio::time::timeout(Duration::from_secs(10), started_rx).await;
            Ok(())
        })
    }
}
