//! The authorization code flow's rules end to end, with plain values standing in for the store:
//! PAR body → request_uri → `/authorize?client_id&request_uri` → prompt decision → success
//! redirect with `iss` → code exchange checks. Then the traps of FAPI2.md §7, items 2-5, each as a
//! named test.

use certbound_core::authorize::par::{new_request_uri, resolve_pushed, validate_pushed};
use certbound_core::authorize::request::{AuthorizationRequest, Origin, Params};
use certbound_core::authorize::{
    next_step, success_location, AuthorizationErrorCode, AuthorizeEntry, AuthorizeError,
    ClientPolicy, Interaction, LocalError, NextStep, ParResponse, PushedRequest, RequestUri,
};
use certbound_core::oidc::{IdTokenClaims, IdTokenInput, UserProfile};
use certbound_core::pkce::{check_token_request, CodeChallenge, PkceError};
use certbound_core::OAuthErrorCode;
use std::collections::HashMap;

const ISS: &str = "https://as.example";
const CB: &str = "https://partner.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const NOW: i64 = 1_700_000_000;

struct Client {
    id: &'static str,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
}

impl Client {
    fn new(id: &'static str, redirect_uri: &str) -> Client {
        Client {
            id,
            redirect_uris: vec![redirect_uri.to_owned()],
            scopes: ["openid", "profile", "email", "accounts"]
                .map(String::from)
                .to_vec(),
        }
    }
    /// FAPI: PAR required, redirect_uri required.
    fn fapi(&self) -> ClientPolicy<'_> {
        ClientPolicy {
            client_id: self.id,
            redirect_uris: &self.redirect_uris,
            scopes: &self.scopes,
            require_par: true,
            require_redirect_uri: true,
        }
    }
}

/// The PAR store: request URI handle → pushed request. Consumption removes the row.
#[derive(Default)]
struct ParStore(HashMap<String, PushedRequest>);

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn par_body(client_id: &str, redirect_uri: &str, extra: &str) -> Params {
    let challenge = CodeChallenge::s256_of(VERIFIER);
    Params::parse(
        format!(
            "client_id={client_id}&response_type=code&redirect_uri={}&scope=openid+profile\
             &state=xyz&nonce=n-0S6&code_challenge={}&code_challenge_method=S256{extra}",
            encode(redirect_uri),
            challenge.as_str()
        )
        .as_bytes(),
    )
    .expect("form")
}

/// `/par` for an authenticated client: validate, mint a request URI, store under its hash.
fn push(
    store: &mut ParStore,
    client: &Client,
    body: &Params,
) -> Result<ParResponse, OAuthErrorCode> {
    let request = validate_pushed(body, &client.fapi()).map_err(|e| e.code)?;
    let (uri, handle) = new_request_uri().expect("random");
    store.0.insert(handle, PushedRequest::new(request, NOW, 60));
    Ok(ParResponse::new(&uri, 60))
}

/// `/authorize` (GET): classify, resolve, never consume.
fn authorize(
    store: &ParStore,
    client: &Client,
    query: &str,
    now: i64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let params = Params::parse(query.as_bytes()).map_err(AuthorizeError::Local)?;
    match AuthorizeEntry::classify(&params)? {
        AuthorizeEntry::Pushed {
            client_id,
            request_uri,
        } => resolve_pushed(client_id, store.0.get(&request_uri.handle()), now),
        AuthorizeEntry::FrontChannel { client_id } => {
            if client_id != client.id {
                return Err(LocalError::UnknownClient.into());
            }
            AuthorizationRequest::validate(&params, &client.fapi(), Origin::FrontChannel)
        }
    }
}

