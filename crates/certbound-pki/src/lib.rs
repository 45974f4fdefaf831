//! A development PKI for certbound: root and intermediate CAs, server and client certificates,
//! self-signed client certificates, PKCS#12 bundles and JWKs with `x5c`.
//!
//! Every black-box test in the project generates its own PKI in memory with this crate, and
//! `certbound pki` writes one to disk ([`dir`]). The output is meant to be accepted by the tools
//! partners use: OpenSSL 3 (`verify`, `pkcs12` without `-legacy`), curl (`--cert-type P12`),
//! rustls/webpki and jsonwebtoken. Keys are ECDSA P-256 (default), Ed25519 or RSA-2048, always
//! written as PKCS#8 v1 (`BEGIN PRIVATE KEY`), since OpenSSL 3.0 and jsonwebtoken reject v2
//! Ed25519 keys. All crypto is aws-lc-rs.
//!
//! ```
//! use certbound_pki::{CertificateAuthority, KeyAlgorithm, LeafSpec, SubjectSpec};
//! # fn main() -> Result<(), certbound_pki::PkiError> {
//! let ca = CertificateAuthority::generate(&SubjectSpec::cn_o("Test CA", "Example"), KeyAlgorithm::default())?;
//! let server = ca.issue(&LeafSpec::server(&["localhost"], &["127.0.0.1".parse().unwrap()]))?;
//! let client = ca.issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).with_dns("a.example"))?;
//! assert_eq!(client.subject_rfc4514()?, "CN=partner-a,O=Example");
//!
//! // The rogue-CA twin: same subject, issuer name and serial, signed by another key.
//! let rogue = ca.impostor(KeyAlgorithm::default())?;
//! let twin = rogue.issue(&LeafSpec::copy_of(&client.cert_der)?)?;
//! assert_eq!((twin.subject_der(), twin.issuer_der(), twin.serial()),
//!            (client.subject_der(), client.issuer_der(), client.serial()));
//! assert_ne!(twin.thumbprint(), client.thumbprint());
//! # let _ = server;
//! # Ok(()) }
//! ```
//!
//! Names are given in certificate (ASN.1) order, C first and CN last; RFC 4514 strings show them
//! reversed. See [`SubjectSpec`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cert;
mod csr;
mod der;
pub mod dir;
mod jwk;
mod key;
mod name;

use std::path::PathBuf;

pub use cert::{
    parse_certificates_pem, self_signed, CertUsage, CertificateAuthority, IssuedCertificate,
    LeafSpec,
};
pub use csr::CertificateRequest;
pub use jwk::{jwk_for_certificate, jwk_for_chain, jwks};
pub use key::KeyAlgorithm;
pub use name::{rfc4514, AttributeType, DnAttribute, StringKind, SubjectSpec};
/// keyUsage bits for [`LeafSpec::key_usages`].
pub use rcgen::KeyUsagePurpose;

/// The `x5t#S256` of a DER certificate (re-exported so users need not depend on the core).
pub use certbound_core::Thumbprint;
/// The `time` crate, for [`LeafSpec`] validity periods (`time::OffsetDateTime`, `time::Duration`).
pub use time;

/// Why a PKI operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen refused to build a certificate.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The crypto provider could not generate a key or random serial.
    #[error("could not generate {0}")]
    KeyGeneration(&'static str),
    /// A name attribute's value does not fit the string type chosen for it.
    #[error("{attribute}={value:?} cannot be encoded as a {kind}; choose another StringKind")]
    InvalidString {
        /// The attribute (short name or OID).
        attribute: String,
        /// The value.
        value: String,
        /// The ASN.1 string type.
        kind: &'static str,
    },
    /// A distinguished name is malformed or not representable.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// An OID is not valid.
    #[error("invalid object identifier {0:?}")]
    InvalidOid(String),
    /// Malformed DER.
    #[error("malformed DER: {0}")]
    Der(String),
    /// A certificate could not be parsed or is not usable as asked.
    #[error("certificate: {0}")]
    Certificate(String),
    /// PEM text could not be parsed or holds no certificate.
    #[error("PEM: {0}")]
    Pem(String),
    /// A private key could not be parsed or is of an unsupported type.
    #[error("private key: {0}")]
    InvalidKey(String),
    /// A CA certificate and the key given with it do not belong together.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// A public key type that cannot be expressed as a JWK here.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// A certificate spec that cannot be issued.
    #[error("invalid certificate spec: {0}")]
    InvalidSpec(String),
    /// The PKCS#12 writer failed.
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// A common name that cannot be used as a file name.
    #[error("cannot use {0:?} as a file name")]
    InvalidFileName(String),
    /// The CA exists and replacing it was not asked for.
    #[error("{0} already exists; refusing to replace the CA (use --force to replace it and invalidate every certificate it issued)")]
    AlreadyExists(PathBuf),
    /// A certificate or key file exists and replacing it was not asked for.
    #[error("{0} already exists; refusing to overwrite it (use --force to replace it)")]
    FileExists(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's content is invalid.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<PkiError>,
    },
}
