//! Access-token validation for resource servers: RFC 9068 JWTs checked against the
//! authorization server's JWKS ([`Verifier`]), and opaque tokens exchanged for their JWT by
//! introspection ([`Introspector`], the phantom-token pattern).

mod cache;
mod introspect;
mod verify;

pub use introspect::Introspector;
pub use verify::{
    DiscoveryError, TokenClaims, TokenError, VerifiedToken, Verifier, VerifierConfig,
};

/// SHA-256 of a token: the only form in which tokens are kept in caches.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