fn authorize_query(client_id: &str, request_uri: &str) -> String {
    format!("client_id={client_id}&request_uri={}", encode(request_uri))
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .expect("location")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn full_flow_par_to_success_redirect_with_iss() {
    let client = Client::new("partner-web", CB);
    let mut store = ParStore::default();

    // 1. PAR.
    let par = push(&mut store, &client, &par_body("partner-web", CB, "")).expect("PAR");
    assert!(par.expires_in < 600);
    assert!(par
        .request_uri
        .starts_with("urn:ietf:params:oauth:request_uri:"));

    // 2. /authorize with only client_id and request_uri (no duplication required); other
    // parameters in the query are ignored.
    let q = format!(
        "{}&scope=accounts&redirect_uri={}",
        authorize_query("partner-web", &par.request_uri),
        encode("https://evil.example/")
    );
    let request = authorize(&store, &client, &q, NOW + 5).expect("authorize");
    assert_eq!(request.redirect_uri, CB);
    assert_eq!(request.scopes, ["openid", "profile"]);

    // 3. No session: login, then consent, then issue.
    let mut i = Interaction {
        session_auth_time: None,
        logged_in_now: false,
        consent_remembered: false,
        consented_now: false,
        now: NOW + 10,
    };
    assert_eq!(
        next_step(&request.prompt, request.max_age, &i),
        NextStep::Login
    );
    i.session_auth_time = Some(NOW + 10);
    i.logged_in_now = true;
    assert_eq!(
        next_step(&request.prompt, request.max_age, &i),
        NextStep::Consent
    );
    i.consented_now = true;
    assert_eq!(
        next_step(&request.prompt, request.max_age, &i),
        NextStep::Issue
    );

    // 4. Issue: consume the request URI now, and redirect with code, state and iss.
    let handle = RequestUri::parse(&par.request_uri).expect("uri").handle();
    assert!(store.0.remove(&handle).is_some());
    let location = success_location(
        &request.redirect_uri,
        "the-code",
        request.state.as_deref(),
        ISS,
    );
    let q = query_of(&location);
    assert!(location.starts_with("https://partner.example/cb?"));
    assert_eq!(q["code"], "the-code");
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["iss"], ISS);

    // 5. Token endpoint checks (before consuming the code), then the ID token.
    assert_eq!(
        request.check_code_exchange("partner-web", Some(CB), Some(VERIFIER)),
        Ok(())
    );
    let user = UserProfile {
        sub: "u-1".into(),
        name: Some("Alice".into()),
        ..UserProfile::default()
    };
    let id = IdTokenClaims::new(&IdTokenInput {
        issuer: ISS,
        client_id: &request.client_id,
        user: &user,
        scopes: &request.scopes,
        auth_time: NOW + 10,
        nonce: request.nonce.as_deref(),
        sid: Some("s-1"),
        now: NOW + 12,
        ttl_seconds: 300,
    });
    assert_eq!(id.iss, q["iss"], "iss parameter equals the ID token's iss");
    assert_eq!(id.nonce.as_deref(), Some("n-0S6"));
    assert_eq!(id.claims.name.as_deref(), Some("Alice"));

    // 6. The request URI is single use.
    assert_eq!(
        authorize(
            &store,
            &client,
            &authorize_query("partner-web", &par.request_uri),
            NOW + 20
        ),
        Err(AuthorizeError::Local(LocalError::UnknownRequestUri))
    );
}

// --- FAPI2.md §7 trap 2: PKCE ---------------------------------------------------------------

#[test]
fn trap2_pkce_only_s256_is_accepted_at_par() {
    let client = Client::new("c1", CB);
    let mut store = ParStore::default();
    for (from, to) in [
        ("&code_challenge_method=S256", ""),
        (
            "&code_challenge_method=S256",
            "&code_challenge_method=plain",
        ),
        ("code_challenge=", "code_challenge_x="),
    ] {
        let raw = format!(
            "client_id=c1&response_type=code&redirect_uri={CB}&scope=openid\
             &code_challenge={}&code_challenge_method=S256",
            CodeChallenge::s256_of(VERIFIER).as_str()
        )
        .replace(from, to);
        let body = Params::parse(raw.as_bytes()).expect("form");
        assert_eq!(
            push(&mut store, &client, &body),
            Err(OAuthErrorCode::InvalidRequest),
            "{to}"
        );
    }
}

#[test]
fn trap2_pkce_missing_method_means_plain_and_is_refused() {
    assert_eq!(
        CodeChallenge::from_request(Some(CodeChallenge::s256_of(VERIFIER).as_str()), None),
        Err(PkceError::MissingMethod)
    );
}

