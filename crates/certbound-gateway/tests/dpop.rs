//! DPoP-bound access tokens (RFC 9449 §7) through the tower layer: a JWT with `cnf.jkt`, signed
//! by a key the layer trusts (`Verifier::from_jwks`), presented as `Authorization: DPoP` with a
//! proof. The right proof reaches the handler; every broken proof, replay or scheme mix-up gets
//! 401 with a `WWW-Authenticate: DPoP` challenge.

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::body::Body;
use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::dpop::NonceScheme;
use certbound_gateway::binding::SenderConstraint;
use certbound_gateway::guard::{Requirements, TokenGuard};
use certbound_gateway::layer::{BoundToken, BoundTokenLayer};
use certbound_gateway::tokens::{Verifier, VerifierConfig};
use http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

const ISS: &str = "https://as.example";
const ORIGIN: &str = "https://api.example";

/// A P-256 key pair: signs JWS with ES256 and publishes its public JWK.
struct Key {
    pair: EcdsaKeyPair,
    jwk: Value,
}

fn key() -> Key {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    Key { pair, jwk }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A compact JWS of `header` and `claims`, signed ES256 by `k` (whatever `header.alg` says).
fn jws(k: &Key, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sig = k.pair.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jkt(k: &Key) -> String {
    certbound_core::dpop::jwk_thumbprint(&k.jwk).unwrap()
}

/// An access token from the trusted AS, with `cnf`.
fn access_token(issuer: &Key, cnf: Value) -> String {
    jws(
        issuer,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "as1"}),
        &json!({"iss": ISS, "sub": "alice", "aud": ISS, "exp": now() + 300, "iat": now(),
                "jti": "at-1", "client_id": "partner-a", "scope": "accounts", "cnf": cnf}),
    )
}

fn ath(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Proof claims for `GET {ORIGIN}/accounts` with this token.
fn proof_claims(token: &str) -> Value {
    json!({"jti": unique(), "htm": "GET", "htu": format!("{ORIGIN}/accounts"), "iat": now(),
           "ath": ath(token)})
}

fn unique() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

fn proof(k: &Key, claims: &Value) -> String {
    jws(
        k,
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk}),
        claims,
    )
}

struct Setup {
    issuer: Key,
    holder: Key,
    app: axum::Router,
}

fn setup(constraint: SenderConstraint) -> Setup {
    setup_with(constraint, None)
}

/// [`setup`], with the guard requiring nonces of `nonces` when given.
fn setup_with(constraint: SenderConstraint, nonces: Option<NonceScheme>) -> Setup {
    let issuer = key();
    let mut published = issuer.jwk.clone();
    published["kid"] = json!("as1");
    published["alg"] = json!("ES256");
    let verifier = Verifier::from_jwks(VerifierConfig::new(ISS), json!({"keys": [published]}));
    let mut guard = TokenGuard::new(verifier, None, "test-api");
    if let Some(n) = nonces {
        guard = guard.with_dpop_nonces(n);
    }
    let app = axum::Router::new()
        .route(
            "/accounts",
            get(|BoundToken(t): BoundToken| async move {
                axum::Json(json!({"sub": t.claims.sub, "jkt": t.claims.jkt}))
            }),
        )
        .layer(
            BoundTokenLayer::new(
                guard,
                Requirements {
                    require_bound: false,
                    scopes: vec!["accounts".into()],
                },
            )
            .with_sender_constraint(constraint)
            .with_public_url(ORIGIN),
        );
    Setup {
        issuer,
        holder: key(),
        app,
    }
}

/// Sends `method /accounts` with these headers; returns the status and the
/// `WWW-Authenticate` values.
async fn send(
    app: &axum::Router,
    method: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Vec<String>) {
    let mut req = Request::builder()
        .method(method)
        .uri("/accounts")
        .header("host", "evil.example");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let challenges = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (r.status(), challenges)
}

