//! The pushed authorization request modules: PKCE at PAR, the `request_uri` life cycle, what
//! PAR refuses in its body, and front-channel requests without PAR.

use crate::fixture::*;
use std::sync::Arc;

/// PAR of `request` for `client`, expected to be refused with 400 `invalid_request` (the suite
/// also accepts a later refusal at the authorization endpoint; certbound refuses at PAR).
async fn assert_par_refused(suite: &Suite, client: &Client, request: &AuthRequest, case: &str) {
    let r = suite.par(client, request, Opts::default()).await;
    assert_eq!(r.status, 400, "{case}: {}", r.json);
    assert_eq!(r.error(), "invalid_request", "{case}: {}", r.json);
    assert!(r.json.get("request_uri").is_none(), "{case}");
}

/// A fresh `request_uri` of `client` for `request`.
async fn pushed(suite: &Suite, client: &Client, request: &AuthRequest) -> String {
    let r = suite.par(client, request, Opts::default()).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let expires_in = r.json["expires_in"].as_i64().expect("expires_in");
    assert!(
        (1..600).contains(&expires_in),
        "FAPI 2.0 §5.3.2.2-12: {expires_in}"
    );
    r.json["request_uri"].as_str().unwrap().to_owned()
}

/// `FAPI2SPFinalEnsureUnsignedAuthorizationRequestWithoutUsingParFails` /
/// `fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails`
/// (FAPI 2.0 SP §5.3.2.2-3): a plain `/authorize` with the parameters in the query → an error
/// page or an `invalid_request` redirect with `iss`, never a login.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_unsigned_authorization_request_without_using_par_fails(
) {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true);
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &one.id);
        for (k, v) in request.form() {
            q.append_pair(k, v);
        }
        let page = suite
            .browser()
            .open(&format!("{}/authorize?{}", suite.s.issuer, q.finish()))
            .await;
        assert_authorize_refused(&page, &suite.s.issuer);
        assert!(!page.body.contains("name=\"password\""), "no login page");
    }
}

/// `FAPI2SPFinalPAREnsurePKCERequired` / `fapi2-security-profile-final-par-ensure-pkce-required`
/// (FAPI 2.0 SP §5.3.2.2-5): PAR without `code_challenge` → refused.
#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_pkce_required() {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true)
            .without("code_challenge")
            .without("code_challenge_method");
        assert_par_refused(&suite, one, &request, &one.id).await;
    }
}

/// `FAPI2SPFinalPAREnsurePlainPKCERejected` / `fapi2-security-profile-final-par-plain-pkce-rejected`
/// (FAPI 2.0 SP §5.3.2.2-5, RFC 7636 §4.3): `code_challenge_method=plain`, or no method (which
/// means plain) → refused.
#[tokio::test]
async fn fapi2_security_profile_final_par_plain_pkce_rejected() {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let plain = AuthRequest::new(true);
        let verifier = plain.verifier.clone();
        let plain = plain
            .set("code_challenge", &verifier)
            .set("code_challenge_method", "plain");
        assert_par_refused(&suite, one, &plain, "plain").await;
        let missing = AuthRequest::new(true).without("code_challenge_method");
        assert_par_refused(&suite, one, &missing, "no method").await;
    }
}

/// `FAPI2SPFinalPAREnsureRequestUriIsBoundToClient` /
/// `fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client` (RFC 9126
/// §4): client 1's `request_uri` with client 2's `client_id` → refused, no login.
#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_to_use_request_uri_for_different_client() {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let (one, two) = suite.pair(Variant::oidc(auth, constrain));
        let uri = pushed(&suite, one, &AuthRequest::new(true)).await;
        let page = suite
            .browser()
            .open(&suite.authorize_url(&two.id, &uri))
            .await;
        assert_authorize_refused(&page, &suite.s.issuer);
        assert!(!page.body.contains("name=\"password\""), "no login page");
    }
}

/// `FAPI2SPFinalPARAttemptReuseRequestUri` / `fapi2-security-profile-final-par-attempt-reuse-request_uri`
/// (RFC 9126 §4, FAPI 2.0 SP §5.3.2.2 Note 3): a `request_uri` used for a completed
/// authorization cannot start another one.
#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_reuse_request_uri() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let uri = pushed(&suite, one, &request).await;
        let url = suite.authorize_url(&one.id, &uri);
        let done = suite
            .browser()
            .sign_in_and_allow(&url, USER, PASSWORD)
            .await;
        assert!(done.redirect_params().contains_key("code"));
        let again = suite.browser().open(&url).await;
        assert_authorize_refused(&again, &suite.s.issuer);
    })
    .await;
}

