//! Certificate authorities and the certificates they issue.

use std::fmt;
use std::net::IpAddr;

use certbound_core::Thumbprint;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::der::{self, Tlv};
use crate::key::{self, KeyAlgorithm};
use crate::name::{self, SubjectSpec};
use crate::PkiError;

/// What a leaf certificate is for: its extended key usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CertUsage {
    /// TLS client authentication (`id-kp-clientAuth`): partner clients of the AS and gateway.
    #[default]
    Client,
    /// TLS server authentication (`id-kp-serverAuth`): the AS, the gateway, test upstreams.
    Server,
}

/// Everything about a leaf certificate a test may want to choose.
///
/// Fields are public; the `with_*` methods exist so a test can write one expression, starting from
/// [`LeafSpec::client`], [`LeafSpec::server`] or `LeafSpec::default()` (client usage, empty subject,
/// valid from an hour ago for 365 days, random serial, fresh ECDSA P-256 key).
#[derive(Clone)]
pub struct LeafSpec {
    /// The subject name, RDNs in certificate order (see [`SubjectSpec`]).
    pub subject: SubjectSpec,
    /// Client or server (extended key usage).
    pub usage: CertUsage,
    /// DNS names for the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// URIs for the subjectAltName extension.
    pub san_uri: Vec<String>,
    /// IP addresses for the subjectAltName extension.
    pub san_ip: Vec<IpAddr>,
    /// Email addresses (rfc822Name) for the subjectAltName extension.
    pub san_email: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The serial number as big-endian bytes of a positive integer; `None` for 16 random bytes.
    pub serial: Option<Vec<u8>>,
    /// Type of the generated key (ignored when `key_pem` is set).
    pub key: KeyAlgorithm,
    /// A PKCS#8 PEM private key to certify instead of generating one (renewal tests: new
    /// certificate, same key, different thumbprint).
    pub key_pem: Option<String>,
    /// The keyUsage bits to write instead of the usual ones (`digitalSignature`, plus
    /// `keyEncipherment` for RSA server certificates); for tests of certificates issued for
    /// something else. An empty list writes no keyUsage extension at all.
    pub key_usages: Option<Vec<KeyUsagePurpose>>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            subject: SubjectSpec::new(),
            usage: CertUsage::Client,
            san_dns: Vec::new(),
            san_uri: Vec::new(),
            san_ip: Vec::new(),
            san_email: Vec::new(),
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(365),
            serial: None,
            key: KeyAlgorithm::default(),
            key_pem: None,
            key_usages: None,
        }
    }
}

impl fmt::Debug for LeafSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafSpec")
            .field("subject", &self.subject.to_rfc4514().ok())
            .field("usage", &self.usage)
            .field("san_dns", &self.san_dns)
            .field("san_uri", &self.san_uri)
            .field("san_ip", &self.san_ip)
            .field("san_email", &self.san_email)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("serial", &self.serial.as_deref().map(der::hex))
            .field("key", &self.key)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "[elided]"))
            .finish()
    }
}

impl LeafSpec {
    /// A client certificate for `subject`.
    pub fn client(subject: SubjectSpec) -> Self {
        LeafSpec {
            subject,
            ..LeafSpec::default()
        }
    }

    /// A server certificate with `CN=<first DNS name>` and the given DNS and IP SANs
    /// (`LeafSpec::server(&["localhost"], &["127.0.0.1".parse()?])`).
    pub fn server(dns: &[&str], ips: &[IpAddr]) -> Self {
        let subject = match dns.first() {
            Some(cn) => SubjectSpec::cn(*cn),
            None => SubjectSpec::new(),
        };
        LeafSpec {
            subject,
            usage: CertUsage::Server,
            san_dns: dns.iter().map(|s| (*s).to_owned()).collect(),
            san_ip: ips.to_vec(),
            ..LeafSpec::default()
        }
    }

