//! DPoP at the token endpoint (RFC 9449 §5): a client that sends a valid proof gets a
//! `token_type: DPoP` token bound to the proof key (`cnf.jkt`); bad, replayed or doubled proofs
//! are `invalid_dpop_proof`, and a `dpop_bound_access_tokens` client must send one.

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_testkit::dpop::{fresh_jti, now, ProofKey};
use serde_json::{json, Value};

const DN: &str = "CN=dp,O=Example";

fn proof_key() -> ProofKey {
    ProofKey::new()
}

fn proof(key: &ProofKey, htm: &str, htu: &str) -> String {
    key.proof(htm, htu)
}

/// The server and the certificate every test client authenticates with.
struct Env {
    server: TestServer,
    cert: certbound_pki::IssuedCertificate,
}

impl std::ops::Deref for Env {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

async fn env(pki: &Pki) -> Env {
    Env {
        server: TestServer::start(pki, &clients()).await,
        cert: pki.client("dp", "Example"),
    }
}

fn clients() -> String {
    format!(
        "[[clients]]\nclient_id = \"dp\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = {dn}\nscope = \"read\"\n\
         [[clients]]\nclient_id = \"dp-only\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = {dn}\ndpop_bound_access_tokens = true\nscope = \"read\"\n\
         [[clients]]\nclient_id = \"dp-cert\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = {dn}\ntls_client_certificate_bound_access_tokens = true\nscope = \"read\"\n",
        dn = toml_string(DN)
    )
}

async fn token(s: &Env, client_id: &str, proofs: &[&str]) -> Response {
    let cert = s.cert.clone();
    let mut req = s.http(Some(&cert)).post(s.mtls("/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
    ]);
    for p in proofs {
        req = req.header("dpop", *p);
    }
    TestServer::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn a_proof_binds_the_token_to_its_key() {
    let pki = Pki::new();
    let s = env(&pki).await;
    let key = proof_key();
    let htu = s.mtls("/token");

    let p = proof(&key, "POST", &htu);
    let r = token(&s, "dp", &[&p]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"], json!({"jkt": key.thumbprint()}));

    // The same proof again: a replay.
    token(&s, "dp", &[&p])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // Without a proof the same client gets a Bearer token with no cnf.
    let r = token(&s, "dp", &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(jwt_parts(r.json["access_token"].as_str().unwrap())
        .1
        .get("cnf")
        .is_none());
    // A certificate-bound client that also sends a proof: one proof-of-possession method per
    // token, so the request is refused rather than bound to one of the two.
    token(&s, "dp-cert", &[&proof(&key, "POST", &htu)])
        .await
        .assert_error(400, "invalid_request");
    let r = token(&s, "dp-cert", &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert!(claims["cnf"].get("x5t#S256").is_some(), "{claims}");
}

#[tokio::test]
async fn bad_missing_and_doubled_proofs_are_refused() {
    let pki = Pki::new();
    let s = env(&pki).await;
    let key = proof_key();
    let htu = s.mtls("/token");

    // Wrong htu (the conventional listener's URL at the mTLS listener) and wrong htm.
    for p in [
        proof(&key, "POST", &s.token_url()),
        proof(&key, "GET", &htu),
    ] {
        token(&s, "dp", &[&p])
            .await
            .assert_error(400, "invalid_dpop_proof");
    }
    // alg none.
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk})),
        b64(&json!({"jti": fresh_jti(), "htm": "POST", "htu": htu, "iat": now()}))
    );
    token(&s, "dp", &[&none])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // Two DPoP headers, each valid alone.
    let (a, b) = (proof(&key, "POST", &htu), proof(&key, "POST", &htu));
    token(&s, "dp", &[&a, &b])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // A dpop_bound_access_tokens client without a proof; with one it is served.
    token(&s, "dp-only", &[])
        .await
        .assert_error(400, "invalid_dpop_proof");
    let r = token(&s, "dp-only", &[&proof(&key, "POST", &htu)]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
}

#[tokio::test]
async fn metadata_lists_the_proof_algorithms() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let doc: Value = s
        .http(None)
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
}
