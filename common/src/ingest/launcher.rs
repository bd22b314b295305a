//! Starting an ingestion run without waiting for it. The cron route depends only on
//! [`IngestLauncher`]; [`LocalLauncher`] runs the ingestion in a background task of this
//! process (`crypto-dashboard serve`), and the cron-trigger function has a launcher that
//! invokes the ingest function asynchronously.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ingester::{IngestEvent, Ingester, RunRequest};
use crate::state::AppState;

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
