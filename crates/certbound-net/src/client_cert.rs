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

/// The `[client_cert.<listener>]` table of the `serve` and `gateway` configurations.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    /// `tls` (default), `header` or `tls-or-header`.
    #[serde(default)]
    pub client_cert_source: Option<String>,
    /// `rfc9440`, `nginx`, `envoy-xfcc`, `aws-alb`, `traefik` or `haproxy`.
    #[serde(default)]
    pub client_cert_header_format: Option<String>,
    /// The header name, when not the format's default.
    #[serde(default)]
    pub client_cert_header: Option<String>,
    /// CIDRs (or single addresses) of the proxies whose header is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `x5t#S256` of the proxies' own TLS client certificates; when set, a proxy must present one.
    #[serde(default)]
    pub trusted_proxy_thumbprints: Vec<String>,
}

impl ClientCertConfig {
    /// Validates the table into a policy. `requests_certificates` says whether the listener asks
    /// for client certificates at all (thumbprint trust needs it). Errors name the key and the fix.
    pub fn to_policy(
        &self,
        requests_certificates: bool,
    ) -> Result<ClientCertPolicy, (&'static str, String)> {
        let source: CertSource = self
            .client_cert_source
            .as_deref()
            .unwrap_or("tls")
            .parse()
            .map_err(|e| ("client_cert_source", e))?;
        let format: HeaderFormat = match (&self.client_cert_header_format, source) {
            (Some(f), _) => f.parse().map_err(|e| ("client_cert_header_format", e))?,
            (None, CertSource::Tls) => HeaderFormat::Rfc9440,
            (None, _) => {
                return Err((
                    "client_cert_header_format",
                    "set the proxy's header format: rfc9440, nginx, envoy-xfcc, aws-alb, traefik or haproxy".into(),
                ))
            }
        };
        let header_name = self
            .client_cert_header
            .as_deref()
            .unwrap_or(format.default_header());
        let header =
            HeaderName::from_bytes(header_name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                (
                    "client_cert_header",
                    format!("'{header_name}' is not a header name"),
                )
            })?;
        let mut networks = Vec::new();
        for p in &self.trusted_proxies {
            let net = p
                .parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    (
                        "trusted_proxies",
                        format!("'{p}' is not an address or CIDR (e.g. \"10.0.0.0/8\")"),
                    )
                })?;
            networks.push(net);
        }
        let mut thumbprints = Vec::new();
        for t in &self.trusted_proxy_thumbprints {
            if t.len() != 43
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(("trusted_proxy_thumbprints", format!("'{t}' is not an x5t#S256 (43 base64url characters; `certbound pki thumbprint proxy.pem`)")));
            }
            thumbprints.push(Thumbprint::from_claim(t));
        }
        if !thumbprints.is_empty() && !requests_certificates {
            return Err(("trusted_proxy_thumbprints", "this listener requests no client certificate, so a proxy cannot be recognised by one; use trusted_proxies, or put the proxy on a listener that requests certificates".into()));
        }
        if source != CertSource::Tls && networks.is_empty() && thumbprints.is_empty() {
            return Err(("trusted_proxies", "a header source needs trusted_proxies and/or trusted_proxy_thumbprints: otherwise no header is ever believed".into()));
        }
        Ok(ClientCertPolicy {
            source,
            format,
            header,
            trusted: TrustedProxies {
                networks,
                thumbprints,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let ok = ClientCertConfig {
            client_cert_source: Some("tls-or-header".into()),
            client_cert_header_format: Some("nginx".into()),
            client_cert_header: Some("X-SSL-Client-Cert".into()),
            trusted_proxies: vec!["10.0.0.0/8".into(), "127.0.0.1".into()],
            trusted_proxy_thumbprints: vec![],
        };
        let p = ok.to_policy(false).unwrap();
        assert_eq!(p.source, CertSource::TlsOrHeader);
        assert_eq!(p.header.as_str(), "x-ssl-client-cert");
        assert_eq!(
            ClientCertConfig::default().to_policy(false).unwrap().source,
            CertSource::Tls
        );
        let err = |c: ClientCertConfig, rc: bool| c.to_policy(rc).unwrap_err().0;
        assert_eq!(
            err(
                ClientCertConfig {
                    client_cert_source: Some("proxy".into()),
                    ..Default::default()
                },
                true
            ),
            "client_cert_source"
        );
        assert_eq!(
            err(
                ClientCertConfig {
                    client_cert_source: Some("header".into()),
                    ..Default::default()
                },
                true
            ),
            "client_cert_header_format"
        );
        assert_eq!(
            err(
                ClientCertConfig {
                    trusted_proxies: vec![],
                    ..ok.clone()
                },
                true
            ),
            "trusted_proxies"
        );
        assert_eq!(
            err(
                ClientCertConfig {
                    trusted_proxies: vec!["10.0.0.0/33".into()],
                    ..ok.clone()
                },
                true
            ),
            "trusted_proxies"
        );
        assert_eq!(
            err(
                ClientCertConfig {
                    trusted_proxy_thumbprints: vec!["short".into()],
                    ..ok.clone()
                },
                true
            ),
            "trusted_proxy_thumbprints"
        );
        let thumb = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0".to_owned();
        assert_eq!(
            err(
                ClientCertConfig {
                    trusted_proxy_thumbprints: vec![thumb.clone()],
                    ..ok.clone()
                },
                false
            ),
            "trusted_proxy_thumbprints"
        );
        assert!(ClientCertConfig {
            trusted_proxy_thumbprints: vec![thumb],
            ..ok
        }
        .to_policy(true)
        .is_ok());
    }
}
