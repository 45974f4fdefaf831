//! `/userinfo` (OpenID Connect Core §5.3) with certificate-bound tokens (RFC 8705 §3).

use crate::code_grant::{alice, clients, code, exchange, str_of};
use crate::support::*;
use certbound_pki::IssuedCertificate;
use serde_json::json;

async fn user_token(s: &TestServer, cert: &IssuedCertificate, scope: &str) -> String {
    let user = alice(s).await;
    let code = code(s, &user, scope).await;
    let r = exchange(s, cert, "partner-web", &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    str_of(&r, "access_token").to_owned()
}

async fn get(s: &TestServer, cert: Option<&IssuedCertificate>, url: &str, token: &str) -> Response {
    let r = s
        .http(cert)
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    TestServer::read(r).await
}

fn challenge_error(r: &Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.json);
    let c = r.header("www-authenticate").expect("challenge");
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains(&format!("error=\"{error}\"")), "{c}");
}

#[tokio::test]
async fn userinfo_answers_the_bound_holder_with_scoped_claims() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let token = user_token(&s, &cert, "openid email").await;
    let r = get(&s, Some(&cert), &s.mtls("/userinfo"), &token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let sub = r.json["sub"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json,
        json!({"sub": sub, "email": "alice@example.com", "email_verified": true})
    );
    // POST with the header works too.
    let post = s
        .http(Some(&cert))
        .post(s.mtls("/userinfo"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
}

#[tokio::test]
async fn a_bound_token_with_another_certificate_or_none_is_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let token = user_token(&s, &cert, "openid").await;
    let thief = pki.client("partner-other", "Example");
    challenge_error(
        &get(&s, Some(&thief), &s.mtls("/userinfo"), &token).await,
        401,
        "invalid_token",
    );
    // The conventional listener asks for no certificate: a bound token cannot be shown there.
    challenge_error(
        &get(&s, None, &format!("{}/userinfo", s.issuer), &token).await,
        401,
        "invalid_token",
    );
    // In the query: refused, not read.
    let r = TestServer::read(
        s.http(Some(&cert))
            .get(format!("{}?access_token={token}", s.mtls("/userinfo")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    challenge_error(&r, 400, "invalid_request");
    // No token at all: a bare challenge.
    let r = TestServer::read(
        s.http(Some(&cert))
            .get(s.mtls("/userinfo"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer realm="));
    challenge_error(
        &get(&s, Some(&cert), &s.mtls("/userinfo"), "garbage").await,
        401,
        "invalid_token",
    );
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let token = user_token(&s, &cert, "openid").await;
    assert_eq!(
        get(&s, Some(&cert), &s.mtls("/userinfo"), &token)
            .await
            .status,
        200
    );
    let r = s
        .post(
            &s.http(Some(&cert)),
            &s.mtls("/revoke"),
            &[("client_id", "partner-web"), ("token", &token)],
        )
        .await;
    assert_eq!(r.status, 200);
    challenge_error(
        &get(&s, Some(&cert), &s.mtls("/userinfo"), &token).await,
        401,
        "invalid_token",
    );
}

/// The server remembers JWT signatures it has checked, but never past the key: once the key that
/// signed a token is no longer published, the token is refused even though it was seen before.
#[tokio::test]
async fn a_remembered_token_is_refused_once_its_key_is_withdrawn() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let token = user_token(&s, &cert, "openid").await;
    let old_kid = jwt_parts(&token).0["kid"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        // The second answer comes from the remembered signature check.
        let r = get(&s, Some(&cert), &s.mtls("/userinfo"), &token).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }

    // Withdraw the key at once (published until now), and reload the ring a second later, as
    // the server's periodic refresh would.
    let state = &s.server.state;
    let now = certbound_server::state::now_secs();
    let alg = certbound_server::keys::SigningAlg::Es256;
    certbound_server::keys::rotate_in_store(&state.store, alg, now, 0)
        .await
        .unwrap();
    state.keys.reload(&state.store, alg, now + 1).await.unwrap();
    assert!(state.keys.current().key(&old_kid).is_none());

    challenge_error(
        &get(&s, Some(&cert), &s.mtls("/userinfo"), &token).await,
        401,
        "invalid_token",
    );
}

#[tokio::test]
async fn a_token_without_openid_is_insufficient_scope() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let token = user_token(&s, &cert, "accounts").await;
    challenge_error(
        &get(&s, Some(&cert), &s.mtls("/userinfo"), &token).await,
        403,
        "insufficient_scope",
    );
}
