//! A PostgreSQL database of its own for a black-box test: created on the test server named by
//! `CERTBOUND_TEST_POSTGRES_URL` (an admin URL; `.ci/run` sets it) and dropped when the test
//! ends, connected sessions included.

use std::process::Command;

/// The variable naming the test PostgreSQL server.
pub const ADMIN_URL_VAR: &str = "CERTBOUND_TEST_POSTGRES_URL";

/// The admin URL, or `None` after printing a visible `SKIPPED` line for `test`.
pub fn admin_url_or_skip(test: &str) -> Option<String> {
    let url = std::env::var(ADMIN_URL_VAR).ok();
    if url.is_none() {
        eprintln!("{test}: SKIPPED (set {ADMIN_URL_VAR})");
    }
    url
}

/// A database created for one test; dropped (`WITH (FORCE)`) on drop.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// Its URL, for a server's `[store] url`.
    pub url: String,
}

impl TestDatabase {
    /// Creates `{prefix}_{pid}_{nanos}` on the server of `admin` (with `psql`).
    pub fn create(admin: &str, prefix: &str) -> TestDatabase {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        let out = Command::new("psql")
            .arg(admin)
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        TestDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin)
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}
