//! DPoP server nonces (RFC 9449 §8, §9; `[dpop] use_nonce`): a proof without an acceptable
//! nonce is answered 400 `use_dpop_nonce` with a `DPoP-Nonce` header at /token and /par, and
//! 401 with a `DPoP` challenge at /userinfo; nothing is recorded or consumed by that answer, so
//! the retry with the nonce succeeds. Nonces are stateless: servers sharing `nonce_secret_file`
//! accept each other's, a server with another key does not, and a nonce dies after two windows.

use crate::par::{Flow, CB, PASSWORD};
use crate::support::dpop::{claims, fresh_jti, ProofKey};
use crate::support::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

/// `VERIFIER` is the PKCE verifier of `par::CHALLENGE`.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

const DN: &str = "CN=dp,O=Example";

/// A `client_credentials` client authenticated by its certificate.
fn client() -> String {
    format!(
        "[[clients]]\nclient_id = \"dp\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
         tls_client_auth_subject_dn = {dn}\nscope = \"read\"\n",
        dn = toml_string(DN)
    )
}

/// `[dpop]` with nonces on, the key file `key_file` (in the PKI directory) if given.
fn nonces(rotation: u32, key_file: Option<&str>) -> String {
    let mut t = format!("[dpop]\nuse_nonce = true\nnonce_rotation_seconds = {rotation}\n");
    if let Some(f) = key_file {
        t.push_str(&format!("nonce_secret_file = \"{f}\"\n"));
    }
    t
}

