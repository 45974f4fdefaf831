//! Client certificates forwarded in a header by a TLS-terminating proxy (nginx, Envoy, HAProxy,
//! Traefik, AWS ALB, or RFC 9440), parsed to the exact DER the proxy received.
//!
//! Parsing is strict and bounded: a header that does not decode to certificates is an error (the
//! caller answers `400 invalid_request` when it came from a trusted proxy), never a panic and never
//! a silently different certificate. Only the certificate itself is read: descriptive fields a
//! proxy may add (Envoy's `Hash`, `Subject`, `URI`; ALB's `-Subject` headers) are never trusted,
//! and the thumbprint is computed from the DER bytes decoded here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, HeaderName};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::fmt;
use std::str::FromStr;

/// The largest header value accepted (a chain of a few certificates fits easily).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most certificates accepted in one forwarded chain.
pub const MAX_CHAIN: usize = 10;

/// How a proxy encodes the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFormat {
    /// RFC 9440: `Client-Cert: :<base64 DER>:` and `Client-Cert-Chain: :<b64>:, :<b64>:`.
    Rfc9440,
    /// nginx `$ssl_client_escaped_cert`: URL-encoded PEM of the leaf.
    Nginx,
    /// Envoy `x-forwarded-client-cert`: `Cert="<URL-encoded PEM>"` and `Chain="..."` in the element
    /// appended by the nearest proxy (the last one).
    EnvoyXfcc,
    /// AWS ALB `X-Amzn-Mtls-Clientcert`: URL-encoded PEM that leaves `+`, `=` and `/` unescaped.
    AwsAlb,
    /// Traefik `X-Forwarded-Tls-Client-Cert`: base64 DER (PEM body), comma-separated chain.
    Traefik,
    /// HAProxy `%[ssl_c_der,base64]` in a configurable header.
    Haproxy,
}

impl HeaderFormat {
    /// Every format, for messages.
    pub const ALL: [HeaderFormat; 6] = [
        HeaderFormat::Rfc9440,
        HeaderFormat::Nginx,
        HeaderFormat::EnvoyXfcc,
        HeaderFormat::AwsAlb,
        HeaderFormat::Traefik,
        HeaderFormat::Haproxy,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderFormat::Rfc9440 => "rfc9440",
            HeaderFormat::Nginx => "nginx",
            HeaderFormat::EnvoyXfcc => "envoy-xfcc",
            HeaderFormat::AwsAlb => "aws-alb",
            HeaderFormat::Traefik => "traefik",
            HeaderFormat::Haproxy => "haproxy",
        }
    }

    /// The header the format uses unless configured otherwise.
    pub fn default_header(self) -> &'static str {
        match self {
            HeaderFormat::Rfc9440 => "client-cert",
            HeaderFormat::Nginx => "x-ssl-client-cert",
            HeaderFormat::EnvoyXfcc => "x-forwarded-client-cert",
            HeaderFormat::AwsAlb => "x-amzn-mtls-clientcert",
            HeaderFormat::Traefik => "x-forwarded-tls-client-cert",
            HeaderFormat::Haproxy => "x-ssl-client-cert",
        }
    }

    /// Every header this format may carry certificate data in (the configured one, plus the
    /// chain header of RFC 9440), so they can all be stripped from untrusted requests.
    pub fn headers(self, configured: &HeaderName) -> Vec<HeaderName> {
        let mut h = vec![configured.clone()];
        if self == HeaderFormat::Rfc9440 {
            h.push(HeaderName::from_static("client-cert-chain"));
        }
        h
    }
}

impl fmt::Display for HeaderFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HeaderFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeaderFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown client_cert_header_format '{s}'; use one of: {}",
                    HeaderFormat::ALL.map(HeaderFormat::as_str).join(", ")
                )
            })
    }
}

/// Why a forwarded certificate header was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForwardedCertError {
    /// The header appears more than once (or combined with commas where the format forbids it).
    #[error("the {0} header appears more than once")]
    Duplicate(String),
    /// Over [`MAX_HEADER_BYTES`] or [`MAX_CHAIN`].
    #[error("the {0} header is too large")]
    TooLarge(String),
    /// The header value is not visible ASCII.
    #[error("the {0} header is not visible ASCII")]
    NotAscii(String),
    /// It does not decode to DER certificates in the configured format.
    #[error("the {header} header is not a certificate in {format} format: {reason}")]
    Malformed {
        /// The header.
        header: String,
        /// The configured format.
        format: HeaderFormat,
        /// What failed.
        reason: String,
    },
}

