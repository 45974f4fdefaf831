//! The user flow across two `certbound serve` processes on one PostgreSQL database, as behind a
//! load balancer that does not keep a browser or a client on one instance: PAR on instance A,
//! `/authorize` with login and consent on B, the code exchanged on A, the refresh token used on B,
//! userinfo on A. The pushed request, used up on B, is unknown on A. The code replayed on B is
//! `invalid_grant` and revokes the grant on both instances: the refresh token and the access
//! tokens (introspection and userinfo) are refused everywhere.
//!
//! Reads `CERTBOUND_TEST_POSTGRES_URL` (an admin URL; the test creates and drops its own database).
//! Without it the test prints a visible SKIPPED line; `.ci/run` sets it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::pkce::CodeChallenge;
use certbound_testkit::browser::blocking::Browser;
use certbound_testkit::postgres::{admin_url_or_skip, TestDatabase};
use certbound_testkit::process::{free_port_pair, quickstart_client as client, Output, Process};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use url::Url;

const USERNAME: &str = "alice";
const PASSWORD: &str = "scale-alice-password-9Kd";
const WEB_CLIENT: &str = "partner-a-web";
/// Never contacted: the browser step reads the 303 Location that points at it.
const REDIRECT_URI: &str = "https://localhost:1/callback";

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn serve(config: &Path) -> Process {
    let p = Process::spawn(
        certbound().args(["serve", "--config"]).arg(config),
        Output::Stderr,
    );
    p.wait_for("authorization server started");
    p
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
/// grants, bound tokens) through the CLI; returns alice's `sub`.
fn register_user_and_web_client(config: &Path) -> String {
    let added = run(
        &["users", "add", "--username", USERNAME, "--password-stdin"],
        config,
        PASSWORD,
    );
    let sub = added
        .split("(sub ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("users add prints the sub: {added}"))
        .to_owned();
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
    let metadata = metadata.to_str().unwrap().to_owned();
    run(&["clients", "add", "--metadata", &metadata], config, "");
    sub
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn thumbprint(dir: &Path, name: &str) -> String {
    let pem = pem::parse(std::fs::read(dir.join(format!("pki/{name}.pem"))).unwrap()).unwrap();
    certbound_core::Thumbprint::of_der(pem.contents())
        .as_str()
        .to_owned()
}

#[test]
fn the_code_flow_spans_two_instances_on_one_postgresql() {
    let Some(admin) = admin_url_or_skip("the_code_flow_spans_two_instances_on_one_postgresql")
    else {
        return;
    };
    let db = TestDatabase::create(&admin, "certbound_flows");
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("dev");
    let (pa, pb) = (free_port_pair(), free_port_pair());
    let out = certbound()
        .args(["quickstart", "--no-serve", "--admin-port", "0", "--port"])
        .arg(pa.to_string())
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One issuer (A's URL, as behind a load balancer), each instance on its own ports.
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
    };
    std::fs::write(dir.join("a.toml"), config(pa)).unwrap();
    std::fs::write(dir.join("b.toml"), config(pb)).unwrap();
    let sub = register_user_and_web_client(&dir.join("a.toml"));
    let _a = serve(&dir.join("a.toml"));
    let _b = serve(&dir.join("b.toml"));
    let issuer = format!("https://localhost:{pa}");
    let mtls = |port: u16, path: &str| format!("https://127.0.0.1:{}{path}", port + 1);
    let partner = client(&dir, Some("partner-a"));
    let bound = thumbprint(&dir, "partner-a");

    // PAR on A.
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = CodeChallenge::s256_of(&verifier);
    let (state, nonce) = ("state-across-instances", "nonce-across-instances");
    let par = partner
        .post(mtls(pa, "/par"))
        .form(&[
            ("client_id", WEB_CLIENT),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .unwrap();
    assert_eq!(par.status(), 201);
    let par: Value = par.json().unwrap();
    let request_uri = par["request_uri"].as_str().expect("request_uri").to_owned();

    // /authorize, login and consent on B.
    let mut browser = Browser::new(&dir.join("pki/ca.pem"));
    let start = Url::parse_with_params(
        &format!("https://127.0.0.1:{pb}/authorize"),
        &[("client_id", WEB_CLIENT), ("request_uri", &request_uri)],
    )
    .unwrap();
    let (callback, pages) = browser.authorize(start, REDIRECT_URI, USERNAME, &[PASSWORD]);
    assert_eq!(pages, ["login", "consent"]);
    let returned: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    assert_eq!(returned.get("state").map(String::as_str), Some(state));
    assert_eq!(
        returned.get("iss"),
        Some(&issuer),
        "B redirects with the one issuer"
    );
    let code = returned.get("code").expect("code").to_owned();
    // The pushed request was used up on B: A shows its own error page, no redirect.
    let again = browser.go(
        &Url::parse_with_params(
            &format!("https://127.0.0.1:{pa}/authorize"),
            &[("client_id", WEB_CLIENT), ("request_uri", &request_uri)],
        )
        .unwrap(),
        None,
    );
    assert_eq!(
        again.status, 400,
        "the request_uri is single-use across instances"
    );
    assert!(again.location.is_none() && again.html.contains("Authorization error"));

    // The code exchanged on A.
    let exchange = |port: u16| {
        partner
            .post(mtls(port, "/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", WEB_CLIENT),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .unwrap()
    };
    let tokens = exchange(pa);
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(claims_of(&access)["cnf"]["x5t#S256"], bound);
    assert_eq!(claims_of(&access)["sub"], sub.as_str());
    let id = claims_of(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["iss"], issuer.as_str());
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(id["aud"], WEB_CLIENT);
    assert_eq!(id["nonce"], nonce);

    // The refresh token used on B.
    let refresh = |port: u16| {
        partner
            .post(mtls(port, "/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", WEB_CLIENT),
                ("refresh_token", refresh_token.as_str()),
            ])
            .send()
            .unwrap()
    };
    let refreshed = refresh(pb);
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&access2)["cnf"]["x5t#S256"], bound);

    // userinfo on A, with the token B issued.
    let userinfo = |port: u16, token: &str| {
        partner
            .get(mtls(port, "/userinfo"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let info = userinfo(pa, &access2);
    assert_eq!(info.status(), 200);
    let info: Value = info.json().unwrap();
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["preferred_username"], USERNAME);

    // The code replayed on B: invalid_grant, and the grant is revoked on both instances.
    let replay = exchange(pb);
    assert_eq!(replay.status(), 400);
    let replay: Value = replay.json().unwrap();
    assert_eq!(replay["error"], "invalid_grant");
    let introspect = |port: u16, token: &str| -> Value {
        partner
            .post(mtls(port, "/introspect"))
            .form(&[("client_id", WEB_CLIENT), ("token", token)])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    for port in [pa, pb] {
        let r = refresh(port);
        assert_eq!(r.status(), 400, "refresh after the replay on {port}");
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_grant");
        for token in [&access, &access2] {
            assert_eq!(
                introspect(port, token),
                serde_json::json!({"active": false}),
                "introspection on {port} after the replay"
            );
            let r = userinfo(port, token);
            assert_eq!(r.status(), 401, "userinfo on {port} after the replay");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
        }
    }
}
