//! If PostgreSQL goes away, certbound answers 503 with `Retry-After` on what needs the store, and
//! recovers by itself when it is back, without a restart. The test runs its own PostgreSQL
//! cluster (initdb + pg_ctl as the `postgres` user, on its own port), so it can stop and start it.
//!
//! Runs when `CERTBOUND_TEST_POSTGRES_URL` is set (as in `.ci/run`) and PostgreSQL's server
//! binaries are installed; otherwise prints a visible SKIPPED line.

use certbound_testkit::process::{
    free_port, free_port_pair, quickstart_client as https, Output, Process,
};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .collect();
    versions.sort();
    versions.pop().filter(|b| b.join("initdb").exists())
}

/// A PostgreSQL cluster of this test, owned by the `postgres` user; stopped on drop.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn pg_ctl(&self, args: &[&str]) -> bool {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.parent().unwrap().display()
        );
        assert!(
            self.pg_ctl(&[
                "-w",
                "-o",
                &opts,
                "-l",
                &self
                    .data
                    .parent()
                    .unwrap()
                    .join("pg.log")
                    .display()
                    .to_string(),
                "start"
            ]),
            "pg_ctl start"
        );
    }

    fn stop(&self) {
        assert!(self.pg_ctl(&["-w", "-m", "fast", "stop"]), "pg_ctl stop");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

#[test]
fn postgresql_restart_gives_503_then_recovers_without_a_restart() {
    let (Ok(_), Some(bin)) = (std::env::var("CERTBOUND_TEST_POSTGRES_URL"), pg_bin()) else {
        eprintln!("postgresql_restart_gives_503_then_recovers_without_a_restart: SKIPPED (set CERTBOUND_TEST_POSTGRES_URL; needs PostgreSQL server binaries)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pgdir = tmp.path().join("pg");
    std::fs::create_dir_all(&pgdir).unwrap();
    assert!(Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(tmp.path())
        .status()
        .unwrap()
        .success());
    let data = pgdir.join("data");
    let init = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let cluster = Cluster {
        bin,
        data,
        port: free_port(),
    };
    cluster.start();

    let dir = tmp.path().join("dev");
    let port = free_port_pair();
    assert!(certbound()
        .args([
            "quickstart",
            "--no-serve",
            "--admin-port",
            "0",
            "--port",
            &port.to_string(),
            "--dir"
        ])
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    let config = std::fs::read_to_string(dir.join("certbound.toml"))
        .unwrap()
        .replace("url = \"sqlite://certbound.db\"", &format!("url = \"postgres://postgres@127.0.0.1:{}/postgres\"", cluster.port))
        + "\n[[clients]]\nclient_id = \"opaque-b\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=partner-b,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\n";
    std::fs::write(dir.join("certbound.toml"), config).unwrap();
    let _server = Process::spawn(
        certbound()
            .args(["serve", "--config"])
            .arg(dir.join("certbound.toml")),
        Output::Stderr,
    );
    _server.wait_for("authorization server started");

    let partner = https(&dir, Some("partner-b"));
    let token_url = format!("https://127.0.0.1:{}/token", port + 1);
    let health = format!("https://127.0.0.1:{port}/health");
    let issue = || {
        partner
            .post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "opaque-b"),
            ])
            .send()
            .unwrap()
    };
    assert_eq!(issue().status(), 200);

    cluster.stop();
    let r = issue();
    assert_eq!(r.status(), 503, "opaque tokens need the store");
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let h = https(&dir, None).get(&health).send().unwrap();
    assert_eq!(h.status(), 503);
    assert!(h.headers().contains_key("retry-after"));

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if issue().status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "certbound did not recover after PostgreSQL came back"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(https(&dir, None).get(&health).send().unwrap().status(), 200);
}
