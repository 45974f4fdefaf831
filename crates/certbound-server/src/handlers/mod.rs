//! Thin HTTP handlers: extract, call one function, map the result.

pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;

use crate::state::AppState;
use certbound_core::auth::Listener;
use certbound_core::form::Form;
use certbound_core::metadata::MTLS_ALIASED;
use certbound_core::{CertificateSource, ClientCertificate, OAuthError};
use certbound_net::client_cert::CertSource;
use certbound_net::ConnectionInfo;
use http::HeaderMap;
use std::net::IpAddr;

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
pub struct Origin<'a> {
    /// The client certificate (TLS, or a trusted proxy's header), if any.
    pub certificate: Option<&'a ClientCertificate>,
    /// The TCP peer (a proxy's address, behind one); the rate limits are keyed on it.
    pub peer: Option<IpAddr>,
    /// The client's address for audit lines: the peer, or the address a trusted proxy forwarded.
    pub source: String,
    /// Whether the request came to the mTLS listener (`None`: not known).
    on_mtls: Option<bool>,
    /// This endpoint's URL on the mTLS listener, if one is configured.
    mtls_alias: Option<String>,
}

impl<'a> Origin<'a> {
    /// The origin of a request to `endpoint` (`token`, `introspect` or `revoke`).
    pub fn of(
        state: &AppState,
        conn: &'a Option<axum::Extension<ConnectionInfo>>,
        headers: &HeaderMap,
        endpoint: &str,
    ) -> Self {
        let info = conn.as_ref().map(|c| &c.0);
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
                    .find(|(_, path)| path.strip_prefix('/') == Some(endpoint))
                    .map(|(_, path)| format!("{}{path}", base.trim_end_matches('/')))
            });
        Origin {
            certificate: info.and_then(|i| i.client_certificate.as_ref()),
            peer,
            source,
            on_mtls: info.map(|i| i.listener == "mtls"),
            mtls_alias,
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
