//! Where a request's client certificate comes from: the TLS handshake, or a header set by a
//! trusted TLS-terminating proxy. One policy per listener, applied as a middleware that rewrites
//! [`ConnectionInfo::client_certificate`] before any handler runs, so the AS and the gateway
//! apply the same RFC 8705 checks whichever source delivered the certificate.
//!
//! Fail closed: a certificate header from a peer that is not a trusted proxy is removed, logged
//! and counted, never believed; a malformed header from a trusted proxy is `400
//! invalid_request`. A trusted proxy's own TLS certificate is never used as the client's.

use crate::forwarded::{parse_forwarded, ForwardedCertError, HeaderFormat};
use crate::serve::ConnectionInfo;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use certbound_core::{CertificateSource, ClientCertificate, Thumbprint};
use http::{HeaderName, StatusCode};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Certificate headers removed because the peer was not a trusted proxy, since start (for
/// metrics and tests).
pub static UNTRUSTED_HEADERS_STRIPPED: AtomicU64 = AtomicU64::new(0);

/// `client_cert_source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertSource {
    /// Only the TLS handshake (default); certificate headers are stripped.
    Tls,
    /// Only a header from a trusted proxy.
    Header,
    /// A trusted proxy's header, or the TLS handshake of a client that is not a trusted proxy.
    TlsOrHeader,
}

impl std::str::FromStr for CertSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tls" => Ok(CertSource::Tls),
            "header" => Ok(CertSource::Header),
            "tls-or-header" => Ok(CertSource::TlsOrHeader),
            _ => Err(format!(
                "unknown client_cert_source '{s}'; use tls, header or tls-or-header"
            )),
        }
    }
}

/// The proxies whose certificate headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    /// Peer addresses (CIDR).
    pub networks: Vec<ipnet::IpNet>,
    /// If not empty, the proxy must also present one of these TLS certificates (by `x5t#S256`):
    /// recognised by its key, not only by its address.
    pub thumbprints: Vec<Thumbprint>,
}

impl TrustedProxies {
    /// Whether the TCP peer of a connection is a trusted proxy.
    pub fn trusts(&self, peer: IpAddr, peer_certificate: Option<&ClientCertificate>) -> bool {
        let peer = peer.to_canonical();
        let by_address = self.networks.iter().any(|n| n.contains(&peer));
        if self.thumbprints.is_empty() {
            return by_address;
        }
        let by_key = peer_certificate
            .is_some_and(|c| self.thumbprints.iter().any(|t| t.ct_eq(c.thumbprint())));
        by_key && (self.networks.is_empty() || by_address)
    }
}

/// The certificate policy of one listener.
#[derive(Clone, Debug)]
pub struct ClientCertPolicy {
    /// Where certificates come from.
    pub source: CertSource,
    /// The header format (for `header` and `tls-or-header`).
    pub format: HeaderFormat,
    /// The header name.
    pub header: HeaderName,
    /// Who may set it.
    pub trusted: TrustedProxies,
}

impl ClientCertPolicy {
    /// TLS only: the default.
    pub fn tls_only() -> Self {
        ClientCertPolicy {
            source: CertSource::Tls,
            format: HeaderFormat::Rfc9440,
            header: HeaderName::from_static("client-cert"),
            trusted: TrustedProxies::default(),
        }
    }

    /// The certificate of a request, per this policy; removes the certificate headers from
    /// `headers` in every case (the upstream of a gateway never sees them).
    pub fn resolve(
        &self,
        info: &ConnectionInfo,
        headers: &mut http::HeaderMap,
    ) -> Result<Option<ClientCertificate>, ForwardedCertError> {
        let names = self.format.headers(&self.header);
        let present = names.iter().any(|n| headers.contains_key(n));
        let tls = info.client_certificate.clone();
        let trusted = self.source != CertSource::Tls
            && self.trusted.trusts(info.peer_addr.ip(), tls.as_ref());
        let result = if trusted {
            parse_forwarded(self.format, &self.header, headers).map(|chain| {
                chain.and_then(|c| {
                    ClientCertificate::new(
                        c,
                        CertificateSource::ForwardedHeader {
                            format: self.format.to_string(),
                        },
                    )
                })
            })
        } else {
            if present {
                UNTRUSTED_HEADERS_STRIPPED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    target: "certbound::audit",
                    event = "forwarded_certificate_stripped",
                    listener = info.listener,
                    peer = %info.peer_addr,
                    header = %self.header,
                    "a client-certificate header from a peer that is not a trusted proxy was ignored"
                );
            }
            Ok(match self.source {
                CertSource::Header => None,
                CertSource::Tls | CertSource::TlsOrHeader => tls,
            })
        };
        for n in names {
            headers.remove(n);
        }
        result
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(Arc<ClientCertPolicy>, apply)`.
pub async fn apply(
    State(policy): State<Arc<ClientCertPolicy>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(mut info) = req.extensions().get::<ConnectionInfo>().cloned() else {
        return next.run(req).await;
    };
    match policy.resolve(&info, req.headers_mut()) {
        Ok(cert) => {
            info.client_certificate = cert;
            req.extensions_mut().insert(info);
            next.run(req).await
        }
        Err(e) => {
            tracing::warn!(listener = info.listener, peer = %info.peer_addr, error = %e, "malformed forwarded client certificate from a trusted proxy");
            (
                StatusCode::BAD_REQUEST,
                [(http::header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({"error": "invalid_request", "error_description": "malformed forwarded client certificate"})),
            )
                .into_response()
        }
    }
}
