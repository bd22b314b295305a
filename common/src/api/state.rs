//! What every handler is given: [`ApiState`], and [`Routes`], the routes they make up.

use std::sync::Arc;

use crate::ingest::launcher::IngestLauncher;
use crate::state::AppState;

/// Routes before their state: what [`super::route`] declares and [`super::app`] serves.
pub type Routes = axum::Router<ApiState>;

/// What the handlers share: the container's state and, for the cron route, how runs start.
#[derive(Clone)]
pub struct ApiState {
    pub(super) app: Arc<AppState>,
    pub(super) launcher: Option<Arc<dyn IngestLauncher>>,
}

impl ApiState {
    /// The handlers' state; the cron route answers 503 until [`ApiState::with_launcher`].
    pub fn new(app: Arc<AppState>) -> Self {
        ApiState {
            app,
            launcher: None,
        }
    }

    /// How the cron route starts runs.
    pub fn with_launcher(mut self, launcher: Arc<dyn IngestLauncher>) -> Self {
        self.launcher = Some(launcher);
        self
    }
}
