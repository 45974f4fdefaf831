//! The authorization endpoint, login and consent pages, driven like a browser without
//! JavaScript: PAR over mTLS → `/authorize` → login form → consent form → `303` to the client.

use crate::par::{Browser, Flow, Page, CB, CHALLENGE, PASSWORD};

/// Asserts a redirect to the client with `code`, `state` and `iss`.
fn assert_code(page: &Page, issuer: &str) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().starts_with(CB), "{}", page.location());
    let p = page.redirect_params();
    assert_eq!(p["state"], "st-1");
    assert_eq!(p["iss"], issuer);
    assert!(!p.contains_key("error"), "{p:?}");
    let code = p["code"].clone();
    assert!(code.len() >= 43, "{code}");
    code
}

/// Asserts a redirect to the client with `error`, `state` and `iss`.
fn assert_redirect_error(page: &Page, issuer: &str, error: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().starts_with(CB), "{}", page.location());
    let p = page.redirect_params();
    assert_eq!(p["error"], error, "{p:?}");
    assert_eq!(p["state"], "st-1");
    assert_eq!(p["iss"], issuer);
    assert!(!p.contains_key("code"));
}

/// Asserts the local error page: HTML 400, no Location.
fn assert_local_error(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.header("location").is_none());
    assert!(page.body.contains("Authorization error"), "{}", page.body);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
}

/// PAR, login, consent: the code.
async fn full_flow(f: &Flow, b: &mut Browser, remember: bool) -> String {
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = b.login(&page, "alice", PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("openid") && page.body.contains("profile"));
    assert!(
        page.body.contains("Partner &lt;Web&gt;") || page.body.contains("Partner &#60;Web&#62;"),
        "{}",
        page.body
    );
    let done = b.consent(&page, "allow", remember).await;
    assert_code(&done, &f.s.issuer)
}

#[tokio::test]
async fn par_login_consent_code_with_state_and_iss() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;

    // /authorize: 303 to the interaction, with the binding cookie.
    let first = b.get(&f.authorize_url("web", &uri)).await;
    assert_eq!(first.status, 303);
    assert!(first.location().starts_with("/interaction/"));
    let cookie = first.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-cb_i="), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Domain"));

    // The login page, with the stable names and the security headers.
    let login = b.follow(first).await;
    assert_eq!(login.status, 200, "{}", login.body);
    for needle in [
        r#"name="username""#,
        r#"name="password""#,
        r#"name="login" id="login-submit" class="login-submit""#,
        r#"type="hidden" name="csrf""#,
    ] {
        assert!(login.body.contains(needle), "{needle}");
    }
    let csp = login.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert!(login
        .header("strict-transport-security")
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("referrer-policy"), Some("no-referrer"));
    assert!(login.header("access-control-allow-origin").is_none());

    // Reloading /authorize before login still works (the request_uri is not consumed yet).
    let again = b.open(&f.authorize_url("web", &uri)).await;
    assert_eq!(again.status, 200, "{}", again.body);

    // Login sets the session cookie.
    let consent = {
        let (action, csrf) = (again.action(), again.csrf());
        let r = b
            .post(
                &action,
                &[
                    ("csrf", &csrf),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        let c = r.header("set-cookie").unwrap();
        assert!(c.starts_with("__Host-cb_s="), "{c}");
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(attr), "{c}");
        }
        b.follow(r).await
    };
    assert!(consent
        .body
        .contains(r#"name="decision" value="allow" id="consent-approve""#));
    assert!(consent.body.contains(r#"value="deny" id="consent-deny""#));
    assert!(consent.body.contains(r#"name="remember""#));
    let done = b.consent(&consent, "allow", false).await;
    let code = assert_code(&done, &f.s.issuer);

    // The code is stored hashed with what it is bound to.
    let stored =
        f.s.server
            .state
            .store
            .authorization_code(&code)
            .await
            .unwrap()
            .expect("code stored");
    assert_eq!(stored.client_id, "web");
    assert_eq!(stored.redirect_uri, CB);
    assert_eq!(stored.code_challenge, CHALLENGE);
    assert_eq!(stored.nonce.as_deref(), Some("n-1"));
    assert_eq!(stored.scope, "openid profile");
    assert!(stored.sid.is_some());

    // The request_uri was consumed with the code: a replay is refused locally.
    let replay = b.open(&f.authorize_url("web", &uri)).await;
    assert_local_error(&replay);
}

#[tokio::test]
async fn request_uri_is_bound_to_its_client() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;
    assert_local_error(&b.open(&f.authorize_url("other", &uri)).await);
    assert_local_error(&b.open(&f.authorize_url("nobody", &uri)).await);
    let others = f.other_request_uri().await;
    assert_local_error(&b.open(&f.authorize_url("web", &others)).await);
    // The rightful client can still use both.
    assert_eq!(b.open(&f.authorize_url("web", &uri)).await.status, 200);
    assert_eq!(b.open(&f.authorize_url("other", &others)).await.status, 200);
    assert_local_error(
        &b.open(&f.authorize_url("web", "urn:ietf:params:oauth:request_uri:nope"))
            .await,
    );
}

#[tokio::test]
async fn front_channel_requests_are_refused_when_par_is_required() {
    let f = Flow::start("[authorization]\nrequire_pushed_authorization_requests = true\n").await;
    let mut b = f.browser();
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(Flow::par_body("web", &[]))
        .finish();
    let page = b.get(&format!("{}/authorize?{q}", f.s.issuer)).await;
    assert_redirect_error(&page, &f.s.issuer, "invalid_request");
}

#[tokio::test]
async fn front_channel_request_works_when_par_is_optional() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(Flow::par_body("web", &[]))
        .finish();
    let page = b.open(&format!("{}/authorize?{q}", f.s.issuer)).await;
    let page = b.login(&page, "alice", PASSWORD).await;
    let done = b.consent(&page, "allow", false).await;
    assert_code(&done, &f.s.issuer);
}

#[tokio::test]
async fn unknown_client_or_bad_redirect_uri_get_a_local_page() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let url_with = |pairs: Vec<(&str, &str)>| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}/authorize?{q}", f.s.issuer)
    };
    let with = |k: &'static str, v: &'static str| {
        Flow::par_body("web", &[])
            .into_iter()
            .map(move |(k2, v2)| if k2 == k { (k2, v) } else { (k2, v2) })
            .collect::<Vec<_>>()
    };
    for pairs in [
        with("client_id", "nobody"),
        with("redirect_uri", "https://evil.example/cb"),
        with("redirect_uri", "https://app.example/cb/../evil"),
        Vec::new(),
    ] {
        let page = b.get(&url_with(pairs)).await;
        assert_local_error(&page);
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
    }
    // Hostile markup in the request never reaches the page unescaped.
    let page = b
        .get(&format!("{}/authorize?client_id=%3Cscript%3E", f.s.issuer))
        .await;
    assert_local_error(&page);
    assert!(!page.body.contains("<script>"));
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_login_required() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[("prompt", "none")]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    assert_redirect_error(&page, &f.s.issuer, "login_required");
}

