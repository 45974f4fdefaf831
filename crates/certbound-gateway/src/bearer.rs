//! RFC 6750 on the resource side: reading the bearer token, and the `WWW-Authenticate`
//! responses for every refusal.

use crate::refusal::RefusalReason;
use crate::tokens::TokenClaims;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;

pub use certbound_core::presentation::{AuthScheme, PresentationError as BearerError};

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1).
/// `Ok(None)` when there is no Authorization header (or another scheme); a token in the query
/// (`access_token=`) is refused rather than read.
pub fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<&'a str>, BearerError> {
    Ok(presented_token(headers, query)?
        .filter(|(scheme, _)| *scheme == AuthScheme::Bearer)
        .map(|(_, token)| token))
}

/// The token of `Authorization: Bearer <token>` or `Authorization: DPoP <token>`, with its
/// scheme: certbound-core's [`certbound_core::presentation::presented_token`] on this
/// request's headers.
pub fn presented_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<(AuthScheme, &'a str)>, BearerError> {
    certbound_core::presentation::presented_token(
        headers
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .map(HeaderValue::as_bytes),
        query,
    )
}

/// Which challenges a refusal carries.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Challenges {
    /// `Bearer` only (the token was sent as `Bearer`, or DPoP is not offered).
    Bearer,
    /// `DPoP` only, with its `algs` (the token was sent as `DPoP`, or is DPoP-bound).
    Dpop(Arc<str>),
    /// `Bearer` then `DPoP`: no token was sent, so both schemes are offered.
    Both(Arc<str>),
}

/// A refusal by a resource server, rendered per RFC 6750 §3, with the reason for metrics and the
/// audit line.
#[derive(Clone, Debug)]
pub struct Rejection {
    status: StatusCode,
    error: Option<&'static str>,
    description: Option<String>,
    scope: Option<String>,
    realm: String,
    reason: RefusalReason,
    claims: Option<Arc<TokenClaims>>,
    retry_after: Option<u64>,
    challenges: Challenges,
    dpop_nonce: Option<String>,
}

fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

impl Rejection {
    fn new(
        status: StatusCode,
        error: Option<&'static str>,
        realm: &str,
        reason: RefusalReason,
    ) -> Self {
        Rejection {
            status,
            error,
            description: error.map(|_| reason.description().to_owned()),
            scope: None,
            realm: realm.to_owned(),
            reason,
            claims: None,
            retry_after: None,
            challenges: Challenges::Bearer,
            dpop_nonce: None,
        }
    }

    /// 401 `use_dpop_nonce` (RFC 9449 §9) with a `DPoP` challenge and `DPoP-Nonce: nonce`: the
    /// proof was good but for its nonce; the client retries with `nonce`.
    pub fn use_dpop_nonce(realm: &str, nonce: String, algs: Arc<str>) -> Self {
        let mut r = Self::new(
            StatusCode::UNAUTHORIZED,
            Some("use_dpop_nonce"),
            realm,
            RefusalReason::DpopNonceRequired,
        );
        r.challenges = Challenges::Dpop(algs);
        r.dpop_nonce = Some(nonce);
        r
    }

    /// 401 `invalid_dpop_proof` (RFC 9449 §7.1) with a `DPoP` challenge, for `reason`, and the
    /// fixed, safe `description` of what was wrong with the proof.
    pub fn invalid_dpop_proof(
        realm: &str,
        reason: RefusalReason,
        description: &str,
        algs: Arc<str>,
    ) -> Self {
        let mut r = Self::new(
            StatusCode::UNAUTHORIZED,
            Some("invalid_dpop_proof"),
            realm,
            reason,
        );
        r.description = Some(description.to_owned());
        r.challenges = Challenges::Dpop(algs);
        r
    }

    /// The same refusal, answered with a `DPoP` challenge (the token was presented as `DPoP` or
    /// is DPoP-bound) instead of `Bearer`.
    pub fn with_dpop_challenge(mut self, algs: Arc<str>) -> Self {
        self.challenges = Challenges::Dpop(algs);
        self
    }

    /// The same refusal, offering both schemes (a request without a token, RFC 9449 §7.1).
    pub fn with_both_challenges(mut self, algs: Arc<str>) -> Self {
        self.challenges = Challenges::Both(algs);
        self
    }

