//! Request plumbing shared by every endpoint a client authenticates at: the form body, where the
//! request came from, and the authenticated client, gathered by one extractor so a handler is
//! extract → one call → respond.
//!
//! ```ignore
//! pub async fn revoke(
//!     State(state): State<AppState>,
//!     request: ClientRequest<RevocationEndpoint>,
//! ) -> Result<Response, OAuthResponse> { ... }
//! ```
//!
//! A new client-authenticated endpoint (PAR, RFC 9126 §2: "the same client authentication as at
//! the token endpoint") adds a marker type implementing [`Endpoint`] and takes
//! `ClientRequest<ItsMarker>`: the same form rules, the same authentication function, the same
//! audit lines, metrics and rate limits.

use crate::client_auth::{authenticate_request, Authenticated};
use crate::http_error::OAuthResponse;
use crate::state::now_secs;
use crate::state::AppState;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use certbound_core::auth::Listener;
use certbound_core::dpop::{DpopError, DpopProof, ProofExpectations, VerifiedProof};
use certbound_core::form::Form;
use certbound_core::metadata::MTLS_ALIASED;
use certbound_core::{CertificateSource, ClientCertificate, OAuthError};
use certbound_net::client_cert::CertSource;
use certbound_net::ConnectionInfo;
use certbound_store::JtiKind;
use http::HeaderMap;
use std::marker::PhantomData;
use std::net::IpAddr;

/// An endpoint at which clients authenticate: its name in audit lines and metric labels, and its
/// path (which also finds its mTLS alias).
pub trait Endpoint {
    /// The name in audit lines and metrics (`endpoint="token"`).
    const NAME: &'static str;
    /// The route, identical on both listeners.
    const PATH: &'static str;
    /// Whether the endpoint reads a `DPoP` proof (RFC 9449 §5, §10): when server nonces are on,
    /// a proof without an acceptable nonce is answered `use_dpop_nonce` before the client
    /// authenticates, so the retry does not find its client assertion already used.
    const DPOP: bool = false;
}

/// `POST /token` (RFC 6749 §3.2).
pub struct TokenEndpoint;
impl Endpoint for TokenEndpoint {
    const NAME: &'static str = "token";
    const PATH: &'static str = "/token";
    const DPOP: bool = true;
}

/// `POST /introspect` (RFC 7662).
pub struct IntrospectionEndpoint;
impl Endpoint for IntrospectionEndpoint {
    const NAME: &'static str = "introspect";
    const PATH: &'static str = "/introspect";
}

/// `POST /revoke` (RFC 7009).
pub struct RevocationEndpoint;
impl Endpoint for RevocationEndpoint {
    const NAME: &'static str = "revoke";
    const PATH: &'static str = "/revoke";
}

/// `POST /par` (RFC 9126 §2: "the same client authentication as at the token endpoint").
pub struct ParEndpoint;
impl Endpoint for ParEndpoint {
    const NAME: &'static str = "par";
    const PATH: &'static str = "/par";
    const DPOP: bool = true;
}

/// A request to a client-authenticated endpoint, after the form was read and the client
/// authenticated. Extracting it answers every failure itself (the RFC 6749 §5.2 JSON error), so
/// the handler only sees authenticated requests.
pub struct ClientRequest<E> {
    /// The form body (RFC 6749 §3.2: `application/x-www-form-urlencoded`).
    pub form: Form,
    /// Where the request came from.
    pub origin: Origin,
    /// The request headers (`Accept` for introspection, `Authorization` for audit lines).
    pub headers: HeaderMap,
    /// The authenticated client and its registration.
    pub client: Authenticated,
    endpoint: PhantomData<fn() -> E>,
}

/// Why a [`ClientRequest`] could not be extracted.
pub enum Rejection {
    /// The body could not be read: answered exactly as axum's `Bytes` extractor answers.
    Body(BytesRejection),
    /// A bad form or a failed client authentication (already logged, counted and throttled).
    OAuth(OAuthResponse),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Body(r) => r.into_response(),
            Rejection::OAuth(r) => r.into_response(),
        }
    }
}

