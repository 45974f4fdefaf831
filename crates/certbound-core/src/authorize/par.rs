//! Pushed authorization requests (RFC 9126) and their use at `/authorize`.
//!
//! At `/par` the client has authenticated exactly as at the token endpoint; [`validate_pushed`]
//! then validates the body as an authorization request (everything that does not need the user),
//! refusing a `request_uri` inside it. The answer is a fresh [`RequestUri`] (≥ 128 bits of
//! randomness; only its hash is stored) and `expires_in` below 600 s (FAPI 2.0 §5.3.2.2-12).
//!
//! At `/authorize`, [`AuthorizeEntry::classify`] tells a PAR reference from a front-channel
//! request. With `request_uri`, only it and `client_id` are used; every other query parameter is
//! ignored (FAPI 2.0, RFC 9126 §4). [`resolve_pushed`] checks the stored request belongs to that
//! client and has not expired. The request URI is consumed when the code is issued, not here
//! (FAPI 2.0 Note 3, DESIGN.md T8): a page reload before login must still work.

use super::request::{AuthorizationRequest, Origin, Params, Repeated};
use super::{AuthorizationErrorCode, AuthorizeError, ClientPolicy, LocalError, RedirectError};
use crate::error::OAuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The URN prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Random bytes in a request URI: 256 bits, well above FAPI's 128 (§5.4.1-4).
const REQUEST_URI_RANDOM_BYTES: usize = 32;

/// Length of the base64url part of a request URI minted here.
const REQUEST_URI_RANDOM_CHARS: usize = 43;

/// The longest `expires_in` answered: FAPI 2.0 §5.3.2.2-12 requires less than 600 s.
pub const MAX_PAR_TTL_SECONDS: u64 = 599;

/// The shortest `expires_in` answered: FAPI 2.0 Note 2 asks for enough time for slow devices.
pub const MIN_PAR_TTL_SECONDS: u64 = 30;

/// A `request_uri` value. Its `Debug` form is redacted: it is a bearer reference to a pushed
/// request until it is consumed.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestUri(String);

impl RequestUri {
    /// A fresh request URI and the handle to store it under (see [`RequestUri::handle`]).
    /// Fails only if the system random generator fails (answer `server_error`).
    pub fn generate() -> Result<(RequestUri, String), OAuthError> {
        let mut bytes = [0u8; REQUEST_URI_RANDOM_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OAuthError::server_error())?;
        let uri = RequestUri(format!(
            "{REQUEST_URI_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ));
        let handle = uri.handle();
        Ok((uri, handle))
    }

    /// A presented `request_uri`, if it has the shape of one minted here; anything else can
    /// never match a stored request and is refused before any lookup.
    pub fn parse(value: &str) -> Option<RequestUri> {
        let random = value.strip_prefix(REQUEST_URI_PREFIX)?;
        let well_formed = random.len() == REQUEST_URI_RANDOM_CHARS
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| RequestUri(value.to_owned()))
    }

    /// The value sent to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The storage handle: base64url SHA-256 of the full value. The store keeps only this, so a
    /// database read does not yield usable request URIs.
    pub fn handle(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

impl fmt::Debug for RequestUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestUri(<redacted>)")
    }
}

/// A fresh request URI and its storage handle: `(value, handle-hash)`.
pub fn new_request_uri() -> Result<(RequestUri, String), OAuthError> {
    RequestUri::generate()
}

/// The PAR success body (RFC 9126 §2.2), answered with `201 Created` and `Cache-Control: no-store`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParResponse {
    /// The request URI.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

impl ParResponse {
    /// The body for `uri` with the configured lifetime, clamped to
    /// [`MIN_PAR_TTL_SECONDS`]..=[`MAX_PAR_TTL_SECONDS`].
    pub fn new(uri: &RequestUri, ttl_seconds: u64) -> ParResponse {
        ParResponse {
            request_uri: uri.as_str().to_owned(),
            expires_in: par_ttl(ttl_seconds),
        }
    }
}

/// The lifetime a pushed request gets: the configured one clamped to
/// [`MIN_PAR_TTL_SECONDS`]..=[`MAX_PAR_TTL_SECONDS`].
pub fn par_ttl(configured_seconds: u64) -> u64 {
    configured_seconds.clamp(MIN_PAR_TTL_SECONDS, MAX_PAR_TTL_SECONDS)
}

/// A pushed request as stored (under its [`RequestUri::handle`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    /// The validated request; its `client_id` is the client that pushed it.
    pub request: AuthorizationRequest,
    /// When it stops being usable, seconds since the epoch.
    pub expires_at: i64,
}

impl PushedRequest {
    /// A request pushed at `now` with lifetime [`par_ttl`]`(ttl_seconds)`.
    pub fn new(request: AuthorizationRequest, now: i64, ttl_seconds: u64) -> PushedRequest {
        let ttl = i64::try_from(par_ttl(ttl_seconds)).unwrap_or(60);
        PushedRequest {
            request,
            expires_at: now.saturating_add(ttl),
        }
    }
}