fn assert_dpop_401(got: (StatusCode, Vec<String>), error: &str, case: &str) {
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(got.1.len(), 1, "{case}: {:?}", got.1);
    let c = &got.1[0];
    assert!(c.starts_with("DPoP "), "{case}: {c}");
    assert!(c.contains("algs=\"PS256 ES256 EdDSA\""), "{case}: {c}");
    assert!(c.contains(&format!("error=\"{error}\"")), "{case}: {c}");
}

#[tokio::test]
async fn a_right_proof_reaches_the_api_and_broken_ones_are_refused() {
    let s = setup(SenderConstraint::Any);
    let token = access_token(&s.issuer, json!({"jkt": jkt(&s.holder)}));
    let auth = format!("DPoP {token}");

    // The right proof: the handler sees the DPoP-bound token. The Host header plays no part.
    let good = proof(&s.holder, &proof_claims(&token));
    let ok = send(&s.app, "GET", &[("authorization", &auth), ("dpop", &good)]).await;
    assert_eq!(ok.0, StatusCode::OK, "{:?}", ok.1);
    // Replaying the same proof, even with the token's validation cached, is refused.
    let replay = send(&s.app, "GET", &[("authorization", &auth), ("dpop", &good)]).await;
    assert_dpop_401(replay, "invalid_dpop_proof", "replayed proof");
    // A fresh proof again works (the cached token never skips the proof).
    let again = proof(&s.holder, &proof_claims(&token));
    let ok = send(&s.app, "GET", &[("authorization", &auth), ("dpop", &again)]).await;
    assert_eq!(ok.0, StatusCode::OK);

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = proof_claims(&token);
        f(&mut c);
        c
    };
    let other = key();
    let cases: Vec<(&str, String)> = vec![
        ("another key", proof(&other, &proof_claims(&token))),
        (
            "wrong htu",
            proof(
                &s.holder,
                &with(&|c| c["htu"] = json!("https://evil.example/accounts")),
            ),
        ),
        (
            "another path",
            proof(
                &s.holder,
                &with(&|c| c["htu"] = json!(format!("{ORIGIN}/payments"))),
            ),
        ),
        (
            "wrong htm",
            proof(&s.holder, &with(&|c| c["htm"] = json!("POST"))),
        ),
        (
            "missing ath",
            proof(
                &s.holder,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("ath");
                }),
            ),
        ),
        (
            "wrong ath",
            proof(
                &s.holder,
                &with(&|c| c["ath"] = json!(ath("another token"))),
            ),
        ),
        (
            "stale iat",
            proof(&s.holder, &with(&|c| c["iat"] = json!(now() - 3600))),
        ),
        (
            "iat in the future",
            proof(&s.holder, &with(&|c| c["iat"] = json!(now() + 3600))),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": s.holder.jwk})),
                b64(&proof_claims(&token))
            ),
        ),
        (
            "HS256",
            jws(
                &s.holder,
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": s.holder.jwk}),
                &proof_claims(&token),
            ),
        ),
        (
            "wrong typ",
            jws(
                &s.holder,
                &json!({"typ": "jwt", "alg": "ES256", "jwk": s.holder.jwk}),
                &proof_claims(&token),
            ),
        ),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (case, p) in &cases {
        let got = send(&s.app, "GET", &[("authorization", &auth), ("dpop", p)]).await;
        assert_dpop_401(got, "invalid_dpop_proof", case);
    }

    // No proof, and two proofs.
    let got = send(&s.app, "GET", &[("authorization", &auth)]).await;
    assert_dpop_401(got, "invalid_dpop_proof", "no proof");
    let (p1, p2) = (
        proof(&s.holder, &proof_claims(&token)),
        proof(&s.holder, &proof_claims(&token)),
    );
    let got = send(
        &s.app,
        "GET",
        &[("authorization", &auth), ("dpop", &p1), ("dpop", &p2)],
    )
    .await;
    assert_dpop_401(got, "invalid_dpop_proof", "two DPoP headers");

    // The DPoP-bound token as a bearer token, with or without a proof.
    let bearer = format!("Bearer {token}");
    let p = proof(&s.holder, &proof_claims(&token));
    let got = send(&s.app, "GET", &[("authorization", &bearer), ("dpop", &p)]).await;
    assert_dpop_401(got, "invalid_token", "Bearer scheme for a DPoP token");
    let got = send(&s.app, "GET", &[("authorization", &bearer)]).await;
    assert_dpop_401(got, "invalid_token", "Bearer scheme, no proof");
}

