//! An authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), parsed from a
//! parameter list (the `/authorize` query or a PAR form body) and validated against the client.
//!
//! Validation runs in the order that keeps redirects safe: `client_id`, then `redirect_uri`
//! (exact string match, no normalisation), and only then everything else, whose failures are
//! redirected with the validated URI and the request's `state`. Unknown parameters are ignored
//! (RFC 6749 §3.1); a repeated one is refused (RFC 6749 §3.1 "MUST NOT be included more than
//! once").

use super::prompt::Prompt;
use super::{AuthorizationErrorCode, AuthorizeError, ClientPolicy, LocalError, RedirectError};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::pkce::CodeChallenge;
use serde::{Deserialize, Serialize};

/// The most parameters a request may carry; a bound on work for hostile input.
pub const MAX_PARAMS: usize = 64;
/// Longest `client_id` looked up.
pub const MAX_CLIENT_ID_BYTES: usize = 255;
/// Longest `redirect_uri` compared.
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;
/// Longest `state` returned. Longer values are refused, never cut (FAPI 2.0 §5.3.2.2 Note 4:
/// `state` may exceed 1,000 characters, and the suite sends 1,000).
pub const MAX_STATE_BYTES: usize = 2048;
/// Longest `nonce` kept. Longer values are refused, never cut (FAPI 2.0 §5.3.2.2-14 needs 64).
pub const MAX_NONCE_BYTES: usize = 512;
/// Longest `scope` parameter.
pub const MAX_SCOPE_BYTES: usize = 1024;
/// Longest `login_hint`, `ui_locales` or `acr_values`.
pub const MAX_HINT_BYTES: usize = 256;
/// Largest `max_age` accepted (one year, in seconds); bigger is pointless and risks overflow.
pub const MAX_MAX_AGE: u64 = 366 * 24 * 3600;

/// The parameters of a request, in order, with empty values treated as absent (as
/// [`crate::form::Form`] does) but repetitions kept, so a repeated `state` can be told apart
/// from a repeated `client_id` (the first is redirectable, the second is not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// A parameter that appeared more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeated;

impl Params {
    /// Parses a query string or `application/x-www-form-urlencoded` body (`+` is a space).
    /// Invalid UTF-8 or more than [`MAX_PARAMS`] parameters → [`LocalError::Malformed`].
    pub fn parse(raw: &[u8]) -> Result<Params, LocalError> {
        let mut pairs = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if pairs.len() >= MAX_PARAMS {
                return Err(LocalError::Malformed);
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[..0]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Params { pairs })
    }

    /// Parameters from already-decoded pairs (e.g. a framework's query extractor that keeps
    /// repetitions). More than [`MAX_PARAMS`] → [`LocalError::Malformed`].
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Params, LocalError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out = Vec::new();
        for (k, v) in pairs {
            if out.len() >= MAX_PARAMS {
                return Err(LocalError::Malformed);
            }
            out.push((k.into(), v.into()));
        }
        Ok(Params { pairs: out })
    }

    /// The value of `name`: `Ok(None)` when absent or empty, `Err(Repeated)` when it appears
    /// more than once (even with an empty or equal value).
    pub fn one(&self, name: &str) -> Result<Option<&str>, Repeated> {
        let mut found: Option<&str> = None;
        let mut count = 0;
        for (k, v) in &self.pairs {
            if k == name {
                count += 1;
                if count > 1 {
                    return Err(Repeated);
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// Whether any parameter appears more than once.
    pub fn has_repeated(&self) -> bool {
        self.pairs
            .iter()
            .enumerate()
            .any(|(i, (k, _))| self.pairs[..i].iter().any(|(k2, _)| k2 == k))
    }

    /// Whether `name` is present with a non-empty value (or repeated).
    pub fn has(&self, name: &str) -> bool {
        !matches!(self.one(name), Ok(None))
    }
}

fn decode(raw: &[u8]) -> Result<String, LocalError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| LocalError::Malformed)
}

/// The `client_id` a front-channel request claims, for the caller to look the client up before
/// calling [`AuthorizationRequest::validate`]. Every failure is local.
pub fn claimed_client_id(params: &Params) -> Result<&str, LocalError> {
    match params.one("client_id") {
        Err(Repeated) => Err(LocalError::RepeatedClientId),
        Ok(None) => Err(LocalError::MissingClientId),
        Ok(Some(id)) if id.len() > MAX_CLIENT_ID_BYTES => Err(LocalError::UnknownClient),
        Ok(Some(id)) => Ok(id),
    }
}

/// Where the parameters came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The `/authorize` query (or form post) itself, without PAR.
    FrontChannel,
    /// A PAR body from a client that authenticated as [`ClientPolicy::client_id`]; `client_id`
    /// may be omitted (the authenticated one is used) but must match if present.
    Pushed,
}

