//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 7009 §2.2.1), built in exactly one place.
//!
//! Handlers return [`OAuthError`]; the HTTP layer turns it into status, headers and JSON body with
//! [`OAuthError::status`], [`OAuthError::headers`] and [`OAuthError::body`]. The description is
//! written for the client: it never contains the decision trace, a secret or a token.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt::{self, Write as _};

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
    /// The DPoP proof is missing where required, invalid or replayed (RFC 9449 §5).
    InvalidDpopProof,
    /// The server requires a DPoP nonce and the proof has none, or a stale or foreign one
    /// (RFC 9449 §8): the client retries with the nonce of the `DPoP-Nonce` header.
    UseDpopNonce,
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
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

/// An error response of the token, introspection or revocation endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code.
    pub code: OAuthErrorCode,
    /// The `error_description`: human-readable, safe to show the client; no control, format or
    /// bidi character (see [`printable`]). Printable non-ASCII such as `§` is kept: the body is
    /// JSON, which carries UTF-8.
    pub description: String,
    /// Whether the client tried to authenticate with the `Authorization: Basic` header; RFC 6749
    /// §5.2 then requires a 401 with a matching `WWW-Authenticate` challenge.
    pub used_basic: bool,
    /// Set when a rate limit refused the request: answered with 429 and `Retry-After` (seconds).
    pub retry_after: Option<u64>,
    /// A server nonce for the client's next DPoP proof, sent as the `DPoP-Nonce` header
    /// (RFC 9449 §8); set by [`OAuthError::use_dpop_nonce`].
    pub dpop_nonce: Option<String>,
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
    /// A new error with a client-safe description: every control, format or bidi character is
    /// escaped by [`printable`] here, so no caller can reflect raw request text into a response.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        let description: String = description.into();
        let description = printable(&description).into_owned();
        OAuthError {
            code,
            description,
            used_basic: false,
            retry_after: None,
            dpop_nonce: None,
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

    /// `invalid_dpop_proof` (RFC 9449 §5: 400 at the token endpoint) with a description.
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidDpopProof, description)
    }

    /// `use_dpop_nonce` (RFC 9449 §8: 400 at the authorization server) carrying `nonce`, the
    /// value the client must put in its next proof (sent as the `DPoP-Nonce` header).
    pub fn use_dpop_nonce(nonce: String) -> Self {
        let mut e = Self::new(
            OAuthErrorCode::UseDpopNonce,
            "a DPoP nonce from the server is required: retry with the DPoP-Nonce header's value",
        );
        e.dpop_nonce = Some(nonce);
        e
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
    /// authentication failure, see docs/policies.md), 500/503 for server conditions, else 400.
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
    /// 401, and Basic is the only registered scheme for client authentication); on 503 `Retry-After`;
    /// `DPoP-Nonce` when the error carries a nonce (RFC 9449 §8).
    pub fn headers(&self, realm: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("cache-control", "no-store".to_owned()),
            ("pragma", "no-cache".to_owned()),
        ];
        if self.status() == 401 {
            headers.push((
                "www-authenticate",
                format!("Basic realm=\"{}\"", header_safe(realm)),
            ));
        }
        match (self.status(), self.retry_after) {
            (429, Some(seconds)) => headers.push(("retry-after", seconds.to_string())),
            (503, _) => headers.push(("retry-after", "5".to_owned())),
            _ => {}
        }
        if let Some(nonce) = &self.dpop_nonce {
            headers.push(("dpop-nonce", nonce.clone()));
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

/// Text that came from a request or a certificate, made safe to show in a response, a log line
/// or a terminal: `\n`, `\r` and `\t` are written as those two-character escapes, and every
/// other C0 or C1 control, DEL, format or bidi character (a right-to-left override, a zero-width
/// space, …), private-use code point, noncharacter and line or paragraph separator as `<U+XXXX>`.
/// Everything else, including printable non-ASCII such as `§` or `é`, is kept as is.
///
/// This is the one escaper: the log formatter (`certbound_net::log_format`) writes every field
/// value and message through [`write_escaped`], which escapes the same characters.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let _ = write_escaped(&mut out, text, false);
    Cow::Owned(out)
}

/// Writes `text` to `out` escaped as [`printable`] does. With `quoted`, `"` and `\` are escaped
/// too (`\"`, `\\`), so the text can sit between double quotes and every escape is unambiguous.
pub fn write_escaped<W: fmt::Write + ?Sized>(out: &mut W, text: &str, quoted: bool) -> fmt::Result {
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| needs_escape(c) || (quoted && matches!(c, '"' | '\\')))
    {
        out.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or_default();
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c => write!(out, "<U+{:04X}>", u32::from(c))?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// Whether `c` is escaped by [`printable`] and [`write_escaped`].
pub fn needs_escape(c: char) -> bool {
    crate::identity::dn::is_unsafe_char(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// How many characters of an over-long presented value a log line keeps.
pub const PRESENTED_PREFIX_CHARS: usize = 64;

/// A value a request or a certificate presented, for a log line: escaped as [`printable`]
/// does, and, when longer than `max_bytes`, cut to its first [`PRESENTED_PREFIX_CHARS`]
/// characters followed by `…(N bytes)`, so an attacker-sized value costs a bounded number of
/// log bytes however large it was.
pub fn presented(text: &str, max_bytes: usize) -> Cow<'_, str> {
    cut(text, max_bytes, PRESENTED_PREFIX_CHARS)
}

/// `text` escaped as [`printable`] does and, when longer than `max_bytes`, cut to its first
/// `keep_chars` characters (at most `max_bytes`) followed by `…(N bytes)`, N its full length.
pub fn cut(text: &str, max_bytes: usize, keep_chars: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return printable(text);
    }
    let mut end = 0;
    for (n, (i, c)) in text.char_indices().enumerate() {
        if n == keep_chars || i + c.len_utf8() > max_bytes {
            break;
        }
        end = i + c.len_utf8();
    }
    let mut out = String::with_capacity(end + 24);
    let _ = write_escaped(&mut out, &text[..end], false);
    let _ = write!(out, "…({} bytes)", text.len());
    Cow::Owned(out)
}

/// A header parameter value (RFC 9110 quoted-string contents) from any text: printable ASCII is
/// kept except `"` and `\\`, everything else becomes `?`, so the header is always valid.
pub fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
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
        let e = OAuthError::invalid_request("bad\r\n\"value\"\\ § é");
        assert_eq!(e.description, "bad\\r\\n\"value\"\\ § é");
        let e = OAuthError::invalid_client("client 'a\nb\u{1b}[31m\u{202e}x\u{7f}\u{85}\u{200b}'");
        assert_eq!(
            e.description,
            "client 'a\\nb<U+001B>[31m<U+202E>x<U+007F><U+0085><U+200B>'"
        );
        assert!(!e.description.chars().any(|c| c.is_control()));
        assert!(matches!(printable("plain § text"), Cow::Borrowed(_)));
    }

    #[test]
    fn quoted_escaping_is_unambiguous() {
        let mut out = String::new();
        write_escaped(&mut out, "a\"b\\n\nc\u{2028}\u{0}", true).unwrap();
        assert_eq!(out, "a\\\"b\\\\n\\nc<U+2028><U+0000>");
        // Unquoted, `"` and `\` are kept (as in error descriptions).
        assert_eq!(printable("a\"b\\"), "a\"b\\");
    }

    #[test]
    fn presented_values_are_escaped_and_cut_when_over_long() {
        assert_eq!(presented("short\r\n", 255), "short\\r\\n");
        let long = format!("\u{1b}[31m{}", "x".repeat(60_000));
        let shown = presented(&long, 255);
        assert!(shown.starts_with("<U+001B>[31mxxx"), "{shown}");
        assert!(shown.ends_with("…(60005 bytes)"), "{shown}");
        assert!(shown.len() < 120, "{}", shown.len());
        // Multi-byte characters are cut on a character boundary.
        let wide = "é".repeat(1000);
        assert_eq!(
            presented(&wide, 255),
            format!("{}…(2000 bytes)", "é".repeat(PRESENTED_PREFIX_CHARS))
        );
    }

    #[test]
    fn header_form_is_ascii() {
        let e = OAuthError::invalid_client("x");
        let h = e.headers("https://as.example/§\"\r\n");
        let (_, v) = h.iter().find(|(n, _)| *n == "www-authenticate").unwrap();
        assert_eq!(v, "Basic realm=\"https://as.example/????\"");
        assert!(http_header_value_is_valid(v));
    }

    fn http_header_value_is_valid(v: &str) -> bool {
        v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    }

    #[test]
    fn use_dpop_nonce_is_400_with_the_nonce_header() {
        let e = OAuthError::use_dpop_nonce("abc".into());
        assert_eq!(e.status(), 400);
        assert_eq!(e.body().error, "use_dpop_nonce");
        let h = e.headers("r");
        assert!(h.contains(&("dpop-nonce", "abc".to_owned())));
        assert!(h.contains(&("cache-control", "no-store".to_owned())));
        assert!(!h.iter().any(|(n, _)| *n == "www-authenticate"));
        assert!(!OAuthError::invalid_dpop_proof("x")
            .headers("r")
            .iter()
            .any(|(n, _)| *n == "dpop-nonce"));
    }

    #[test]
    fn unavailable_is_503_with_retry_after() {
        let e = OAuthError::unavailable();
        assert_eq!(e.status(), 503);
        assert!(e.headers("r").iter().any(|(n, _)| *n == "retry-after"));
    }
}
