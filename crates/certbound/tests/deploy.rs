//! The example production files under deploy/ stay valid: each configuration loads (with its
//! /etc paths pointed at a generated PKI) and the server's store migrates.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A PKI under `root` with the file names the deploy/ configurations use.
fn pki(root: &Path) -> PathBuf {
    let tls = root.join("tls");
    certbound_pki::dir::init(&tls, certbound_pki::KeyAlgorithm::EcdsaP256, false).unwrap();
    certbound_pki::dir::server(
        &tls,
        &["auth.example.com".into()],
        &[],
        certbound_pki::KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    for (from, to) in [
        ("ca.pem", "partner-ca.pem"),
        ("ca.pem", "internal-ca.pem"),
        ("server.pem", "api.pem"),
        ("server.key", "api.key"),
        ("server.pem", "gateway-client.pem"),
        ("server.key", "gateway-client.key"),
    ] {
        std::fs::copy(tls.join(from), tls.join(to)).unwrap();
    }
    tls
}

fn rewritten(file: &str, root: &Path) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("deploy").join(file)).unwrap();
    let text = text.replace("/etc/certbound/", &format!("{}/", root.display()));
    let path = root.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_production_server_configuration_loads_and_migrates() {
    let tmp = tempfile::tempdir().unwrap();
    pki(tmp.path());
    let config = rewritten("certbound.toml", tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_certbound"))
        .args(["migrate", "--config"])
        .arg(&config)
        // The example names a PostgreSQL server; the check uses a SQLite file instead.
        .env(
            "CERTBOUND_STORE_URL",
            format!("sqlite://{}", tmp.path().join("cb.db").display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("schema is at version"),
        "{stderr}"
    );
}

#[test]
fn the_production_gateway_configuration_loads() {
    let tmp = tempfile::tempdir().unwrap();
    pki(tmp.path());
    let config = rewritten("gateway.toml", tmp.path());
    let loaded = certbound_gateway::config::GatewayConfig::load(&config);
    assert!(
        loaded.is_ok(),
        "{}",
        loaded.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

#[test]
fn the_systemd_units_point_at_the_example_files() {
    for (unit, config) in [
        (
            "certbound.service",
            "serve --config /etc/certbound/certbound.toml",
        ),
        (
            "certbound-gateway.service",
            "gateway --config /etc/certbound/gateway.toml",
        ),
    ] {
        let text = std::fs::read_to_string(workspace().join("deploy").join(unit)).unwrap();
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
        assert!(exec.ends_with(config), "{unit}: {exec}");
        for hardening in ["NoNewPrivileges=true", "ProtectSystem=strict", "UMask=0077"] {
            assert!(text.contains(hardening), "{unit} lacks {hardening}");
        }
    }
}
