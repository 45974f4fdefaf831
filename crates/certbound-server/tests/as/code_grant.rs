//! The authorization_code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636, RFC 8705,
//! FAPI2.md §2.1): codes are set up directly in the store (the /authorize pages are tested
//! elsewhere), exchanged over mTLS, and every check is shown to run before the code is used up.

use crate::support::*;
use certbound_core::pkce::CodeChallenge;
use certbound_pki::IssuedCertificate;
use certbound_store::{NewAuthorizationCode, NewUser};
use serde_json::Value;

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const REDIRECT: &str = "https://rp.example/cb";
/// An argon2id hash of a password nobody knows: users here never sign in.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$DyDM1u7MXUWONAN8YqHw0w$PV2t3jIwYInprjMT+x7BgnJCtuiU/boGWozzRzpyFaE";

fn web_client(id: &str, extra: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
         tls_client_auth_subject_dn = \"CN={id},O=Example\"\n\
         tls_client_certificate_bound_access_tokens = true\n\
         grant_types = [\"authorization_code\", \"refresh_token\"]\n\
         redirect_uris = [\"{REDIRECT}\"]\nscope = \"openid profile email accounts\"\n{extra}"
    )
}

/// Two web clients, `partner-web` and `partner-other`, plus the TOML in `extra`.
pub fn clients(extra: &str) -> String {
    let mut t = web_client("partner-web", "");
    t.push_str(&web_client("partner-other", ""));
    t.push_str(&web_client(
        "web-opaque",
        "access_token_format = \"opaque\"\n",
    ));
    t.push_str(extra);
    t
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Adds alice; returns her user id.
pub async fn alice(s: &TestServer) -> String {
    let new = NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        name: Some("Alice Liddell".into()),
        claims: r#"{"given_name":"Alice","email_verified":true}"#.into(),
        password_hash: HASH.into(),
    };
    s.server.state.store.add_user(&new, now()).await.unwrap().id
}

/// A code for `client_id` and `user_id` with `scope`, PKCE S256 of [`VERIFIER`], valid `ttl`
/// seconds.
pub async fn code_with(
    s: &TestServer,
    client_id: &str,
    user_id: &str,
    scope: &str,
    ttl: i64,
) -> String {
    let now = now();
    let new = NewAuthorizationCode {
        client_id: client_id.into(),
        user_id: user_id.into(),
        redirect_uri: REDIRECT.into(),
        scope: scope.into(),
        code_challenge: CodeChallenge::s256_of(VERIFIER).as_str().into(),
        code_challenge_method: "S256".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: now - 5,
        sid: Some("sid-1".into()),
        x5t_s256: None,
        dpop_jkt: None,
        expires_at: now + ttl,
    };
    s.server
        .state
        .store
        .issue_authorization_code(&new, None, now)
        .await
        .unwrap()
        .code
}

pub async fn code(s: &TestServer, user_id: &str, scope: &str) -> String {
    code_with(s, "partner-web", user_id, scope, 60).await
}

/// POSTs `form` to the mTLS token endpoint with `cert`.
pub async fn token(s: &TestServer, cert: &IssuedCertificate, form: &[(&str, &str)]) -> Response {
    s.post(&s.http(Some(cert)), &s.mtls("/token"), form).await
}

/// The code exchange of `client_id` with the usual redirect URI and verifier.
pub async fn exchange(
    s: &TestServer,
    cert: &IssuedCertificate,
    client_id: &str,
    code: &str,
) -> Response {
    token(
        s,
        cert,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// Introspection by the token's owner over mTLS.
pub async fn introspect(
    s: &TestServer,
    cert: &IssuedCertificate,
    client_id: &str,
    token: &str,
) -> Value {
    let r = s
        .post(
            &s.http(Some(cert)),
            &s.mtls("/introspect"),
            &[("client_id", client_id), ("token", token)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

pub fn str_of<'a>(r: &'a Response, member: &str) -> &'a str {
    r.json[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} missing: {}", r.json))
}

#[tokio::test]
async fn code_exchange_issues_bound_token_refresh_token_and_id_token() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let user = alice(&s).await;
    let code = code(&s, &user, "openid profile email accounts").await;
    let r = exchange(&s, &cert, "partner-web", &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["scope"], "openid profile email accounts");
    assert!(r.json["expires_in"].as_i64().unwrap() > 0);
    assert!(!str_of(&r, "refresh_token").is_empty());

    let jwks = s.jwks().await;
    let access = str_of(&r, "access_token");
    let (header, _) = jwt_parts(access);
    assert_eq!(header["typ"], "at+jwt");
    let claims = verify_with_jwks(access, &jwks, &s.issuer);
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["client_id"], "partner-web");
    assert_eq!(claims["cnf"]["x5t#S256"], cert.thumbprint().as_str());

    let id_token = str_of(&r, "id_token");
    let (id_header, _) = jwt_parts(id_token);
    assert_eq!(id_header["typ"], "JWT");
    assert_eq!(id_header["alg"], header["alg"]);
    assert_eq!(id_header["kid"], header["kid"]);
    let id = verify_with_jwks(id_token, &jwks, &s.issuer);
    assert_eq!(id["iss"], s.issuer.as_str());
    assert_eq!(id["sub"], user.as_str());
    assert_eq!(id["aud"], "partner-web");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["sid"], "sid-1");
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert!(id["exp"].as_i64().unwrap() > id["iat"].as_i64().unwrap());
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Alice Liddell");
    assert_eq!(id["given_name"], "Alice");
    assert_eq!(id["preferred_username"], "alice");

    // The ID token is not an access token: introspection does not know it.
    let i = introspect(&s, &cert, "partner-web", id_token).await;
    assert_eq!(i["active"], false);
    let i = introspect(&s, &cert, "partner-web", access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], user.as_str());
}