    /// The spec of an existing certificate: same subject bytes, serial, validity (to the second),
    /// SANs, usage and key type; a new key unless `key_pem` is set afterwards.
    ///
    /// Issued by a CA with the same subject as the original's issuer (see
    /// [`CertificateAuthority::impostor`]) this gives a look-alike that differs only in keys and
    /// signature: the rogue-CA test.
    pub fn copy_of(cert_der: &[u8]) -> Result<Self, PkiError> {
        let fields = name_fields(cert_der)?;
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let mut spec = LeafSpec {
            subject: SubjectSpec::from_der(&fields.subject)?,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            serial: Some(fields.serial.clone()),
            key: spki_algorithm(&fields.spki).unwrap_or_default(),
            ..LeafSpec::default()
        };
        if let Ok(Some(eku)) = cert.extended_key_usage() {
            if eku.value.server_auth && !eku.value.client_auth {
                spec.usage = CertUsage::Server;
            }
        }
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) => spec.san_dns.push((*s).to_owned()),
                    GeneralName::URI(s) => spec.san_uri.push((*s).to_owned()),
                    GeneralName::RFC822Name(s) => spec.san_email.push((*s).to_owned()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            spec.san_ip.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            spec.san_ip.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(spec)
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: SubjectSpec) -> Self {
        self.subject = subject;
        self
    }

    /// Sets the usage.
    pub fn with_usage(mut self, usage: CertUsage) -> Self {
        self.usage = usage;
        self
    }

    /// Adds a DNS SAN.
    pub fn with_dns(mut self, name: impl Into<String>) -> Self {
        self.san_dns.push(name.into());
        self
    }