/// A validated authorization request: what the code will be bound to. Serialisable so a PAR
/// (or an authorization in progress) can be stored and read back on another instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI responses go to: the one sent, or the single registered one.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request; if so the token request must repeat it
    /// (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// The requested scopes, each once, in request order.
    pub scopes: Vec<String>,
    /// `state`, to return unchanged.
    pub state: Option<String>,
    /// `nonce`, to echo byte for byte in the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge (S256).
    pub code_challenge: CodeChallenge,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `login_hint`: pre-fills the username.
    pub login_hint: Option<String>,
    /// `ui_locales`, kept for the pages.
    pub ui_locales: Option<String>,
    /// `acr_values`, kept (not yet acted on).
    pub acr_values: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to, from `dpop_jkt` or
    /// from the proof on the pushed request; the token request must carry a proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// Whether the `openid` scope was requested (an ID token will be issued).
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    /// The scopes as one space-separated string.
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }

    /// The token endpoint's checks of an `authorization_code` request against the request the
    /// code was issued for: the authenticated client is the one the code was issued to, the
    /// `redirect_uri` is identical when the authorization request carried one (RFC 6749 §4.1.3),
    /// and PKCE passes ([`crate::pkce::check_token_request`], downgrade refused). Pure and
    /// side-effect free, so it runs *before* the code is consumed (FAPI2.md §7 trap 4): a failed
    /// attempt never burns a good code. Every failure is `invalid_grant`. Expiry and single use
    /// are the store's (the same transaction that consumes the code).
    pub fn check_code_exchange(
        &self,
        authenticated_client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<(), OAuthError> {
        let grant = |d: &str| OAuthError::new(OAuthErrorCode::InvalidGrant, d);
        if self.client_id != authenticated_client_id {
            return Err(grant("the authorization code was issued to another client"));
        }
        match redirect_uri {
            None if self.redirect_uri_sent => {
                return Err(grant(
                    "redirect_uri is required: the authorization request included it",
                ))
            }
            Some(uri) if uri != self.redirect_uri => {
                return Err(grant(
                    "redirect_uri does not match the authorization request",
                ))
            }
            _ => {}
        }
        crate::pkce::check_token_request(Some(&self.code_challenge), code_verifier)?;
        Ok(())
    }

    /// Validates `params` against `client`. See the module documentation for the order.
    pub fn validate(
        params: &Params,
        client: &ClientPolicy<'_>,
        origin: Origin,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        // 1. client_id: failures are local.
        match (params.one("client_id"), origin) {
            (Err(Repeated), _) => return Err(LocalError::RepeatedClientId.into()),
            (Ok(None), Origin::FrontChannel) => return Err(LocalError::MissingClientId.into()),
            (Ok(None), Origin::Pushed) => {}
            (Ok(Some(id)), Origin::FrontChannel) if id != client.client_id => {
                return Err(LocalError::UnknownClient.into())
            }
            (Ok(Some(id)), Origin::Pushed) if id != client.client_id => {
                return Err(LocalError::ClientIdMismatch.into())
            }
            (Ok(Some(_)), _) => {}
        }

        // 2. redirect_uri: failures are local.
        let (redirect_uri, redirect_uri_sent) = validate_redirect_uri(params, client)?;

        // 3. state: never redirect an over-long or ambiguous one back.
        let (state, state_problem) = match params.one("state") {
            Err(Repeated) => (None, Some("state is repeated")),
            Ok(Some(s)) if s.len() > MAX_STATE_BYTES => (None, Some("state is too long")),
            Ok(s) => (s.map(str::to_owned), None),
        };
        let fail = |code: AuthorizationErrorCode, description: &'static str| {
            AuthorizeError::Redirect(RedirectError {
                code,
                description,
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
            })
        };
        let invalid = |description| fail(AuthorizationErrorCode::InvalidRequest, description);
        if let Some(problem) = state_problem {
            return Err(invalid(problem));
        }
        if params.has_repeated() {
            return Err(invalid("a parameter is repeated"));
        }

        // 4. Everything else is redirectable.
        if params.has("request") {
            return Err(fail(
                AuthorizationErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.has("request_uri") {
            return Err(invalid(match origin {
                Origin::Pushed => "request_uri is not allowed in a pushed authorization request",
                Origin::FrontChannel => "request_uri must be sent with client_id only",
            }));
        }
        if client.require_par && origin == Origin::FrontChannel {
            return Err(invalid(
                "this client must use a pushed authorization request (PAR)",
            ));
        }
        match param(params, "response_type") {
            None => return Err(invalid("response_type is required")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    AuthorizationErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ))
            }
        }
        if let Some(mode) = param(params, "response_mode") {
            if mode != "query" {
                return Err(invalid("only response_mode=query is supported"));
            }
        }
        let scopes = parse_scope(param(params, "scope"), client.scopes)
            .map_err(|d| fail(AuthorizationErrorCode::InvalidScope, d))?;
        let code_challenge = CodeChallenge::from_request(
            param(params, "code_challenge"),
            param(params, "code_challenge_method"),
        )
        .map_err(|e| invalid(e.description()))?;
        let nonce =
            bounded(params, "nonce", MAX_NONCE_BYTES).ok_or(invalid("nonce is too long"))?;
        let prompt = Prompt::parse(param(params, "prompt")).map_err(invalid)?;
        let max_age = parse_max_age(param(params, "max_age")).map_err(invalid)?;
        let login_hint = bounded(params, "login_hint", MAX_HINT_BYTES)
            .ok_or(invalid("login_hint is too long"))?;
        let ui_locales = bounded(params, "ui_locales", MAX_HINT_BYTES)
            .ok_or(invalid("ui_locales is too long"))?;
        let acr_values = bounded(params, "acr_values", MAX_HINT_BYTES)
            .ok_or(invalid("acr_values is too long"))?;
        let dpop_jkt = match param(params, "dpop_jkt") {
            None => None,
            Some(jkt) if is_jwk_thumbprint(jkt) => Some(jkt.to_owned()),
            Some(_) => {
                return Err(invalid(
                    "dpop_jkt must be a base64url SHA-256 JWK thumbprint (RFC 7638)",
                ))
            }
        };

        Ok(AuthorizationRequest {
            client_id: client.client_id.to_owned(),
            redirect_uri,
            redirect_uri_sent,
            scopes,
            state,
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            ui_locales,
            acr_values,
            dpop_jkt,
        })
    }
}

