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

    /// The cluster's own directory (its data directory, log and port file live in it).
    pub fn dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!(
            "{}/../.local/{}",
            env!("CARGO_MANIFEST_DIR"),
            self.name
        ))
    }

    /// Turns TLS on with `cert` and `key` (files in [`PrivateCluster::dir`]): the key is
    /// handed to the server's OS user with mode 0600, as PostgreSQL requires, and the
    /// configuration reloaded.
    pub async fn enable_tls(&self, cert: &std::path::Path, key: &std::path::Path) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let owner = std::fs::metadata(self.dir().join("data")).expect("data directory");
        for file in [cert, key] {
            std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid()))
                .expect("chown of the certificate files");
        }
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let admin = connect(&self.admin_url).await;
        // ALTER SYSTEM refuses to run inside a transaction: one statement at a time.
        for statement in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            admin.batch_execute(&statement).await.expect("TLS settings");
        }
        // The reload is asynchronous: wait until new sessions see it.
        for _ in 0..100 {
            let on: String = connect(&self.admin_url)
                .await
                .query_one("SHOW ssl", &[])
                .await
                .unwrap()
                .get(0);
            if on == "on" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not turn TLS on: see {}",
            self.dir().join("server.log").display()
        );
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
