//! The RFC 8705 §3.1 certificate thumbprint, `x5t#S256`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;

/// `base64url(SHA-256(DER))` of a certificate, without padding: the value of `cnf.x5t#S256`.
///
/// Computed once per certificate (per connection for TLS) and compared in constant time, because a
/// thumbprint comparison decides whether a stolen token is usable.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Thumbprint(String);

impl Thumbprint {
    /// The thumbprint of a DER-encoded certificate, exactly as it was received.
    pub fn of_der(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        Thumbprint(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }

    /// Wraps a thumbprint string taken from a token's `cnf` claim, without validating it; comparison
    /// with a computed thumbprint is what decides.
    pub fn from_claim(value: &str) -> Self {
        Thumbprint(value.to_owned())
    }

    /// The base64url text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, for comparing a token's binding with a presented certificate.
    pub fn ct_eq(&self, other: &Thumbprint) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_is_unpadded_base64url_of_sha256() {
        // SHA-256("abc") = ba7816bf...; its base64url without padding is 43 characters.
        let t = Thumbprint::of_der(b"abc");
        assert_eq!(t.as_str(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        assert!(!t.as_str().contains('='));
    }

    #[test]
    fn constant_time_comparison_distinguishes_values_and_lengths() {
        let a = Thumbprint::of_der(b"one");
        let b = Thumbprint::of_der(b"two");
        assert!(a.ct_eq(&a.clone()));
        assert!(!a.ct_eq(&b));
        assert!(!a.ct_eq(&Thumbprint::from_claim("short")));
    }
}
