//! `certbound config check` and `profile = "fapi2"` at `certbound serve`: the output names each
//! broken rule, its key and the fix; exit 0 when clean, 1 otherwise.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const BOUND: &str = "[[clients]]\nclient_id = \"bank\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=bank\"\ntls_client_certificate_bound_access_tokens = true\n";
const SECRET: &str = "[[clients]]\nclient_id = \"legacy\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\n";

/// A configuration in `dir` (TLS files are only checked for existence before the profile
/// rules run).
fn write_config(dir: &Path, top: &str, rest: &str) -> std::path::PathBuf {
    for f in ["server.pem", "server.key", "ca.pem"] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    let path = dir.join("certbound.toml");
    std::fs::write(
        &path,
        format!("{top}issuer = \"https://as.example\"\n[listen]\nhttps = \"127.0.0.1:0\"\nmtls = \"127.0.0.1:0\"\nmtls_url = \"https://mtls.as.example\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"ca.pem\"]\n[store]\nurl = \"sqlite://as.db\"\n{rest}"),
    )
    .unwrap();
    path
}

fn check(config: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out: Output = certbound()
        .args(["config", "check", "--config"])
        .arg(config)
        .args(extra)
        .env_remove("CERTBOUND_CONFIG")
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

const FAPI2: &str = "profile = \"fapi2\"\nclient_auth = { assertion_audience = \"issuer\" }\n";

#[test]
fn a_clean_fapi2_configuration_passes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), FAPI2, BOUND);
    let (code, out) = check(&config, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("profile fapi2:") && out.contains("no violation"),
        "{out}"
    );
}

#[test]
fn violations_are_listed_with_rule_and_fix_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "profile = \"fapi2\"\n",
        &format!("[authorization]\ncode_ttl_seconds = 300\n{BOUND}{SECRET}"),
    );
    let (code, out) = check(&config, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("4 violation(s)"), "{out}");
    for want in [
        "authorization.code_ttl_seconds",
        "§5.3.2.1-11",
        "client_auth.assertion_audience",
        "assertion_audience = \"issuer\"",
        "clients[1].token_endpoint_auth_method",
        "client 'legacy' authenticates with client_secret_basic",
        "§5.3.2.1-6",
        "clients[1].tls_client_certificate_bound_access_tokens",
    ] {
        assert!(out.contains(want), "{want} missing in:\n{out}");
    }

    // The server refuses to start on the same file, naming the client and the rule.
    let serve = certbound()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = text(&serve.stderr);
    assert!(!serve.status.success(), "{err}");
    assert!(
        err.contains("client 'legacy'") && err.contains("§5.3.2.1-6"),
        "{err}"
    );
}

#[test]
fn oauth2_enforces_nothing_but_can_preview_fapi2_including_stored_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", BOUND);
    let (code, out) = check(&config, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("profile oauth2: no FAPI rules enforced"),
        "{out}"
    );

    // A secret client registered at run time shows up in the fapi2 preview.
    let mut add = certbound()
        .args(["clients", "add", "--config"])
        .arg(&config)
        .args([
            "--client-id",
            "batch",
            "--method",
            "client_secret_basic",
            "--secret-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"0123456789abcdef0123456789abcdef")
        .unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(added.status.success(), "{}", text(&added.stderr));

    let (code, out) = check(&config, &["--profile", "fapi2"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("client_auth.assertion_audience"), "{out}");
    assert!(
        out.contains("the store (clients add): client 'batch': token_endpoint_auth_method"),
        "{out}"
    );
    assert!(!out.contains("'bank'"), "{out}");
}
