//! What an attacker can write into the logs of a running `certbound serve`, from the outside:
//! hostile `client_id`s (form and Basic user name, percent-encoded and raw, CR, LF, ESC, NUL,
//! bidi and line-separator characters, invalid UTF-8) and a certificate subject with control
//! characters never forge a line or a field, in the text and the JSON format; and 60 kB client
//! ids are answered like unknown ones at a bounded number of log bytes per request.

use base64::Engine;
use certbound_testkit::process::{free_port, free_port_pair};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

/// A `certbound quickstart --no-serve` directory whose failed-authentication limit lets a few
/// hundred refusals through (the answers stay 401, not 429).
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dev");
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
        let path = dir.join("certbound.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(
            "\n[rate_limit]\nfailed_auth_per_address = { per_second = 1000.0, burst = 100000 }\n",
        );
        std::fs::write(&path, config).unwrap();
        Setup {
            _tmp: tmp,
            dir,
            port,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn token_url(&self, mtls: bool) -> String {
        let port = if mtls { self.port + 1 } else { self.port };
        format!("https://127.0.0.1:{port}/token")
    }

    /// `certbound --log-format <format> serve`, its stderr captured as raw bytes.
    fn serve(&self, format: &str) -> Server {
        let mut child = certbound()
            .env_remove("RUST_LOG")
            .args(["--log-format", format, "serve", "--config"])
            .arg(self.p("certbound.toml"))
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
        server.wait_for("authorization server started", 1);
        server
    }

    /// A blocking client trusting the quickstart CA, presenting `cert`/`key` if given.
    fn client(&self, identity: Option<(&Path, &Path)>) -> reqwest::blocking::Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca = std::fs::read(self.p("pki/ca.pem")).unwrap();
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(Duration::from_secs(30));
        if let Some((cert, key)) = identity {
            let mut pem = std::fs::read(cert).unwrap();
            pem.extend(std::fs::read(key).unwrap());
            b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
        }
        b.build().unwrap()
    }
}

/// A running server; killed when dropped.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn bytes(&self) -> Vec<u8> {
        self.log.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Waits (up to 30 s) until `needle` occurs `count` times in the log.
    fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&self.bytes()).into_owned();
            if text.matches(needle).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{count} × {needle:?} not logged; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The forged line the hostile ids carry after their CR LF: what a `token_issued` line of the
