//! A PostgreSQL cluster of one test's own, for faults that would disturb the shared one.

use common::db::Database;
use common::secrets::Secrets;

use crate::database::{config_from, connect, with_database};

/// A PostgreSQL cluster of one test's own (via `scripts/pg.sh`), for faults that would
/// disturb other tests: crashing the server in the middle of a run.
pub struct PrivateCluster {
    name: String,
    /// Admin URL of the cluster's `postgres` database.
    pub admin_url: String,
}

/// The path of `scripts/pg.sh`.
fn pg_script() -> String {
    format!("{}/../scripts/pg.sh", env!("CARGO_MANIFEST_DIR"))
}

impl PrivateCluster {
    fn script(args: &[&str]) -> String {
        let script = pg_script();
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .output()
            .expect("running scripts/pg.sh");
        assert!(
            out.status.success(),
            "scripts/pg.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts a fresh cluster (fsync off) on a free port.
    pub fn start() -> PrivateCluster {
        let name = format!(
            "pg-private-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin_url = Self::script(&["start", &name, "--fast"]);
        PrivateCluster { name, admin_url }
    }

    /// What the server has logged so far.
    pub fn server_log(&self) -> String {
        let path = format!(
            "{}/../.local/{}/server.log",
            env!("CARGO_MANIFEST_DIR"),
            self.name
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// Stops the server like a power cut (`pg_ctl stop -m immediate`).
    pub fn crash(&self) {
        Self::script(&["crash", &self.name]);
    }

    /// Starts the crashed server again on the same port (it runs crash recovery).
    pub fn restart(&self) {
        Self::script(&["start", &self.name, "--fast"]);
    }

    /// A new migrated database on this cluster.
    pub async fn migrated_database(&self, name: &str) -> String {
        let admin = connect(&self.admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        let url = with_database(&self.admin_url, name);
        let config = config_from(&[("DATABASE_URL", &url)]);
        Database::connect(&config.database, &Secrets::default())
            .await
            .unwrap()
            .migrate()
            .await
            .expect("migrations apply");
        url
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(pg_script())
            .args(["destroy", &self.name])
            .output();
    }
}
