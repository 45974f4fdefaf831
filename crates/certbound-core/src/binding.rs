//! Token bindings (sender constraints): what a token is bound to, the one place that builds the
//! `cnf` claim (RFC 7800 §3.1) from a request, and the one place that checks it.
//!
//! Two bindings exist: the RFC 8705 §3.1 certificate thumbprint (`cnf.x5t#S256`) and the DPoP
//! key thumbprint (RFC 9449 §6.1, `cnf.jkt`). A token carries exactly one of them (two
//! confirmation methods in one `cnf` are refused, never read as "bound to either").

use crate::auth::Listener;
use crate::dpop::VerifiedProof;
use crate::error::OAuthError;
use crate::identity::certificate::ClientCertificate;
use crate::identity::thumbprint::Thumbprint;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What a token is bound to.
///
/// Serialised as the `cnf` claim through [`Confirmation`], so the JSON is exactly
/// `{"x5t#S256": "..."}` for a certificate-bound token and `{"jkt": "..."}` for a DPoP-bound one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Confirmation", try_from = "Confirmation")]
pub enum Binding {
    /// RFC 8705 §3.1: bound to the client certificate with this SHA-256 thumbprint.
    Certificate {
        /// `x5t#S256`.
        x5t_s256: Thumbprint,
    },
    /// RFC 9449 §6.1: bound to the DPoP proof key with this RFC 7638 SHA-256 thumbprint.
    Dpop {
        /// `jkt`.
        jkt: String,
    },
}

/// The wire form of the `cnf` claim: one member per confirmation method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// `x5t#S256`: base64url SHA-256 of the DER of the client certificate (RFC 8705 §3.1).
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// `jkt`: base64url RFC 7638 SHA-256 thumbprint of the DPoP proof key (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// A `cnf` claim with no confirmation method certbound knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported confirmation method")]
pub struct UnsupportedConfirmation;

impl From<Binding> for Confirmation {
    fn from(b: Binding) -> Self {
        match b {
            Binding::Certificate { x5t_s256 } => Confirmation {
                x5t_s256: Some(x5t_s256.as_str().to_owned()),
                jkt: None,
            },
            Binding::Dpop { jkt } => Confirmation {
                x5t_s256: None,
                jkt: Some(jkt),
            },
        }
    }
}

impl TryFrom<Confirmation> for Binding {
    type Error = UnsupportedConfirmation;
    fn try_from(c: Confirmation) -> Result<Self, Self::Error> {
        match (c.x5t_s256, c.jkt) {
            (Some(t), None) => Ok(Binding::Certificate {
                x5t_s256: Thumbprint::from_claim(&t),
            }),
            (None, Some(jkt)) => Ok(Binding::Dpop { jkt }),
            // None, or two methods at once: never "bound to either".
            _ => Err(UnsupportedConfirmation),
        }
    }
}

/// Why a bound token may not be used on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingMismatch {
    /// The token is bound to a certificate but the request came without one.
    #[error("the token is bound to a certificate but none was presented")]
    NoCertificate,
    /// The token is bound to another certificate.
    #[error("the token is bound to another certificate")]
    OtherCertificate,
    /// The token is bound to a DPoP key but the request came without a valid proof.
    #[error("the token is bound to a DPoP key but no valid proof was presented")]
    NoDpopProof,
    /// The token is bound to another DPoP key.
    #[error("the token is bound to another DPoP key")]
    OtherDpopKey,
}

/// The RFC 8705 §3 check of a certificate-bound token: the request presents the certificate
/// whose SHA-256 thumbprint is `x5t_s256`, compared in constant time. The one home of this
/// comparison: [`Binding::check_with_proof`] and the gateway use it.
pub fn check_certificate(
    x5t_s256: &Thumbprint,
    presented: Option<&ClientCertificate>,
) -> Result<(), BindingMismatch> {
    match presented {
        None => Err(BindingMismatch::NoCertificate),
        Some(cert) if x5t_s256.ct_eq(cert.thumbprint()) => Ok(()),
        Some(_) => Err(BindingMismatch::OtherCertificate),
    }
}

impl Binding {
    /// The binding of a token issued on this request (RFC 8705 §3): for a client registered for
    /// bound tokens, the certificate of the request; otherwise none. A bound client without a
    /// certificate gets `invalid_request`, never an unbound token; the description names the
    /// mTLS endpoint (conventional listener) or the client's certificate configuration (mTLS
    /// listener).
    pub fn for_request(
        bound: bool,
        certificate: Option<&ClientCertificate>,
        listener: Listener<'_>,
    ) -> Result<Option<Binding>, OAuthError> {
        if !bound {
            return Ok(None);
        }
        match certificate {
            Some(cert) => Ok(Some(Binding::Certificate {
                x5t_s256: cert.thumbprint().clone(),
            })),
            None => Err(OAuthError::invalid_request(listener.missing_certificate(
                "this client receives certificate-bound tokens",
            ))),
        }
    }

    /// Checks that the request presenting the token holds what it is bound to, with no DPoP
    /// proof: a certificate binding compares the certificate; a DPoP binding always fails
    /// ([`BindingMismatch::NoDpopProof`]), so a caller not yet handling DPoP fails closed.
    pub fn check(&self, presented: Option<&ClientCertificate>) -> Result<(), BindingMismatch> {
        self.check_with_proof(presented, None)
    }