/// text format looks like.
const FORGED: &str = "2030-01-01T00:00:00.000000Z  INFO certbound::audit: event=\"token_issued\" decision=allow client_id=\"partner-a\"";

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn basic(user: &[u8], secret: &str) -> String {
    let mut raw = user.to_vec();
    raw.push(b':');
    raw.extend_from_slice(secret.as_bytes());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// One hostile request: its description, the form body, an optional Authorization header, and
/// the status it must get.
struct Attempt {
    what: &'static str,
    body: Vec<u8>,
    authorization: Option<String>,
    status: u16,
    /// Whether it produces a `client_authentication_failed` line.
    logged: bool,
}

fn attempts() -> Vec<Attempt> {
    let forged_id = format!("x\r\n{FORGED}");
    let controls = "y\u{1b}[31mred\u{0}nul\u{7f}\u{85}\u{202e}rtl\u{2028}ls\u{200b}";
    let field_forgery = "z decision=allow method=client_secret_basic";
    let form = |id: &str| {
        format!(
            "grant_type=client_credentials&client_id={}",
            form_encode(id)
        )
        .into_bytes()
    };
    vec![
        Attempt {
            what: "form client_id with CR LF and a forged line",
            body: form(&forged_id),
            authorization: None,
            status: 401,
            logged: true,
        },
        Attempt {
            what: "form client_id with ESC, NUL, DEL, NEL, RLO, LS, ZWSP",
            body: form(controls),
            authorization: None,
            status: 401,
            logged: true,
        },
        Attempt {
            what: "form client_id forging fields",
            body: form(field_forgery),
            authorization: None,
            status: 401,
            logged: true,
        },
        Attempt {
            what: "form client_id with invalid UTF-8",
            body: b"grant_type=client_credentials&client_id=w%FF%FE%C0%AE\r\n".to_vec(),
            authorization: None,
            status: 400,
            logged: false,
        },
        Attempt {
            what: "Basic user name, percent-encoded CR LF",
            body: b"grant_type=client_credentials".to_vec(),
            authorization: Some(basic(form_encode(&forged_id).as_bytes(), "s")),
            status: 401,
            logged: true,
        },
        Attempt {
            what: "Basic user name, raw CR LF and controls",
            body: b"grant_type=client_credentials".to_vec(),
            authorization: Some(basic(format!("v\r\n{FORGED}{controls}").as_bytes(), "s")),
            status: 401,
            logged: true,
        },
        Attempt {
            what: "Basic user name, raw invalid UTF-8",
            body: b"grant_type=client_credentials".to_vec(),
            authorization: Some(basic(b"u\xff\xfe\r\n\x1b[31m", "s")),
            status: 400,
            logged: false,
        },
    ]
}

/// Sends every hostile request (and one request with a certificate whose subject carries control
/// characters), checks the answers, and returns the number of `client_authentication_failed`
/// lines to wait for.
fn send_hostile_requests(setup: &Setup, cert_dir: &Path) -> usize {
    let client = setup.client(None);
    let mut logged = 0;
    for a in attempts() {
        let mut req = client
            .post(setup.token_url(false))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(a.body.clone());
        if let Some(h) = &a.authorization {
            req = req.header("authorization", h);
        }
        let r = req.send().expect(a.what);
        assert_eq!(r.status().as_u16(), a.status, "{}", a.what);
        let body: serde_json::Value = r.json().expect(a.what);
        let expected = if a.status == 401 {
            "invalid_client"
        } else {
            "invalid_request"
        };
        assert_eq!(body["error"], expected, "{}: {body}", a.what);
        logged += usize::from(a.logged);
    }
    // A certificate from the server's own CA whose CN carries CR LF, ESC, RLO and U+2028 (which
    // the DN printer leaves raw: only the formatter escapes it), presented as
    // partner-a: the subject does not match, and the trace quotes it.
    let r = setup
        .client(Some((
            &cert_dir.join("hostile.pem"),
            &cert_dir.join("hostile.key"),
        )))
        .post(setup.token_url(true))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=partner-a")
        .send()
        .expect("hostile certificate");
    assert_eq!(r.status().as_u16(), 401);
    logged + 1
}

/// Issues `hostile.pem`/`hostile.key` from the quickstart CA, with a subject full of controls.
fn hostile_certificate(setup: &Setup) -> tempfile::TempDir {
    use certbound_pki::{LeafSpec, SubjectSpec};
    let out = tempfile::tempdir().unwrap();
    let ca = certbound_pki::dir::load_ca(&setup.p("pki")).expect("quickstart CA");
    let issued = ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o(
            format!("partner-a\r\n{FORGED}\u{1b}[31m\u{202e}\u{2028}x"),
            "Example",
        )))
        .expect("hostile certificate");
    std::fs::write(out.path().join("hostile.pem"), &issued.cert_pem).unwrap();
    std::fs::write(out.path().join("hostile.key"), &issued.key_pem).unwrap();
    out
}

/// The log as text, after checking it carries no raw control, bidi or separator character and
/// no invalid UTF-8.
fn clean_text(bytes: Vec<u8>) -> String {
    let text = String::from_utf8(bytes).expect("the log is valid UTF-8 (no raw request bytes)");
    assert!(!text.contains('\r'), "a raw CR in the log:\n{text}");
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|c| {
            c.is_control()
                || matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{200b}')
        }) {
            panic!("line {i} carries a raw U+{:04X}: {line:?}", u32::from(c));
        }
    }
    text
}

/// The `key=value` fields of a text line after `target: ` (values bare or double-quoted with
/// backslash escapes); a key seen twice is an error.
fn text_fields(line: &str) -> Result<HashMap<String, String>, String> {
    let Some((_, rest)) = line.split_once(": ") else {
        return Ok(HashMap::new());
    };
    let mut fields = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return Ok(fields);
        }
        if chars.next() != Some('=') {
            // A word of a message, not a field.
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("dangling escape")?),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated value of {key}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if fields.insert(key.clone(), value).is_some() {
            return Err(format!("field {key} appears twice"));
        }
    }
}

