//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 7009 §2.2.1), built in exactly one place.
//!
//! Handlers return [`OAuthError`]; the HTTP layer turns it into status, headers and JSON body with
//! [`OAuthError::status`], [`OAuthError::headers`] and [`OAuthError::body`]. The description is
//! written for the client: it never contains the decision trace, a secret or a token.

use serde::Serialize;
use std::fmt;

/// The registered error codes the token, introspection and revocation endpoints can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// Malformed request: missing, repeated or invalid parameter (RFC 6749 §5.2).
    InvalidRequest,
    /// Client authentication failed (RFC 6749 §5.2, RFC 8705 §2).
    InvalidClient,
    /// The grant is invalid, expired or issued to another client.
    InvalidGrant,
    /// The authenticated client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported by this server.
    UnsupportedGrantType,
    /// The requested scope is invalid or exceeds what the client may have.
    InvalidScope,
    /// The token type cannot be revoked (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// An unexpected condition on the server.
    ServerError,
    /// The server is temporarily unable to handle the request (e.g. its store is down).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error response of the token, introspection or revocation endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code.
    pub code: OAuthErrorCode,
    /// The `error_description`: human-readable, safe to show the client, no CR/LF.
    pub description: String,
    /// Whether the client tried to authenticate with the `Authorization: Basic` header; RFC 6749
    /// §5.2 then requires a 401 with a matching `WWW-Authenticate` challenge.
    pub used_basic: bool,
    /// Set when a rate limit refused the request: answered with 429 and `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

/// The body of an error response.
#[derive(Serialize)]
pub struct OAuthErrorBody<'a> {
    /// `error`.
    pub error: &'static str,
    /// `error_description`.
    pub error_description: &'a str,
}

impl OAuthError {
    /// A new error with a client-safe description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        let description: String = description.into();
        // RFC 6749 §5.2: the description is limited to %x20-21 / %x23-5B / %x5D-7E.
        let description = description
            .chars()
            .map(|c| {
                if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        OAuthError {
            code,
            description,
            used_basic: false,
            retry_after: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` with a description.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }

    /// `server_error`; the cause goes to the log, not to the client.
    pub fn server_error() -> Self {
        Self::new(OAuthErrorCode::ServerError, "internal error")
    }

    /// `temporarily_unavailable`, for a store that is down (answered with 503 and `Retry-After`).
    pub fn unavailable() -> Self {
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the server is temporarily unavailable",
        )
    }

    /// A rate limit refused the request: 429 with `Retry-After: seconds`. The code is
    /// `temporarily_unavailable` (RFC 6749 has no code for it; this is the closest registered one).
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        let mut e = Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            format!("too many requests; retry after {retry_after_seconds} seconds"),
        );
        e.retry_after = Some(retry_after_seconds.max(1));
        e
    }

    /// Records that the client used HTTP Basic, so the response carries a Basic challenge.
    pub fn with_basic(mut self, used_basic: bool) -> Self {
        self.used_basic = used_basic;
        self
    }

    /// The HTTP status: 401 for `invalid_client` (certbound's policy for every client
    /// authentication failure, see docs/errors.md), 500/503 for server conditions, else 400.
    pub fn status(&self) -> u16 {
        if self.retry_after.is_some() {
            return 429;
        }
        match self.code {
            OAuthErrorCode::InvalidClient => 401,
            OAuthErrorCode::ServerError => 500,
            OAuthErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    /// Headers besides `Content-Type: application/json`: `Cache-Control: no-store` and
    /// `Pragma: no-cache` always; on 401 a `WWW-Authenticate: Basic realm="<realm>"` challenge
    /// (RFC 6749 §5.2 requires it when Basic was used; RFC 9110 §15.5.2 requires a challenge on any
    /// 401, and Basic is the only registered scheme for client authentication); on 503 `Retry-After`.
    pub fn headers(&self, realm: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("cache-control", "no-store".to_owned()),
            ("pragma", "no-cache".to_owned()),
        ];
        if self.status() == 401 {
            let realm: String = realm.chars().filter(|c| *c != '"' && *c != '\\').collect();
            headers.push(("www-authenticate", format!("Basic realm=\"{realm}\"")));
        }
        match (self.status(), self.retry_after) {
            (429, Some(seconds)) => headers.push(("retry-after", seconds.to_string())),
            (503, _) => headers.push(("retry-after", "5".to_owned())),
            _ => {}
        }
        headers
    }

    /// The JSON body.
    pub fn body(&self) -> OAuthErrorBody<'_> {
        OAuthErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_is_429_with_retry_after() {
        let e = OAuthError::too_many_requests(7);
        assert_eq!(e.status(), 429);
        assert_eq!(e.body().error, "temporarily_unavailable");
        assert!(e.headers("r").contains(&("retry-after", "7".to_owned())));
        assert!(!e.headers("r").iter().any(|(n, _)| *n == "www-authenticate"));
        assert_eq!(OAuthError::too_many_requests(0).retry_after, Some(1));
    }

    #[test]
    fn invalid_client_is_401_with_basic_challenge() {
        let e = OAuthError::invalid_client("no").with_basic(true);
        assert_eq!(e.status(), 401);
        let h = e.headers("https://as.example");
        assert!(h.contains(&(
            "www-authenticate",
            "Basic realm=\"https://as.example\"".into()
        )));
        assert!(h.contains(&("cache-control", "no-store".into())));
    }

    #[test]
    fn other_errors_are_400_without_challenge() {
        let e = OAuthError::new(OAuthErrorCode::InvalidScope, "x");
        assert_eq!(e.status(), 400);
        assert!(!e.headers("r").iter().any(|(n, _)| *n == "www-authenticate"));
    }

    #[test]
    fn description_is_sanitised() {
        let e = OAuthError::invalid_request("bad\r\n\"value\"\\é");
        assert_eq!(e.description, "bad   value   ");
    }

    #[test]
    fn unavailable_is_503_with_retry_after() {
        let e = OAuthError::unavailable();
        assert_eq!(e.status(), 503);
        assert!(e.headers("r").iter().any(|(n, _)| *n == "retry-after"));
    }
}
