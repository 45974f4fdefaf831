//! Certificate signing requests (PKCS#10, RFC 2986): how a partner obtains a client certificate
//! from the bank's CA without the bank ever holding the partner's private key.
//!
//! [`CertificateRequest::from_pem`] parses the request and verifies its signature (proof that the
//! requester holds the key). What gets issued is decided by the CA operator: the subject is the
//! request's, byte for byte; the requested subjectAltNames are kept; the usage is always a client
//! certificate (clientAuth, not a CA), whatever the request asks for.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::key::KeyAlgorithm;
use crate::PkiError;

/// A parsed and verified certificate signing request.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    key_algorithm: Option<KeyAlgorithm>,
    /// Requested DNS subjectAltNames.
    pub san_dns: Vec<String>,
    /// Requested URI subjectAltNames.
    pub san_uri: Vec<String>,
    /// Requested IP address subjectAltNames.
    pub san_ip: Vec<IpAddr>,
    /// Requested email (rfc822Name) subjectAltNames.
    pub san_email: Vec<String>,
}

impl CertificateRequest {
    /// Parses a PEM `CERTIFICATE REQUEST` (also the legacy `NEW CERTIFICATE REQUEST` label).
    pub fn from_pem(text: &str) -> Result<Self, PkiError> {
        let block = pem::parse(text).map_err(|e| PkiError::Pem(e.to_string()))?;
        match block.tag() {
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Self::from_der(block.contents()),
            other => Err(PkiError::Pem(format!(
                "expected a \"CERTIFICATE REQUEST\" block (openssl req -new), found \"{other}\""
            ))),
        }
    }

    /// Parses a DER request and verifies its signature with the key it carries.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let bad = |why: String| PkiError::Certificate(format!("certificate request: {why}"));
        let (rest, csr) = X509CertificationRequest::from_der(der)
            .map_err(|e| bad(format!("not a PKCS#10 request: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing data after the request".into()));
        }
        csr.verify_signature().map_err(|_| {
            bad(
                "its signature does not verify: it was not signed with the key it carries \
                 (or it was altered)"
                    .into(),
            )
        })?;
        let info = &csr.certification_request_info;
        let spki_der = info.subject_pki.raw.to_vec();
        let mut request = CertificateRequest {
            subject_der: info.subject.as_raw().to_vec(),
            key_algorithm: crate::cert::spki_algorithm(&spki_der),
            spki_der,
            san_dns: Vec::new(),
            san_uri: Vec::new(),
            san_ip: Vec::new(),
            san_email: Vec::new(),
        };
        for ext in csr.requested_extensions().into_iter().flatten() {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        request.add_san(name).map_err(bad)?;
                    }
                }
                ParsedExtension::BasicConstraints(bc) if bc.ca => {
                    return Err(bad(
                        "it asks for a CA certificate (basicConstraints CA:TRUE); only client \
                         certificates are issued"
                            .into(),
                    ))
                }
                // Key usage, extended key usage and the rest are the CA's decision, not the
                // requester's: a client certificate gets digitalSignature and clientAuth.
                _ => {}
            }
        }
        Ok(request)
    }

    fn add_san(&mut self, name: &GeneralName<'_>) -> Result<(), String> {
        match name {
            GeneralName::DNSName(d) => self.san_dns.push((*d).to_owned()),
            GeneralName::URI(u) => self.san_uri.push((*u).to_owned()),
            GeneralName::RFC822Name(e) => self.san_email.push((*e).to_owned()),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).map_err(|_| "bad IP")?),
                    16 => IpAddr::from(<[u8; 16]>::try_from(*bytes).map_err(|_| "bad IP")?),
                    n => return Err(format!("an IP address subjectAltName of {n} bytes")),
                };
                self.san_ip.push(ip);
            }
            other => {
                return Err(format!(
                    "a subjectAltName of a kind that is not issued here ({}); use DNS, URI, IP or \
                     email names",
                    general_name_kind(other)
                ))
            }
        }
        Ok(())
    }

    /// The subject name as the request encodes it (DER `Name`).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The subject, RFC 4514 (what to register as `tls_client_auth_subject_dn`).
    pub fn subject_rfc4514(&self) -> Result<String, PkiError> {
        crate::name::rfc4514(&self.subject_der)
    }

    /// The requester's public key (DER SubjectPublicKeyInfo).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's family, if it is one this crate knows.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        self.key_algorithm
    }
}

fn general_name_kind(name: &GeneralName<'_>) -> &'static str {
    match name {
        GeneralName::OtherName(..) => "otherName",
        GeneralName::X400Address(_) => "x400Address",
        GeneralName::DirectoryName(_) => "directoryName",
        GeneralName::EDIPartyName(_) => "ediPartyName",
        GeneralName::RegisteredID(_) => "registeredID",
        _ => "unknown",
    }
}
