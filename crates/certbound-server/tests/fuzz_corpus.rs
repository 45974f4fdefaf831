//! Fuzz harness for `Config::from_toml` (the authorization server's `certbound.toml`), and its
//! corpus replay.
//!
//! This one file is both an integration test (`cargo test -p certbound-server --test
//! fuzz_corpus`, replaying `fuzz/corpus/server_config/` and `fuzz/artifacts/server_config/`)
//! and the body of the cargo-fuzz target `server_config`, which includes it with `#[path]`.
//! See docs/fuzzing.md.
#![allow(dead_code)]

use certbound_server::config::Config;
use std::path::PathBuf;

/// A CA certificate for `pki/ca.pem`, so seeds with `tls_client_auth_ca` reach client
/// registration (test material: its key was thrown away).
const CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBvDCCAWOgAwIBAgIUbjefcWV/eZtvEVcJVEtrZ4zZBSwwCgYIKoZIzj0EAwIw
KzEXMBUGA1UECgwOY2VydGJvdW5kIGZ1enoxEDAOBgNVBAMMB2Z1enogQ0EwIBcN
MjYxMjAxMjIyMjU1WhgPMjEyNjExMDcyMjIyNTVaMCsxFzAVBgNVBAoMDmNlcnRi
b3VuZCBmdXp6MRAwDgYDVQQDDAdmdXp6IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE1l8lNwpED0hDhHpUfPuAjPWT8EPxbFWH/Blfda/h/az5DmRb/aogUpxB
z/XKm2AtzexA0jKXmtr+CobLEX/XjaNjMGEwHQYDVR0OBBYEFFHcGJZmr2STH2pG
8RXRRdWwxCTEMB8GA1UdIwQYMBaAFFHcGJZmr2STH2pG8RXRRdWwxCTEMA8GA1Ud
EwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMCA0cAMEQCIHJ5
On3pA9tR4FaQZtyqD+3GLCJ1xCkaRpl7Cv0izEALAiBazHIr3ZPeXBdEtBPHk+hX
DCyreQQaw3xKMc+rb1EMGw==
-----END CERTIFICATE-----
";

/// Writes `path` atomically (a temporary file renamed over it), so concurrent processes never
/// see a partial file.
fn put(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A directory with the files the seed configurations name, made once per process. Only the
/// CA's contents are read at load; the others are empty placeholders whose existence is checked.
fn config_base() -> &'static PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        // The test target's tmp folder under `cargo test`, the system's when fuzzing: one fixed
        // folder, refreshed by atomic renames, so runs leave nothing new behind.
        let root = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = root.join("certbound-fuzz-server");
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for f in [
            "pki/server.pem",
            "pki/server.key",
            "server.pem",
            "server.key",
        ] {
            put(&dir.join(f), "x");
        }
        for f in ["pki/ca.pem", "ca.pem"] {
            put(&dir.join(f), CA_PEM);
        }
        dir
    })
}

/// Input: a `certbound.toml` (inputs that are not UTF-8 are skipped, and so are inputs that could
/// name a device or a FIFO, e.g. `/dev/zero`, as a CA file: loading reads CA files whole, which is
/// right for a trusted configuration and would only hang the fuzzer). No environment overrides.
///
/// Properties: never a panic; an accepted configuration has an https issuer and one registration
/// per `[[clients]]` table, with unique client ids.
pub fn server_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["dev", "proc", "sys", "run", "\\u", "\\U"]
        .iter()
        .any(|s| text.contains(s))
    {
        return;
    }
    let Ok(v) = Config::from_toml(text, "certbound.toml", config_base(), |_| None) else {
        return;
    };
    let issuer = url::Url::parse(&v.config.issuer).expect("an accepted issuer is a URL");
    assert_eq!(issuer.scheme(), "https");
    assert_eq!(v.clients.len(), v.config.clients.len());
    for (i, c) in v.clients.iter().enumerate() {
        assert!(
            v.clients[..i].iter().all(|o| o.client_id != c.client_id),
            "client_id twice"
        );
    }
    assert!(!v.config.audience().is_empty());
}

// The replay loop every crate's corpus test shares (compiled only under `cargo test`).
#[cfg(test)]
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[cfg(test)]
use replay::replay;

#[test]
fn replay_server_config() {
    replay("server_config", server_config);
}