#[test]
fn text_log_lines_and_fields_cannot_be_forged() {
    let setup = Setup::new();
    let certs = hostile_certificate(&setup);
    let server = setup.serve("text");
    let failures = send_hostile_requests(&setup, certs.path());
    server.wait_for("client_authentication_failed", failures);
    let text = clean_text(server.bytes());
    let mut seen = 0;
    for line in text.lines() {
        assert!(
            !line.starts_with("2030-"),
            "a request forged a line: {line:?}\nlog:\n{text}"
        );
        let event = text_fields(line).ok().and_then(|f| f.get("event").cloned());
        assert_ne!(event.as_deref(), Some("token_issued"), "{line}");
        if !line.contains("client_authentication_failed") {
            continue;
        }
        seen += 1;
        let fields = text_fields(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(fields["decision"], "deny", "{line}");
        assert_eq!(fields["event"], "client_authentication_failed", "{line}");
    }
    assert_eq!(seen, failures, "{text}");
    // The hostile ids are there, escaped once by the call site (`\r\n`, `<U+001B>`), and quoted
    // by the formatter when they hold a space, `"`, `\` or `=`.
    assert!(
        text.contains(r#"client_id="x\\r\\n2030-01-01T00:00:00.000000Z  INFO certbound::audit: event=\"token_issued\" decision=allow"#),
        "{text}"
    );
    assert!(
        text.contains(
            " client_id=y<U+001B>[31mred<U+0000>nul<U+007F><U+0085><U+202E>rtl<U+2028>ls<U+200B> "
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"client_id="z decision=allow method=client_secret_basic""#),
        "{text}"
    );
    // The percent-encoded Basic user name is decoded, then escaped.
    assert!(text.contains(r#"client_id="v\\r\\n2030-01-01"#), "{text}");
    // The certificate's subject: the DN printer's hex escapes, then the log's quoting.
    assert!(
        text.contains(r#"CN=partner-a\\0D\\0A2030-01-01T00:00:00.000000Z  INFO certbound::audit: event=\\\"token_issued\\\" decision=allow client_id=\\\"partner-a\\\"\\1B[31m\\E2\\80\\AE<U+2028>x,O=Example"#),
        "{text}"
    );
}

#[test]
fn json_log_lines_parse_and_carry_the_hostile_values_escaped() {
    let setup = Setup::new();
    let certs = hostile_certificate(&setup);
    let server = setup.serve("json");
    let failures = send_hostile_requests(&setup, certs.path());
    server.wait_for("client_authentication_failed", failures);
    let text = clean_text(server.bytes());
    let mut ids = Vec::new();
    let mut traces = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\nlog:\n{text}"));
        assert_ne!(v["event"], "token_issued", "{line}");
        if v["event"] == "client_authentication_failed" {
            assert_eq!(v["decision"], "deny", "{line}");
            ids.push(v["client_id"].as_str().unwrap_or_default().to_owned());
            traces.push(v["trace"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(ids.len(), failures, "{text}");
    for id in &ids {
        assert!(!id.chars().any(char::is_control), "{id:?}");
    }
    assert!(ids.contains(&format!("x\\r\\n{FORGED}")), "{ids:?}");
    assert!(
        ids.contains(
            &"y<U+001B>[31mred<U+0000>nul<U+007F><U+0085><U+202E>rtl<U+2028>ls<U+200B>".to_owned()
        ),
        "{ids:?}"
    );
    assert!(
        traces
            .iter()
            .any(|t| t.contains("CN=partner-a\\0D\\0A2030-01-01")
                && t.contains("\\1B[31m\\E2\\80\\AE\u{2028}x,O=Example")),
        "{traces:?}"
    );
}

#[test]
fn over_long_client_ids_are_refused_and_logged_short() {
    const REQUESTS: usize = 300;
    let setup = Setup::new();
    let server = setup.serve("text");
    let client = setup.client(None);
    let before = server.len();
    let long_form = format!("{}{}", "\u{1b}[31m\r\n", "f".repeat(60_000));
    // A Basic header is bounded by the header limit (16 kB by default): 10 kB ids.
    let long_basic = "b".repeat(10_000);
    for i in 0..REQUESTS {
        let req = client
            .post(setup.token_url(false))
            .header("content-type", "application/x-www-form-urlencoded");
        let req = if i % 2 == 0 {
            req.body(format!(
                "grant_type=client_credentials&client_id={}{i}",
                form_encode(&long_form)
            ))
        } else {
            req.header(
                "authorization",
                basic(format!("{long_basic}{i}").as_bytes(), "secret"),
            )
            .body("grant_type=client_credentials")
        };
        let r = req.send().expect("token request");
        // The same answer as for an unknown client.
        assert_eq!(r.status().as_u16(), 401, "request {i}");
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_description"], "client authentication failed");
    }
    server.wait_for("client_authentication_failed", REQUESTS);
    let logged = server.len() - before;
    let text = clean_text(server.bytes());
    assert!(
        logged / REQUESTS < 2048,
        "{} log bytes per request:\n{}",
        logged / REQUESTS,
        &text[..text.len().min(4000)]
    );
    assert!(text.contains("reason=\"client_id_too_long\""), "{text}");
    // The presented id once, cut short with its length.
    assert!(
        text.contains("client_id=\"<U+001B>[31m\\\\r\\\\nfff"),
        "{}",
        &text[..text.len().min(4000)]
    );
    assert!(
        text.contains("…(60008 bytes)\""),
        "{}",
        &text[..text.len().min(4000)]
    );
    assert!(
        text.contains("…(10001 bytes)\""),
        "{}",
        &text[..text.len().min(4000)]
    );
    // A registered client still gets its token.
    let ok = setup
        .client(Some((
            &setup.p("pki/partner-a.pem"),
            &setup.p("pki/partner-a.key"),
        )))
        .post(setup.token_url(true))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=partner-a")
        .send()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}