    /// Adds a URI SAN.
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.san_uri.push(uri.into());
        self
    }

    /// Adds an IP SAN.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.san_ip.push(ip);
        self
    }

    /// Adds an email (rfc822Name) SAN.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.san_email.push(email.into());
        self
    }

    /// Sets the validity period.
    pub fn with_validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Valid from an hour ago for `days` days.
    pub fn valid_for_days(self, days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        self.with_validity(
            now - Duration::hours(1),
            now + Duration::days(i64::from(days)),
        )
    }

    /// Expired: valid from 30 days ago until yesterday.
    pub fn expired(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.with_validity(now - Duration::days(30), now - Duration::days(1))
    }

    /// Not yet valid: valid from tomorrow for 30 days.
    pub fn not_yet_valid(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.with_validity(now + Duration::days(1), now + Duration::days(31))
    }

    /// Sets the serial number (big-endian bytes, read as a positive integer).
    pub fn with_serial(mut self, serial: impl Into<Vec<u8>>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    /// Sets the type of the generated key.
    pub fn with_key(mut self, key: KeyAlgorithm) -> Self {
        self.key = key;
        self
    }

    /// Certifies an existing PKCS#8 PEM key instead of generating one.
    pub fn with_key_pem(mut self, key_pem: impl Into<String>) -> Self {
        self.key_pem = Some(key_pem.into());
        self
    }

    /// The key to certify: the given PEM or a fresh one.
    fn subject_key(&self) -> Result<KeyPair, PkiError> {
        match &self.key_pem {
            Some(pem_text) => {
                let parsed =
                    pem::parse(pem_text).map_err(|e| PkiError::InvalidKey(e.to_string()))?;
                if parsed.tag() != "PRIVATE KEY" {
                    return Err(PkiError::InvalidKey(format!(
                        "expected a PKCS#8 \"PRIVATE KEY\", found \"{}\"",
                        parsed.tag()
                    )));
                }
                key::from_pem(pem_text)
            }
            None => key::generate(self.key),
        }
    }

    /// rcgen parameters for everything but the names (spliced in afterwards).
    fn params(
        &self,
        key_algorithm: Option<KeyAlgorithm>,
        issued_by_ca: bool,
    ) -> Result<CertificateParams, PkiError> {
        let mut p = CertificateParams::default();
        p.distinguished_name = placeholder_name(self.subject.is_empty());
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        let serial = match &self.serial {
            Some(s) if s.is_empty() => {
                return Err(PkiError::InvalidSpec("an empty serial number".into()))
            }
            Some(s) => s.clone(),
            None => random_serial()?,
        };
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        let ia5 = |kind: &str, v: &str| {
            rcgen::string::Ia5String::try_from(v.to_owned()).map_err(|_| {
                PkiError::InvalidSpec(format!("{kind} SAN {v:?} is not ASCII (IA5String)"))
            })
        };
        for d in &self.san_dns {
            p.subject_alt_names.push(SanType::DnsName(ia5("DNS", d)?));
        }
        for u in &self.san_uri {
            p.subject_alt_names.push(SanType::URI(ia5("URI", u)?));
        }
        for ip in &self.san_ip {
            p.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        for e in &self.san_email {
            p.subject_alt_names
                .push(SanType::Rfc822Name(ia5("email", e)?));
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if self.usage == CertUsage::Server && key_algorithm == Some(KeyAlgorithm::Rsa2048) {
            p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        if let Some(usages) = &self.key_usages {
            p.key_usages = usages.clone();
        }
        p.extended_key_usages = vec![match self.usage {
            CertUsage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            CertUsage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        p.use_authority_key_identifier_extension = issued_by_ca;
        Ok(p)
    }
}

/// rcgen always writes a name; ours replaces it. An empty placeholder when the real subject is
/// empty keeps rcgen's "SAN is critical when the subject is empty" rule (RFC 5280 §4.2.1.6).
/// rcgen's default `CN=rcgen self signed cert` never reaches a certificate.
fn placeholder_name(empty: bool) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if !empty {
        dn.push(DnType::CommonName, "placeholder");
    }
    dn
}

/// 16 random bytes, top bit clear (positive) and second-highest bit set (no leading zero, so the
/// DER INTEGER is always 16 octets).
fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| PkiError::KeyGeneration("serial number"))?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(b.to_vec())
}

/// The raw parts of a certificate's TBSCertificate.
struct TbsParts<'a> {
    /// Fields before the issuer: version, serial, signature algorithm (whole TLVs).
    head: &'a [u8],
    serial: Tlv<'a>,
    issuer: Tlv<'a>,
    validity: Tlv<'a>,
    subject: Tlv<'a>,
    spki: Tlv<'a>,
    /// Whatever follows the SPKI (extensions), as encoded.
    tail: &'a [u8],
    /// The outer signatureAlgorithm TLV.
    signature_algorithm: Tlv<'a>,
}

fn tbs_parts(cert_der: &[u8]) -> Result<TbsParts<'_>, PkiError> {
    let (cert, rest) = der::expect(cert_der, der::SEQUENCE, "a Certificate")?;
    if !rest.is_empty() {
        return Err(PkiError::Der("trailing data after the certificate".into()));
    }
    let (tbs, after_tbs) = der::expect(cert.content, der::SEQUENCE, "a TBSCertificate")?;
    let (signature_algorithm, _) = der::expect(after_tbs, der::SEQUENCE, "an AlgorithmIdentifier")?;
    let body = tbs.content;
    let mut input = body;
    let (first, rest) = der::read(input)?;
    // The optional [0] EXPLICIT version.
    if first.tag == 0xa0 {
        input = rest;
    }
    let (serial, rest) = der::expect(input, der::INTEGER, "a serial number")?;
    let (_sig_alg, rest) = der::expect(rest, der::SEQUENCE, "the signature algorithm")?;
    let head = &body[..body.len() - rest.len()];
    let (issuer, rest) = der::expect(rest, der::SEQUENCE, "the issuer name")?;
    let (validity, rest) = der::expect(rest, der::SEQUENCE, "the validity")?;
    let (subject, rest) = der::expect(rest, der::SEQUENCE, "the subject name")?;
    let (spki, tail) = der::expect(rest, der::SEQUENCE, "the subject public key")?;
    Ok(TbsParts {
        head,
        serial,
        issuer,
        validity,
        subject,
        spki,
        tail,
        signature_algorithm,
    })
}

/// Raw fields of a certificate: names as DER `Name`s, the serial INTEGER content, the SPKI.
#[derive(Clone, Debug)]
pub(crate) struct NameFields {
    pub(crate) subject: Vec<u8>,
    pub(crate) issuer: Vec<u8>,
    pub(crate) serial: Vec<u8>,
    pub(crate) spki: Vec<u8>,
}

