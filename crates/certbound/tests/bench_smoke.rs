//! Smoke run of every benchmark scenario against the quickstart system: a second each, low
//! concurrency, any failed request fails the test. No assertion on speed (benchmarks measure
//! that; see bench/README.md).
//!
//! The DPoP and private_key_jwt scenarios need two clients the quickstart does not have; they are
//! registered with `certbound clients add`, and the gateway's route opened to DPoP-bound tokens,
//! before the quickstart serves, as bench/compare.sh does. The user-flow scenarios sign in as
//! `alice`, created here with a known password (`certbound users add`) before the quickstart
//! serves (it then keeps her instead of making one with a random password).

use certbound_bench::browser::Credentials;
use certbound_bench::flow::{self, Flow, FlowSetup};
use certbound_bench::jws::Es256Key;
use certbound_bench::load::{run, PrivateKeyJwt, Setup, Target};
use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const USER: &str = "alice";
const PASSWORD: &str = "bench-smoke-password";
const WEB_CLIENT: &str = "partner-web";

/// Adds the quickstart's user with a known password, through the CLI (password on stdin).
fn add_user(dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certbound"))
        .args(["users", "add", "--config"])
        .arg(dir.join("certbound.toml"))
        .args(["--username", USER, "--password-stdin"])
        .args(["--email", "alice@example.com", "--name", "Alice Example"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "users add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The web client's registered redirect URI, from the generated certbound.toml.
fn web_redirect_uri(dir: &Path) -> String {
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("certbound.toml")).unwrap()).unwrap();
    config["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"].as_str() == Some(WEB_CLIENT))
        .and_then(|c| c["redirect_uris"][0].as_str())
        .expect("partner-web's redirect URI in certbound.toml")
        .to_owned()
}

const DPOP_CLIENT: &str = "partner-dpop";
const JWT_CLIENT: &str = "partner-jwt";
const JWT_KID: &str = "bench-1";

