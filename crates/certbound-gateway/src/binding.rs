//! The RFC 8705 §3 check: a bound token is only valid on a connection that presents the
//! certificate it is bound to.

use crate::tokens::TokenClaims;
use certbound_core::ClientCertificate;

/// Why the binding check failed. Every variant is answered with `401 invalid_token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The route requires a certificate-bound token and this one is a plain bearer token.
    #[error("this resource requires a certificate-bound token")]
    NotBound,
    /// The token is bound but the request came without a client certificate.
    #[error("the token is bound to a certificate but none was presented")]
    NoCertificate,
    /// The token is bound to another certificate.
    #[error("the token is bound to another certificate")]
    Mismatch,
}

/// Compares `cnf.x5t#S256` with the thumbprint of the certificate on this connection, in
/// constant time. Runs on every request, also when the token's validation came from a cache.
pub fn check_binding(
    claims: &TokenClaims,
    presented: Option<&ClientCertificate>,
    require_bound: bool,
) -> Result<(), BindingError> {
    match (&claims.x5t_s256, presented) {
        (None, _) if require_bound => Err(BindingError::NotBound),
        (None, _) => Ok(()),
        (Some(_), None) => Err(BindingError::NoCertificate),
        (Some(bound), Some(cert)) => {
            if bound.ct_eq(cert.thumbprint()) {
                Ok(())
            } else {
                Err(BindingError::Mismatch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certbound_core::{CertificateSource, Thumbprint};
    use rustls_pki_types::CertificateDer;

    fn claims(bound: Option<&str>) -> TokenClaims {
        TokenClaims {
            iss: "https://as".into(),
            sub: None,
            aud: vec![],
            exp: 0,
            nbf: None,
            iat: None,
            jti: None,
            client_id: None,
            scopes: vec![],
            x5t_s256: bound.map(Thumbprint::from_claim),
        }
    }

    #[test]
    fn binding_rules() {
        let cert = ClientCertificate::new(
            vec![CertificateDer::from(b"leaf".to_vec())],
            CertificateSource::Tls,
        )
        .unwrap();
        let t = cert.thumbprint().to_string();
        assert_eq!(check_binding(&claims(Some(&t)), Some(&cert), true), Ok(()));
        assert_eq!(
            check_binding(&claims(Some(&t)), None, false),
            Err(BindingError::NoCertificate)
        );
        assert_eq!(
            check_binding(&claims(Some("other")), Some(&cert), false),
            Err(BindingError::Mismatch)
        );
        // Padded and hex forms of the right digest do not match.
        assert_eq!(
            check_binding(&claims(Some(&format!("{t}="))), Some(&cert), false),
            Err(BindingError::Mismatch)
        );
        assert_eq!(
            check_binding(&claims(None), Some(&cert), true),
            Err(BindingError::NotBound)
        );
        assert_eq!(check_binding(&claims(None), Some(&cert), false), Ok(()));
    }
}
