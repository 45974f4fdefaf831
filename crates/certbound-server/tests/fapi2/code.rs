//! The token endpoint's code checks: holder of key, client binding, single use, expiry, PKCE.

use crate::fixture::*;
use std::sync::Arc;

/// `FAPI2SPFinalEnsureHolderOfKeyRequired` (FAPI 2.0 SP §5.3.2.1-4): a valid code exchange
/// without the holder-of-key mechanism (no certificate for a certificate-bound client, no DPoP
/// proof for a DPoP-bound one) is refused (`invalid_client`/`invalid_request` for mTLS client
/// authentication; also `invalid_grant` with private_key_jwt; `invalid_dpop_proof` with DPoP),
/// never answered with an unbound token. The TLS half of the module is in `tls.rs`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_holder_of_key_required() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let (opts, codes): (Opts, &[&str]) = match (v.auth, v.constrain) {
            (_, Constrain::Dpop) => (
                Opts {
                    proof: Proof::None,
                    ..Opts::default()
                },
                &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
            ),
            (ClientAuth::Mtls, Constrain::Mtls) => (
                Opts {
                    cert: Cert::None,
                    ..Opts::default()
                },
                &["invalid_client", "invalid_request"],
            ),
            (ClientAuth::PrivateKeyJwt, Constrain::Mtls) => (
                Opts {
                    cert: Cert::None,
                    ..Opts::default()
                },
                &["invalid_client", "invalid_grant", "invalid_request"],
            ),
        };
        let r = suite.exchange(one, &code, &request.verifier, opts).await;
        assert_token_error(&r, codes, &format!("{v:?} without holder of key"));
    })
    .await;
}

/// `FAPI2SPFinalEnsureClientIdInTokenEndpoint` (RFC 6749 §3.2.1, RFC 8705 §2): client 1's
/// credentials (certificate or assertion) with client 2's `client_id` → `invalid_client`
/// (400/401) or `invalid_grant`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_id_in_token_endpoint() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, two) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let r = suite
            .exchange(
                one,
                &code,
                &request.verifier,
                Opts {
                    client_id: Some(two.id.clone()),
                    ..Opts::default()
                },
            )
            .await;
        assert_token_error(&r, &["invalid_client", "invalid_grant"], &format!("{v:?}"));
    })
    .await;
}

/// `FAPI2SPFinalEnsureAuthorizationCodeIsBoundToClient` (RFC 6749 §4.1.3): client 1's code
/// redeemed by client 2 with its own valid credentials → exactly 400 `invalid_grant`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_code_is_bound_to_client() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, two) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let r = suite
            .exchange(two, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 400, "{v:?}: {}", r.json);
        assert_token_error(&r, &["invalid_grant"], &format!("{v:?}"));
    })
    .await;
}

/// `FAPI2SPFinalAttemptReuseAuthorizationCodeAfterOneSecond` (FAPI 2.0 SP §5.3.2.2-9, RFC 6749
/// §4.1.2): the second use a second later → 400 `invalid_grant`, and the access token issued
/// by the first use is revoked (the suite's warning): refused at the resource.
#[tokio::test]
async fn fapi2_security_profile_final_attempt_reuse_authorization_code_after_one_second() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let first = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(first.status, 200, "{}", first.json);
        let token = first.json["access_token"].as_str().unwrap().to_owned();
        suite.assert_resource_ok(one, &token, true).await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let second = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(second.status, 400, "{v:?}: {}", second.json);
        assert_token_error(&second, &["invalid_grant"], &format!("{v:?} reuse"));
        let r = suite.resource(one, &token, Opts::default()).await;
        assert_eq!(
            r.status, 401,
            "{v:?}: the first token is revoked: {}",
            r.json
        );
    })
    .await;
}

/// `FAPI2SPFinalAttemptToUseExpiredAuthCode` /
/// `fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code` (FAPI 2.0
/// SP §5.3.2.1-11): a code redeemed after its lifetime → 400 `invalid_grant`. The suite waits
/// 60 s; the server here issues 1 s codes so the test waits 2 s.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_token_endpoint_fails_with_expired_auth_code() {
    let suite = Arc::new(Suite::start_with("code_ttl_seconds = 1").await);
    each_pair(suite, |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let r = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 400, "{v:?}: {}", r.json);
        assert_token_error(&r, &["invalid_grant"], &format!("{v:?} expired code"));
    })
    .await;
}

/// `FAPI2SPFinalPAREnsurePKCECodeVerifierRequired` /
/// `fapi2-security-profile-final-ensure-pkce-code-verifier-required` (FAPI 2.0 SP §5.3.2.2-5,
/// RFC 7636 §4.6): a code exchange without `code_verifier` → 400 `invalid_grant` (or
/// `invalid_request`).
#[tokio::test]
async fn fapi2_security_profile_final_ensure_pkce_code_verifier_required() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let r = suite
            .post(
                one,
                "/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                ],
                Opts::default(),
            )
            .await;
        assert_eq!(r.status, 400, "{v:?}: {}", r.json);
        assert_token_error(&r, &["invalid_grant", "invalid_request"], &format!("{v:?}"));
    })
    .await;
}

/// `FAPI2SPFinalPARIncorrectPKCECodeVerifierRejected` /
/// `fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected` (RFC 7636 §4.6): a
/// wrong verifier → 400 `invalid_grant`.
#[tokio::test]
async fn fapi2_security_profile_final_incorrect_pkce_code_verifier_rejected() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let wrong = unique("another-verifier");
        let r = suite.exchange(one, &code, &wrong, Opts::default()).await;
        assert_eq!(r.status, 400, "{v:?}: {}", r.json);
        assert_token_error(&r, &["invalid_grant"], &format!("{v:?}"));
    })
    .await;
}
