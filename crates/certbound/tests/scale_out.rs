//! Several `certbound serve` processes on one PostgreSQL database behave as one server: a token
//! issued by one introspects on the other, a revocation on one is seen by the other, a key rotation
//! and a client added on one are picked up by the other without a restart.
//!
//! Reads `CERTBOUND_TEST_POSTGRES_URL` (an admin URL; the test creates and drops its own database).
//! Without it the test prints a visible SKIPPED line; `.ci/run` sets it.

use certbound_testkit::postgres::{admin_url_or_skip, TestDatabase};
use certbound_testkit::process::{free_port_pair, quickstart_client as client, Output, Process};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn serve(config: &Path) -> Process {
    let p = Process::spawn(
        certbound().args(["serve", "--config"]).arg(config),
        Output::Stderr,
    );
    p.wait_for("authorization server started");
    p
}

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_instances_on_one_postgresql_behave_as_one_server() {
    let Some(admin) = admin_url_or_skip("two_instances_on_one_postgresql_behave_as_one_server")
    else {
        return;
    };
    let db = TestDatabase::create(&admin, "certbound_scale");
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("dev");
    let (pa, pb) = (free_port_pair(), free_port_pair());
    let out = certbound()
        .args([
            "quickstart",
            "--no-serve",
            "--admin-port",
            "0",
            "--port",
            &pa.to_string(),
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = std::fs::read_to_string(dir.join("certbound.toml")).unwrap();
    let config = |port: u16| {
        base.replace(
            "url = \"sqlite://certbound.db\"",
            &format!("url = \"{}\"", db.url),
        )
        .replace(
            &format!("127.0.0.1:{}", pa + 1),
            &format!("127.0.0.1:{}", port + 1),
        )
        .replace(&format!("127.0.0.1:{pa}"), &format!("127.0.0.1:{port}"))
        .replace("[tokens]\n", "[tokens]\nkey_refresh_seconds = 1\n")
    };
    std::fs::write(dir.join("a.toml"), config(pa)).unwrap();
    std::fs::write(dir.join("b.toml"), config(pb)).unwrap();
    let _a = serve(&dir.join("a.toml"));
    let _b = serve(&dir.join("b.toml"));
    let mtls = |port: u16, path: &str| format!("https://127.0.0.1:{}{path}", port + 1);
    let partner = client(&dir, Some("partner-a"));

    // Issue on A, introspect on B.
    let token: serde_json::Value = partner
        .post(mtls(pa, "/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"]
        .as_str()
        .expect("token from A")
        .to_owned();
    let introspect = |port: u16| -> serde_json::Value {
        partner
            .post(mtls(port, "/introspect"))
            .form(&[("client_id", "partner-a"), ("token", token.as_str())])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(introspect(pb)["active"], true, "B sees A's token");
    // Revoke on B, refused on A.
    let r = partner
        .post(mtls(pb, "/revoke"))
        .form(&[("client_id", "partner-a"), ("token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(pa),
        serde_json::json!({"active": false}),
        "A sees B's revocation immediately"
    );

    // Rotate on A (the CLI, like an operator): B's JWKS follows.
    let anon = client(&dir, None);
    let jwks_len = |port: u16| -> usize {
        let v: serde_json::Value = anon
            .get(format!("https://127.0.0.1:{port}/jwks"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["keys"].as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(jwks_len(pb), 1);
    let out = certbound()
        .args(["keys", "rotate", "--config"])
        .arg(dir.join("a.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("B publishes the rotated key", || jwks_len(pb) == 2);
    eventually("A publishes the rotated key", || jwks_len(pa) == 2);

    // A client added through A's configuration authenticates on B; removed, it stops.
    let secret = "late-client-secret-0123456789";
    std::fs::write(
        dir.join("late.json"),
        serde_json::json!({"client_id": "late-client", "token_endpoint_auth_method": "client_secret_basic", "client_secret": secret, "scope": "read"}).to_string(),
    )
    .unwrap();
    let out = certbound()
        .args(["clients", "add", "--config"])
        .arg(dir.join("a.toml"))
        .arg("--metadata")
        .arg(dir.join("late.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let late_token = |port: u16| {
        anon.post(format!("https://127.0.0.1:{port}/token"))
            .basic_auth("late-client", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap()
            .status()
    };
    eventually("B accepts the client added on A", || late_token(pb) == 200);
    // The secret is stored only as a hash.
    let dump = Command::new("psql")
        .arg(&db.url)
        .args(["-At", "-c", "SELECT metadata FROM clients"])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout).to_string();
    assert!(
        dump.contains("late-client") && dump.contains("$argon2"),
        "{dump}"
    );
    assert!(!dump.contains(secret));
    let out = certbound()
        .args([
            "clients",
            "remove",
            "--client-id",
            "late-client",
            "--config",
        ])
        .arg(dir.join("b.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    eventually("A refuses the removed client", || late_token(pa) == 401);
}