/// Whether `value` has the form of an RFC 7638 SHA-256 thumbprint: 43 base64url characters
/// without padding (32 bytes).
pub fn is_jwk_thumbprint(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A parameter's value; repetition was already refused by the caller.
fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.one(name).ok().flatten()
}

/// `Some(value)` when within `max` bytes (`Some(None)` when absent), `None` when too long.
fn bounded(params: &Params, name: &str, max: usize) -> Option<Option<String>> {
    match param(params, name) {
        Some(v) if v.len() > max => None,
        v => Some(v.map(str::to_owned)),
    }
}

/// The redirect URI: exactly one of the registered strings (no normalisation of case, port,
/// path, trailing slash or encoding), or the single registered one when omitted and allowed.
fn validate_redirect_uri(
    params: &Params,
    client: &ClientPolicy<'_>,
) -> Result<(String, bool), LocalError> {
    match params.one("redirect_uri") {
        Err(Repeated) => Err(LocalError::RepeatedRedirectUri),
        Ok(Some(uri)) => {
            let registered = uri.len() <= MAX_REDIRECT_URI_BYTES
                && client.redirect_uris.iter().any(|r| r == uri)
                && is_usable_redirect_uri(uri);
            if registered {
                Ok((uri.to_owned(), true))
            } else {
                Err(LocalError::UnregisteredRedirectUri)
            }
        }
        Ok(None) => match client.redirect_uris {
            [only] if !client.require_redirect_uri && is_usable_redirect_uri(only) => {
                Ok((only.clone(), false))
            }
            _ => Err(LocalError::MissingRedirectUri),
        },
    }
}

/// Defence in depth for a registered URI: the registration rules
/// ([`crate::client::redirect_uri::validate`], the one home for them) are checked again, so a bad
/// registration can never become a redirect.
fn is_usable_redirect_uri(uri: &str) -> bool {
    crate::client::redirect_uri::validate(uri).is_ok()
}