#[tokio::test]
async fn sso_skips_login_and_remembered_consent_skips_consent() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    full_flow(&f, &mut b, true).await;
    // Second authorization in the same browser: /authorize itself answers with the code (no
    // interaction page, no binding cookie), and the pushed request is used up with it.
    let uri = f.request_uri(&[]).await;
    let page = b.get(&f.authorize_url("web", &uri)).await;
    assert_code(&page, &f.s.issuer);
    assert!(page.header("set-cookie").is_none(), "{:?}", page.headers);
    let again = b.get(&f.authorize_url("web", &uri)).await;
    assert_local_error(&again);
    // prompt=none works now too.
    let uri = f.request_uri(&[("prompt", "none")]).await;
    assert_code(&b.open(&f.authorize_url("web", &uri)).await, &f.s.issuer);
    // prompt=consent shows the consent page again; prompt=login the login page.
    let uri = f.request_uri(&[("prompt", "consent")]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    assert!(page.body.contains("consent-approve"), "{}", page.body);
    let uri = f.request_uri(&[("prompt", "login")]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    assert!(page.body.contains("login-submit"), "{}", page.body);
}

#[tokio::test]
async fn consent_not_remembered_is_asked_again_and_other_clients_need_their_own() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    full_flow(&f, &mut b, false).await;
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    // Signed in (no login form), but consent is asked again.
    assert!(page.body.contains("consent-approve"), "{}", page.body);
    assert!(!page.body.contains("login-submit"));
}

#[tokio::test]
async fn bad_csrf_is_refused() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    let action = page.action();
    for csrf in ["", "wrong"] {
        let r = b
            .post(
                &action,
                &[
                    ("csrf", csrf),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.header("set-cookie").is_none());
    }
    // Another browser (no binding cookie) cannot continue the interaction at all.
    let mut other = f.browser();
    let r = other
        .post(
            &action,
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    let wrong = b.login(&page, "alice", "not the password").await;
    assert_eq!(wrong.status, 200);
    let unknown = b.login(&wrong, "mallory", "whatever").await;
    assert_eq!(unknown.status, 200);
    let message = |p: &Page| {
        let start = p.body.find("id=\"login-error\"").expect("error shown");
        p.body[start..start + 80].to_owned()
    };
    assert_eq!(message(&wrong), message(&unknown));
    // No session cookie after failures; the right password still works.
    assert!(!b.cookies.contains_key("__Host-cb_s"));
    let consent = b.login(&unknown, "alice", PASSWORD).await;
    assert!(consent.body.contains("consent-approve"), "{}", consent.body);
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    let f =
        Flow::start("[rate_limit]\nfailed_auth_per_client = { per_second = 0.01, burst = 2 }\n")
            .await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;
    let mut page = b.open(&f.authorize_url("web", &uri)).await;
    for _ in 0..2 {
        page = b.login(&page, "alice", "nope").await;
        assert_eq!(page.status, 200);
    }
    let (action, csrf) = (page.action(), page.csrf());
    let r = b
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn deny_redirects_access_denied_and_uses_up_the_request() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    let page = b.login(&page, "alice", PASSWORD).await;
    let done = b.consent(&page, "deny", true).await;
    assert_redirect_error(&done, &f.s.issuer, "access_denied");
    // Nothing remembered, and the request_uri cannot be used again.
    assert_local_error(&b.open(&f.authorize_url("web", &uri)).await);
    let uri = f.request_uri(&[]).await;
    let page = b.open(&f.authorize_url("web", &uri)).await;
    assert!(page.body.contains("consent-approve"), "{}", page.body);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let f = Flow::start("").await;
    let mut b = f.browser();
    full_flow(&f, &mut b, true).await;
    let page = b.get("/logout").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Signed out"));
    assert!(page
        .header("set-cookie")
        .unwrap()
        .starts_with("__Host-cb_s=;"));
    assert!(!b.cookies.contains_key("__Host-cb_s"));
    let uri = f.request_uri(&[("prompt", "none")]).await;
    assert_redirect_error(
        &b.open(&f.authorize_url("web", &uri)).await,
        &f.s.issuer,
        "login_required",
    );
}

#[tokio::test]
async fn browser_routes_are_not_on_the_mtls_listener() {
    let f = Flow::start("").await;
    let c = f.s.http(Some(&f.cert));
    for path in ["/authorize?client_id=web", "/logout"] {
        let r = c.get(f.s.mtls(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
}
