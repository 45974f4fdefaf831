//! A client-certificate verifier that checks proof of possession and nothing else.
//!
//! RFC 8705 §2.2 (self-signed clients) and §6.1 require the TLS layer to accept certificates that
//! chain to nothing; the authorization decision is made per client after the handshake. rustls
//! still verifies the handshake signature with the certificate's key, so a certificate on a
//! connection always belongs to the peer. Named `danger` after rustls' convention: using this
//! verifier without a later per-request trust decision would accept anyone.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// Refuses a client certificate whose keyUsage extension does not allow digitalSignature
/// (RFC 5280 §4.2.1.3): its holder just signed the handshake with a key not meant for it.
/// OpenSSL refuses such certificates too; the refusal is logged with the handshake failure.
pub fn check_signing_usage(end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    match certbound_core::identity::key_usage::signing_usage_of_der(end_entity.as_ref()) {
        certbound_core::identity::key_usage::SigningUsage::Forbidden(why) => {
            tracing::debug!(reason = %why, "client certificate refused: keyUsage");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose,
            ))
        }
        _ => Ok(()),
    }
}

/// A chain-validating verifier (rustls' `WebPkiClientVerifier`) that also applies
/// [`check_signing_usage`], which webpki does not check for end-entity certificates.
#[derive(Debug)]
pub struct SigningUsageVerifier(pub Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for SigningUsageVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.0.verify_client_cert(end_entity, intermediates, now)?;
        check_signing_usage(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any parseable client certificate; verifies the handshake signature.
#[derive(Debug)]
pub struct AcceptAnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
    hints: Vec<DistinguishedName>,
}

impl AcceptAnyClientCert {
    /// A verifier that requests a certificate; `mandatory` makes the handshake fail without one.
    /// `hints` are CA subject names sent in the CertificateRequest to help clients pick a
    /// certificate (they restrict nothing).
    pub fn new(mandatory: bool, hints: Vec<DistinguishedName>) -> Self {
        AcceptAnyClientCert {
            algorithms: rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms,
            mandatory,
            hints,
        }
    }
}

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Only require that the certificate parses, so the signature check below can use its key,
        // and that its key may sign a handshake at all.
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        check_signing_usage(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