/// The requested scopes (RFC 6749 §3.3 syntax, each once, order kept), all registered for the
/// client. A missing scope is refused rather than defaulted to everything registered: a user
/// grant should carry only what the client asked for.
fn parse_scope(scope: Option<&str>, registered: &[String]) -> Result<Vec<String>, &'static str> {
    let scope = scope.ok_or("scope is required")?;
    if scope.len() > MAX_SCOPE_BYTES {
        return Err("scope is too long");
    }
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        let syntax_ok = token
            .chars()
            .all(|c| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c));
        if !syntax_ok {
            return Err("scope has characters RFC 6749 §3.3 does not allow");
        }
        if !registered.iter().any(|r| r == token) {
            return Err("a requested scope is not allowed for this client");
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    if out.is_empty() {
        return Err("scope is required");
    }
    Ok(out)
}

/// `max_age`: a non-negative decimal integer (OIDC Core §3.1.2.1), at most [`MAX_MAX_AGE`].
fn parse_max_age(value: Option<&str>) -> Result<Option<u64>, &'static str> {
    let Some(v) = value else { return Ok(None) };
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("max_age must be a non-negative integer");
    }
    match v.parse::<u64>() {
        Ok(n) if n <= MAX_MAX_AGE => Ok(Some(n)),
        _ => Err("max_age is too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example/cb";

    struct Client {
        redirect_uris: Vec<String>,
        scopes: Vec<String>,
        require_par: bool,
        require_redirect_uri: bool,
    }

    impl Client {
        fn new() -> Self {
            Client {
                redirect_uris: vec![CB.into(), "https://app.example/other".into()],
                scopes: ["openid", "profile", "email", "accounts"]
                    .map(String::from)
                    .to_vec(),
                require_par: false,
                require_redirect_uri: false,
            }
        }
        fn policy(&self) -> ClientPolicy<'_> {
            ClientPolicy {
                client_id: "web",
                redirect_uris: &self.redirect_uris,
                scopes: &self.scopes,
                require_par: self.require_par,
                require_redirect_uri: self.require_redirect_uri,
            }
        }
    }

    /// Parameters to replace (`Some`) or remove (`None`) in the base request.
    type Changes<'a> = &'a [(&'a str, Option<&'a str>)];

    fn base() -> Vec<(String, String)> {
        [
            ("client_id", "web"),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid profile"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }

    fn with(changes: &[(&str, Option<&str>)]) -> Params {
        let mut pairs = base();
        for (name, value) in changes {
            pairs.retain(|(k, _)| k != name);
            if let Some(v) = value {
                pairs.push(((*name).to_owned(), (*v).to_owned()));
            }
        }
        Params::from_pairs(pairs).unwrap()
    }

    fn validate(params: &Params) -> Result<AuthorizationRequest, AuthorizeError> {
        AuthorizationRequest::validate(params, &Client::new().policy(), Origin::FrontChannel)
    }

    fn redirect_code(r: Result<AuthorizationRequest, AuthorizeError>) -> (String, Option<String>) {
        match r {
            Err(AuthorizeError::Redirect(e)) => {
                assert_eq!(e.redirect_uri, CB);
                (e.code.as_str().to_owned(), e.state)
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_accepted_with_everything_kept() {
        let r = validate(&with(&[
            ("nonce", Some("n-0S6_WzA2Mj")),
            ("prompt", Some("login consent")),
            ("max_age", Some("0")),
            ("login_hint", Some("alice")),
            ("ui_locales", Some("fr-CA en")),
            ("acr_values", Some("urn:acr:1")),
            ("unknown_extension", Some("ignored")),
            ("scope", Some("profile openid profile")),
        ]))
        .unwrap();
        assert_eq!(r.client_id, "web");
        assert_eq!(r.redirect_uri, CB);
        assert!(r.redirect_uri_sent);
        assert_eq!(r.scopes, ["profile", "openid"]);
        assert!(r.is_openid());
        assert_eq!(r.state.as_deref(), Some("st"));
        assert_eq!(r.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(r.code_challenge.as_str(), CHALLENGE);
        assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
        assert_eq!(r.max_age, Some(0));
        assert_eq!(r.login_hint.as_deref(), Some("alice"));
        assert_eq!(r.ui_locales.as_deref(), Some("fr-CA en"));
        assert_eq!(r.acr_values.as_deref(), Some("urn:acr:1"));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            serde_json::from_str::<AuthorizationRequest>(&json).unwrap(),
            r
        );
    }

    #[test]
    fn dpop_jkt_is_kept_when_it_is_a_thumbprint() {
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let r = validate(&with(&[("dpop_jkt", Some(jkt))])).unwrap();
        assert_eq!(r.dpop_jkt.as_deref(), Some(jkt));
        assert_eq!(validate(&with(&[])).unwrap().dpop_jkt, None);
        // A stored request from before the field existed still reads.
        let mut old = serde_json::to_value(validate(&with(&[])).unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("dpop_jkt");
        assert!(serde_json::from_value::<AuthorizationRequest>(old).is_ok());
        let too_short = &jkt[1..];
        let padded = format!("{jkt}=");
        for bad in [
            too_short,
            padded.as_str(),
            "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        ] {
            let (code, _) = redirect_code(validate(&with(&[("dpop_jkt", Some(bad))])));
            assert_eq!(code, "invalid_request", "{bad}");
        }
    }

    #[test]
    fn local_errors_are_never_redirected() {
        let cases: &[(Changes, LocalError)] = &[
            (&[("client_id", None)], LocalError::MissingClientId),
            (&[("client_id", Some("other"))], LocalError::UnknownClient),
            (
                &[("redirect_uri", Some("https://evil.example/cb"))],
                LocalError::UnregisteredRedirectUri,
            ),
            // Exact match: no case, slash, port, query or encoding normalisation.
            (
                &[("redirect_uri", Some("https://APP.example/cb"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example/cb/"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example:443/cb"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example/cb?x=1"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example/%63b"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example/cb/../cb"))],
                LocalError::UnregisteredRedirectUri,
            ),
            (
                &[("redirect_uri", Some("https://app.example/cb#frag"))],
                LocalError::UnregisteredRedirectUri,
            ),
            // Two registered, none sent.
            (&[("redirect_uri", None)], LocalError::MissingRedirectUri),
            // Even a broken response_type is not redirected to an unregistered URI.
            (
                &[
                    ("redirect_uri", Some("https://evil.example/")),
                    ("response_type", Some("token")),
                ],
                LocalError::UnregisteredRedirectUri,
            ),
        ];
        for (changes, want) in cases {
            assert_eq!(
                validate(&with(changes)),
                Err(AuthorizeError::Local(*want)),
                "{changes:?}"
            );
        }
        let mut pairs = base();
        pairs.push(("client_id".into(), "web".into()));
        assert_eq!(
            validate(&Params::from_pairs(pairs).unwrap()),
            Err(AuthorizeError::Local(LocalError::RepeatedClientId))
        );
        let mut pairs = base();
        pairs.push(("redirect_uri".into(), CB.into()));
        assert_eq!(
            validate(&Params::from_pairs(pairs).unwrap()),
            Err(AuthorizeError::Local(LocalError::RepeatedRedirectUri))
        );
    }

    #[test]
    fn omitted_redirect_uri_defaults_only_to_a_single_registration_when_allowed() {
        let mut client = Client::new();
        client.redirect_uris = vec![CB.into()];
        let params = with(&[("redirect_uri", None)]);
        let r = AuthorizationRequest::validate(&params, &client.policy(), Origin::FrontChannel)
            .unwrap();
        assert_eq!(r.redirect_uri, CB);
        assert!(!r.redirect_uri_sent);
        client.require_redirect_uri = true;
        assert_eq!(
            AuthorizationRequest::validate(&params, &client.policy(), Origin::FrontChannel),
            Err(AuthorizeError::Local(LocalError::MissingRedirectUri))
        );
        // A bad registration is never used as a target.
        client.require_redirect_uri = false;
        client.redirect_uris = vec!["https://app.example/cb#x".into()];
        assert_eq!(
            AuthorizationRequest::validate(&params, &client.policy(), Origin::FrontChannel),
            Err(AuthorizeError::Local(LocalError::MissingRedirectUri))
        );
    }

    #[test]
    fn redirectable_errors_carry_code_and_state() {
        let long = "x".repeat(MAX_HINT_BYTES + 1);
        let long_nonce = "n".repeat(MAX_NONCE_BYTES + 1);
        let cases: &[(Changes, &str)] = &[
            (&[("response_type", None)], "invalid_request"),
            (
                &[("response_type", Some("token"))],
                "unsupported_response_type",
            ),
            (
                &[("response_type", Some("code id_token"))],
                "unsupported_response_type",
            ),
            (&[("response_mode", Some("fragment"))], "invalid_request"),
            (&[("response_mode", Some("form_post"))], "invalid_request"),
            (&[("scope", None)], "invalid_scope"),
            (&[("scope", Some("openid admin"))], "invalid_scope"),
            (&[("scope", Some("openid \"x\""))], "invalid_scope"),
            (&[("code_challenge", None)], "invalid_request"),
            (&[("code_challenge_method", None)], "invalid_request"),
            (
                &[("code_challenge_method", Some("plain"))],
                "invalid_request",
            ),
            (&[("code_challenge", Some("abc"))], "invalid_request"),
            (&[("prompt", Some("none login"))], "invalid_request"),
            (&[("prompt", Some("bogus"))], "invalid_request"),
            (&[("max_age", Some("-1"))], "invalid_request"),
            (&[("max_age", Some("1.5"))], "invalid_request"),
            (&[("max_age", Some("99999999999"))], "invalid_request"),
            (&[("nonce", Some(&long_nonce))], "invalid_request"),
            (&[("login_hint", Some(&long))], "invalid_request"),
            (&[("ui_locales", Some(&long))], "invalid_request"),
            (&[("acr_values", Some(&long))], "invalid_request"),
            (
                &[("request", Some("eyJhbGciOi..."))],
                "request_not_supported",
            ),
            (
                &[("request_uri", Some("urn:ietf:params:oauth:request_uri:x"))],
                "invalid_request",
            ),
        ];
        for (changes, want) in cases {
            let (code, state) = redirect_code(validate(&with(changes)));
            assert_eq!(code, *want, "{changes:?}");
            assert_eq!(state.as_deref(), Some("st"), "{changes:?}");
        }
    }

    #[test]
    fn repeated_or_over_long_state_is_refused_without_echoing_it() {
        let (code, state) = redirect_code(validate(&with(&[(
            "state",
            Some(&"s".repeat(MAX_STATE_BYTES + 1)),
        )])));
        assert_eq!((code.as_str(), state), ("invalid_request", None));
        let mut pairs = base();
        pairs.push(("state".into(), "other".into()));
        let (code, state) = redirect_code(validate(&Params::from_pairs(pairs).unwrap()));
        assert_eq!((code.as_str(), state), ("invalid_request", None));
        // A repeated ordinary parameter keeps the state.
        let mut pairs = base();
        pairs.push(("scope".into(), "openid".into()));
        let (code, state) = redirect_code(validate(&Params::from_pairs(pairs).unwrap()));
        assert_eq!(
            (code.as_str(), state.as_deref()),
            ("invalid_request", Some("st"))
        );
        // At the limit it is kept intact.
        let s = "s".repeat(MAX_STATE_BYTES);
        assert_eq!(
            validate(&with(&[("state", Some(&s))])).unwrap().state,
            Some(s)
        );
    }

    #[test]
    fn no_state_means_none_returned() {
        let (code, state) = redirect_code(validate(&with(&[
            ("state", None),
            ("response_type", Some("token")),
        ])));
        assert_eq!((code.as_str(), state), ("unsupported_response_type", None));
        assert_eq!(validate(&with(&[("state", None)])).unwrap().state, None);
    }

    #[test]
    fn a_par_only_client_refuses_front_channel_requests_by_redirect() {
        let mut client = Client::new();
        client.require_par = true;
        let r = AuthorizationRequest::validate(&with(&[]), &client.policy(), Origin::FrontChannel);
        assert_eq!(redirect_code(r).0, "invalid_request");
        // Through PAR it is fine.
        assert!(
            AuthorizationRequest::validate(&with(&[]), &client.policy(), Origin::Pushed).is_ok()
        );
    }

    #[test]
    fn nonce_is_kept_byte_exact_up_to_the_limit() {
        let nonce = format!("{}é+ &=", "n".repeat(64));
        let r = validate(&with(&[("nonce", Some(&nonce))])).unwrap();
        assert_eq!(r.nonce.as_deref(), Some(nonce.as_str()));
        let nonce = "n".repeat(384);
        let r = validate(&with(&[("nonce", Some(&nonce))])).unwrap();
        assert_eq!(r.nonce, Some(nonce));
    }

    #[test]
    fn query_parsing_keeps_repetitions_and_refuses_bad_input() {
        let p = Params::parse(b"a=1&b=x+y%2Bz&c=&d&a=2").unwrap();
        assert_eq!(p.one("a"), Err(Repeated));
        assert_eq!(p.one("b"), Ok(Some("x y+z")));
        assert_eq!(p.one("c"), Ok(None));
        assert_eq!(p.one("d"), Ok(None));
        assert!(p.has_repeated());
        assert_eq!(Params::parse(b"a=%ff"), Err(LocalError::Malformed));
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=v&")).collect();
        assert_eq!(Params::parse(many.as_bytes()), Err(LocalError::Malformed));
        assert_eq!(
            Params::from_pairs((0..=MAX_PARAMS).map(|i| (format!("p{i}"), "v"))),
            Err(LocalError::Malformed)
        );
        // An empty repeat still counts as a repeat.
        assert_eq!(
            Params::parse(b"client_id=&client_id=web").map(|p| claimed_client_id(&p).err()),
            Ok(Some(LocalError::RepeatedClientId))
        );
    }

    #[test]
    fn claimed_client_id_cases() {
        let p = Params::parse(b"client_id=web").unwrap();
        assert_eq!(claimed_client_id(&p), Ok("web"));
        let p = Params::parse(b"client_id=").unwrap();
        assert_eq!(claimed_client_id(&p), Err(LocalError::MissingClientId));
        let long = format!("client_id={}", "c".repeat(MAX_CLIENT_ID_BYTES + 1));
        let p = Params::parse(long.as_bytes()).unwrap();
        assert_eq!(claimed_client_id(&p), Err(LocalError::UnknownClient));
    }

    #[test]
    fn pushed_origin_checks_client_id_against_the_authenticated_client() {
        let client = Client::new();
        let r = AuthorizationRequest::validate(
            &with(&[("client_id", None)]),
            &client.policy(),
            Origin::Pushed,
        )
        .unwrap();
        assert_eq!(r.client_id, "web");
        assert_eq!(
            AuthorizationRequest::validate(
                &with(&[("client_id", Some("other"))]),
                &client.policy(),
                Origin::Pushed
            ),
            Err(AuthorizeError::Local(LocalError::ClientIdMismatch))
        );
    }

    #[test]
    fn code_exchange_checks_client_redirect_uri_and_pkce() {
        const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let r = validate(&with(&[])).unwrap();
        assert_eq!(
            r.check_code_exchange("web", Some(CB), Some(VERIFIER)),
            Ok(())
        );
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("other", Some(CB), Some(VERIFIER)),
            ("web", None, Some(VERIFIER)),
            ("web", Some("https://app.example/other"), Some(VERIFIER)),
            ("web", Some(CB), None),
            ("web", Some(CB), Some(&CHALLENGE[..43])),
        ];
        for (client, uri, verifier) in cases {
            let e = r.check_code_exchange(client, *uri, *verifier).unwrap_err();
            assert_eq!(
                e.code,
                OAuthErrorCode::InvalidGrant,
                "{client} {uri:?} {verifier:?}"
            );
        }
        // When the authorization request relied on the single registered URI, the token
        // request may omit it, but one it sends must still match.
        let mut client = Client::new();
        client.redirect_uris = vec![CB.into()];
        let r = AuthorizationRequest::validate(
            &with(&[("redirect_uri", None)]),
            &client.policy(),
            Origin::FrontChannel,
        )
        .unwrap();
        assert_eq!(r.check_code_exchange("web", None, Some(VERIFIER)), Ok(()));
        assert!(r
            .check_code_exchange("web", Some("https://app.example/cb/"), Some(VERIFIER))
            .is_err());
    }

    #[test]
    fn registered_uris_are_still_checked_for_scheme_and_shape() {
        for (uri, ok) in [
            ("https://app.example/cb", true),
            ("http://127.0.0.1:8080/cb", true),
            ("http://[::1]:8080/cb", true),
            ("http://app.example/cb", false),
            ("http://localhost/cb", false),
            ("https://user@app.example/cb", false),
            ("javascript:alert(1)", false),
            ("data:text/html,x", false),
            ("com.example.app:/cb", false),
            ("/relative/cb", false),
        ] {
            let mut client = Client::new();
            client.redirect_uris = vec![uri.to_owned()];
            let params = with(&[("redirect_uri", Some(uri))]);
            let r = AuthorizationRequest::validate(&params, &client.policy(), Origin::FrontChannel);
            assert_eq!(r.is_ok(), ok, "{uri}: {r:?}");
        }
    }
}
