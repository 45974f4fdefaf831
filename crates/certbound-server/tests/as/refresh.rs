//! The refresh_token grant (RFC 6749 §6, RFC 8705 §4, FAPI2.md §2.3) and refresh token
//! revocation (RFC 7009): bound to the client, new access tokens bound to the certificate of
//! the refresh request, optional rotation with reuse detection.

use crate::code_grant::{alice, clients, code, exchange, introspect, str_of, token};
use crate::support::*;
use certbound_pki::IssuedCertificate;

async fn refresh(s: &TestServer, cert: &IssuedCertificate, client_id: &str, rt: &str) -> Response {
    token(
        s,
        cert,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", rt),
        ],
    )
    .await
}

/// A user's tokens for partner-web with `cert`: (access token, refresh token).
async fn tokens(s: &TestServer, cert: &IssuedCertificate, scope: &str) -> (String, String) {
    let user = alice(s).await;
    let code = code(s, &user, scope).await;
    let r = exchange(s, cert, "partner-web", &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    (
        str_of(&r, "access_token").to_owned(),
        str_of(&r, "refresh_token").to_owned(),
    )
}

#[tokio::test]
async fn refresh_binds_the_new_token_to_the_certificate_presented_now() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let old_cert = pki.client("partner-web", "Example");
    let (_, rt) = tokens(&s, &old_cert, "openid profile accounts").await;

    // The partner rolled its certificate: same subject, new key.
    let new_cert = pki.client("partner-web", "Example");
    assert_ne!(new_cert.thumbprint(), old_cert.thumbprint());
    let r = refresh(&s, &new_cert, "partner-web", &rt).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.json.get("refresh_token").is_none(),
        "no rotation by default"
    );
    let claims = verify_with_jwks(str_of(&r, "access_token"), &s.jwks().await, &s.issuer);
    assert_eq!(claims["cnf"]["x5t#S256"], new_cert.thumbprint().as_str());
    assert_eq!(claims["client_id"], "partner-web");
    let id = verify_with_jwks(str_of(&r, "id_token"), &s.jwks().await, &s.issuer);
    assert_eq!(id["aud"], "partner-web");
    assert!(id.get("nonce").is_none());

    // Narrowing works, widening does not; the token still works afterwards (no rotation).
    let narrow = token(
        &s,
        &new_cert,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "partner-web"),
            ("refresh_token", &rt),
            ("scope", "accounts"),
        ],
    )
    .await;
    assert_eq!(narrow.status, 200, "{}", narrow.json);
    assert_eq!(narrow.json["scope"], "accounts");
    assert!(narrow.json.get("id_token").is_none());
    token(
        &s,
        &new_cert,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "partner-web"),
            ("refresh_token", &rt),
            ("scope", "accounts email"),
        ],
    )
    .await
    .assert_error(400, "invalid_scope");
    assert_eq!(refresh(&s, &old_cert, "partner-web", &rt).await.status, 200);
}

#[tokio::test]
async fn another_client_or_an_unknown_token_is_invalid_grant() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let (_, rt) = tokens(&s, &cert, "openid").await;
    let other = pki.client("partner-other", "Example");
    refresh(&s, &other, "partner-other", &rt)
        .await
        .assert_error(400, "invalid_grant");
    refresh(&s, &cert, "partner-web", "nope")
        .await
        .assert_error(400, "invalid_grant");
    token(
        &s,
        &cert,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "partner-web"),
        ],
    )
    .await
    .assert_error(400, "invalid_request");
    // Still usable by its owner.
    assert_eq!(refresh(&s, &cert, "partner-web", &rt).await.status, 200);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_grant() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients("")).await;
    let cert = pki.client("partner-web", "Example");
    let (access, rt) = tokens(&s, &cert, "openid").await;
    let refreshed = refresh(&s, &cert, "partner-web", &rt).await;
    let access2 = str_of(&refreshed, "access_token").to_owned();

    // Another client's revocation request does nothing (and answers 200).
    let other = pki.client("partner-other", "Example");
    let r = s
        .post(
            &s.http(Some(&other)),
            &s.mtls("/revoke"),
            &[("client_id", "partner-other"), ("token", &rt)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(refresh(&s, &cert, "partner-web", &rt).await.status, 200);

    // The owner's, with a misleading hint: the hint is only a hint.
    let r = s
        .post(
            &s.http(Some(&cert)),
            &s.mtls("/revoke"),
            &[
                ("client_id", "partner-web"),
                ("token", &rt),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    refresh(&s, &cert, "partner-web", &rt)
        .await
        .assert_error(400, "invalid_grant");
    for a in [&access, &access2] {
        assert_eq!(
            introspect(&s, &cert, "partner-web", a).await["active"],
            false
        );
    }
}

#[tokio::test]
async fn rotation_replaces_the_token_and_reuse_revokes_the_grant() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &clients("[authorization]\nrefresh_token_rotation = true\n"),
    )
    .await;
    let cert = pki.client("partner-web", "Example");
    let (access, rt) = tokens(&s, &cert, "openid").await;
    let r = refresh(&s, &cert, "partner-web", &rt).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let rt2 = str_of(&r, "refresh_token").to_owned();
    assert_ne!(rt2, rt);
    // No grace window: the old token used again is a reuse; the whole grant goes.
    refresh(&s, &cert, "partner-web", &rt)
        .await
        .assert_error(400, "invalid_grant");
    refresh(&s, &cert, "partner-web", &rt2)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, &cert, "partner-web", &access).await["active"],
        false
    );
}

#[tokio::test]
async fn within_the_grace_window_the_old_token_still_works() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &clients(
            "[authorization]\nrefresh_token_rotation = true\nrefresh_token_reuse_grace_seconds = 60\n",
        ),
    )
    .await;
    let cert = pki.client("partner-web", "Example");
    let (_, rt) = tokens(&s, &cert, "openid").await;
    let first = refresh(&s, &cert, "partner-web", &rt).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let retry = refresh(&s, &cert, "partner-web", &rt).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    let rt3 = str_of(&retry, "refresh_token");
    assert_eq!(refresh(&s, &cert, "partner-web", rt3).await.status, 200);
}