/// Reads the forwarded certificate chain (leaf first) from `headers`. `Ok(None)` when the proxy
/// says there is no certificate (header absent, empty, or Apache's `(null)`).
pub fn parse_forwarded(
    format: HeaderFormat,
    header: &HeaderName,
    headers: &HeaderMap,
) -> Result<Option<Vec<CertificateDer<'static>>>, ForwardedCertError> {
    let Some(value) = single(headers, header)? else {
        return Ok(None);
    };
    let bad = |reason: &str| ForwardedCertError::Malformed {
        header: header.to_string(),
        format,
        reason: reason.to_owned(),
    };
    let chain = match format {
        HeaderFormat::Rfc9440 => {
            let mut chain = vec![sf_binary(value).ok_or_else(|| bad("expected :base64:"))?];
            if let Some(rest) = single(headers, &HeaderName::from_static("client-cert-chain"))? {
                for item in rest.split(',') {
                    chain.push(
                        sf_binary(item.trim())
                            .ok_or_else(|| bad("Client-Cert-Chain: expected :base64: items"))?,
                    );
                }
            }
            chain
        }
        HeaderFormat::Nginx => {
            pem_chain(&percent_decode(value).ok_or_else(|| bad("bad URL encoding"))?)
                .ok_or_else(|| bad("no PEM certificate"))?
        }
        HeaderFormat::AwsAlb => {
            pem_chain(&percent_decode(value).ok_or_else(|| bad("bad URL encoding"))?)
                .ok_or_else(|| bad("no PEM certificate"))?
        }
        HeaderFormat::EnvoyXfcc => xfcc(value).map_err(|r| bad(&r))?,
        HeaderFormat::Traefik => {
            let decoded = percent_decode(value).ok_or_else(|| bad("bad URL encoding"))?;
            decoded
                .split(',')
                .map(|item| der_from_base64(item.trim()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("expected base64 DER, comma-separated"))?
        }
        HeaderFormat::Haproxy => {
            vec![der_from_base64(value).ok_or_else(|| bad("expected base64 DER"))?]
        }
    };
    if chain.len() > MAX_CHAIN {
        return Err(ForwardedCertError::TooLarge(header.to_string()));
    }
    for der in &chain {
        webpki::EndEntityCert::try_from(der)
            .map_err(|_| bad("the DER is not an X.509 certificate"))?;
    }
    Ok(Some(chain))
}

/// The one value of a header: absent → `None`; empty or `(null)` → `None`; twice → error.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a str>, ForwardedCertError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ForwardedCertError::Duplicate(name.to_string()));
    }
    if first.len() > MAX_HEADER_BYTES {
        return Err(ForwardedCertError::TooLarge(name.to_string()));
    }
    let value = first
        .to_str()
        .map_err(|_| ForwardedCertError::NotAscii(name.to_string()))?;
    let value = value.trim();
    if value.is_empty() || value == "(null)" || value == "-" {
        return Ok(None);
    }
    Ok(Some(value))
}

/// An RFC 8941 byte sequence `:base64:`.
fn sf_binary(item: &str) -> Option<CertificateDer<'static>> {
    let inner = item.strip_prefix(':')?.strip_suffix(':')?;
    der_from_base64(inner)
}

fn der_from_base64(s: &str) -> Option<CertificateDer<'static>> {
    if s.is_empty() {
        return None;
    }
    STANDARD
        .decode(s)
        .ok()
        .filter(|d| !d.is_empty())
        .map(CertificateDer::from)
}

/// Percent-decoding without treating `+` as a space (nginx escapes `+`; ALB leaves it raw, and it
/// is base64, not a space).
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Every CERTIFICATE block of a PEM text, in order. Proxies mangle whitespace (Apache replaces
/// newlines with spaces), so the base64 body is read with all whitespace removed.
fn pem_chain(text: &str) -> Option<Vec<CertificateDer<'static>>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END)?;
        let body: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(CertificateDer::from(STANDARD.decode(body).ok()?));
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        // Maybe a well-formed PEM with an unusual label layout: let the PEM parser try.
        let certs: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .ok()?;
        if certs.is_empty() {
            return None;
        }
        return Some(certs);
    }
    Some(out)
}

/// Splits on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// Envoy's XFCC: the **last** element is the one the nearest proxy (the trusted one talking to
/// certbound) appended; earlier elements were written by hops further away and are ignored.
fn xfcc(value: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let elements = split_unquoted(value, ',');
    let last = elements.last().map(|e| e.trim()).unwrap_or("");
    let (mut cert, mut chain) = (None, None);
    for pair in split_unquoted(last, ';') {
        let Some((k, v)) = pair.split_once('=') else {
            return Err("expected key=value pairs".into());
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "cert" => cert = Some(unquote(v)),
            "chain" => chain = Some(unquote(v)),
            _ => {} // By, Hash, Subject, URI, DNS: descriptive, never trusted.
        }
    }
    let decode = |v: &str| percent_decode(v).and_then(|pem| pem_chain(&pem));
    match (cert, chain) {
        (_, Some(chain)) => decode(&chain).ok_or_else(|| "Chain is not URL-encoded PEM".to_owned()),
        (Some(cert), None) => decode(&cert).ok_or_else(|| "Cert is not URL-encoded PEM".to_owned()),
        (None, None) => Err("the last element has no Cert or Chain".into()),
    }
}
