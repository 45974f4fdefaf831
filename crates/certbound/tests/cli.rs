//! Black-box tests of the `certbound` binary: configuration errors, and the partner's flow against
//! a real `certbound serve` process (quickstart setup, `certbound token`, `clients check`, `keys`,
//! structured logs).

use certbound_testkit::process::{self, free_port_pair, Process};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("certbound runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("dev");
        let port = free_port_pair();
        let out = run(certbound()
            .args([
                "quickstart",
                "--no-serve",
                "--port",
                &port.to_string(),
                "--dir",
            ])
            .arg(&root));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        assert!(printed.contains("client_id=partner-a"), "{printed}");
        Setup {
            _dir: dir,
            root,
            port,
        }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
    fn issuer(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
    fn config(&self) -> PathBuf {
        self.p("certbound.toml")
    }
}

#[test]
fn partner_flow_against_a_running_server() {
    let s = Setup::new();
    let server = Process::spawn(
        certbound()
            .args(["--log-format", "json", "serve", "--config"])
            .arg(s.config()),
        process::Output::Stderr,
    );
    server.wait_for("authorization server started");

    // certbound token with a PEM pair: uses the mTLS alias and reports the binding.
    let out = run(certbound()
        .args([
            "token",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-a",
            "--cert",
        ])
        .arg(s.p("pki/partner-a.pem"))
        .arg("--key")
        .arg(s.p("pki/partner-a.key"))
        .arg("--cacert")
        .arg(s.p("pki/ca.pem")));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("signature: verified with the issuer's JWKS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("binding: bound to the certificate used"),
        "{stdout}"
    );
    assert!(stdout.contains("\"x5t#S256\""), "{stdout}");

    // The same with PKCS#12, printing only the token.
    let out = run(certbound()
        .args([
            "token",
            "--quiet",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-a",
            "--password",
            "certbound",
            "--p12",
        ])
        .arg(s.p("pki/partner-a.p12"))
        .arg("--cacert")
        .arg(s.p("pki/ca.pem")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim().matches('.').count(), 2, "a JWT");

    // The self-signed client.
    let out = run(certbound()
        .args([
            "token",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-s",
            "--cert",
        ])
        .arg(s.p("pki/partner-s.pem"))
        .arg("--key")
        .arg(s.p("pki/partner-s.key"))
        .arg("--cacert")
        .arg(s.p("pki/ca.pem")));
    assert!(
        text(&out.stdout).contains("binding: bound to the certificate used"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The secret client: conventional endpoint, unbound.
    let config = std::fs::read_to_string(s.config()).unwrap();
    let secret = config
        .lines()
        .find_map(|l| l.strip_prefix("client_secret = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let out = run(certbound()
        .args([
            "token",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-secret",
            "--secret",
            &secret,
            "--cacert",
        ])
        .arg(s.p("pki/ca.pem")));
    assert!(
        text(&out.stdout).contains("binding: not bound"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A refused request: partner-s's certificate for partner-a. The client sees invalid_client...
    let out = run(certbound()
        .args([
            "token",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-a",
            "--cert",
        ])
        .arg(s.p("pki/partner-s.pem"))
        .arg("--key")
        .arg(s.p("pki/partner-s.key"))
        .arg("--cacert")
        .arg(s.p("pki/ca.pem")));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(
        !stderr.contains("UnknownIssuer"),
        "the trace never reaches the client: {stderr}"
    );
    // ...and the structured log carries the decision trace.
    let line = server.wait_for("client_authentication_failed");
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
    assert_eq!(event["client_id"], "partner-a");
    assert_eq!(event["reason"], "chain_invalid");
    assert_eq!(event["cert_source"], "tls");
    assert!(
        event["trace"].as_str().unwrap().contains("chain FAILED"),
        "{line}"
    );

    // A wrong secret: refused, and neither secret ever appears in the log.
    let wrong = "WRONG-secret-value-0123456789";
    let out = run(certbound()
        .args([
            "token",
            "--issuer",
            &s.issuer(),
            "--client-id",
            "partner-secret",
            "--secret",
            wrong,
            "--cacert",
        ])
        .arg(s.p("pki/ca.pem")));
    assert!(!out.status.success());
    server.wait_for("bad_secret");
    let log = server.output();
    assert!(
        !log.contains(wrong) && !log.contains(&secret),
        "secrets must never be logged"
    );

    // Rotation from another process is picked up by the running server.
    let out = run(certbound()
        .args(["keys", "rotate", "--config"])
        .arg(s.config()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(certbound()
        .args(["keys", "list", "--config"])
        .arg(s.config()));
    let listing = text(&out.stdout);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(
        listing.contains("active") && listing.contains("retired"),
        "{listing}"
    );
}

#[test]
fn clients_check_explains_the_decision() {
    let s = Setup::new();
    let ok = run(certbound()
        .args(["clients", "check", "--client-id", "partner-a", "--config"])
        .arg(s.config())
        .arg("--cert")
        .arg(s.p("pki/partner-a.pem")));
    let out = text(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("chain        ok"), "{out}");
    assert!(
        out.contains("registered subject DN \"CN=partner-a,O=Example\" matches"),
        "{out}"
    );
    assert!(out.contains("result: ACCEPTED"), "{out}");

    let refused = run(certbound()
        .args(["clients", "check", "--client-id", "partner-s", "--config"])
        .arg(s.config())
        .arg("--cert")
        .arg(s.p("pki/partner-a.pem")));
    let out = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is not x5c[0] of any of the 1 registered key(s)"),
        "{out}"
    );
    assert!(out.contains("result: REFUSED"), "{out}");
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("bad.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn bad_configuration_fails_at_start_naming_file_key_and_fix() {
    let s = Setup::new();
    let good = std::fs::read_to_string(s.config()).unwrap();
    let cases: Vec<(String, &str, &str)> = vec![
        (good.replace("[tokens]\n", "[tokens]\nsigning_algo = \"ES256\"\n"), "signing_algo", "unknown field"),
        (
            good.replacen("tls_client_auth_subject_dn = \"CN=partner-a,O=Example\"", "tls_client_auth_subject_dn = \"CN=partner-a,O=Example\"\ntls_client_auth_san_dns = \"a.example\"", 1),
            "tls_client_auth_san_dns",
            "exactly one subject field",
        ),
        (good.replace("pki/server.pem", "pki/missing.pem"), "tls.cert", "missing.pem"),
        (good.replacen("CN=partner-a,O=Example", "CN=partner-a;O=Example", 1), "tls_client_auth_subject_dn", "RFC 4514"),
        (good.replace("signing_alg = \"ES256\"", "signing_alg = \"RS256\""), "tokens.signing_alg", "ES256, PS256 or EdDSA"),
        (good.replacen("issuer = \"https://", "issuer = \"http://", 1), "issuer", "https"),
    ];
    for (body, key, fix) in cases {
        let path = write_config(&s.root, &body);
        let out = run(certbound().args(["serve", "--config"]).arg(&path));
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "must refuse to start ({key})");
        assert!(stderr.contains("bad.toml"), "names the file: {stderr}");
        assert!(stderr.contains(key), "names the key {key}: {stderr}");
        assert!(stderr.contains(fix), "says what to fix ({fix}): {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
