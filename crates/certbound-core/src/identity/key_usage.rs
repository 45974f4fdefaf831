//! Whether a client certificate's key may sign a TLS handshake: the keyUsage extension
//! (RFC 5280 §4.2.1.3).
//!
//! A TLS client proves possession of its key by signing the handshake (CertificateVerify), so its
//! certificate must either carry no keyUsage extension or assert `digitalSignature` in it. A
//! certificate whose keyUsage is only `keyEncipherment`, or only `keyCertSign` (a CA certificate),
//! was issued for something else; OpenSSL refuses it as a TLS client certificate and so does
//! certbound, at the handshake ([`signing_usage_of_der`], used by the listeners' verifiers) and in
//! client authentication for certificates forwarded by a trusted proxy.

use const_oid::AssociatedOid;
use der::Decode;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

/// What the keyUsage extension allows for a handshake signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningUsage {
    /// No keyUsage extension: the key's use is not restricted.
    Unrestricted,
    /// keyUsage asserts digitalSignature.
    Allowed,
    /// keyUsage is present without digitalSignature (or cannot be read); the words say what it
    /// asserts, for a decision trace.
    Forbidden(String),
}

impl SigningUsage {
    /// Whether the key may sign a TLS handshake.
    pub fn allows_signing(&self) -> bool {
        !matches!(self, SigningUsage::Forbidden(_))
    }
}

/// The keyUsage verdict for a parsed certificate. More than one keyUsage extension (RFC 5280
/// §4.2 forbids it) or one that does not decode is [`SigningUsage::Forbidden`]: fail closed.
pub fn signing_usage(cert: &x509_cert::Certificate) -> SigningUsage {
    let mut found = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == KeyUsage::OID);
    let Some(ext) = found.next() else {
        return SigningUsage::Unrestricted;
    };
    if found.next().is_some() {
        return SigningUsage::Forbidden(
            "the certificate carries more than one keyUsage extension".into(),
        );
    }
    match KeyUsage::from_der(ext.extn_value.as_bytes()) {
        Ok(ku) if ku.digital_signature() => SigningUsage::Allowed,
        Ok(ku) => SigningUsage::Forbidden(format!(
            "its keyUsage ({}) lacks digitalSignature, so its key may not sign a TLS handshake (RFC 5280 §4.2.1.3)",
            describe(&ku)
        )),
        Err(e) => SigningUsage::Forbidden(format!("its keyUsage extension cannot be read: {e}")),
    }
}

/// [`signing_usage`] of a DER certificate; a certificate that does not parse is
/// [`SigningUsage::Forbidden`].
pub fn signing_usage_of_der(der: &[u8]) -> SigningUsage {
    match x509_cert::Certificate::from_der(der) {
        Ok(cert) => signing_usage(&cert),
        Err(e) => SigningUsage::Forbidden(format!("the certificate cannot be parsed: {e}")),
    }
}

/// The asserted bits in RFC 5280's names, e.g. `keyEncipherment, keyAgreement`.
fn describe(ku: &KeyUsage) -> String {
    const NAMES: [(KeyUsages, &str); 9] = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| ku.0.contains(*bit))
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "no bits".to_owned()
    } else {
        names.join(", ")
    }
}
