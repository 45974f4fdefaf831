//! The authorization endpoint modules: redirect URI registration, the user's refusal, `state`
//! and `nonce` handling.

use crate::fixture::*;
use std::sync::Arc;

/// `FAPI2SPFinalEnsureRegisteredRedirectUri` /
/// `fapi2-security-profile-final-ensure-registered-redirect-uri` (FAPI 2.0 SP §5.3.2.1-7, no
/// open redirectors): an unregistered `redirect_uri` is refused at PAR (400
/// `invalid_request`), and a front-channel attempt gets the local error page, never a redirect.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_registered_redirect_uri() {
    let suite = Suite::start().await;
    let evil = "https://suite.example/test/a/certbound/callback/evil";
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true).set("redirect_uri", evil);
        let r = suite.par(one, &request, Opts::default()).await;
        assert_eq!(r.status, 400, "{}", r.json);
        assert_eq!(r.error(), "invalid_request", "{}", r.json);
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &one.id);
        for (k, v) in request.form() {
            q.append_pair(k, v);
        }
        let page = suite
            .browser()
            .open(&format!("{}/authorize?{}", suite.s.issuer, q.finish()))
            .await;
        assert_error_page(&page);
    }
}

/// `FAPI2SPFinalUserRejectsAuthentication` /
/// `fapi2-security-profile-final-user-rejects-authentication` (FAPI 2.0 SP §5.3.2.2-7, RFC 9207):
/// the user signs in and denies consent → a redirect with `error=access_denied`, the `state`
/// and `iss`.
#[tokio::test]
async fn fapi2_security_profile_final_user_rejects_authentication() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let r = suite.par(one, &request, Opts::default()).await;
        assert_eq!(r.status, 201, "{}", r.json);
        let mut b = suite.browser();
        let login = b
            .open(&suite.authorize_url(&one.id, r.json["request_uri"].as_str().unwrap()))
            .await;
        let consent = b.login(&login, USER, PASSWORD).await;
        let done = b.consent(&consent, "deny", false).await;
        assert_redirect_error(&done, &suite.s.issuer, "access_denied");
        assert_eq!(done.redirect_params().get("state"), request.get("state"));
    })
    .await;
}

/// `FAPI2SPFinalEnsureAuthorizationRequestWithLongState` /
/// `fapi2-security-profile-final-ensure-authorization-request-with-long-state` (FAPI 2.0 SP
/// §5.3.2.2 Note 4): a 1,000-byte `state` (the suite's length) comes back intact, never
/// truncated; one over `MAX_STATE_BYTES` (2,048) is refused at PAR with `invalid_request`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_long_state() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        for len in [1000, 2048, 2049] {
            let state: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let request = AuthRequest::new(true).set("state", &state);
            let r = suite.par(one, &request, Opts::default()).await;
            if len > 2048 {
                assert_eq!(r.status, 400, "{}", r.json);
                assert_eq!(r.error(), "invalid_request", "{}", r.json);
                continue;
            }
            // Suite::authorize checks the state comes back byte for byte.
            let done = suite.authorize(one, &request).await;
            assert_eq!(done.params["state"].len(), len);
            let r = suite
                .exchange(one, &done.code, &request.verifier, Opts::default())
                .await;
            assert_eq!(r.status, 200, "{}", r.json);
        }
    })
    .await;
}

/// `FAPI2SPFinalEnsureAuthorizationRequestWithoutStateSuccess` /
/// `fapi2-security-profile-final-ensure-authorization-request-without-state-success` (RFC 6749
/// §4.1.2): without `state`, the response carries none, and the flow completes.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_without_state_success() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true).without("state");
        let done = suite.authorize(one, &request).await;
        assert!(!done.params.contains_key("state"), "{:?}", done.params);
        let r = suite
            .exchange(one, &done.code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    })
    .await;
}

/// `FAPI2SPFinalEnsureAuthorizationRequestWith64CharNonceSuccess` /
/// `fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success` (FAPI
/// 2.0 SP §5.3.2.2-14): a 64-character nonce is accepted and echoed in the ID token.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_64_char_nonce_success() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let nonce: String = (0..64).map(|i| (b'A' + (i % 26) as u8) as char).collect();
        let request = AuthRequest::new(true).set("nonce", &nonce);
        let done = suite.authorize(one, &request).await;
        let r = suite
            .exchange(one, &done.code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        suite.check_id_token(one, &r, Some(&nonce)).await;
    })
    .await;
}

/// `FAPI2SPFinalEnsureAuthorizationRequestWithLongNonce` /
/// `fapi2-security-profile-final-ensure-authorization-request-with-long-nonce` (FAPI 2.0 SP
/// §5.3.2.2-14): a 384-character nonce is either refused or echoed byte for byte, never
/// truncated.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_long_nonce() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let nonce: String = (0..384).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let request = AuthRequest::new(true).set("nonce", &nonce);
        let r = suite.par(one, &request, Opts::default()).await;
        if r.status == 400 {
            assert_eq!(r.error(), "invalid_request", "{}", r.json);
            return;
        }
        let done = suite.authorize(one, &request).await;
        let r = suite
            .exchange(one, &done.code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        suite.check_id_token(one, &r, Some(&nonce)).await;
    })
    .await;
}
