//! DPoP server nonces at the gateway (RFC 9449 §9, `[dpop] use_nonce`), end to end: the real
//! AS issues a DPoP-bound token, real gateways on 127.0.0.1 with real TLS check it, a real
//! upstream answers. A proof without an acceptable nonce gets 401 `use_dpop_nonce` with a
//! `DPoP-Nonce` header and is not recorded; the retry with the nonce reaches the upstream and
//! the answer carries the nonce. Gateways sharing `nonce_secret_file` accept each other's
//! nonces; a gateway with another key does not; a nonce dies after two rotation windows.

use certbound_gateway::config::GatewayConfig;
use certbound_testkit::dpop::{claims, fresh_jti, ProofKey};
use certbound_testkit::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

/// An upstream that answers 201 to everything.
async fn upstream() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::CREATED,
            axum::Json(json!({"ok": true})),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The AS with client `dp` (DPoP-bound tokens, authenticated by its certificate).
async fn authorization_server(pki: &Pki) -> TestServer {
    let clients =
        "[[clients]]\nclient_id = \"dp\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
        tls_client_auth_subject_dn = \"CN=dp,O=Example\"\ndpop_bound_access_tokens = true\n\
        scope = \"transactions\"\n";
    TestServer::start(pki, clients).await
}

/// A gateway for `auth` with nonces on (`dpop` lines added to `[dpop]`).
async fn gateway(
    pki: &Pki,
    auth: &TestServer,
    up: std::net::SocketAddr,
    dpop: &str,
) -> certbound_gateway::RunningGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        r#"
[listen]
https = "{gw}"
[tls]
cert = "server.pem"
key = "server.key"
[authorization_server]
issuer = "{issuer}"
ca = "ca.pem"
[dpop]
use_nonce = true
{dpop}
[[routes]]
path_prefix = "/api/"
upstream = "http://{up}"
sender_constraint = "dpop"
scopes = ["transactions"]
"#,
        gw = listener.local_addr().unwrap(),
        issuer = auth.issuer,
    );
    let config =
        GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).expect("gateway config");
    certbound_gateway::start_on(config, listener)
        .await
        .expect("gateway starts")
}

fn key_file(pki: &Pki, name: &str, byte: u8) {
    let p = pki.path(name);
    std::fs::write(&p, [byte; 48]).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A DPoP-bound access token of `dp`, bound to `key`.
async fn dpop_token(auth: &TestServer, pki: &Pki, key: &ProofKey) -> String {
    let cert = pki.client("dp", "Example");
    let r = auth
        .http(Some(&cert))
        .post(auth.mtls("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "dp")])
        .header("dpop", key.proof("POST", &auth.mtls("/token")))
        .send()
        .await
        .unwrap();
    let r = TestServer::read(r).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    r.json["access_token"].as_str().unwrap().to_owned()
}

/// `GET /api/x` at `gw` with the DPoP token and `proof`.
async fn call(
    auth: &TestServer,
    pki: &Pki,
    gw: &certbound_gateway::RunningGateway,
    token: &str,
    proof: &str,
) -> Response {
    let cert = pki.client("dp", "Example");
    let r = auth
        .http(Some(&cert))
        .get(url(gw))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    TestServer::read(r).await
}

fn url(gw: &certbound_gateway::RunningGateway) -> String {
    format!("https://127.0.0.1:{}/api/x", gw.addr.port())
}

/// Asserts the gateway's `use_dpop_nonce` answer and returns its nonce.
fn nonce_of_401(r: &Response) -> String {
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(r.json["error"], "use_dpop_nonce", "{}", r.json);
    let c = r.header("www-authenticate").expect("a challenge");
    assert!(c.starts_with("DPoP "), "{c}");
    assert!(c.contains("algs=\"PS256 ES256 EdDSA\""), "{c}");
    assert!(c.contains("error=\"use_dpop_nonce\""), "{c}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned()
}

#[tokio::test]
async fn the_gateway_asks_for_a_nonce_and_gateways_sharing_the_key_accept_it() {
    let pki = Pki::new();
    key_file(&pki, "nonce.key", 0x11);
    key_file(&pki, "other.key", 0x22);
    let auth = authorization_server(&pki).await;
    let up = upstream().await;
    let a = gateway(&pki, &auth, up, "nonce_secret_file = \"nonce.key\"").await;
    let b = gateway(&pki, &auth, up, "nonce_secret_file = \"nonce.key\"").await;
    let c = gateway(&pki, &auth, up, "nonce_secret_file = \"other.key\"").await;
    let key = ProofKey::new();
    let token = dpop_token(&auth, &pki, &key).await;

    // No nonce: 401 use_dpop_nonce, and the proof is not recorded (the retry reuses its jti).
    let mut proof = claims("GET", &url(&a), Some(&token), None);
    proof["jti"] = json!(fresh_jti());
    let nonce = nonce_of_401(&call(&auth, &pki, &a, &token, &key.sign(&proof)).await);
    proof["nonce"] = json!(nonce);
    let r = call(&auth, &pki, &a, &token, &key.sign(&proof)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.header("dpop-nonce"), Some(nonce.as_str()));
    // Recorded now: the same proof again is a replay.
    let r = call(&auth, &pki, &a, &token, &key.sign(&proof)).await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(r.json["error"], "invalid_dpop_proof");

    // B shares the key file and accepts A's nonce.
    let p = key.proof_for("GET", &url(&b), Some(&token), Some(&nonce));
    let r = call(&auth, &pki, &b, &token, &p).await;
    assert_eq!(r.status, 201, "{}", r.json);
    // C has another key: it refuses A's nonce and hands out its own, which it accepts.
    let p = key.proof_for("GET", &url(&c), Some(&token), Some(&nonce));
    let theirs = nonce_of_401(&call(&auth, &pki, &c, &token, &p).await);
    assert_ne!(theirs, nonce);
    let p = key.proof_for("GET", &url(&c), Some(&token), Some(&theirs));
    assert_eq!(call(&auth, &pki, &c, &token, &p).await.status, 201);

    // A proof bad for another reason is invalid_dpop_proof, not a nonce request.
    let p = key.proof_for("POST", &url(&a), Some(&token), None);
    let r = call(&auth, &pki, &a, &token, &p).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json["error"], "invalid_dpop_proof", "{}", r.json);
    assert!(r.header("dpop-nonce").is_none());
}

#[tokio::test]
async fn a_gateway_nonce_older_than_two_windows_is_refused() {
    let pki = Pki::new();
    let auth = authorization_server(&pki).await;
    let up = upstream().await;
    let gw = gateway(&pki, &auth, up, "nonce_rotation_seconds = 1").await;
    let key = ProofKey::new();
    let token = dpop_token(&auth, &pki, &key).await;
    let p = key.proof_for("GET", &url(&gw), Some(&token), None);
    let nonce = nonce_of_401(&call(&auth, &pki, &gw, &token, &p).await);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let p = key.proof_for("GET", &url(&gw), Some(&token), Some(&nonce));
    let fresh = nonce_of_401(&call(&auth, &pki, &gw, &token, &p).await);
    assert_ne!(fresh, nonce);
    let p = key.proof_for("GET", &url(&gw), Some(&token), Some(&fresh));
    let r = call(&auth, &pki, &gw, &token, &p).await;
    assert_eq!(r.status, 201, "{}", r.json);
}