pub(crate) fn name_fields(cert_der: &[u8]) -> Result<NameFields, PkiError> {
    let p = tbs_parts(cert_der)?;
    Ok(NameFields {
        subject: p.subject.raw.to_vec(),
        issuer: p.issuer.raw.to_vec(),
        serial: p.serial.content.to_vec(),
        spki: p.spki.raw.to_vec(),
    })
}

/// Replaces the issuer and subject names of an rcgen-built certificate and re-signs it with the
/// issuer's key; every other byte of the TBSCertificate stays as rcgen wrote it.
fn with_names(
    built: &[u8],
    issuer: &[u8],
    subject: &[u8],
    signer: &KeyPair,
) -> Result<Vec<u8>, PkiError> {
    let p = tbs_parts(built)?;
    let mut body = Vec::with_capacity(built.len() + issuer.len() + subject.len());
    body.extend_from_slice(p.head);
    body.extend_from_slice(issuer);
    body.extend_from_slice(p.validity.raw);
    body.extend_from_slice(subject);
    body.extend_from_slice(p.spki.raw);
    body.extend_from_slice(p.tail);
    let tbs = der::tlv(der::SEQUENCE, &body);
    let signature = rcgen::SigningKey::sign(signer, &tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&signature);
    let mut cert = tbs;
    cert.extend_from_slice(p.signature_algorithm.raw);
    cert.extend(der::tlv(der::BIT_STRING, &bits));
    Ok(der::tlv(der::SEQUENCE, &cert))
}

/// The key family of a DER SubjectPublicKeyInfo, if it is one this crate generates.
pub(crate) fn spki_algorithm(spki: &[u8]) -> Option<KeyAlgorithm> {
    match crate::jwk::spki_kind(spki).ok()? {
        crate::jwk::SpkiKind::Ec { curve: "P-256", .. } => Some(KeyAlgorithm::EcdsaP256),
        crate::jwk::SpkiKind::Ed25519 { .. } => Some(KeyAlgorithm::Ed25519),
        crate::jwk::SpkiKind::Rsa { .. } => Some(KeyAlgorithm::Rsa2048),
        _ => None,
    }
}

/// PEM ("CERTIFICATE") of DER certificates, LF line endings.
pub(crate) fn certs_pem<C: AsRef<[u8]>>(ders: &[C]) -> String {
    let blocks: Vec<pem::Pem> = ders
        .iter()
        .map(|d| pem::Pem::new("CERTIFICATE", d.as_ref().to_vec()))
        .collect();
    pem::encode_many_config(
        &blocks,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The DER certificates in PEM text, in order; an error if there are none.
pub fn parse_certificates_pem(text: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let blocks = pem::parse_many(text).map_err(|e| PkiError::Pem(e.to_string()))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certs.is_empty() {
        return Err(PkiError::Pem("no \"CERTIFICATE\" block".into()));
    }
    Ok(certs)
}

/// A certificate authority that can sign leaf and intermediate certificates.
///
/// Generated ones are roots (`basicConstraints` CA:true, critical; keyUsage keyCertSign and
/// cRLSign; subjectKeyIdentifier). Every certificate it issues carries an authorityKeyIdentifier
/// equal to this CA's subjectKeyIdentifier and, as issuer, this CA's subject name byte for byte.
pub struct CertificateAuthority {
    key: KeyPair,
    key_pem: String,
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    key_id: Option<Vec<u8>>,
    /// Certificates above this one: its issuer first, the root last; empty for a root.
    parents: Vec<Vec<u8>>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &name::rfc4514(&self.subject_der).ok())
            .field("thumbprint", &self.thumbprint())
            .field("parents", &self.parents.len())
            .field("key", &"[elided]")
            .finish()
    }
}

impl CertificateAuthority {
    /// A new self-signed root CA with a fresh key, valid from an hour ago for ten years.
    ///
    /// The subject must not be empty (RFC 5280 §4.1.2.6).
    pub fn generate(subject: &SubjectSpec, alg: KeyAlgorithm) -> Result<Self, PkiError> {
        let now = OffsetDateTime::now_utc();
        Self::generate_valid(
            subject,
            alg,
            now - Duration::hours(1),
            now + Duration::days(3650),
        )
    }

