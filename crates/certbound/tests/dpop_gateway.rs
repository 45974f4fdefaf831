//! DPoP end to end through the real processes (issue 15's gateway bar): `certbound serve` issues
//! a DPoP-bound token (RFC 9449 §5) to a client registered with `dpop_bound_access_tokens`, and
//! `certbound gateway` in front of `certbound sample-api` lets it through only with a fresh proof
//! by the bound key for this request (`htm`, `htu` = the gateway URL, `ath`). A proof by another
//! key, for another method or URL, without `ath`, or replayed, is refused with a `DPoP`
//! challenge, and the token never works as a bearer token. Both token formats: JWT (checked at
//! the gateway) and opaque (introspected, with the verification cached but the proof checked on
//! every request).

use certbound_testkit::dpop::ProofKey;
use certbound_testkit::process::{free_port, free_port_pair, quickstart_client, Output, Process};
use reqwest::blocking::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn certbound(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certbound"));
    c.current_dir(dir);
    c
}

/// The AS, the gateway and the sample API of a quickstart directory, each its own process, with
/// two DPoP clients (JWT and opaque tokens) authenticating with partner-a's certificate, the API
/// route accepting any sender-constrained token, and the gateway's client certificate optional
/// (`[tls] client_certificate = "optional"`): the DPoP clients call it without one.
struct System {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    _processes: Vec<Process>,
    mtls: u16,
    gateway: u16,
}

const DPOP_CLIENTS: &str = r#"
[[clients]]
client_id = "partner-dpop"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=partner-a,O=Example"
dpop_bound_access_tokens = true
scope = "transactions read"

[[clients]]
client_id = "partner-dpop-opaque"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=partner-a,O=Example"
dpop_bound_access_tokens = true
access_token_format = "opaque"
scope = "transactions read"
"#;

