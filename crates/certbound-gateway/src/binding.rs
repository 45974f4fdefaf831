//! The RFC 8705 §3 check: a bound token is only valid on a connection that presents the
//! certificate it is bound to.

use crate::tokens::TokenClaims;
use certbound_core::binding::BindingMismatch;
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
    /// The token is bound by a kind of proof of possession the route does not accept.
    #[error("this resource does not accept this kind of bound token")]
    KindNotAccepted,
    /// The token is bound to another certificate.
    #[error("the token is bound to another certificate")]
    Mismatch,
}

/// Which proof of possession a route demands of its tokens (`sender_constraint` of a route).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderConstraint {
    /// Plain bearer tokens are accepted; bound tokens are still checked against their binding.
    #[default]
    None,
    /// Only certificate-bound tokens (`cnf.x5t#S256`, RFC 8705).
    Certificate,
    /// Only DPoP-bound tokens (`cnf.jkt`, RFC 9449).
    Dpop,
    /// Any sender-constrained token: certificate or DPoP (FAPI 2.0 §5.3.3).
    #[serde(alias = "sender_constrained")]
    Any,
}

/// Whether the kind of the token's binding is one `constraint` accepts. The binding itself is
/// checked afterwards, on every request ([`check_binding`] or the DPoP proof).
pub fn check_kind(claims: &TokenClaims, constraint: SenderConstraint) -> Result<(), BindingError> {
    let (cert, dpop) = (claims.x5t_s256.is_some(), claims.jkt.is_some());
    match constraint {
        SenderConstraint::None => Ok(()),
        _ if !cert && !dpop => Err(BindingError::NotBound),
        SenderConstraint::Certificate if dpop => Err(BindingError::KindNotAccepted),
        SenderConstraint::Dpop if cert => Err(BindingError::KindNotAccepted),
        _ => Ok(()),
    }
}

/// Compares `cnf.x5t#S256` with the thumbprint of the certificate on this connection, in
/// constant time. Runs on every request, also when the token's validation came from a cache.
pub fn check_binding(
    claims: &TokenClaims,
    presented: Option<&ClientCertificate>,
    require_bound: bool,
) -> Result<(), BindingError> {
    match &claims.x5t_s256 {
        None if require_bound => Err(BindingError::NotBound),
        None => Ok(()),
        Some(bound) => {
            certbound_core::binding::check_certificate(bound, presented).map_err(|e| match e {
                BindingMismatch::NoCertificate => BindingError::NoCertificate,
                _ => BindingError::Mismatch,
            })
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
            jkt: None,
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

    #[test]
    fn route_constraints_accept_their_kinds() {
        let cert = claims(Some("t"));
        let unbound = claims(None);
        let mut dpop = claims(None);
        dpop.jkt = Some("k".into());
        use SenderConstraint as C;
        for (c, ok) in [
            (C::None, [true, true, true]),
            (C::Certificate, [true, false, false]),
            (C::Dpop, [false, true, false]),
            (C::Any, [true, true, false]),
        ] {
            let got = [&cert, &dpop, &unbound].map(|t| check_kind(t, c).is_ok());
            assert_eq!(got, ok, "{c:?}");
        }
        assert_eq!(check_kind(&unbound, C::Any), Err(BindingError::NotBound));
    }
}