impl<E: Endpoint> FromRequest<AppState> for ClientRequest<E> {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let origin = Origin::of(
            state,
            req.extensions().get::<ConnectionInfo>(),
            &headers,
            E::PATH,
        );
        // The body is already buffered (and bounded) by `limits::buffer_body`.
        let body = Bytes::from_request(req, state)
            .await
            .map_err(Rejection::Body)?;
        let authenticated = async {
            let form = read_form(&headers, &body)?;
            if E::DPOP {
                require_nonce(state, &headers, "POST", &origin.url)?;
            }
            let client = authenticate_request(state, E::NAME, &headers, &form, &origin).await?;
            Ok::<_, OAuthError>((form, client))
        }
        .await;
        match authenticated {
            Ok((form, client)) => Ok(ClientRequest {
                form,
                origin,
                headers,
                client,
                endpoint: PhantomData,
            }),
            Err(error) => Err(Rejection::OAuth(state.reject(error))),
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2: required for the token,
/// introspection and revocation endpoints).
pub fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    Form::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

/// Where a request came from: its certificate, addresses and listener, gathered once per request
/// for client authentication, token binding and audit lines.
pub struct Origin {
    /// The client certificate (TLS, or a trusted proxy's header), if any.
    pub certificate: Option<ClientCertificate>,
    /// The TCP peer (a proxy's address, behind one); the rate limits are keyed on it.
    pub peer: Option<IpAddr>,
    /// The client's address for audit lines: the peer, or the address a trusted proxy forwarded.
    pub source: String,
    /// Whether the request came to the mTLS listener (`None`: not known).
    on_mtls: Option<bool>,
    /// This endpoint's URL on the mTLS listener, if one is configured.
    mtls_alias: Option<String>,
    /// The public URL of the endpoint the request came to: the configured mTLS URL plus the
    /// path on the mTLS listener (when one is configured), else the issuer plus the path. Never
    /// built from the `Host` header. The `htu` a DPoP proof must name (RFC 9449 §4.3).
    pub url: String,
}

impl Origin {
    /// The origin of a request to the endpoint at `path` (e.g. `/token`).
    pub fn of(
        state: &AppState,
        info: Option<&ConnectionInfo>,
        headers: &HeaderMap,
        path: &str,
    ) -> Self {
        let peer = info.map(|i| i.peer_addr.ip());
        let source = match (info, peer) {
            (Some(info), Some(peer)) => forwarded_client(state, info, headers)
                .unwrap_or(peer)
                .to_string(),
            _ => String::new(),
        };
        let mtls_alias = state
            .config
            .config
            .listen
            .mtls_url
            .as_deref()
            .and_then(|base| {
                MTLS_ALIASED
                    .iter()
                    .find(|(_, aliased)| *aliased == path)
                    .map(|(_, aliased)| format!("{}{aliased}", base.trim_end_matches('/')))
            });
        let on_mtls = info.map(|i| i.listener == "mtls");
        let cfg = &state.config.config;
        let base = match (on_mtls, cfg.listen.mtls_url.as_deref()) {
            (Some(true), Some(mtls)) => mtls,
            _ => cfg.issuer.as_str(),
        };
        let url = format!("{}{path}", base.trim_end_matches('/'));
        Origin {
            certificate: info.and_then(|i| i.client_certificate.clone()),
            peer,
            source,
            on_mtls,
            mtls_alias,
            url,
        }
    }

    /// The listener, for the words of a missing-certificate failure.
    pub fn listener(&self) -> Listener<'_> {
        match self.on_mtls {
            Some(true) => Listener::Mtls,
            Some(false) => Listener::Conventional {
                mtls_alias: self.mtls_alias.as_deref(),
            },
            None => Listener::Unknown,
        }
    }
}

/// The one `DPoP` header of a request, if any (RFC 9449 §4.3 step 1: more than one, or one that
/// is not visible ASCII, is `invalid_dpop_proof`).
pub fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_dpop_proof(
            "exactly one DPoP header is allowed",
        ));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| OAuthError::invalid_dpop_proof("the DPoP proof is not a well-formed JWT"))
}

/// The proof expectations of this server's `[dpop]` configuration for `method` to `htu`, with
/// `ath` when `access_token` is given, and the server's nonces when they are on.
fn expectations<'a>(
    state: &'a AppState,
    algs: &'a [certbound_core::dpop::DpopAlg],
    method: &'a str,
    htu: &'a str,
    access_token: Option<&'a str>,
) -> ProofExpectations<'a> {
    let config = &state.config.config.dpop;
    ProofExpectations {
        htm: method,
        htu,
        access_token,
        nonce: state.dpop_nonces.as_ref(),
        allowed_algs: algs,
        max_age_seconds: i64::from(config.proof_max_age_seconds),
        max_future_seconds: i64::from(config.proof_max_future_seconds),
    }
}

/// The answer to a proof that is good but for its nonce: `use_dpop_nonce` with the current
/// nonce (RFC 9449 §8); any other refusal is `invalid_dpop_proof`.
fn proof_error(state: &AppState, e: DpopError, now: i64) -> OAuthError {
    match (e, state.dpop_nonces.as_ref()) {
        (DpopError::UseNonce, Some(nonces)) => OAuthError::use_dpop_nonce(nonces.issue(now)),
        _ => OAuthError::invalid_dpop_proof(e.description()),
    }
}