    /// A new self-signed root CA with the given validity (expired-CA tests).
    pub fn generate_valid(
        subject: &SubjectSpec,
        alg: KeyAlgorithm,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, PkiError> {
        if subject.is_empty() {
            return Err(PkiError::InvalidSpec(
                "a CA needs a non-empty subject".into(),
            ));
        }
        Self::root_with_name(subject.to_der()?, alg, not_before, not_after)
    }

    fn root_with_name(
        subject_der: Vec<u8>,
        alg: KeyAlgorithm,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, PkiError> {
        let key = key::generate(alg)?;
        let params = ca_params(not_before, not_after, false)?;
        let built = params.self_signed(&key)?;
        let cert_der = with_names(built.der(), &subject_der, &subject_der, &key)?;
        let key_pem = key::pkcs8_pem(key.serialized_der());
        Self::from_parts(key, key_pem, cert_der, Vec::new())
    }

    /// A different root CA with exactly this CA's subject name (a fresh key, so a different
    /// SKI and signature): certificates it issues look like ours by name and serial but do not
    /// chain to us. For rogue-CA tests.
    pub fn impostor(&self, alg: KeyAlgorithm) -> Result<Self, PkiError> {
        let now = OffsetDateTime::now_utc();
        Self::root_with_name(
            self.subject_der.clone(),
            alg,
            now - Duration::hours(1),
            now + Duration::days(3650),
        )
    }

    /// Loads a CA from PEM: `cert_pem` holds the CA certificate, optionally followed by the
    /// certificates above it (issuer first); `key_pem` its private key (PKCS#8, SEC1 or PKCS#1).
    ///
    /// Fails when the certificate is not a CA or the key does not match it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let mut certs = parse_certificates_pem(cert_pem)?;
        let cert_der = certs.remove(0);
        let key = key::from_pem(key_pem)?;
        Self::from_parts(key, key_pem.to_owned(), cert_der, certs)
    }

    fn from_parts(
        key: KeyPair,
        key_pem: String,
        cert_der: Vec<u8>,
        parents: Vec<Vec<u8>>,
    ) -> Result<Self, PkiError> {
        let fields = name_fields(&cert_der)?;
        if fields.spki != key::spki(&key) {
            return Err(PkiError::KeyMismatch);
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        if !cert.is_ca() {
            return Err(PkiError::Certificate(
                "not a CA certificate (basicConstraints CA:true missing)".into(),
            ));
        }
        let key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(id.0.to_vec())
                }
                _ => None,
            });
        Ok(CertificateAuthority {
            key,
            key_pem,
            cert_der,
            subject_der: fields.subject,
            key_id,
            parents,
        })
    }

    /// An intermediate CA signed by this one, valid for ten years (chain tests).
    pub fn issue_intermediate(
        &self,
        subject: &SubjectSpec,
        alg: KeyAlgorithm,
    ) -> Result<CertificateAuthority, PkiError> {
        if subject.is_empty() {
            return Err(PkiError::InvalidSpec(
                "a CA needs a non-empty subject".into(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let key = key::generate(alg)?;
        let params = ca_params(now - Duration::hours(1), now + Duration::days(3650), true)?;
        let built = params.signed_by(&key, &self.rcgen_issuer())?;
        let cert_der = with_names(
            built.der(),
            &self.subject_der,
            &subject.to_der()?,
            &self.key,
        )?;
        let key_pem = key::pkcs8_pem(key.serialized_der());
        let mut parents = vec![self.cert_der.clone()];
        parents.extend(self.parents.iter().cloned());
        Self::from_parts(key, key_pem, cert_der, parents)
    }

    /// Issues a leaf certificate.
    pub fn issue(&self, spec: &LeafSpec) -> Result<IssuedCertificate, PkiError> {
        let key = spec.subject_key()?;
        let params = spec.params(KeyAlgorithm::of(&key), true)?;
        let built = params.signed_by(&key, &self.rcgen_issuer())?;
        let cert_der = with_names(
            built.der(),
            &self.subject_der,
            &spec.subject.to_der()?,
            &self.key,
        )?;
        let mut chain = vec![self.cert_der.clone()];
        chain.extend(self.parents.iter().cloned());
        IssuedCertificate::new(cert_der, &key, chain)
    }

    /// Issues a client certificate for a verified certificate signing request: the subject is
    /// the request's, byte for byte (what the partner asked for is what the bank registers), the
    /// public key is the request's (the CA never sees the private key); validity, SANs and usage
    /// come from `spec` (its subject and key are ignored). Returns the certificate, DER.
    pub fn issue_for_request(
        &self,
        request: &crate::csr::CertificateRequest,
        spec: &LeafSpec,
    ) -> Result<Vec<u8>, PkiError> {
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(request.spki_der())
            .map_err(|e| PkiError::UnsupportedKey(format!("in the request: {e}")))?;
        let mut spec = spec.clone();
        spec.subject = SubjectSpec::from_der(request.subject_der())?;
        let params = spec.params(request.key_algorithm(), true)?;
        let built = params.signed_by(&public_key, &self.rcgen_issuer())?;
        with_names(
            built.der(),
            &self.subject_der,
            request.subject_der(),
            &self.key,
        )
    }

    /// rcgen's view of this CA: its key and key identifier (the name is spliced in later).
    fn rcgen_issuer(&self) -> rcgen::Issuer<'static, &KeyPair> {
        let mut p = CertificateParams::default();
        p.key_identifier_method = match &self.key_id {
            Some(id) => KeyIdMethod::PreSpecified(id.clone()),
            None => KeyIdMethod::Sha256,
        };
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        rcgen::Issuer::new(p, &self.key)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        certs_pem(&[&self.cert_der])
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate for rustls (a trust anchor or a chain element).
    pub fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    /// This CA's certificate followed by those above it (issuer first, root last), PEM.
    pub fn chain_pem(&self) -> String {
        let mut all = vec![self.cert_der.clone()];
        all.extend(self.parents.iter().cloned());
        certs_pem(&all)
    }

    /// The root of this CA's chain, DER: itself for a root, the last parent otherwise.
    pub fn root_der(&self) -> &[u8] {
        self.parents.last().unwrap_or(&self.cert_der)
    }

    /// The private key, PEM (PKCS#8 for generated CAs; as loaded otherwise).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The DER subject name (the issuer name of everything this CA signs).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The subject, RFC 4514.
    pub fn subject_rfc4514(&self) -> Result<String, PkiError> {
        name::rfc4514(&self.subject_der)
    }

    /// The subject as a spec (to build look-alikes).
    pub fn subject_spec(&self) -> Result<SubjectSpec, PkiError> {
        SubjectSpec::from_der(&self.subject_der)
    }

    /// The CA certificate's `x5t#S256`.
    pub fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_der(&self.cert_der)
    }

    /// The family of the CA's key, if it is one this crate generates.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        KeyAlgorithm::of(&self.key)
    }
}

fn ca_params(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    with_aki: bool,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = placeholder_name(false);
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.use_authority_key_identifier_extension = with_aki;
    Ok(p)
}

/// A self-signed certificate (CA:false) for `self_signed_tls_client_auth` (RFC 8705 §2.2): the
/// client registers it in its JWKS `x5c` and the AS compares it exactly.
pub fn self_signed(spec: &LeafSpec) -> Result<IssuedCertificate, PkiError> {
    let key = spec.subject_key()?;
    let params = spec.params(KeyAlgorithm::of(&key), false)?;
    let built = params.self_signed(&key)?;
    let subject = spec.subject.to_der()?;
    let cert_der = with_names(built.der(), &subject, &subject, &key)?;
    IssuedCertificate::new(cert_der, &key, Vec::new())
}

/// A leaf certificate with its private key and the certificates of its issuers.
#[non_exhaustive]
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER: the bytes whose SHA-256 is the `x5t#S256`.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 v1 PEM ("BEGIN PRIVATE KEY").
    pub key_pem: String,
    /// The private key, PKCS#8 v1 DER.
    pub key_der: Vec<u8>,
    /// The key's family.
    pub key_algorithm: KeyAlgorithm,
    /// The issuing CA's certificate first, then those above it, root last; empty when
    /// self-signed.
    pub issuer_chain_der: Vec<Vec<u8>>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    serial: Vec<u8>,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("subject", &self.subject_rfc4514().ok())
            .field("serial", &der::hex(&self.serial))
            .field("thumbprint", &self.thumbprint())
            .field("key_algorithm", &self.key_algorithm)
            .field("issuer_chain", &self.issuer_chain_der.len())
            .field("key", &"[elided]")
            .finish()
    }
}