#[tokio::test]
async fn scheme_and_route_kind_mismatches_are_refused() {
    let s = setup(SenderConstraint::Any);
    // A certificate-bound token sent with the DPoP scheme (and a valid-looking proof).
    let cert_bound = access_token(
        &s.issuer,
        json!({"x5t#S256": "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"}),
    );
    let p = proof(&s.holder, &proof_claims(&cert_bound));
    let got = send(
        &s.app,
        "GET",
        &[
            ("authorization", &format!("DPoP {cert_bound}")),
            ("dpop", &p),
        ],
    )
    .await;
    assert_dpop_401(got, "invalid_token", "certificate-bound token as DPoP");
    // A token with both confirmation methods is refused outright.
    let both = access_token(
        &s.issuer,
        json!({"jkt": jkt(&s.holder), "x5t#S256": "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"}),
    );
    let p = proof(&s.holder, &proof_claims(&both));
    let got = send(
        &s.app,
        "GET",
        &[("authorization", &format!("DPoP {both}")), ("dpop", &p)],
    )
    .await;
    assert_dpop_401(got, "invalid_token", "two cnf methods");

    // No credentials: both challenges are offered.
    let (status, challenges) = send(&s.app, "GET", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[0].starts_with("Bearer realm="));
    assert!(challenges[1].starts_with("DPoP ") && challenges[1].contains("algs="));

    // A certificate-only route refuses a DPoP-bound token even with a right proof.
    let c = setup(SenderConstraint::Certificate);
    let token = access_token(&c.issuer, json!({"jkt": jkt(&c.holder)}));
    let p = proof(&c.holder, &proof_claims(&token));
    let got = send(
        &c.app,
        "GET",
        &[("authorization", &format!("DPoP {token}")), ("dpop", &p)],
    )
    .await;
    assert_dpop_401(got, "invalid_token", "DPoP token on a certificate route");
    // A DPoP-only route refuses an unbound bearer token.
    let d = setup(SenderConstraint::Dpop);
    let unbound = jws(
        &d.issuer,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "as1"}),
        &json!({"iss": ISS, "aud": ISS, "exp": now() + 300, "scope": "accounts"}),
    );
    let (status, _) = send(
        &d.app,
        "GET",
        &[("authorization", &format!("Bearer {unbound}"))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Sends `GET /accounts` with `Authorization: DPoP token` and `proof`; returns the response.
async fn send_proof(app: &axum::Router, token: &str, proof: &str) -> axum::response::Response {
    let req = Request::builder()
        .uri("/accounts")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn the_layer_asks_for_a_nonce_and_carries_the_next_one() {
    let nonces = NonceScheme::new(&[4u8; 32], 300).unwrap();
    let s = setup_with(SenderConstraint::Dpop, Some(nonces.clone()));
    let token = access_token(&s.issuer, json!({"jkt": jkt(&s.holder)}));

    // No nonce: 401 use_dpop_nonce with the nonce; the proof is not recorded.
    let mut c = proof_claims(&token);
    let r = send_proof(&s.app, &token, &proof(&s.holder, &c)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert!(nonces.accepts(&nonce, now()));

    // Another key's nonce: asked again.
    c["nonce"] = json!(NonceScheme::new(&[5u8; 32], 300).unwrap().issue(now()));
    let r = send_proof(&s.app, &token, &proof(&s.holder, &c)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("dpop-nonce"));

    // The same jti with the nonce reaches the handler, and the answer carries the nonce.
    c["nonce"] = json!(nonce);
    let r = send_proof(&s.app, &token, &proof(&s.holder, &c)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["dpop-nonce"], nonce.as_str());
    // Then it is recorded: a replay.
    let r = send_proof(&s.app, &token, &proof(&s.holder, &c)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.headers().contains_key("dpop-nonce"));
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
}
