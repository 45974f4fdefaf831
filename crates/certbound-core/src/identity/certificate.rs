//! The client certificate presented on a request, wherever it came from.

use super::dn::DistinguishedName;
use super::san::PresentedSan;
use super::thumbprint::Thumbprint;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::fmt;
use std::sync::Arc;

/// Where a client certificate came from. Logged and audited with every decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// The TLS handshake on this connection; rustls verified proof of possession of the key.
    Tls,
    /// A header set by a configured trusted proxy that terminated TLS (the proxy proved possession).
    ForwardedHeader {
        /// The header format, e.g. `rfc9440` or `nginx`.
        format: String,
    },
}

impl fmt::Display for CertificateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateSource::Tls => f.write_str("tls"),
            CertificateSource::ForwardedHeader { format } => write!(f, "header:{format}"),
        }
    }
}

/// A presented client certificate chain, parsed once (per connection for TLS) and shared by every
/// request on it.
///
/// `chain[0]` is the end-entity certificate, byte for byte as presented: the thumbprint is computed
/// over exactly those bytes, never over a re-encoding.
#[derive(Clone)]
pub struct ClientCertificate {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Vec<CertificateDer<'static>>,
    thumbprint: Thumbprint,
    source: CertificateSource,
    parsed: Result<ParsedLeaf, String>,
    chain_memo: std::sync::Mutex<Option<ChainMemo>>,
}

/// A successful chain validation, remembered for the connection.
#[derive(Clone, Debug)]
pub struct ChainMemo {
    /// The trust-anchor set it was validated against.
    anchors_id: u64,
    /// The validity window shared by the leaf and every intermediate of the path (epoch seconds).
    not_before: u64,
    not_after: u64,
    /// For the decision trace.
    pub anchor: String,
    /// For the decision trace.
    pub intermediates: usize,
}

/// The fields of the end-entity certificate that client authentication looks at.
#[derive(Clone, Debug)]
pub struct ParsedLeaf {
    /// The subject, parsed from DER (never from a string).
    pub subject: DistinguishedName,
    /// The subject alternative names of the kinds RFC 8705 §2.1.2 can register.
    pub sans: Vec<PresentedSan>,
    /// notBefore, in seconds since the Unix epoch.
    pub not_before: u64,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: u64,
    /// What the keyUsage extension allows for a handshake signature.
    pub signing_usage: super::key_usage::SigningUsage,
    /// Whether the issuer name is the subject name, byte for byte (RFC 5280 §3: a self-issued
    /// certificate; a self-signed one is self-issued and signed by its own key).
    pub self_issued: bool,
}

impl ClientCertificate {
    /// Takes a presented chain (leaf first) and records where it came from. Returns `None` for an
    /// empty chain. A leaf that cannot be parsed is kept (its thumbprint still identifies it) and
    /// makes every subject-based check fail with the parse error in the decision trace.
    pub fn new(chain: Vec<CertificateDer<'static>>, source: CertificateSource) -> Option<Self> {
        let leaf = chain.first()?;
        let thumbprint = Thumbprint::of_der(leaf.as_ref());
        let parsed = parse_leaf(leaf.as_ref());
        Some(ClientCertificate {
            inner: Arc::new(Inner {
                chain,
                thumbprint,
                source,
                parsed,
                chain_memo: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The end-entity certificate, as presented.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.inner.chain[0]
    }

    /// The intermediates the client sent after its leaf (possibly none).
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.inner.chain[1..]
    }

    /// `x5t#S256` of the leaf.
    pub fn thumbprint(&self) -> &Thumbprint {
        &self.inner.thumbprint
    }

    /// Where the certificate came from.
    pub fn source(&self) -> &CertificateSource {
        &self.inner.source
    }

    /// The parsed leaf, or why it could not be parsed.
    pub fn parsed(&self) -> Result<&ParsedLeaf, &str> {
        self.inner.parsed.as_ref().map_err(String::as_str)
    }

    /// A remembered chain validation against anchor set `anchors_id` that still holds at `now`.
    pub fn chain_memo(&self, anchors_id: u64, now: u64) -> Option<ChainMemo> {
        let memo = self
            .inner
            .chain_memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        (memo.anchors_id == anchors_id && memo.not_before <= now && now <= memo.not_after)
            .then_some(memo)
    }

    /// Remembers that the chain validated against anchor set `anchors_id` through these
    /// intermediates (DER). The window is the intersection of the leaf's and the intermediates'
    /// validity periods; an intermediate that cannot be read leaves nothing remembered.
    pub fn remember_chain(&self, anchors_id: u64, intermediates: &[&[u8]], anchor: String) {
        use der::Decode;
        let Ok(leaf) = self.parsed() else { return };
        let (mut not_before, mut not_after) = (leaf.not_before, leaf.not_after);
        for der in intermediates {
            let Ok(c) = x509_cert::Certificate::from_der(der) else {
                return;
            };
            let v = &c.tbs_certificate.validity;
            not_before = not_before.max(v.not_before.to_unix_duration().as_secs());
            not_after = not_after.min(v.not_after.to_unix_duration().as_secs());
        }
        *self
            .inner
            .chain_memo
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(ChainMemo {
            anchors_id,
            not_before,
            not_after,
            anchor,
            intermediates: intermediates.len(),
        });
    }

    /// The leaf's issuer name, decoded on demand (for explanations, never for a decision).
    pub fn issuer(&self) -> Option<DistinguishedName> {
        use der::Decode;
        let cert = x509_cert::Certificate::from_der(self.leaf().as_ref()).ok()?;
        DistinguishedName::from_name(&cert.tbs_certificate.issuer).ok()
    }

    /// Whether `now` lies within the leaf's validity period.
    pub fn is_valid_at(&self, now: UnixTime) -> bool {
        match self.parsed() {
            Ok(p) => p.not_before <= now.as_secs() && now.as_secs() <= p.not_after,
            Err(_) => false,
        }
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.inner.thumbprint)
            .field("source", &self.inner.source)
            .field("chain_len", &self.inner.chain.len())
            .finish()
    }
}

fn parse_leaf(der: &[u8]) -> Result<ParsedLeaf, String> {
    use der::Decode;
    let cert =
        x509_cert::Certificate::from_der(der).map_err(|e| format!("certificate DER: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let subject =
        DistinguishedName::from_name(&tbs.subject).map_err(|e| format!("subject: {e}"))?;
    let sans = super::san::presented_sans(&cert).map_err(|e| format!("subjectAltName: {e}"))?;
    Ok(ParsedLeaf {
        subject,
        sans,
        not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        signing_usage: super::key_usage::signing_usage(&cert),
        self_issued: tbs.issuer == tbs.subject,
    })
}