#[test]
fn trap2_pkce_verifier_without_challenge_is_a_downgrade() {
    assert_eq!(
        check_token_request(None, Some(VERIFIER)),
        Err(PkceError::VerifierWithoutChallenge)
    );
    let e: certbound_core::OAuthError = PkceError::VerifierWithoutChallenge.into();
    assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn trap2_pkce_missing_or_wrong_verifier_is_invalid_grant() {
    let client = Client::new("c1", CB);
    let request = validate_pushed(&par_body("c1", CB, ""), &client.fapi()).expect("valid");
    for verifier in [None, Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX")] {
        let e = request
            .check_code_exchange("c1", Some(CB), verifier)
            .expect_err("refused");
        assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
    }
}

// --- trap 3: request_uri --------------------------------------------------------------------

#[test]
fn trap3_request_uri_is_bound_to_its_client() {
    let c1 = Client::new("c1", CB);
    let c2 = Client::new("c2", "https://other.example/cb");
    let mut store = ParStore::default();
    let par = push(&mut store, &c1, &par_body("c1", CB, "")).expect("PAR");
    assert_eq!(
        authorize(&store, &c2, &authorize_query("c2", &par.request_uri), NOW),
        Err(AuthorizeError::Local(LocalError::RequestUriClientMismatch))
    );
}

#[test]
fn trap3_request_uri_expires_before_600_seconds() {
    let client = Client::new("c1", CB);
    let mut store = ParStore::default();
    let par = push(&mut store, &client, &par_body("c1", CB, "")).expect("PAR");
    let q = authorize_query("c1", &par.request_uri);
    assert!(authorize(&store, &client, &q, NOW + 59).is_ok());
    match authorize(&store, &client, &q, NOW + 60) {
        Err(AuthorizeError::Redirect(e)) => {
            assert_eq!(e.code, AuthorizationErrorCode::InvalidRequestUri);
            let l = query_of(&e.location(ISS));
            assert_eq!(l["error"], "invalid_request_uri");
            assert_eq!(l["iss"], ISS);
            assert_eq!(l["state"], "xyz");
        }
        other => panic!("{other:?}"),
    }
    let (uri, _) = new_request_uri().expect("random");
    assert_eq!(ParResponse::new(&uri, 3600).expires_in, 599);
}

#[test]
fn trap3_request_uri_inside_a_par_body_is_refused() {
    let client = Client::new("c1", CB);
    let mut store = ParStore::default();
    let (uri, _) = new_request_uri().expect("random");
    let body = par_body("c1", CB, &format!("&request_uri={}", encode(uri.as_str())));
    assert_eq!(
        push(&mut store, &client, &body),
        Err(OAuthErrorCode::InvalidRequest)
    );
}

#[test]
fn trap3_request_uri_is_consumed_at_issuance_not_on_page_load() {
    let client = Client::new("c1", CB);
    let mut store = ParStore::default();
    let par = push(&mut store, &client, &par_body("c1", CB, "")).expect("PAR");
    let q = authorize_query("c1", &par.request_uri);
    // Two page loads before login both work.
    assert!(authorize(&store, &client, &q, NOW + 1).is_ok());
    assert!(authorize(&store, &client, &q, NOW + 2).is_ok());
    // Issuing the code consumes it; a later use fails.
    let handle = RequestUri::parse(&par.request_uri).expect("uri").handle();
    store.0.remove(&handle);
    assert!(authorize(&store, &client, &q, NOW + 3).is_err());
}

#[test]
fn trap3_front_channel_request_is_refused_when_par_is_required() {
    let client = Client::new("c1", CB);
    let store = ParStore::default();
    let q = format!(
        "client_id=c1&response_type=code&redirect_uri={}&scope=openid&state=s\
         &code_challenge={}&code_challenge_method=S256",
        encode(CB),
        CodeChallenge::s256_of(VERIFIER).as_str()
    );
    match authorize(&store, &client, &q, NOW) {
        Err(AuthorizeError::Redirect(e)) => {
            assert_eq!(e.code, AuthorizationErrorCode::InvalidRequest);
            assert_eq!(query_of(&e.location(ISS))["iss"], ISS);
        }
        other => panic!("{other:?}"),
    }
}

// --- trap 4: codes bound to client and redirect URI, checked before consumption -------------

#[test]
fn trap4_code_is_bound_to_client_and_redirect_uri() {
    let client = Client::new("c1", CB);
    let request = validate_pushed(&par_body("c1", CB, ""), &client.fapi()).expect("valid");
    let cases = [
        ("c2", Some(CB)),
        ("c1", None),
        ("c1", Some("https://partner.example/cb/")),
    ];
    for (client_id, redirect_uri) in cases {
        let e = request
            .check_code_exchange(client_id, redirect_uri, Some(VERIFIER))
            .expect_err("refused");
        assert_eq!(
            e.code,
            OAuthErrorCode::InvalidGrant,
            "{client_id} {redirect_uri:?}"
        );
    }
}

#[test]
fn trap4_failed_checks_do_not_consume_anything() {
    // The checks are pure: a failed attempt leaves the request (and so the code) usable.
    let client = Client::new("c1", CB);
    let request = validate_pushed(&par_body("c1", CB, ""), &client.fapi()).expect("valid");
    let before = request.clone();
    assert!(request.check_code_exchange("c1", Some(CB), None).is_err());
    assert_eq!(request, before);
    assert_eq!(
        request.check_code_exchange("c1", Some(CB), Some(VERIFIER)),
        Ok(())
    );
}

// --- trap 5: iss everywhere, no redirect before validation, exact matching ------------------

#[test]
fn trap5_iss_on_error_responses() {
    let client = Client::new("c1", CB);
    let query = format!(
        "client_id=c1&response_type=token&redirect_uri={}&state=s",
        encode(CB)
    );
    let params = Params::parse(query.as_bytes()).expect("form");
    let e = AuthorizationRequest::validate(
        &params,
        &ClientPolicy {
            require_par: false,
            ..client.fapi()
        },
        Origin::FrontChannel,
    )
    .expect_err("refused");
    let AuthorizeError::Redirect(e) = e else {
        panic!("{e:?}")
    };
    let q = query_of(&e.location(ISS));
    assert_eq!(q["error"], "unsupported_response_type");
    assert_eq!(q["iss"], ISS);
    assert_eq!(q["state"], "s");
    // prompt=none errors carry iss too.
    let l = certbound_core::authorize::error_location(
        CB,
        AuthorizationErrorCode::LoginRequired,
        None,
        Some("s"),
        ISS,
    );
    assert_eq!(query_of(&l)["iss"], ISS);
}

#[test]
fn trap5_no_redirect_before_redirect_uri_is_validated() {
    let client = Client::new("c1", CB);
    let policy = ClientPolicy {
        require_par: false,
        ..client.fapi()
    };
    for query in [
        // Unregistered URI with an otherwise broken request.
        "client_id=c1&response_type=token&redirect_uri=https://evil.example/cb&state=s".to_owned(),
        // Missing redirect_uri under FAPI.
        "client_id=c1&response_type=code&state=s".to_owned(),
        // Repeated redirect_uri.
        format!("client_id=c1&redirect_uri={CB}&redirect_uri={CB}"),
        // Repeated client_id.
        format!("client_id=c1&client_id=c1&redirect_uri={CB}"),
    ] {
        let params = Params::parse(query.as_bytes()).expect("form");
        let r = AuthorizationRequest::validate(&params, &policy, Origin::FrontChannel);
        assert!(matches!(r, Err(AuthorizeError::Local(_))), "{query}: {r:?}");
    }
    // An unknown request_uri has no validated redirect URI either.
    let store = ParStore::default();
    let (uri, _) = new_request_uri().expect("random");
    assert_eq!(
        authorize(&store, &client, &authorize_query("c1", uri.as_str()), NOW),
        Err(AuthorizeError::Local(LocalError::UnknownRequestUri))
    );
}

#[test]
fn trap5_redirect_uri_matching_is_exact() {
    let client = Client::new("c1", "https://app.example.com/cb");
    let mut store = ParStore::default();
    for uri in [
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x",
        "https://app.example.com.evil.example/cb",
        "https://app.example.com/cb/..;/x",
        "https://a@b@app.example.com/cb",
        "https://APP.example.com/cb",
        "https://app.example.com:443/cb",
        "https://app.example.com/CB",
        "https://app.example.com/%63b",
    ] {
        assert_eq!(
            push(&mut store, &client, &par_body("c1", uri, "")),
            Err(OAuthErrorCode::InvalidRequest),
            "{uri}"
        );
    }
    assert!(push(
        &mut store,
        &client,
        &par_body("c1", "https://app.example.com/cb", "")
    )
    .is_ok());
}
