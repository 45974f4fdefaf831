//! The authorization endpoint's rules (RFC 6749 §3.1, §4.1; RFC 9126 PAR; RFC 9207 `iss`; OIDC
//! Core §3.1.2), shared by `/authorize` and `/par`, as pure functions.
//!
//! The one rule every piece here serves: **never redirect to an unvalidated URI**. A request is
//! judged in two stages. Until `client_id` and `redirect_uri` are validated, every failure is a
//! [`LocalError`], rendered on certbound's own page. After that, failures are
//! [`RedirectError`]s, which carry the validated `redirect_uri` and the `state` to send back, and
//! are answered by a redirect built by [`response`] (always with `iss`).
//!
//! - [`request`]: parse and validate an authorization request from a parameter list.
//! - [`par`]: the PAR body rules, `request_uri` values, and `/authorize?request_uri=…`.
//! - [`prompt`]: login / consent / issue decision from `prompt`, `max_age` and the session.
//! - [`response`]: the redirect `Location` for success and error.

pub mod par;
pub mod prompt;
pub mod request;
pub mod response;

pub use par::{AuthorizeEntry, ParResponse, PushedRequest, RequestUri};
pub use prompt::{next_step, Interaction, NextStep, Prompt};
pub use request::{AuthorizationRequest, Origin, Params};
pub use response::{error_location, success_location};

use crate::error::{OAuthError, OAuthErrorCode};

/// What the authorization rules need to know about the client, as plain values (the caller takes
/// them from its `RegisteredClient`), so these rules do not depend on the client model's shape.
#[derive(Clone, Copy, Debug)]
pub struct ClientPolicy<'a> {
    /// The client's identifier.
    pub client_id: &'a str,
    /// Its registered redirect URIs; a request's `redirect_uri` must equal one byte for byte.
    pub redirect_uris: &'a [String],
    /// The scopes it may request.
    pub scopes: &'a [String],
    /// Whether requests must come through PAR: the client's RFC 9126
    /// `require_pushed_authorization_requests`, or the server's (the FAPI profile forces it).
    pub require_par: bool,
    /// Whether `redirect_uri` must be sent even when only one is registered (FAPI 2.0
    /// §5.3.2.2-6 requires it in PAR; plain OAuth allows the single registered URI as default).
    pub require_redirect_uri: bool,
}

/// The error codes an authorization response may carry (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6,
/// RFC 9126 §4, RFC 9101 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorizationErrorCode {
    /// Malformed request: missing, repeated or invalid parameter.
    InvalidRequest,
    /// The client may not use this flow.
    UnauthorizedClient,
    /// The user (or the server) denied the request.
    AccessDenied,
    /// `response_type` other than `code`.
    UnsupportedResponseType,
    /// A scope outside the client's registration, or no scope.
    InvalidScope,
    /// An unexpected condition on the server.
    ServerError,
    /// The server cannot handle the request now.
    TemporarilyUnavailable,
    /// `prompt=none` and the user must log in.
    LoginRequired,
    /// `prompt=none` and the user must consent.
    ConsentRequired,
    /// `prompt=none` and some other interaction is needed.
    InteractionRequired,
    /// The `request_uri` is expired (or otherwise unusable for this validated client).
    InvalidRequestUri,
    /// A `request` parameter (JAR): not supported.
    RequestNotSupported,
}

impl AuthorizationErrorCode {
    /// The code as it appears in the `error` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
        }
    }
}

/// A failure that must be shown on a local page, never redirected: `client_id` or
/// `redirect_uri` could not be validated, so there is no URI it is safe to send the browser to
/// (RFC 6749 §4.1.2.1, FAPI 2.0 §5.3.2.1-7). The messages are for that page; they quote nothing
/// from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The query is not valid form data (bad UTF-8) or has too many parameters.
    #[error("the authorization request is malformed")]
    Malformed,
    /// No `client_id`.
    #[error("the authorization request has no client_id")]
    MissingClientId,
    /// `client_id` sent more than once.
    #[error("client_id is repeated")]
    RepeatedClientId,
    /// No client with this `client_id` (decided by the caller, which looks it up).
    #[error("unknown client")]
    UnknownClient,
    /// The `client_id` parameter differs from the client that authenticated (PAR) or that the
    /// caller looked up.
    #[error("client_id does not match the authenticated client")]
    ClientIdMismatch,
    /// `redirect_uri` sent more than once.
    #[error("redirect_uri is repeated")]
    RepeatedRedirectUri,
    /// No `redirect_uri`, and the client has several registered or must send it.
    #[error("redirect_uri is required")]
    MissingRedirectUri,
    /// The `redirect_uri` is not one the client registered (exact string match), or is not a
    /// usable absolute URI.
    #[error("redirect_uri is not registered for this client")]
    UnregisteredRedirectUri,
    /// A `request_uri` that is unknown, already used, or belongs to another client.
    #[error("the request_uri is unknown, already used, or not issued to this client")]
    UnknownRequestUri,
    /// A `request_uri` sent with a `client_id` that does not match the client it was pushed by.
    #[error("the request_uri was not issued to this client")]
    RequestUriClientMismatch,
}

/// A failure after `client_id` and `redirect_uri` were validated: answered by a redirect to
/// `redirect_uri` with `error`, `error_description`, `state` (if the request had one) and `iss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectError {
    /// The `error` code.
    pub code: AuthorizationErrorCode,
    /// The `error_description`, written for the client developer; never quotes request text.
    pub description: &'static str,
    /// The validated redirect URI to send the error to.
    pub redirect_uri: String,
    /// The request's `state`, returned as is; `None` when absent, repeated or over-long.
    pub state: Option<String>,
}

impl RedirectError {
    /// The `Location` of the error redirect (RFC 6749 §4.1.2.1 plus RFC 9207 `iss`).
    pub fn location(&self, issuer: &str) -> String {
        error_location(
            &self.redirect_uri,
            self.code,
            Some(self.description),
            self.state.as_deref(),
            issuer,
        )
    }
}

/// Why an authorization request was refused: locally or by redirect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Show a local error page; never redirect.
    #[error("{0}")]
    Local(LocalError),
    /// Redirect the error to the validated `redirect_uri`.
    #[error("{}: {}", .0.code.as_str(), .0.description)]
    Redirect(RedirectError),
}

impl AuthorizeError {
    /// The JSON error for the PAR endpoint (RFC 9126 §2.3): there is no redirect at PAR, every
    /// failure is a 400 with the token endpoint's error format. Redirect-URI and client problems
    /// are `invalid_request` (RFC 9126 §2.3); codes the token endpoint's error type does not have
    /// (`unsupported_response_type`, `request_not_supported`) are also answered `invalid_request`.
    pub fn to_par_error(&self) -> OAuthError {
        match self {
            AuthorizeError::Local(e) => OAuthError::invalid_request(e.to_string()),
            AuthorizeError::Redirect(e) => {
                let code = match e.code {
                    AuthorizationErrorCode::InvalidScope => OAuthErrorCode::InvalidScope,
                    AuthorizationErrorCode::UnauthorizedClient => {
                        OAuthErrorCode::UnauthorizedClient
                    }
                    AuthorizationErrorCode::ServerError => OAuthErrorCode::ServerError,
                    AuthorizationErrorCode::TemporarilyUnavailable => {
                        OAuthErrorCode::TemporarilyUnavailable
                    }
                    _ => OAuthErrorCode::InvalidRequest,
                };
                OAuthError::new(code, e.description)
            }
        }
    }
}

impl From<LocalError> for AuthorizeError {
    fn from(e: LocalError) -> Self {
        AuthorizeError::Local(e)
    }
}
