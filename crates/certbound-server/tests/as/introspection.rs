//! RFC 7662 introspection (with `cnf`) and RFC 7009 revocation, for JWT and opaque tokens.

use crate::support::*;
use serde_json::Value;

fn clients() -> String {
    let mut t = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    t.push_str(&tls_client(
        "partner-b",
        "tls_client_auth_subject_dn",
        "CN=partner-b,O=Example",
    ));
    t.push_str("[[clients]]\nclient_id = \"opaque-a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=opaque-a,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\nscope = \"read\"\n");
    t.push_str("[[clients]]\nclient_id = \"gateway\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=gateway,O=Example\"\nresource_server = true\ngrant_types = []\n");
    t
}

async fn introspect(
    s: &TestServer,
    cert: &certbound_pki::IssuedCertificate,
    client_id: &str,
    token: &str,
) -> Response {
    s.post(
        &s.http(Some(cert)),
        &s.mtls("/introspect"),
        &[("client_id", client_id), ("token", token)],
    )
    .await
}

async fn revoke(
    s: &TestServer,
    cert: &certbound_pki::IssuedCertificate,
    client_id: &str,
    token: &str,
) -> Response {
    s.post(
        &s.http(Some(cert)),
        &s.mtls("/revoke"),
        &[
            ("client_id", client_id),
            ("token", token),
            ("token_type_hint", "banana"),
        ],
    )
    .await
}

fn inactive(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn jwt_introspection_and_revocation() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let a = pki.client("partner-a", "Example");
    let b = pki.client("partner-b", "Example");
    let gw = pki.client("gateway", "Example");
    let token = s.mtls_token(&a, "partner-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner and a resource server see it active with cnf at the top level.
    for (cert, id) in [(&a, "partner-a"), (&gw, "gateway")] {
        let r = introspect(&s, cert, id, &token).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.json["active"], true);
        assert_eq!(r.json["client_id"], "partner-a");
        assert_eq!(r.json["token_type"], "Bearer");
        assert_eq!(r.json["scope"], "transactions read");
        assert_eq!(r.json["cnf"]["x5t#S256"], a.thumbprint().as_str());
        assert_eq!(r.json["iss"], s.issuer.as_str());
    }
    // Another client sees nothing.
    inactive(&introspect(&s, &b, "partner-b", &token).await);
    // Garbage, a tampered signature, a huge value.
    inactive(&introspect(&s, &gw, "gateway", "not-a-token").await);
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    inactive(&introspect(&s, &gw, "gateway", &tampered).await);
    inactive(&introspect(&s, &gw, "gateway", &"a.b.c".repeat(5000)).await);

    // Introspection requires client authentication.
    let anon = s.http(None);
    s.post(&anon, &s.mtls("/introspect"), &[("token", &token)])
        .await
        .assert_error(401, "invalid_client");
    s.post(
        &anon,
        &format!("{}/introspect", s.issuer),
        &[("client_id", "gateway"), ("token", &token)],
    )
    .await
    .assert_error(401, "invalid_client");
    // token is required.
    s.post(
        &s.http(Some(&gw)),
        &s.mtls("/introspect"),
        &[("client_id", "gateway")],
    )
    .await
    .assert_error(400, "invalid_request");

    // Another client's revocation request answers 200 and changes nothing.
    let r = revoke(&s, &b, "partner-b", &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        introspect(&s, &gw, "gateway", &token).await.json["active"],
        true
    );

    // The owner revokes; an unknown hint is ignored.
    assert_eq!(revoke(&s, &a, "partner-a", &token).await.status, 200);
    inactive(&introspect(&s, &gw, "gateway", &token).await);
    // Revoking again, or revoking garbage, is still 200.
    assert_eq!(revoke(&s, &a, "partner-a", &token).await.status, 200);
    assert_eq!(revoke(&s, &a, "partner-a", "garbage").await.status, 200);
    // Revocation requires client authentication.
    s.post(
        &anon,
        &s.mtls("/revoke"),
        &[("client_id", "partner-a"), ("token", &token)],
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn opaque_tokens_are_introspected_with_cnf_and_revocable() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let o = pki.client("opaque-a", "Example");
    let gw = pki.client("gateway", "Example");
    let r = s.mtls_token(&o, "opaque-a").await;
    assert_eq!(r.status, 200, "{}", r.json);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains('.'), "opaque tokens are not JWTs");
    assert_eq!(token.len(), 43, "256 random bits, base64url");

    let i = introspect(&s, &gw, "gateway", &token).await;
    assert_eq!(i.json["active"], true, "{}", i.json);
    assert_eq!(i.json["cnf"]["x5t#S256"], o.thumbprint().as_str());
    assert_eq!(i.json["client_id"], "opaque-a");
    let exp = i.json["exp"].as_i64().unwrap();
    assert!(exp > certbound_server::state::now_secs());

    // Only the hash is stored.
    let stored = s
        .server
        .state
        .store
        .find_token_by_hash(&certbound_server::tokens::token_hash(&token))
        .await
        .unwrap()
        .unwrap();
    let stored_text = format!("{:?} {}", stored.hash, stored.claims);
    assert!(!stored_text.contains(&token));

    assert_eq!(revoke(&s, &o, "opaque-a", &token).await.status, 200);
    inactive(&introspect(&s, &gw, "gateway", &token).await);
    let _: Value = i.json;
}