/// Waits until `url` answers; on failure, panics with the output of `processes`.
fn wait_until_up(client: &Client, url: &str, processes: &[Process]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.get(url).send() {
            Ok(_) => return,
            Err(e) => last = format!("{e:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let outputs: Vec<String> = processes.iter().map(Process::output).collect();
    panic!(
        "{url} did not come up: {last}\n{}",
        outputs.join("\n----\n")
    );
}

impl System {
    fn start() -> System {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dev");
        let (port, gateway, api) = (free_port_pair(), free_port(), free_port());
        let out = certbound(tmp.path())
            .args(["quickstart", "--no-serve", "--admin-port", "0", "--dir"])
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
                &free_port().to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.join("certbound.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(DPOP_CLIENTS);
        std::fs::write(&config, text).unwrap();
        let gw = dir.join("gateway.toml");
        let text = std::fs::read_to_string(&gw).unwrap();
        assert!(text.contains("require_bound_token = true"), "{text}");
        let text = text
            .replace("require_bound_token = true", "sender_constraint = \"any\"")
            .replace(
                "key = \"pki/server.key\"\n",
                "key = \"pki/server.key\"\nclient_certificate = \"optional\"\n",
            );
        assert!(text.contains("client_certificate = \"optional\""), "{text}");
        std::fs::write(&gw, text).unwrap();

        let issuer = format!("https://localhost:{port}");
        let mut processes = vec![Process::spawn(
            certbound(&dir).args(["serve", "--config", "certbound.toml"]),
            Output::Stderr,
        )];
        let anon = quickstart_client(&dir, None);
        wait_until_up(
            &anon,
            &format!("{issuer}/.well-known/oauth-authorization-server"),
            &processes,
        );
        processes.push(Process::spawn(
            certbound(&dir)
                .args(["sample-api", "--listen", &format!("127.0.0.1:{api}")])
                .args([
                    "--issuer",
                    &issuer,
                    "--ca",
                    "pki/ca.pem",
                    "--gateway-client-id",
                    "gateway",
                ]),
            Output::Stderr,
        ));
        processes.push(Process::spawn(
            certbound(&dir).args(["gateway", "--config", "gateway.toml"]),
            Output::Stderr,
        ));
        wait_until_up(&anon, &format!("https://localhost:{gateway}/"), &processes);
        let system = System {
            _tmp: tmp,
            dir,
            _processes: processes,
            mtls: port + 1,
            gateway,
        };
        system.wait_until_discovered();
        system
    }

    /// Waits until the gateway has discovered the authorization server: until then its routes
    /// answer 503 `not_ready`, and a test's first call could get that instead of its verdict.
    fn wait_until_discovered(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = quickstart_client(&self.dir, None)
                .post(self.api())
                .send()
                .map(|r| r.status().as_u16());
            match status {
                Ok(401) => return,
                other if Instant::now() > deadline => {
                    panic!("the gateway never discovered the authorization server: {other:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A DPoP-bound access token for `client_id`, bound to `key`.
    fn token(&self, client_id: &str, key: &ProofKey) -> String {
        let url = format!("https://localhost:{}/token", self.mtls);
        let r = quickstart_client(&self.dir, Some("partner-a"))
            .post(&url)
            .header("dpop", key.proof("POST", &url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
            ])
            .send()
            .unwrap();
        let status = r.status();
        let body: Value = r.json().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP", "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn api(&self) -> String {
        format!("https://localhost:{}/api/transactions", self.gateway)
    }

    /// POSTs to the API through the gateway, without a client certificate, with `authorization`
    /// and an optional proof; returns the status and the `WWW-Authenticate` header.
    fn call(&self, authorization: &str, proof: Option<&str>) -> (u16, String) {
        self.call_as(None, authorization, proof)
    }

    /// As [`System::call`], presenting `cert`'s certificate when given.
    fn call_as(
        &self,
        cert: Option<&str>,
        authorization: &str,
        proof: Option<&str>,
    ) -> (u16, String) {
        let mut req = quickstart_client(&self.dir, cert)
            .post(self.api())
            .header("authorization", authorization)
            .json(&serde_json::json!({"amount": 10}));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        let r = req.send().unwrap();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), challenge)
    }
}

#[test]
fn dpop_bound_tokens_pass_the_gateway_only_with_a_fresh_proof_by_their_key() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let s = System::start();
    let api = s.api();
    for client_id in ["partner-dpop", "partner-dpop-opaque"] {
        let (key, other) = (ProofKey::new(), ProofKey::new());
        let token = s.token(client_id, &key);
        let auth = format!("DPoP {token}");
        let good = key.proof_for("POST", &api, Some(&token), None);
        let (status, _) = s.call(&auth, Some(&good));
        assert_eq!(
            status, 201,
            "{client_id}: the right proof reaches the upstream"
        );
        // Twice more with fresh proofs: a cached verification still needs its proof.
        for _ in 0..2 {
            let p = key.proof_for("POST", &api, Some(&token), None);
            assert_eq!(s.call(&auth, Some(&p)).0, 201, "{client_id}");
        }
        let refused = [
            ("replayed proof", auth.clone(), Some(good.clone())),
            ("no proof", auth.clone(), None),
            (
                "proof by another key",
                auth.clone(),
                Some(other.proof_for("POST", &api, Some(&token), None)),
            ),
            (
                "wrong htm",
                auth.clone(),
                Some(key.proof_for("GET", &api, Some(&token), None)),
            ),
            (
                "wrong htu",
                auth.clone(),
                Some(key.proof_for("POST", &format!("{api}/other"), Some(&token), None)),
            ),
            ("no ath", auth.clone(), Some(key.proof("POST", &api))),
            (
                "as a bearer token",
                format!("Bearer {token}"),
                Some(key.proof_for("POST", &api, Some(&token), None)),
            ),
        ];
        for (case, authorization, proof) in refused {
            let (status, challenge) = s.call(&authorization, proof.as_deref());
            assert_eq!(status, 401, "{client_id}: {case}");
            assert!(
                challenge.starts_with("DPoP "),
                "{client_id}: {case}: {challenge}"
            );
            assert!(
                challenge.contains("error="),
                "{client_id}: {case}: {challenge}"
            );
        }
    }
}

/// With the client certificate optional at the handshake, a certificate-bound token still needs
/// its certificate: partner-a's token works with partner-a's certificate and is refused without
/// one.
#[test]
fn an_optional_client_certificate_does_not_weaken_certificate_binding() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let s = System::start();
    let url = format!("https://localhost:{}/token", s.mtls);
    let r = quickstart_client(&s.dir, Some("partner-a"))
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .unwrap();
    let body: Value = r.json().unwrap();
    let token = body["access_token"].as_str().expect("a token").to_owned();
    assert!(body["token_type"] == "Bearer", "{body}");
    let auth = format!("Bearer {token}");
    assert_eq!(s.call_as(Some("partner-a"), &auth, None).0, 201);
    let (status, challenge) = s.call(&auth, None);
    assert_eq!(status, 401, "no certificate");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(
        s.call_as(Some("partner-b"), &auth, None).0,
        401,
        "another certificate"
    );
}