/// `FAPI2SPFinalPARAttemptToUseExpiredRequestUri` /
/// `fapi2-security-profile-final-par-attempt-to-use-expired-request_uri` (RFC 9126 §2.2): a
/// `request_uri` past its `expires_in` → refused. `par_ttl_seconds` is at least 30 s (FAPI 2.0
/// §5.3.2.2-12 Note 2), so instead of sleeping 30 s the test re-stores the request the PAR endpoint
/// validated under a second `request_uri` that expires at once, then waits 2 s.
#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_to_use_expired_request_uri() {
    let suite = Suite::start().await;
    let store = &suite.s.server.state.store;
    let mut pushed_uris = Vec::new();
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let pushed_uri = pushed(&suite, one, &AuthRequest::new(true)).await;
        let stored = store
            .par_request(&pushed_uri)
            .await
            .unwrap()
            .expect("the pushed request");
        let t = now();
        let short = store
            .push_authorization_request(&one.id, &stored.params, t, t)
            .await
            .unwrap();
        pushed_uris.push((one, pushed_uri, short));
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (one, pushed_uri, short) in pushed_uris {
        let page = suite
            .browser()
            .open(&suite.authorize_url(&one.id, &short))
            .await;
        assert_authorize_refused(&page, &suite.s.issuer);
        assert!(!page.body.contains("name=\"password\""), "no login page");
        // The original, unexpired one still works: the refusal was the expiry.
        let page = suite
            .browser()
            .open(&suite.authorize_url(&one.id, &pushed_uri))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

/// `FAPI2SPFinalPAREnsureServerAcceptsReusedRequestUriBeforeAuthenticationCompletion` /
/// `fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds`
/// (FAPI 2.0 SP §5.3.2.2 Note 3): the `request_uri` is consumed when the authorization
/// completes, not on page load: a second visit before login still works.
#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(
) {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let uri = pushed(&suite, one, &request).await;
        let url = suite.authorize_url(&one.id, &uri);
        let first = suite.browser().open(&url).await;
        assert_eq!(first.status, 200, "the login page: {}", first.body);
        let done = suite
            .browser()
            .sign_in_and_allow(&url, USER, PASSWORD)
            .await;
        let code = done.redirect_params()["code"].clone();
        let r = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{v:?}: {}", r.json);
    })
    .await;
}

/// `FAPI2SPFinalPARRejectRequestUriInParAuthorizationFormParams` /
/// `fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param`
/// (RFC 9126 §2.1): `request_uri` inside a pushed request → 400 `invalid_request`.
#[tokio::test]
async fn fapi2_security_profile_final_par_authorization_request_containing_request_uri_form_param()
{
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true).set(
            "request_uri",
            "urn:ietf:params:oauth:request_uri:bwc4JK-ESC0w8acc191e-Y1LTC2",
        );
        assert_par_refused(&suite, one, &request, &one.id).await;
    }
}

/// `FAPI2SPFinalPARRejectInvalidHttpVerb` / `fapi2-security-profile-final-par-attempt-invalid-http-method`
/// (RFC 9126 §2): GET or PUT to the PAR endpoint → 405.
#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_invalid_http_method() {
    let suite = Suite::start().await;
    let one = suite.client(ClientAuth::Mtls, Constrain::Mtls, 1);
    let http = suite.s.http(Some(&one.cert));
    for url in [suite.s.mtls("/par"), format!("{}/par", suite.s.issuer)] {
        let get = http.get(&url).send().await.unwrap();
        assert_eq!(get.status(), 405, "GET {url}");
        let put = http.put(&url).body("client_id=x").send().await.unwrap();
        assert_eq!(put.status(), 405, "PUT {url}");
    }
}

/// `FAPI2SPFinalParWithoutDuplicateParameters` /
/// `fapi2-security-profile-final-par-without-duplicate-parameters` (RFC 9126 §4, RFC 9101 §5):
/// `/authorize` with only `client_id` and `request_uri` succeeds.
#[tokio::test]
async fn fapi2_security_profile_final_par_without_duplicate_parameters() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let uri = pushed(&suite, one, &request).await;
        let url = suite.authorize_url(&one.id, &uri);
        assert_eq!(url.matches('&').count(), 1, "two parameters: {url}");
        let done = suite
            .browser()
            .sign_in_and_allow(&url, USER, PASSWORD)
            .await;
        let p = done.redirect_params();
        assert!(p.contains_key("code"), "{p:?}");
        assert_eq!(p.get("iss"), Some(&suite.s.issuer));
    })
    .await;
}

/// `FAPI2SPFinalEnsureRedirectUriInAuthorizationRequest` /
/// `fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request` (FAPI 2.0 SP
/// §5.3.2.2-6): PAR without `redirect_uri` → 400 `invalid_request`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_redirect_uri_in_authorization_request() {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true).without("redirect_uri");
        assert_par_refused(&suite, one, &request, &one.id).await;
    }
}

/// `FAPI2SPFinalEnsureResponseTypeTokenFails` /
/// `fapi2-security-profile-final-ensure-response-type-token-fails` (FAPI 2.0 SP §5.3.2.2-1):
/// `response_type=token` → refused at PAR (400 `invalid_request` or
/// `unsupported_response_type`) or at the authorization endpoint.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_response_type_token_fails() {
    response_type_refused("token").await;
}

/// `FAPI2SPFinalEnsureResponseTypeCodeIdTokenFails` /
/// `fapi2-security-profile-final-ensure-response-type-code-id-token-fails` (FAPI 2.0 SP
/// §5.3.2.2-1): `response_type=code id_token` → refused.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_response_type_code_id_token_fails() {
    response_type_refused("code id_token").await;
}

async fn response_type_refused(response_type: &str) {
    let suite = Suite::start().await;
    for (auth, constrain) in PAIRS {
        let one = suite.client(auth, constrain, 1);
        let request = AuthRequest::new(true).set("response_type", response_type);
        let r = suite.par(one, &request, Opts::default()).await;
        if r.status == 201 {
            let uri = r.json["request_uri"].as_str().unwrap();
            let page = suite
                .browser()
                .open(&suite.authorize_url(&one.id, uri))
                .await;
            assert_authorize_refused(&page, &suite.s.issuer);
        } else {
            assert_eq!(r.status, 400, "{response_type}: {}", r.json);
            assert!(
                ["invalid_request", "unsupported_response_type"].contains(&r.error()),
                "{response_type}: {}",
                r.json
            );
        }
    }
}