/// Validates a PAR body for the client that authenticated (`client.client_id`). Every failure
/// is the JSON `invalid_request`/`invalid_scope` of RFC 9126 §2.3 (there is no redirect at PAR):
/// a `request_uri` in the body; a `client_id` other than the authenticated one; anything
/// [`AuthorizationRequest::validate`] refuses. Client authentication parameters
/// (`client_secret`, `client_assertion`, …) are not authorization parameters and are not kept.
pub fn validate_pushed(
    params: &Params,
    client: &ClientPolicy<'_>,
) -> Result<AuthorizationRequest, OAuthError> {
    if params.has("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    AuthorizationRequest::validate(params, client, Origin::Pushed).map_err(|e| e.to_par_error())
}

/// How an `/authorize` request starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeEntry<'a> {
    /// `client_id` + `request_uri`: a pushed request. Other parameters are ignored.
    Pushed {
        /// The `client_id` query parameter (RFC 9126 §4 requires it).
        client_id: &'a str,
        /// The presented request URI, well formed.
        request_uri: RequestUri,
    },
    /// A front-channel request: look the client up, then [`AuthorizationRequest::validate`]
    /// with [`Origin::FrontChannel`] (which refuses it when the client or server requires PAR).
    FrontChannel {
        /// The `client_id` query parameter.
        client_id: &'a str,
    },
}