    /// 401 with a bare challenge: the request carried no token (RFC 6750 §3.1: no error code).
    pub fn missing(realm: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            realm,
            RefusalReason::MissingToken,
        )
    }

    /// 401 `invalid_token`, for `reason`.
    pub fn invalid_token(realm: &str, reason: RefusalReason) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            realm,
            reason,
        )
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(realm: &str, description: &str) -> Self {
        let mut r = Self::new(
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
            realm,
            RefusalReason::InvalidRequest,
        );
        r.description = Some(description.to_owned());
        r
    }

    /// 403 `insufficient_scope`, naming the scopes needed.
    pub fn insufficient_scope(realm: &str, scopes: &[String]) -> Self {
        let mut r = Self::new(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            realm,
            RefusalReason::InsufficientScope,
        );
        r.scope = Some(scopes.join(" "));
        r
    }

    /// 503: the authorization server (JWKS or introspection) is unreachable.
    pub fn unavailable(realm: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable"),
            realm,
            RefusalReason::AuthorizationServerUnavailable,
        )
    }

    /// 503: the gateway has not discovered the authorization server yet.
    pub fn not_ready(realm: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable"),
            realm,
            RefusalReason::NotReady,
        )
    }

    /// 429 with `Retry-After`: the presenting certificate made too many introspection calls. Not
    /// `invalid_token`: the token may be valid, and RFC 6750 clients answer `invalid_token` by
    /// fetching a new token, which would only add to the load; a 429 tells them to wait.
    pub fn rate_limited(realm: &str, retry_after_seconds: u64) -> Self {
        let mut r = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            Some("temporarily_unavailable"),
            realm,
            RefusalReason::IntrospectionRateLimited,
        );
        r.retry_after = Some(retry_after_seconds.max(1));
        r
    }

    /// The same refusal, remembering the verified token it concerns (a binding or scope
    /// refusal), so the audit line can name its client and `jti`.
    pub fn for_token(mut self, claims: Arc<TokenClaims>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Why the request was refused.
    pub fn reason(&self) -> RefusalReason {
        self.reason
    }

    /// The verified token's claims, when the token itself was valid (binding and scope
    /// refusals); `None` when the token never verified.
    pub fn claims(&self) -> Option<&TokenClaims> {
        self.claims.as_deref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The RFC 6750 error code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        self.error
    }

    /// The `WWW-Authenticate` value of the `Bearer` challenge.
    pub fn challenge(&self) -> String {
        let mut c = format!("Bearer realm=\"{}\"", quoted(&self.realm));
        self.push_error(&mut c);
        c
    }

    /// The `WWW-Authenticate` value of the `DPoP` challenge, when the refusal carries one:
    /// `DPoP algs="PS256 ES256 EdDSA"` and the error (RFC 9449 §7.1).
    pub fn dpop_challenge(&self) -> Option<String> {
        let algs = match &self.challenges {
            Challenges::Bearer => return None,
            Challenges::Dpop(a) | Challenges::Both(a) => a,
        };
        let mut c = format!(
            "DPoP realm=\"{}\", algs=\"{}\"",
            quoted(&self.realm),
            quoted(algs)
        );
        self.push_error(&mut c);
        Some(c)
    }

    /// The challenges of this refusal, in order.
    pub fn challenges(&self) -> Vec<String> {
        match &self.challenges {
            Challenges::Bearer => vec![self.challenge()],
            Challenges::Dpop(_) => self.dpop_challenge().into_iter().collect(),
            Challenges::Both(_) => std::iter::once(self.challenge())
                .chain(self.dpop_challenge())
                .collect(),
        }
    }

    fn push_error(&self, c: &mut String) {
        if let Some(e) = self
            .error
            .filter(|_| self.status != StatusCode::SERVICE_UNAVAILABLE)
        {
            c.push_str(&format!(", error=\"{e}\""));
            if let Some(d) = &self.description {
                c.push_str(&format!(", error_description=\"{}\"", quoted(d)));
            }
            if let Some(s) = &self.scope {
                c.push_str(&format!(", scope=\"{}\"", quoted(s)));
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = match self.error {
            Some(e) => serde_json::json!({"error": e, "error_description": self.description}),
            None => serde_json::json!({"error_description": "an access token is required"}),
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
        } else {
            for c in self.challenges() {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(http::header::WWW_AUTHENTICATE, v);
                }
            }
        }
        if let Some(v) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            r.headers_mut().insert(DPOP_NONCE, v);
        }
        r.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        r
    }
}

/// The `DPoP-Nonce` response header (RFC 9449 §8.1, §9).
pub const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

#[cfg(test)]
mod tests {
    use super::*;

    fn h(values: &[&str]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for v in values {
            m.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn reads_only_the_header() {
        assert_eq!(
            bearer_token(&h(&["Bearer abc.def-_~+/="]), None),
            Ok(Some("abc.def-_~+/="))
        );
        assert_eq!(bearer_token(&h(&["bEaReR abc"]), None), Ok(Some("abc")));
        assert_eq!(bearer_token(&h(&[]), None), Ok(None));
        assert_eq!(bearer_token(&h(&["Basic abc"]), None), Ok(None));
        assert_eq!(
            bearer_token(&h(&["Bearer a b"]), None),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&h(&["Bearer a,b"]), None),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&h(&["Bearer "]), None),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&h(&["Bearer a", "Bearer b"]), None),
            Err(BearerError::Repeated)
        );
        assert_eq!(
            bearer_token(&h(&[]), Some("x=1&access_token=abc")),
            Err(BearerError::WrongMethod)
        );
        assert_eq!(
            bearer_token(&h(&["Bearer a"]), Some("access_token=abc")),
            Err(BearerError::WrongMethod)
        );
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(Rejection::missing("r").challenge(), "Bearer realm=\"r\"");
        assert_eq!(
            Rejection::invalid_token("r", RefusalReason::Expired).challenge(),
            "Bearer realm=\"r\", error=\"invalid_token\", error_description=\"token expired\""
        );
        let s = Rejection::insufficient_scope("r", &["a".into(), "b".into()]);
        assert_eq!(s.status(), StatusCode::FORBIDDEN);
        assert!(s.challenge().ends_with("scope=\"a b\""));
        let r = Rejection::unavailable("r").into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("retry-after"));
        let r = Rejection::use_dpop_nonce("r", "n0nce".into(), Arc::from("ES256")).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["dpop-nonce"], "n0nce");
        let c = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            c.starts_with("DPoP realm=\"r\", algs=\"ES256\", error=\"use_dpop_nonce\""),
            "{c}"
        );
        let r = Rejection::rate_limited("r", 7).into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "7");
        assert!(!r.headers().contains_key("www-authenticate"));
    }
}