/// Registers the DPoP client (partner-a's certificate, DPoP-bound tokens) and the
/// private_key_jwt client (a key made here) in the generated system, and lets the gateway's
/// `/api/` route accept DPoP-bound tokens too. Returns the private_key_jwt client's key file.
fn add_dpop_and_jwt_clients(dir: &Path) -> std::path::PathBuf {
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("certbound.toml")).unwrap()).unwrap();
    let subject = config["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"].as_str() == Some("partner-a"))
        .and_then(|c| c["tls_client_auth_subject_dn"].as_str())
        .expect("partner-a's subject DN in certbound.toml")
        .to_owned();
    let key = Es256Key::generate().unwrap();
    let key_file = dir.join("partner-jwt.key");
    std::fs::write(&key_file, key.to_pkcs8_pem().unwrap()).unwrap();
    let clients = [
        serde_json::json!({
            "client_id": DPOP_CLIENT,
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": subject,
            "dpop_bound_access_tokens": true,
            "scope": "transactions read",
        }),
        serde_json::json!({
            "client_id": JWT_CLIENT,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": key.public_jwks(JWT_KID),
            "scope": "transactions read",
        }),
    ];
    for client in clients {
        let file = dir.join(format!("{}.json", client["client_id"].as_str().unwrap()));
        std::fs::write(&file, client.to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_certbound"))
            .args(["clients", "add", "--config"])
            .arg(dir.join("certbound.toml"))
            .arg("--metadata")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "clients add {file:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gateway = dir.join("gateway.toml");
    let text = std::fs::read_to_string(&gateway).unwrap();
    let line = "require_bound_token = true\n";
    assert_eq!(text.matches(line).count(), 1, "one route to open: {text}");
    std::fs::write(
        &gateway,
        text.replace(line, &format!("{line}sender_constraint = \"any\"\n")),
    )
    .unwrap();
    key_file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_without_errors() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
    let quickstart = |serve: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certbound"));
        cmd.args(["quickstart", "--admin-port", "0", "--dir"])
            .arg(&dir)
            .args([
                "--port",
                &port.to_string(),
                "--gateway-port",
                &gateway.to_string(),
            ])
            .args([
                "--api-port",
                &api.to_string(),
                "--demo-port",
                &demo.to_string(),
            ]);
        if !serve {
            cmd.arg("--no-serve");
        }
        cmd
    };
    let generated = quickstart(false).output().unwrap();
    assert!(
        generated.status.success(),
        "quickstart --no-serve: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let jwt_key = add_dpop_and_jwt_clients(&dir);
    add_user(&dir);
    let running = Process::spawn(&mut quickstart(true), Output::Stdout);
    running.wait_for("Ctrl-C stops everything");
    let setup = |client_id: &str, new_connection: bool, resumption: bool| Setup {
        issuer: format!("https://localhost:{port}"),
        client_id: client_id.to_owned(),
        cert: dir.join("pki/partner-a.pem"),
        key: dir.join("pki/partner-a.key"),
        cacert: dir.join("pki/ca.pem"),
        new_connection,
        resumption,
        token_params: Vec::new(),
        rate: None,
        dpop: false,
        private_key_jwt: None,
    };
    let dpop = Setup {
        dpop: true,
        ..setup(DPOP_CLIENT, false, true)
    };
    let private_key_jwt = || Setup {
        private_key_jwt: Some(PrivateKeyJwt {
            key: jwt_key.clone(),
            kid: JWT_KID.to_owned(),
        }),
        ..setup(JWT_CLIENT, false, true)
    };
    let api_url = format!("https://localhost:{gateway}/api/transactions");
    let cases = [
        (
            "token keep-alive",
            setup("partner-a", false, true),
            Target::Token,
        ),
        (
            "token new connection, resumption",
            setup("partner-a", true, true),
            Target::Token,
        ),
        (
            "token new connection, full handshakes",
            setup("partner-a", true, false),
            Target::Token,
        ),
        ("token DPoP keep-alive", dpop, Target::Token),
        (
            "token private_key_jwt keep-alive",
            private_key_jwt(),
            Target::Token,
        ),
        (
            "introspect",
            setup("partner-a", false, true),
            Target::Introspect,
        ),
        (
            "introspect, opaque token",
            setup("partner-a-opaque", false, true),
            Target::Introspect,
        ),
        (
            "gateway",
            setup("partner-a", false, true),
            Target::Gateway(api_url.clone()),
        ),
        (
            "gateway new connection",
            setup("partner-a", true, true),
            Target::Gateway(api_url.clone()),
        ),
        (
            "gateway-opaque",
            setup("partner-a-opaque", false, true),
            Target::Gateway(api_url.clone()),
        ),
        (
            "gateway DPoP keep-alive",
            Setup {
                dpop: true,
                ..setup(DPOP_CLIENT, false, true)
            },
            Target::Gateway(api_url.clone()),
        ),
    ];
    for (name, setup, target) in cases {
        let report = run(&setup, target, 2, Duration::from_millis(700), None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(report.requests() > 0, "{name}: no request succeeded");
        assert_eq!(report.errors_total(), 0, "{name}: {:?}", report.errors());
    }

    // The user flows, as partner-web (partner-a's certificate) and alice.
    let flow_setup = |password: &str| FlowSetup {
        issuer: format!("https://localhost:{port}"),
        client_id: WEB_CLIENT.to_owned(),
        cert: dir.join("pki/partner-a.pem"),
        key: dir.join("pki/partner-a.key"),
        cacert: dir.join("pki/ca.pem"),
        rate: None,
        credentials: Credentials {
            username: USER.to_owned(),
            password: password.to_owned(),
        },
        redirect_uri: web_redirect_uri(&dir),
        scope: "openid profile email transactions".to_owned(),
    };
    let flows = [
        (
            "code flow, signed in",
            Flow::CodeFlow {
                login_each_flow: false,
            },
        ),
        (
            "code flow with login",
            Flow::CodeFlow {
                login_each_flow: true,
            },
        ),
        ("refresh", Flow::Refresh),
        ("userinfo", Flow::Userinfo),
    ];
    for (name, scenario) in flows {
        let report = flow::run(
            &flow_setup(PASSWORD),
            scenario,
            2,
            Duration::from_millis(1000),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(report.requests() > 0, "{name}: no flow completed");
        assert_eq!(report.errors_total(), 0, "{name}: {:?}", report.errors());
    }
    // A wrong password is a failed flow, never a completed one.
    let report = flow::run(
        &flow_setup("not-the-password"),
        Flow::CodeFlow {
            login_each_flow: true,
        },
        1,
        Duration::from_millis(200),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        report.requests(),
        0,
        "a flow with a wrong password completed"
    );
    assert!(
        report
            .errors()
            .get("authorize: login refused")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        report.errors()
    );

    // The scenarios measure what they claim: without its proof the DPoP client gets no token, and
    // a private_key_jwt client without its assertion gets none (each a failed request).
    let refused = [
        (
            "DPoP client without a proof",
            setup(DPOP_CLIENT, false, true),
            Target::Token,
            "http 400",
        ),
        (
            "private_key_jwt client with its certificate only",
            setup(JWT_CLIENT, false, true),
            Target::Token,
            "http 401",
        ),
    ];
    for (name, setup, target, kind) in refused {
        let report = run(&setup, target, 1, Duration::from_millis(200), None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(report.requests(), 0, "{name}: a request succeeded");
        assert!(
            report.errors().get(kind).copied().unwrap_or(0) > 0,
            "{name}: expected {kind}, got {:?}",
            report.errors()
        );
    }
    drop(running);
}
