//! Introspection answers in JWT form (RFC 9701): typed `token-introspection+jwt`, addressed to the
//! caller, never usable as an access token (issue 13, finding 3).

use crate::support::*;
use serde_json::{json, Value};

fn clients() -> String {
    let mut t = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    t.push_str("[[clients]]\nclient_id = \"opaque-a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=opaque-a,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\nscope = \"read\"\n");
    t.push_str("[[clients]]\nclient_id = \"gateway\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=gateway,O=Example\"\nresource_server = true\ngrant_types = []\n");
    t
}

struct Answer {
    status: u16,
    content_type: String,
    cache_control: String,
    body: String,
}

async fn introspect(
    s: &TestServer,
    cert: &certbound_pki::IssuedCertificate,
    client_id: &str,
    token: &str,
    accept: &str,
) -> Answer {
    let r = s
        .http(Some(cert))
        .post(s.mtls("/introspect"))
        .header("accept", accept)
        .form(&[("client_id", client_id), ("token", token)])
        .send()
        .await
        .expect("introspection answers");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    Answer {
        status: r.status().as_u16(),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        body: r.text().await.unwrap(),
    }
}

/// Verifies a signed introspection answer with an independent JWT library: signature with the
/// AS's JWKS, `iss`, `aud`; no `exp` is required (there is none).
fn verify_answer(jwt: &str, jwks: &Value, issuer: &str, audience: &str) -> Value {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, DecodingKey, Validation};
    let header = decode_header(jwt).expect("header");
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let key = DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud"]);
    decode::<Value>(jwt, &key, &v)
        .expect("signature, iss and aud verify")
        .claims
}

async fn opaque_token(s: &TestServer, o: &certbound_pki::IssuedCertificate) -> String {
    s.mtls_token(o, "opaque-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rfc9701_answers_are_typed_addressed_and_carry_the_introspection_object() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let o = pki.client("opaque-a", "Example");
    let gw = pki.client("gateway", "Example");
    let opaque = opaque_token(&s, &o).await;
    let jwks = s.jwks().await;

    let a = introspect(
        &s,
        &gw,
        "gateway",
        &opaque,
        "application/token-introspection+jwt",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.content_type, "application/token-introspection+jwt");
    assert_eq!(a.cache_control, "no-store");
    let (header, _) = jwt_parts(&a.body);
    assert_eq!(header["typ"], "token-introspection+jwt");
    let claims = verify_answer(&a.body, &jwks, &s.issuer, "gateway");
    assert!(claims["iat"].as_i64().unwrap() <= certbound_server::state::now_secs());
    let ti = &claims["token_introspection"];
    assert_eq!(ti["active"], true);
    assert_eq!(ti["client_id"], "opaque-a");
    assert_eq!(ti["token_type"], "Bearer");
    assert_eq!(ti["scope"], "read");
    assert_eq!(ti["cnf"]["x5t#S256"], o.thumbprint().as_str());
    assert!(ti["exp"].as_i64().unwrap() > certbound_server::state::now_secs());
    // Nothing at the top level that would make it look like a token.
    for absent in ["exp", "sub", "scope", "cnf", "client_id"] {
        assert!(
            claims.get(absent).is_none(),
            "{absent} at top level: {claims}"
        );
    }

    // The token's own client may introspect it too: the answer is addressed to it.
    let own = introspect(
        &s,
        &o,
        "opaque-a",
        &opaque,
        "application/token-introspection+jwt",
    )
    .await;
    verify_answer(&own.body, &jwks, &s.issuer, "opaque-a");

    // Inactive answers are signed too.
    for token in ["unknown-token", a.body.as_str()] {
        let i = introspect(
            &s,
            &gw,
            "gateway",
            token,
            "application/token-introspection+jwt",
        )
        .await;
        assert_eq!(i.content_type, "application/token-introspection+jwt");
        let claims = verify_answer(&i.body, &jwks, &s.issuer, "gateway");
        assert_eq!(claims["token_introspection"], json!({"active": false}));
    }
}

#[tokio::test]
async fn phantom_callers_get_the_same_non_replayable_form_never_an_access_token() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let o = pki.client("opaque-a", "Example");
    let gw = pki.client("gateway", "Example");
    let opaque = opaque_token(&s, &o).await;
    let jwks = s.jwks().await;

    let a = introspect(&s, &gw, "gateway", &opaque, "application/jwt").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.content_type, "application/jwt");
    let (header, _) = jwt_parts(&a.body);
    assert_eq!(header["typ"], "token-introspection+jwt", "never at+jwt");
    let claims = verify_answer(&a.body, &jwks, &s.issuer, "gateway");
    assert_eq!(claims["token_introspection"]["client_id"], "opaque-a");
    // An inactive token is still plain JSON for these callers.
    let i = introspect(&s, &gw, "gateway", "unknown-token", "application/jwt").await;
    assert_eq!(i.content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&i.body).unwrap(),
        json!({"active": false})
    );

    // The signed answer is not an access token to the AS itself: introspecting it is inactive,
    // revoking it changes nothing, and the opaque token stays active.
    let plain = s
        .post(
            &s.http(Some(&gw)),
            &s.mtls("/introspect"),
            &[("client_id", "gateway"), ("token", &a.body)],
        )
        .await;
    assert_eq!(plain.json, json!({"active": false}));
    let r = s
        .post(
            &s.http(Some(&o)),
            &s.mtls("/revoke"),
            &[("client_id", "opaque-a"), ("token", &a.body)],
        )
        .await;
    assert_eq!(r.status, 200);
    let still = s
        .post(
            &s.http(Some(&gw)),
            &s.mtls("/introspect"),
            &[("client_id", "gateway"), ("token", &opaque)],
        )
        .await;
    assert_eq!(still.json["active"], true);

    // Neither is a JWT access token's twin: introspecting a real JWT access token in JWT form
    // yields a document whose header is not at+jwt either.
    let a_cert = pki.client("partner-a", "Example");
    let jwt = s.mtls_token(&a_cert, "partner-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let j = introspect(&s, &gw, "gateway", &jwt, "application/jwt").await;
    assert_eq!(jwt_parts(&j.body).0["typ"], "token-introspection+jwt");
    assert_ne!(j.body, jwt);
}

#[tokio::test]
async fn metadata_publishes_the_introspection_signing_algorithm() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let meta: Value = s
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
    let alg = jwt_parts(&signed_answer(&s, &pki).await).0["alg"].clone();
    assert_eq!(
        meta["introspection_signing_alg_values_supported"],
        json!([alg])
    );
}

/// A signed introspection answer, to read the algorithm the AS really signs with.
async fn signed_answer(s: &TestServer, pki: &Pki) -> String {
    let o = pki.client("opaque-a", "Example");
    let gw = pki.client("gateway", "Example");
    let opaque = opaque_token(s, &o).await;
    introspect(
        s,
        &gw,
        "gateway",
        &opaque,
        "application/token-introspection+jwt",
    )
    .await
    .body
}