/// Writes a 0600 key file named `name` holding `bytes`.
fn key_file(pki: &Pki, name: &str, bytes: &[u8]) {
    let p = pki.path(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A client_credentials request of `dp` at the mTLS token endpoint with `proof`.
async fn token(s: &TestServer, cert: &certbound_pki::IssuedCertificate, proof: &str) -> Response {
    let req = s
        .http(Some(cert))
        .post(s.mtls("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "dp")])
        .header("dpop", proof);
    TestServer::read(req.send().await.unwrap()).await
}

/// Asserts the AS's `use_dpop_nonce` answer and returns its nonce.
fn nonce_of_400(r: &Response) -> String {
    r.assert_error(400, "use_dpop_nonce");
    assert!(r.header("www-authenticate").is_none());
    let nonce = r.header("dpop-nonce").expect("a DPoP-Nonce header");
    assert_eq!(nonce.len(), 32, "{nonce}");
    nonce.to_owned()
}

#[tokio::test]
async fn the_token_endpoint_asks_for_a_nonce_and_the_retry_succeeds() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &format!("{}{}", client(), nonces(300, None))).await;
    let cert = pki.client("dp", "Example");
    let key = ProofKey::new();
    let htu = s.mtls("/token");

    // A proof without a nonce: 400 use_dpop_nonce with the nonce to use.
    let jti = fresh_jti();
    let mut c = claims("POST", &htu, None, None);
    c["jti"] = json!(jti);
    let nonce = nonce_of_400(&token(&s, &cert, &key.sign(&c)).await);

    // The retry reuses the same jti: the refused proof was not recorded.
    c["nonce"] = json!(nonce);
    let r = token(&s, &cert, &key.sign(&c)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    let (_, at) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(at["cnf"], json!({"jkt": key.thumbprint()}));
    assert_eq!(
        r.header("dpop-nonce"),
        Some(nonce.as_str()),
        "the success carries the current nonce"
    );
    // Now the proof is recorded: the same one again is a replay.
    token(&s, &cert, &key.sign(&c))
        .await
        .assert_error(400, "invalid_dpop_proof");

    // A wrong or garbled nonce is use_dpop_nonce again; a proof that is bad for another
    // reason stays invalid_dpop_proof (the nonce is checked last).
    let (padded, longer) = ("A".repeat(32), format!("{nonce}A"));
    for bad in ["x", padded.as_str(), longer.as_str()] {
        let p = key.proof_for("POST", &htu, None, Some(bad));
        nonce_of_400(&token(&s, &cert, &p).await);
    }
    let wrong_htu = key.proof_for("POST", &s.token_url(), None, None);
    token(&s, &cert, &wrong_htu)
        .await
        .assert_error(400, "invalid_dpop_proof");

    // Without a DPoP header nothing changes: a Bearer token, no nonce.
    let r = s.mtls_token(&cert, "dp").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.header("dpop-nonce").is_none());

    // PAR is held to the same rule (RFC 9449 §10.1 proofs at PAR).
    let f = Flow::start(&format!("{DPOP_CLIENT}{}", nonces(300, None))).await;
    let par_url = f.s.mtls("/par");
    let r = par(&f, Some(&key.proof("POST", &par_url))).await;
    let nonce = nonce_of_400(&r);
    let r = par(
        &f,
        Some(&key.proof_for("POST", &par_url, None, Some(&nonce))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.header("dpop-nonce"), Some(nonce.as_str()));
}

#[tokio::test]
async fn servers_sharing_the_key_file_accept_each_others_nonces_and_others_do_not() {
    let pki = Pki::new();
    key_file(&pki, "nonce.key", &[0x5a; 48]);
    key_file(&pki, "other.key", &[0xa5; 48]);
    let shared = format!("{}{}", client(), nonces(300, Some("nonce.key")));
    let a = TestServer::start(&pki, &shared).await;
    let b = TestServer::start(&pki, &shared).await;
    let c = TestServer::start(
        &pki,
        &format!("{}{}", client(), nonces(300, Some("other.key"))),
    )
    .await;
    let cert = pki.client("dp", "Example");
    let key = ProofKey::new();

    let nonce = nonce_of_400(&token(&a, &cert, &key.proof("POST", &a.mtls("/token"))).await);
    // B, which shares the file, accepts A's nonce.
    let p = key.proof_for("POST", &b.mtls("/token"), None, Some(&nonce));
    let r = token(&b, &cert, &p).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // C, with another key, refuses it and hands out its own.
    let p = key.proof_for("POST", &c.mtls("/token"), None, Some(&nonce));
    let theirs = nonce_of_400(&token(&c, &cert, &p).await);
    assert_ne!(theirs, nonce);
    let p = key.proof_for("POST", &c.mtls("/token"), None, Some(&theirs));
    assert_eq!(token(&c, &cert, &p).await.status, 200);
}

#[tokio::test]
async fn a_nonce_older_than_two_windows_is_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &format!("{}{}", client(), nonces(1, None))).await;
    let cert = pki.client("dp", "Example");
    let key = ProofKey::new();
    let htu = s.mtls("/token");
    let nonce = nonce_of_400(&token(&s, &cert, &key.proof("POST", &htu)).await);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let stale = key.proof_for("POST", &htu, None, Some(&nonce));
    let fresh = nonce_of_400(&token(&s, &cert, &stale).await);
    assert_ne!(fresh, nonce);
    let p = key.proof_for("POST", &htu, None, Some(&fresh));
    let r = token(&s, &cert, &p).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

/// A DPoP-bound web client with the certificate of `web`.
const DPOP_CLIENT: &str = "[[clients]]\nclient_id = \"dweb\"\n\
    token_endpoint_auth_method = \"tls_client_auth\"\n\
    tls_client_auth_subject_dn = \"CN=web,O=Example\"\ndpop_bound_access_tokens = true\n\
    grant_types = [\"authorization_code\", \"refresh_token\"]\n\
    redirect_uris = [\"https://app.example/cb\"]\nscope = \"openid profile email\"\n";

/// PAR for `dweb` with an optional proof.
async fn par(f: &Flow, proof: Option<&str>) -> Response {
    par_with(f, &[], proof).await
}

async fn par_with(f: &Flow, extra: &[(&str, &str)], proof: Option<&str>) -> Response {
    let mut req =
        f.s.http(Some(&f.cert))
            .post(f.s.mtls("/par"))
            .form(&Flow::par_body("dweb", extra));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    TestServer::read(req.send().await.unwrap()).await
}

/// The code exchange of `dweb` with `proof`.
async fn exchange(f: &Flow, code: &str, proof: &str) -> Response {
    let req =
        f.s.http(Some(&f.cert))
            .post(f.s.mtls("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "dweb"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ])
            .header("dpop", proof);
    TestServer::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn use_dpop_nonce_burns_no_code_and_userinfo_asks_for_a_nonce_too() {
    let f = Flow::start(&format!("{DPOP_CLIENT}{}", nonces(300, None))).await;
    let key = ProofKey::new();
    let r = par_with(&f, &[("dpop_jkt", &key.thumbprint())], None).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let request_uri = r.json["request_uri"].as_str().unwrap().to_owned();
    let mut b = f.browser();
    let done = b
        .sign_in_and_allow(&f.authorize_url("dweb", &request_uri), "alice", PASSWORD)
        .await;
    assert!(done.location().starts_with(CB), "{}", done.location());
    let code = done.redirect_params()["code"].clone();

    // The exchange without a nonce is use_dpop_nonce; the code survives it.
    let token_url = f.s.mtls("/token");
    let nonce = nonce_of_400(&exchange(&f, &code, &key.proof("POST", &token_url)).await);
    let r = exchange(
        &f,
        &code,
        &key.proof_for("POST", &token_url, None, Some(&nonce)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    assert!(r.header("dpop-nonce").is_some());
    let token = r.json["access_token"].as_str().unwrap().to_owned();

    // /userinfo: 401 with a DPoP challenge and the nonce, then 200 with it.
    let url = f.s.mtls("/userinfo");
    let get = |proof: String| {
        f.s.http(Some(&f.cert))
            .get(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
    };
    let jti = fresh_jti();
    let mut c = claims("GET", &url, Some(&token), None);
    c["jti"] = json!(jti);
    let r = TestServer::read(get(key.sign(&c)).send().await.unwrap()).await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(r.json["error"], "use_dpop_nonce");
    let challenge = r.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("algs=\"PS256 ES256 EdDSA\""),
        "{challenge}"
    );
    let nonce = r
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned();
    // Same jti with the nonce: the refused proof was not recorded.
    c["nonce"] = json!(nonce);
    let r = TestServer::read(get(key.sign(&c)).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["sub"].is_string(), "{}", r.json);
    assert_eq!(r.header("dpop-nonce"), Some(nonce.as_str()));
}
