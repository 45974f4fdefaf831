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
                "--admin-port",
                "0",
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
            &format!("--secret={secret}"),
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
    assert_eq!(
        event["source"], "127.0.0.1",
        "audit lines carry the source address: {line}"
    );
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
    assert!(out.contains("Result: ACCEPTED"), "{out}");
    assert!(out.contains("  SANs      none"), "{out}");

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
    assert!(out.contains("Result: REFUSED"), "{out}");
    assert!(
        out.contains("Fix: add this certificate to the client's JWK Set"),
        "{out}"
    );
}

/// `clients check` of `cert` for `client_id`: (exit code, standard output).
fn check(s: &Setup, client_id: &str, cert: &Path) -> (Option<i32>, String) {
    let out = run(certbound()
        .args(["clients", "check", "--client-id", client_id, "--config"])
        .arg(s.config())
        .arg("--cert")
        .arg(cert));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("UnknownIssuer")
            && !stdout.contains("UnixTime")
            && !stdout.contains("Some("),
        "no Debug output: {stdout}"
    );
    (out.status.code(), stdout)
}

#[test]
fn clients_check_explains_other_cas_expiry_and_reordered_names() {
    use certbound_pki::{CertificateAuthority, KeyAlgorithm, LeafSpec, SubjectSpec};
    let s = Setup::new();

    // A certificate from another CA, with another name than the configured anchor.
    let other = CertificateAuthority::generate(
        &SubjectSpec::new().org("Elsewhere").common_name("Other CA"),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let foreign = other
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    std::fs::write(s.p("foreign.pem"), &foreign.cert_pem).unwrap();
    let (code, out) = check(&s, "partner-a", &s.p("foreign.pem"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("chain        FAILED issued by \"CN=Other CA,O=Elsewhere\", which is not a trust anchor of this client (anchors: \"CN=certbound development CA,O=certbound\")"),
        "{out}"
    );
    assert!(
        out.contains("Result: REFUSED. The token endpoint would answer 401 invalid_client."),
        "{out}"
    );
    assert!(
        out.contains("Fix: issue the client's certificate from a CA in [tls] client_ca"),
        "{out}"
    );

    // An expired certificate from the right CA: dates in RFC 3339.
    let pem = std::fs::read_to_string(s.p("pki/ca.pem")).unwrap();
    let key = std::fs::read_to_string(s.p("pki/ca.key")).unwrap();
    let ca = CertificateAuthority::from_pem(&pem, &key).unwrap();
    let not_before =
        certbound_pki::time::OffsetDateTime::from_unix_timestamp(1_735_787_045).unwrap();
    let not_after =
        certbound_pki::time::OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
    let expired = ca
        .issue(
            &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
                .with_validity(not_before, not_after),
        )
        .unwrap();
    std::fs::write(s.p("expired.pem"), &expired.cert_pem).unwrap();
    let (code, out) = check(&s, "partner-a", &s.p("expired.pem"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("  valid     2025-01-02T03:04:05Z to 2026-01-02T03:04:05Z"),
        "{out}"
    );
    assert!(
        out.contains("chain        FAILED the certificate expired on 2026-01-02T03:04:05Z (now 20"),
        "{out}"
    );
    assert!(
        out.contains("Fix: issue a new certificate to the client"),
        "{out}"
    );

    // A client registered with its DN's attributes in the other order.
    let out = run(certbound()
        .args(["clients", "add", "--config"])
        .arg(s.config())
        .args([
            "--client-id",
            "reordered",
            "--method",
            "tls_client_auth",
            "--subject-dn",
            "o=Example, cn=partner-a",
        ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("  subject DN     O=Example,CN=partner-a"),
        "the stored RFC 4514 form: {printed}"
    );
    let (code, out) = check(&s, "reordered", &s.p("pki/partner-a.pem"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("registered subject \"O=Example,CN=partner-a\" holds the same attributes as the certificate's \"CN=partner-a,O=Example\" in another order; DNs match by position (RFC 4517): register \"CN=partner-a,O=Example\""),
        "{out}"
    );
    assert!(
        out.contains(
            "Fix: change the client's tls_client_auth_subject_dn to \"CN=partner-a,O=Example\""
        ),
        "{out}"
    );
}

#[test]
fn clients_add_accepts_the_example_file_and_flags_for_the_common_cases() {
    let s = Setup::new();
    let add = |args: &[&str]| {
        run(certbound()
            .args(["clients", "add", "--config"])
            .arg(s.config())
            .args(args))
    };
    // The documented example, as is.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/client.json");
    let out = add(&["--metadata", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("Registered client 'partner-c' (tls_client_auth) in the store."),
        "{printed}"
    );
    assert!(
        printed.contains("  subject DN     CN=partner-c,O=Example"),
        "{printed}"
    );
    assert!(
        printed.contains("-d client_id=partner-c https://localhost:"),
        "the next command: {printed}"
    );

    // A SAN client; a secret client with the secret on standard input.
    let out = add(&[
        "--client-id",
        "spiffe",
        "--method",
        "tls_client_auth",
        "--san-uri",
        "spiffe://example/partner-d",
        "--token-format",
        "opaque",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = "secret-from-stdin-0123456789abcdef";
    let mut child = certbound()
        .args(["clients", "add", "--config"])
        .arg(s.config())
        .args([
            "--client-id",
            "batch",
            "--method",
            "client_secret_basic",
            "--secret-stdin",
            "--scope",
            "read",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{secret}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains(secret),
        "the secret is never printed"
    );

    // A private_key_jwt client whose tokens are DPoP-bound (FAPI 2.0 "private key + DPoP").
    let jwks = s.p("pk-jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    )
    .unwrap();
    let out = add(&[
        "--client-id",
        "pk-dpop",
        "--method",
        "private_key_jwt",
        "--jwks-file",
        jwks.to_str().unwrap(),
        "--dpop-bound-tokens",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("bound to a DPoP key (cnf.jkt"),
        "{}",
        text(&out.stdout)
    );

    let listing = text(
        &run(certbound()
            .args(["clients", "list", "--config"])
            .arg(s.config()))
        .stdout,
    );
    let line = |id: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} in {listing}"))
            .to_owned()
    };
    assert!(listing.starts_with("CLIENT ID"), "{listing}");
    assert!(
        line("partner-c").contains("subject DN \"CN=partner-c,O=Example\""),
        "{listing}"
    );
    assert!(
        line("partner-c").contains("store (clients add)"),
        "{listing}"
    );
    assert!(
        line("spiffe").contains("SAN URI \"spiffe://example/partner-d\""),
        "{listing}"
    );
    assert!(
        line("spiffe").contains("opaque, certificate-bound"),
        "{listing}"
    );
    assert!(line("pk-dpop").contains("private_key_jwt"), "{listing}");
    assert!(line("pk-dpop").contains("JWT, DPoP-bound"), "{listing}");
    assert!(line("batch").contains("client_secret_basic"), "{listing}");
    assert!(line("batch").contains("unbound"), "{listing}");
    assert!(!listing.contains(secret), "{listing}");

    // Clear errors.
    for (args, expected) in [
        (
            vec!["--client-id", "x", "--method", "tls_client_auth"],
            "tls_client_auth needs exactly one of --subject-dn, --san-dns, --san-uri, --san-ip, --san-email (got none)",
        ),
        (
            vec!["--client-id", "x", "--method", "tls_client_auth", "--subject-dn", "CN=x", "--san-dns", "x.example"],
            "tls_client_auth needs exactly one of --subject-dn, --san-dns, --san-uri, --san-ip, --san-email (got --subject-dn, --san-dns)",
        ),
        (
            vec!["--client-id", "x", "--method", "tls_client_auth", "--subject-dn", "/C=US/CN=x"],
            "--subject-dn \"/C=US/CN=x\": ",
        ),
        (
            vec!["--client-id", "x", "--method", "client_secret_basic", "--subject-dn", "CN=x"],
            "--subject-dn is only for tls_client_auth, not client_secret_basic",
        ),
        (
            vec!["--client-id", "x", "--method", "client_secret_post"],
            "client_secret_post needs the secret: pass --secret-stdin",
        ),
        (
            vec!["--client-id", "x", "--method", "self_signed_tls_client_auth"],
            "self_signed_tls_client_auth needs exactly one of --jwks-file",
        ),
        (
            vec!["--client-id", "x", "--method", "private_key_jwt"],
            "private_key_jwt needs exactly one of --jwks-file",
        ),
        (
            vec!["--client-id", "x", "--method", "tls_client_auth", "--subject-dn", "CN=x", "--dpop-bound-tokens", "--bound-tokens", "true"],
            "--dpop-bound-tokens and --bound-tokens true exclude each other",
        ),
        (
            vec!["--metadata", example.to_str().unwrap(), "--client-id", "x"],
            "give either --metadata FILE or the client flags",
        ),
    ] {
        let out = add(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
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

/// `certbound serve` with `config`, expected to refuse to start; returns its stderr.
fn refused_start(cmd: &mut Command) -> String {
    let out = run(cmd.env_remove("RUST_BACKTRACE"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "must refuse to start: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    stderr
}

#[test]
fn startup_errors_name_the_fix() {
    let s = Setup::new();
    let tmp = tempfile::tempdir().unwrap();

    // No configuration file: point at quickstart.
    let stderr = refused_start(certbound().current_dir(tmp.path()).arg("serve"));
    assert!(stderr.contains("certbound.toml"), "{stderr}");
    assert!(stderr.contains("certbound quickstart"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");

    // Port in use: the address, the key and the environment variable.
    let taken = std::net::TcpListener::bind(("127.0.0.1", s.port)).unwrap();
    let stderr = refused_start(certbound().args(["serve", "--config"]).arg(s.config()));
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", s.port)),
        "{stderr}"
    );
    assert!(stderr.contains("[listen] https"), "{stderr}");
    assert!(stderr.contains("CERTBOUND_LISTEN_HTTPS"), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    drop(taken);

    // The key of another certificate: both files named.
    let good = std::fs::read_to_string(s.config()).unwrap();
    let path = write_config(
        &s.root,
        &good.replace("pki/server.key", "pki/partner-a.key"),
    );
    let stderr = refused_start(certbound().args(["serve", "--config"]).arg(&path));
    assert!(
        stderr.contains("partner-a.key") && stderr.contains("server.pem"),
        "{stderr}"
    );
    assert!(stderr.contains("does not belong to"), "{stderr}");
    assert!(!stderr.contains("KeyMismatch"), "{stderr}");

    // A SQLite file in a directory that does not exist: the path and the fix, once.
    let missing = tmp.path().join("nowhere/cb.db");
    let path = write_config(
        &s.root,
        &good.replace(
            "url = \"sqlite://certbound.db\"",
            &format!("url = \"sqlite://{}\"", missing.display()),
        ),
    );
    let stderr = refused_start(certbound().args(["serve", "--config"]).arg(&path));
    assert_eq!(
        stderr.matches(&missing.display().to_string()).count(),
        1,
        "the path, once: {stderr}"
    );
    assert!(stderr.contains("mkdir -p"), "{stderr}");
}

#[test]
fn quickstart_refuses_ports_it_cannot_use() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(certbound()
        .args(["quickstart", "--no-serve", "--port", "65535", "--dir"])
        .arg(tmp.path().join("a")));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("65535"), "{}", text(&out.stderr));
    let out = run(certbound()
        .args([
            "quickstart",
            "--no-serve",
            "--port",
            "9000",
            "--gateway-port",
            "9001",
        ])
        .arg("--dir")
        .arg(tmp.path().join("b")));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("port 9001 is given to two services"),
        "{stderr}"
    );
    assert!(!tmp.path().join("b").exists(), "nothing is written");
}

#[test]
fn a_partner_csr_becomes_a_working_client_certificate() {
    // The partner makes its key and request with its own tools (here openssl); the bank signs
    // the request; the partner's certificate then authenticates it.
    let s = Setup::new();
    let work = tempfile::tempdir().unwrap();
    let (key, csr) = (work.path().join("p.key"), work.path().join("p.csr"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", "/O=Partner C Ltd/CN=partner-c"])
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "{}", text(&status.stderr));
    let out = run(certbound()
        .args(["pki", "sign-csr", "--dir"])
        .arg(s.p("pki"))
        .arg("--csr")
        .arg(&csr));
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        printed.contains("subject: CN=partner-c,O=Partner C Ltd"),
        "{printed}"
    );
    assert!(
        printed.contains("--subject-dn 'CN=partner-c,O=Partner C Ltd'"),
        "{printed}"
    );
    let cert = s.p("pki/partner-c.pem");
    let again = run(certbound()
        .args(["pki", "sign-csr", "--dir"])
        .arg(s.p("pki"))
        .arg("--csr")
        .arg(&csr));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );

    // openssl agrees it is a client certificate of this CA.
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(s.p("pki/ca.pem"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    // Registered with that subject, the certificate authenticates the client.
    let mut config = std::fs::read_to_string(s.config()).unwrap();
    config.push_str(
        "\n[[clients]]\nclient_id = \"partner-c\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=partner-c,O=Partner C Ltd\"\ntls_client_certificate_bound_access_tokens = true\nscope = \"transactions\"\n",
    );
    std::fs::write(s.config(), config).unwrap();
    let check = run(certbound()
        .args(["clients", "check", "--client-id", "partner-c", "--config"])
        .arg(s.config())
        .arg("--cert")
        .arg(&cert));
    assert!(check.status.success(), "{}", text(&check.stdout));
}