#[tokio::test]
async fn without_openid_no_id_token_and_opaque_clients_get_opaque_tokens() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("web-opaque", "Example");
    let user = alice(&s).await;
    let code = code_with(&s, "web-opaque", &user, "accounts", 60).await;
    let r = exchange(&s, &cert, "web-opaque", &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("id_token").is_none());
    let access = str_of(&r, "access_token");
    assert_eq!(access.matches('.').count(), 0, "opaque");
    let i = introspect(&s, &cert, "web-opaque", access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], user.as_str());
    assert_eq!(i["cnf"]["x5t#S256"], cert.thumbprint().as_str());
}

#[tokio::test]
async fn every_failed_check_leaves_the_code_usable() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let other = pki.client("partner-other", "Example");
    let user = alice(&s).await;
    let code = code(&s, &user, "openid").await;
    let wrong = "x".repeat(43);
    let cases: [(Option<&str>, Option<&str>); 5] = [
        (None, Some(REDIRECT)),                           // no verifier
        (Some(&wrong), Some(REDIRECT)),                   // wrong verifier
        (Some("short"), Some(REDIRECT)),                  // malformed verifier
        (Some(VERIFIER), None),                           // no redirect_uri
        (Some(VERIFIER), Some("https://rp.example/cb2")), // another redirect_uri
    ];
    for (verifier, uri) in cases {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", "partner-web"),
            ("code", code.as_str()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        if let Some(u) = uri {
            form.push(("redirect_uri", u));
        }
        let r = token(&s, &cert, &form).await;
        r.assert_error(400, "invalid_grant");
    }
    // Another client (authenticated with its own certificate) cannot use it.
    exchange(&s, &other, "partner-other", &code)
        .await
        .assert_error(400, "invalid_grant");
    // An unknown code.
    exchange(&s, &cert, "partner-web", "not-a-code")
        .await
        .assert_error(400, "invalid_grant");
    // None of those burnt the code.
    let r = exchange(&s, &cert, "partner-web", &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_plain_pkce_code_is_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let user = alice(&s).await;
    let now = now();
    let new = NewAuthorizationCode {
        client_id: "partner-web".into(),
        user_id: user,
        redirect_uri: REDIRECT.into(),
        scope: "openid".into(),
        code_challenge: VERIFIER.into(),
        code_challenge_method: "plain".into(),
        nonce: None,
        auth_time: now,
        sid: None,
        x5t_s256: None,
        dpop_jkt: None,
        expires_at: now + 60,
    };
    let code = s
        .server
        .state
        .store
        .issue_authorization_code(&new, None, now)
        .await
        .unwrap()
        .code;
    exchange(&s, &cert, "partner-web", &code)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let user = alice(&s).await;
    let code = code_with(&s, "partner-web", &user, "openid", 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    exchange(&s, &cert, "partner-web", &code)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let user = alice(&s).await;
    let code = code(&s, &user, "openid accounts").await;
    let first = exchange(&s, &cert, "partner-web", &code).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let access = str_of(&first, "access_token");
    assert_eq!(
        introspect(&s, &cert, "partner-web", access).await["active"],
        true
    );

    exchange(&s, &cert, "partner-web", &code)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, &cert, "partner-web", access).await["active"],
        false
    );
    token(
        &s,
        &cert,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "partner-web"),
            ("refresh_token", str_of(&first, "refresh_token")),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_client_without_the_grant_is_unauthorized() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &clients(&tls_client(
            "m2m",
            "tls_client_auth_subject_dn",
            "CN=m2m,O=Example",
        )),
    )
    .await;
    let cert = pki.client("m2m", "Example");
    let r = exchange(&s, &cert, "m2m", "whatever").await;
    r.assert_error(400, "unauthorized_client");
}

/// A missing `code` or `refresh_token` is `invalid_request`; an over-long one is unknown
/// (`invalid_grant`), refused before any store lookup (RFC 6749 §5.2).
#[tokio::test]
async fn missing_or_oversized_grant_credentials_are_refused() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let long = "c".repeat(600);
    for (grant, name) in [
        ("authorization_code", "code"),
        ("refresh_token", "refresh_token"),
    ] {
        let base = [
            ("grant_type", grant),
            ("client_id", "partner-web"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        token(&s, &cert, &base)
            .await
            .assert_error(400, "invalid_request");
        let mut form = base.to_vec();
        form.push((name, long.as_str()));
        token(&s, &cert, &form)
            .await
            .assert_error(400, "invalid_grant");
    }
}