    /// Checks that the request presenting the token holds what it is bound to: the same
    /// certificate, or a verified DPoP proof signed by the same key (RFC 9449 §7.1), compared
    /// in constant time.
    pub fn check_with_proof(
        &self,
        certificate: Option<&ClientCertificate>,
        proof: Option<&VerifiedProof>,
    ) -> Result<(), BindingMismatch> {
        match self {
            Binding::Certificate { x5t_s256 } => check_certificate(x5t_s256, certificate),
            Binding::Dpop { jkt } => match proof {
                None => Err(BindingMismatch::NoDpopProof),
                Some(p) if bool::from(jkt.as_bytes().ct_eq(p.jkt.as_bytes())) => Ok(()),
                Some(_) => Err(BindingMismatch::OtherDpopKey),
            },
        }
    }

    /// The certificate thumbprint of a certificate binding (for audit lines and introspection).
    pub fn certificate_thumbprint(&self) -> Option<&Thumbprint> {
        match self {
            Binding::Certificate { x5t_s256 } => Some(x5t_s256),
            Binding::Dpop { .. } => None,
        }
    }

    /// The key thumbprint of a DPoP binding (for audit lines, introspection and `token_type`).
    pub fn dpop_jkt(&self) -> Option<&str> {
        match self {
            Binding::Dpop { jkt } => Some(jkt),
            Binding::Certificate { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::certificate::CertificateSource;
    use rustls_pki_types::CertificateDer;

    fn cert(der: &[u8]) -> ClientCertificate {
        ClientCertificate::new(
            vec![CertificateDer::from(der.to_vec())],
            CertificateSource::Tls,
        )
        .unwrap()
    }

    #[test]
    fn cnf_json_is_exactly_the_rfc8705_member() {
        let b = Binding::Certificate {
            x5t_s256: Thumbprint::from_claim("abc"),
        };
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"x5t#S256":"abc"}"#);
        let back: Binding = serde_json::from_str(r#"{"x5t#S256":"abc"}"#).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn a_cnf_without_a_known_method_is_refused() {
        assert!(serde_json::from_str::<Binding>("{}").is_err());
        assert!(serde_json::from_str::<Binding>(r#"{"x5t#S256":1}"#).is_err());
        assert!(serde_json::from_str::<Binding>(r#"{"jkt":1}"#).is_err());
    }

    #[test]
    fn dpop_cnf_json_is_exactly_the_rfc9449_member() {
        let b = Binding::Dpop { jkt: "abc".into() };
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"jkt":"abc"}"#);
        let back: Binding = serde_json::from_str(r#"{"jkt":"abc"}"#).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.dpop_jkt(), Some("abc"));
        assert_eq!(back.certificate_thumbprint(), None);
    }

    #[test]
    fn two_confirmation_methods_are_refused() {
        assert!(serde_json::from_str::<Binding>(r#"{"x5t#S256":"a","jkt":"b"}"#).is_err());
    }

    #[test]
    fn dpop_binding_needs_a_proof_with_the_same_key() {
        let bound = Binding::Dpop { jkt: "k1".into() };
        let proof = |jkt: &str| VerifiedProof {
            jkt: jkt.into(),
            jti: "j".into(),
            iat: 0,
            htu: "https://rs.example:443/".into(),
        };
        let c = cert(b"one");
        assert_eq!(bound.check(Some(&c)), Err(BindingMismatch::NoDpopProof));
        assert_eq!(bound.check_with_proof(None, Some(&proof("k1"))), Ok(()));
        assert_eq!(
            bound.check_with_proof(None, Some(&proof("k2"))),
            Err(BindingMismatch::OtherDpopKey)
        );
        let cert_bound = Binding::for_request(true, Some(&c), Listener::Mtls)
            .unwrap()
            .unwrap();
        assert_eq!(
            cert_bound.check_with_proof(None, Some(&proof("k1"))),
            Err(BindingMismatch::NoCertificate)
        );
    }

    #[test]
    fn binding_is_built_from_the_request_certificate() {
        let c = cert(b"one");
        assert_eq!(
            Binding::for_request(false, Some(&c), Listener::Mtls).unwrap(),
            None
        );
        let b = Binding::for_request(true, Some(&c), Listener::Mtls)
            .unwrap()
            .unwrap();
        assert_eq!(b.certificate_thumbprint(), Some(c.thumbprint()));
        let e = Binding::for_request(
            true,
            None,
            Listener::Conventional {
                mtls_alias: Some("https://mtls.as/token"),
            },
        )
        .unwrap_err();
        assert!(e.description.contains("https://mtls.as/token"), "{e:?}");
    }

    #[test]
    fn check_compares_the_presented_certificate() {
        let (a, b) = (cert(b"one"), cert(b"two"));
        let bound = Binding::for_request(true, Some(&a), Listener::Mtls)
            .unwrap()
            .unwrap();
        assert_eq!(bound.check(Some(&a)), Ok(()));
        assert_eq!(
            bound.check(Some(&b)),
            Err(BindingMismatch::OtherCertificate)
        );
        assert_eq!(bound.check(None), Err(BindingMismatch::NoCertificate));
    }
}