/// When server nonces are on and the request's proof is valid but for its nonce: the
/// `use_dpop_nonce` answer, before anything is authenticated, recorded or consumed. Every
/// other case (no proof, a good proof, a bad one) passes, for [`verify_dpop`] to decide after
/// client authentication as before.
fn require_nonce(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    htu: &str,
) -> Result<(), OAuthError> {
    if state.dpop_nonces.is_none() {
        return Ok(());
    }
    let Ok(Some(proof)) = dpop_header(headers) else {
        return Ok(());
    };
    let now = now_secs();
    match DpopProof::verify(
        proof,
        &expectations(state, &state.dpop_algs, method, htu, None),
        now,
    ) {
        Err(e @ DpopError::UseNonce) => Err(proof_error(state, e, now)),
        _ => Ok(()),
    }
}

/// The nonce for a `DPoP-Nonce` header on a successful answer to a request that carried a DPoP
/// proof, when server nonces are on (RFC 9449 §8.2: the server may supply the next nonce with
/// any response). Every response in one rotation window carries the same value.
pub fn fresh_nonce(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let nonces = state.dpop_nonces.as_ref()?;
    headers
        .contains_key("dpop")
        .then(|| nonces.issue(now_secs()))
}

/// Adds `DPoP-Nonce: <nonce>` to `response` when [`fresh_nonce`] gives one.
pub fn with_fresh_nonce(state: &AppState, headers: &HeaderMap, mut response: Response) -> Response {
    if let Some(nonce) = fresh_nonce(state, headers) {
        if let Ok(v) = http::HeaderValue::from_str(&nonce) {
            response.headers_mut().insert("dpop-nonce", v);
        }
    }
    response
}

/// Verifies the request's DPoP proof, if it has one, for `method` to `htu` (the endpoint's
/// public URL, [`Origin::url`]), with `ath` when `access_token` is given, and records its `jti`
/// in the store shared by every instance (a replay is `invalid_dpop_proof`). `Ok(None)`: no
/// `DPoP` header. The algorithms, `iat` window and nonces are the `[dpop]` configuration's; a
/// proof without an acceptable nonce is `use_dpop_nonce` (with the nonce to use) and its `jti`
/// is not recorded.
pub async fn verify_dpop(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
) -> Result<Option<VerifiedProof>, OAuthError> {
    let Some(proof) = dpop_header(headers)? else {
        return Ok(None);
    };
    let expect = expectations(state, &state.dpop_algs, method, htu, access_token);
    let now = now_secs();
    let verified =
        DpopProof::verify(proof, &expect, now).map_err(|e| proof_error(state, e, now))?;
    // The entry must outlive every moment the proof is accepted: until `iat + max_age`.
    let expires_at = verified.iat.saturating_add(expect.max_age_seconds).max(now);
    match state
        .store
        .record_jti(JtiKind::Dpop, &verified.jkt, &verified.jti, expires_at, now)
        .await
    {
        Ok(true) => Ok(Some(verified)),
        Ok(false) => Err(OAuthError::invalid_dpop_proof(
            "the DPoP proof was already used",
        )),
        Err(e) => Err(crate::tokens::store_error(state, "record_jti", e)),
    }
}

/// The client address a trusted proxy forwarded (the last `X-Forwarded-For` entry, which the
/// proxy itself appended), when the peer is one of the listener's trusted proxies. A proxy is
/// recognised as the certificate middleware recognises it: its certificate header was believed,
/// or its address is in `trusted_proxies` (a proxy recognised only by its own TLS certificate is
/// recognised here only when it forwarded a client certificate).
fn forwarded_client(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let policy = if info.listener == "mtls" {
        &state.config.mtls_cert_policy
    } else {
        &state.config.https_cert_policy
    };
    let via_header = info
        .client_certificate
        .as_ref()
        .is_some_and(|c| matches!(c.source(), CertificateSource::ForwardedHeader { .. }));
    let trusted = via_header
        || (policy.source != CertSource::Tls && policy.trusted.trusts(info.peer_addr.ip(), None));
    if !trusted {
        return None;
    }
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn forms_need_the_form_media_type() {
        let ok = read_form(
            &form_headers("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            b"a=1",
        )
        .unwrap();
        assert_eq!(ok.get("a"), Some("1"));
        for ct in ["application/json", "text/plain", ""] {
            let e = read_form(&form_headers(ct), b"a=1").unwrap_err();
            assert_eq!(e.code, certbound_core::OAuthErrorCode::InvalidRequest);
        }
        assert!(read_form(&HeaderMap::new(), b"a=1").is_err());
    }

    #[test]
    fn endpoint_paths_are_the_aliased_ones() {
        for path in [
            TokenEndpoint::PATH,
            IntrospectionEndpoint::PATH,
            RevocationEndpoint::PATH,
            ParEndpoint::PATH,
        ] {
            assert!(MTLS_ALIASED.iter().any(|(_, p)| *p == path), "{path}");
        }
    }
}
