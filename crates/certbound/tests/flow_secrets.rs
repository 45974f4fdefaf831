//! No secret of the user flows in a log (issue 14): a real `certbound serve` on a quickstart
//! configuration, in the JSON and the text log format and with `RUST_LOG=debug`, runs a whole
//! flow (PAR, `/authorize`, a failed login with a wrong password, the login, consent, the code
//! exchange, a refresh), and its stderr, as raw bytes, never contains the password, the wrong
//! password, the code, the PKCE verifier, the cookies, the refresh tokens or the access and ID
//! tokens, while the audit lines of the flow are there.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::pkce::CodeChallenge;
use certbound_testkit::browser::blocking::Browser;
use certbound_testkit::process::{free_port, free_port_pair, quickstart_client};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

const USERNAME: &str = "alice";
const PASSWORD: &str = "flow-secret-Password-7Qx";
const WRONG_PASSWORD: &str = "flow-secret-Wrong-4Mz";
const WEB_CLIENT: &str = "partner-a-web";
/// Never contacted: the browser step reads the 303 Location that points at it.
const REDIRECT_URI: &str = "https://localhost:1/callback";

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

/// Runs a `certbound` subcommand to success, `stdin` on its standard input; returns stdout.
fn run(args: &[&str], config: &Path, stdin: &str) -> String {
    let mut child = certbound()
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "certbound {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Registers alice and `partner-a-web` (tls_client_auth with partner-a's certificate, the user
/// grants) through the CLI, before the server starts.
fn register_user_and_web_client(config: &Path) {
    run(
        &["users", "add", "--username", USERNAME, "--password-stdin"],
        config,
        PASSWORD,
    );
    let metadata = config.with_file_name("partner-a-web.json");
    std::fs::write(
        &metadata,
        serde_json::json!({
            "client_id": WEB_CLIENT,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=partner-a,O=Example",
            "tls_client_certificate_bound_access_tokens": true,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [REDIRECT_URI],
            "scope": "openid profile",
        })
        .to_string(),
    )
    .unwrap();
    run(
        &["clients", "add", "--metadata", metadata.to_str().unwrap()],
        config,
        "",
    );
}

/// A running `certbound serve`, its stderr captured as raw bytes; killed when dropped.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    fn start(config: &Path, format: &str, rust_log: Option<&str>) -> Server {
        let mut cmd = certbound();
        cmd.env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd
            .args(["--log-format", format, "serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("certbound starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let server = Server { child, log };
        server.wait_for("authorization server started");
        server
    }

    fn bytes(&self) -> Vec<u8> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `needle` is in the log.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&self.bytes()).into_owned();
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the whole flow against `port` (conventional listener; mTLS on `port + 1`) and returns
/// every secret the flow handled.
fn user_flow(dir: &Path, port: u16) -> Vec<(String, String)> {
    let mtls = |path: &str| format!("https://127.0.0.1:{}{path}", port + 1);
    let partner = quickstart_client(dir, Some("partner-a"));
    let verifier = URL_SAFE_NO_PAD.encode([9u8; 32]);
    let challenge = CodeChallenge::s256_of(&verifier);
    let par = partner
        .post(mtls("/par"))
        .form(&[
            ("client_id", WEB_CLIENT),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile"),
            ("state", "flow-secrets-state"),
            ("nonce", "flow-secrets-nonce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .unwrap();
    assert_eq!(par.status(), 201);
    let par: Value = par.json().unwrap();
    let request_uri = par["request_uri"].as_str().expect("request_uri").to_owned();

    let mut browser = Browser::new(&dir.join("pki/ca.pem"));
    let start = Url::parse_with_params(
        &format!("https://127.0.0.1:{port}/authorize"),
        &[("client_id", WEB_CLIENT), ("request_uri", &request_uri)],
    )
    .unwrap();
    let (callback, pages) =
        browser.authorize(start, REDIRECT_URI, USERNAME, &[WRONG_PASSWORD, PASSWORD]);
    assert_eq!(pages, ["login", "login", "consent"]);
    let returned: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    let code = returned.get("code").expect("code").to_owned();

    let tokens = partner
        .post(mtls("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", WEB_CLIENT),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().unwrap();
    let refreshed = partner
        .post(mtls("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", WEB_CLIENT),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().unwrap();

    let mut secrets = vec![
        ("password".to_owned(), PASSWORD.to_owned()),
        ("wrong password".to_owned(), WRONG_PASSWORD.to_owned()),
        ("code".to_owned(), code),
        ("code_verifier".to_owned(), verifier),
    ];
    for (label, t) in [("token", &tokens), ("refreshed", &refreshed)] {
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(v) = t[field].as_str() {
                secrets.push((format!("{label} {field}"), v.to_owned()));
            }
        }
    }
    for (name, value) in &browser.jar {
        if !value.is_empty() {
            secrets.push((format!("cookie {name}"), value.clone()));
        }
    }
    secrets
}

#[test]
fn no_password_code_or_token_in_the_logs_of_a_user_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("dev");
    let port = free_port_pair();
    let out = certbound()
        .args(["quickstart", "--no-serve", "--admin-port", "0", "--dir"])
        .arg(&dir)
        .args(["--port", &port.to_string()])
        .args(["--gateway-port", &free_port().to_string()])
        .args(["--api-port", &free_port().to_string()])
        .args(["--demo-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("certbound.toml");
    register_user_and_web_client(&config);

    for (format, rust_log) in [
        ("json", None),
        ("text", None),
        ("json", Some("debug")),
        ("text", Some("debug")),
    ] {
        let server = Server::start(&config, format, rust_log);
        let secrets = user_flow(&dir, port);
        // Two tokens issued: the code exchange and the refresh.
        let deadline = Instant::now() + Duration::from_secs(30);
        while String::from_utf8_lossy(&server.bytes())
            .matches("token_issued")
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "two token_issued lines");
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = server.bytes();
        drop(server);
        let text = String::from_utf8_lossy(&log);
        let mode = format!("--log-format {format}, RUST_LOG={rust_log:?}");
        for event in [
            "par_stored",
            "authorization_started",
            "login_failed",
            "login_succeeded",
            "consent_granted",
            "code_issued",
            "token_issued",
        ] {
            assert!(text.contains(event), "{mode}: no {event} line:\n{text}");
        }
        // The search works on what the audit lines carry: the username is logged, the rest not.
        assert!(
            text.contains("username") && text.contains(USERNAME),
            "{mode}: {text}"
        );
        assert!(
            rust_log.is_none() || text.contains("DEBUG") || text.contains("\"debug\""),
            "{mode}: no debug line:\n{text}"
        );
        for (what, secret) in &secrets {
            assert!(secret.len() >= 16, "{what} is too short to search for");
            if let Some(at) = find(&log, secret.as_bytes()) {
                let from = at.saturating_sub(300);
                panic!(
                    "{mode}: the {what} is in the log:\n{}",
                    String::from_utf8_lossy(&log[from..(at + 300).min(log.len())])
                );
            }
        }
    }
}

/// Where `needle` first occurs in `haystack` (raw bytes).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