impl<'a> AuthorizeEntry<'a> {
    /// Classifies the `/authorize` parameters. Failures are local: nothing is validated yet.
    pub fn classify(params: &'a Params) -> Result<AuthorizeEntry<'a>, LocalError> {
        let client_id = super::request::claimed_client_id(params)?;
        match params.one("request_uri") {
            Err(Repeated) => Err(LocalError::UnknownRequestUri),
            Ok(None) => Ok(AuthorizeEntry::FrontChannel { client_id }),
            Ok(Some(value)) => match RequestUri::parse(value) {
                Some(request_uri) => Ok(AuthorizeEntry::Pushed {
                    client_id,
                    request_uri,
                }),
                None => Err(LocalError::UnknownRequestUri),
            },
        }
    }
}

/// The pushed request behind `/authorize?client_id=…&request_uri=…`. `stored` is what the store
/// holds under the request URI's handle (`None` if unknown or already consumed). Unknown, used
/// or another client's request URI → local page (its redirect URI is not this client's to use);
/// expired → `invalid_request_uri` redirected to the stored, validated URI with its `state`.
pub fn resolve_pushed(
    client_id: &str,
    stored: Option<&PushedRequest>,
    now: i64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let Some(stored) = stored else {
        return Err(LocalError::UnknownRequestUri.into());
    };
    if !constant_time_eq(stored.request.client_id.as_bytes(), client_id.as_bytes()) {
        return Err(LocalError::RequestUriClientMismatch.into());
    }
    if now >= stored.expires_at {
        return Err(AuthorizeError::Redirect(RedirectError {
            code: AuthorizationErrorCode::InvalidRequestUri,
            description: "the request_uri has expired",
            redirect_uri: stored.request.redirect_uri.clone(),
            state: stored.request.state.clone(),
        }));
    }
    Ok(stored.request.clone())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OAuthErrorCode;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example/cb";

    fn policy<'a>(uris: &'a [String], scopes: &'a [String]) -> ClientPolicy<'a> {
        ClientPolicy {
            client_id: "web",
            redirect_uris: uris,
            scopes,
            require_par: true,
            require_redirect_uri: true,
        }
    }

    fn body(extra: &str) -> Params {
        Params::parse(
            format!(
                "response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s\
                 &code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
                url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn request_uris_are_random_well_formed_and_stored_hashed() {
        let (a, ha) = new_request_uri().unwrap();
        let (b, hb) = new_request_uri().unwrap();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert!(a.as_str().starts_with(REQUEST_URI_PREFIX));
        assert_eq!(a.as_str().len(), REQUEST_URI_PREFIX.len() + 43);
        assert!(!ha.contains(&a.as_str()[REQUEST_URI_PREFIX.len()..]));
        let parsed = RequestUri::parse(a.as_str()).unwrap();
        assert_eq!(parsed.handle(), ha);
        assert_eq!(format!("{a:?}"), "RequestUri(<redacted>)");
        for bad in [
            "urn:ietf:params:oauth:request_uri:short",
            "https://as.example/request/abc",
            &format!("{}x", a.as_str()),
            &a.as_str()
                .replace(REQUEST_URI_PREFIX, "urn:ietf:params:oauth:request-uri:"),
        ] {
            assert!(RequestUri::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn expires_in_is_clamped_below_600() {
        let (u, _) = new_request_uri().unwrap();
        assert_eq!(ParResponse::new(&u, 60).expires_in, 60);
        assert_eq!(ParResponse::new(&u, 600).expires_in, 599);
        assert_eq!(ParResponse::new(&u, 0).expires_in, 30);
        let v = serde_json::to_value(ParResponse::new(&u, 90)).unwrap();
        assert_eq!(v["expires_in"], 90);
        assert_eq!(v["request_uri"], u.as_str());
    }

    #[test]
    fn par_body_rules() {
        let uris = vec![CB.to_owned()];
        let scopes = vec!["openid".to_owned()];
        let p = policy(&uris, &scopes);
        assert_eq!(validate_pushed(&body(""), &p).unwrap().client_id, "web");
        // client_id in the body is optional (it authenticated) but must match.
        let no_id = Params::parse(
            format!(
                "response_type=code&redirect_uri={CB}&scope=openid\
                 &code_challenge={CHALLENGE}&code_challenge_method=S256"
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(validate_pushed(&no_id, &p).is_ok());
        // Client authentication parameters are ignored, not stored.
        let r = validate_pushed(&body("&client_assertion_type=x&client_secret=y"), &p).unwrap();
        assert!(!format!("{r:?}").contains("client_secret"));
        let cases: &[(&str, OAuthErrorCode)] = &[
            (
                "&request_uri=urn:ietf:params:oauth:request_uri:abc",
                OAuthErrorCode::InvalidRequest,
            ),
            ("&client_id=other", OAuthErrorCode::InvalidRequest),
            ("&request=eyJ", OAuthErrorCode::InvalidRequest),
            ("&scope=admin", OAuthErrorCode::InvalidRequest), // repeated scope
            ("&prompt=none+login", OAuthErrorCode::InvalidRequest),
        ];
        for (extra, want) in cases {
            let e = validate_pushed(&body(extra), &p).unwrap_err();
            assert_eq!(e.code, *want, "{extra}");
            assert_eq!(e.status(), 400);
        }
        // Replace rather than repeat for the single-valued checks.
        let bad = |from: &str, to: &str| {
            let raw = format!(
                "response_type=code&client_id=web&redirect_uri={CB}&scope=openid\
                 &code_challenge={CHALLENGE}&code_challenge_method=S256"
            )
            .replace(from, to);
            validate_pushed(&Params::parse(raw.as_bytes()).unwrap(), &p).unwrap_err()
        };
        assert_eq!(
            bad("scope=openid", "scope=admin").code,
            OAuthErrorCode::InvalidScope
        );
        assert_eq!(
            bad("response_type=code", "response_type=token").code,
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(bad("S256", "plain").code, OAuthErrorCode::InvalidRequest);
        assert_eq!(
            bad(&format!("redirect_uri={CB}&"), "").code,
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            bad(CB, "https://evil.example/cb").code,
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn authorize_entry_classification() {
        let (u, _) = new_request_uri().unwrap();
        let q = format!("client_id=web&request_uri={}&scope=ignored", u.as_str());
        let p = Params::parse(q.as_bytes()).unwrap();
        assert_eq!(
            AuthorizeEntry::classify(&p).unwrap(),
            AuthorizeEntry::Pushed {
                client_id: "web",
                request_uri: u.clone()
            }
        );
        let p = Params::parse(b"client_id=web&response_type=code").unwrap();
        assert_eq!(
            AuthorizeEntry::classify(&p).unwrap(),
            AuthorizeEntry::FrontChannel { client_id: "web" }
        );
        let cases: &[(String, LocalError)] = &[
            (
                format!("request_uri={}", u.as_str()),
                LocalError::MissingClientId,
            ),
            (
                "client_id=web&request_uri=urn:x".into(),
                LocalError::UnknownRequestUri,
            ),
            (
                format!("client_id=web&request_uri={0}&request_uri={0}", u.as_str()),
                LocalError::UnknownRequestUri,
            ),
        ];
        for (q, want) in cases {
            let p = Params::parse(q.as_bytes()).unwrap();
            assert_eq!(AuthorizeEntry::classify(&p), Err(*want), "{q}");
        }
    }

    #[test]
    fn resolving_a_pushed_request() {
        let uris = vec![CB.to_owned()];
        let scopes = vec!["openid".to_owned()];
        let req = validate_pushed(&body(""), &policy(&uris, &scopes)).unwrap();
        let stored = PushedRequest::new(req.clone(), 1000, 60);
        assert_eq!(stored.expires_at, 1060);
        assert_eq!(resolve_pushed("web", Some(&stored), 1000), Ok(req.clone()));
        // Resolving does not consume: a reload before login still works.
        assert_eq!(resolve_pushed("web", Some(&stored), 1059), Ok(req));
        assert_eq!(
            resolve_pushed("web", None, 1000),
            Err(AuthorizeError::Local(LocalError::UnknownRequestUri))
        );
        assert_eq!(
            resolve_pushed("other", Some(&stored), 1000),
            Err(AuthorizeError::Local(LocalError::RequestUriClientMismatch))
        );
        match resolve_pushed("web", Some(&stored), 1060) {
            Err(AuthorizeError::Redirect(e)) => {
                assert_eq!(e.code, AuthorizationErrorCode::InvalidRequestUri);
                assert_eq!(e.redirect_uri, CB);
                assert_eq!(e.state.as_deref(), Some("s"));
            }
            other => panic!("{other:?}"),
        }
    }
}