impl IssuedCertificate {
    fn new(
        cert_der: Vec<u8>,
        key: &KeyPair,
        issuer_chain_der: Vec<Vec<u8>>,
    ) -> Result<Self, PkiError> {
        let fields = name_fields(&cert_der)?;
        let key_algorithm = KeyAlgorithm::of(key).ok_or_else(|| {
            PkiError::InvalidKey("only ECDSA P-256, Ed25519 and RSA keys are supported".into())
        })?;
        Ok(IssuedCertificate {
            cert_pem: certs_pem(&[&cert_der]),
            key_pem: key::pkcs8_pem(key.serialized_der()),
            key_der: key.serialized_der().to_vec(),
            key_algorithm,
            issuer_chain_der,
            subject_der: fields.subject,
            issuer_der: fields.issuer,
            serial: fields.serial,
            cert_der,
        })
    }

    /// `x5t#S256`: base64url(SHA-256(DER)), RFC 8705 §3.1.
    pub fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_der(&self.cert_der)
    }

    /// The serial number: the content octets of the DER INTEGER (a leading zero when the high
    /// bit is set). Pass it to [`LeafSpec::with_serial`] to copy it.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The DER subject name.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The DER issuer name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// The subject, RFC 4514 (what `tls_client_auth_subject_dn` would hold).
    pub fn subject_rfc4514(&self) -> Result<String, PkiError> {
        name::rfc4514(&self.subject_der)
    }

    /// The issuer, RFC 4514.
    pub fn issuer_rfc4514(&self) -> Result<String, PkiError> {
        name::rfc4514(&self.issuer_der)
    }

    /// The certificate followed by its issuers, PEM: what a TLS server presents (the root is
    /// included; peers ignore it).
    pub fn chain_pem(&self) -> String {
        certs_pem(&self.chain_der())
    }

    /// The certificate followed by its issuers, DER.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        let mut all = vec![self.cert_der.clone()];
        all.extend(self.issuer_chain_der.iter().cloned());
        all
    }

    /// The certificate for rustls.
    pub fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    /// The certificate and its issuers for rustls (`with_single_cert`, `with_client_auth_cert`).
    pub fn rustls_chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain_der()
            .into_iter()
            .map(CertificateDer::from)
            .collect()
    }

    /// The private key for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// The public JWK of this certificate with `x5c` = [this certificate] (see
    /// [`crate::jwk_for_certificate`]).
    pub fn jwk(&self) -> Result<serde_json::Value, PkiError> {
        crate::jwk::jwk_for_certificate(&self.cert_der)
    }

    /// A PKCS#12 file with the key, this certificate and its issuer chain, under `friendly_name`.
    ///
    /// Encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and MACed with HMAC-SHA256, so
    /// OpenSSL 3 (no `-legacy`), curl `--cert-type P12`, Java and .NET read it.
    pub fn to_pkcs12(&self, password: &str, friendly_name: &str) -> Result<Vec<u8>, PkiError> {
        use p12_keystore::{
            Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
            PrivateKeyChain,
        };
        let p12 = |e: p12_keystore::error::Error| PkiError::Pkcs12(e.to_string());
        let key = PrivateKey::from_der(&self.key_der).map_err(p12)?;
        let certs = self
            .chain_der()
            .iter()
            .map(|d| Certificate::from_der(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(p12)?;
        // localKeyId ties the key bag to the leaf's certificate bag; the SHA-256 of the
        // certificate is unique and stable.
        let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.cert_der);
        let chain = PrivateKeyChain::new(local_key_id.as_ref(), key, certs);
        let mut store = KeyStore::new();
        store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
        store
            .writer(password)
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .encryption_iterations(10_000)
            .mac_iterations(10_000)
            .write()
            .map_err(p12)
    }
}

#[cfg(test)]
mod tests;
