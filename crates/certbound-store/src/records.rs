//! The rows the store keeps, as plain Rust values.

use std::fmt;

/// A JWT signing key of the authorization server.
///
/// The server signs with the newest key that is not retired; a retired key stays in the JWKS
/// until `publish_until`, so tokens it signed can still be verified until they expire.
/// `Debug` never prints the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key identifier, unique; the JWT header's `kid`.
    pub kid: String,
    /// JWS algorithm (`ES256`, `PS256`, `EdDSA`).
    pub alg: String,
    /// The private key, PKCS#8 DER. Secret.
    pub private_pkcs8: Vec<u8>,
    /// The public key as a JWK, JSON text (must parse as a JSON object).
    pub public_jwk: String,
    /// When the key was created (seconds since the Unix epoch).
    pub created_at: i64,
    /// When the key stopped signing, if it did.
    pub retired_at: Option<i64>,
    /// Until when a retired key stays published in the JWKS.
    pub publish_until: Option<i64>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field(
                "private_pkcs8",
                &format_args!("<redacted, {} bytes>", self.private_pkcs8.len()),
            )
            .field("public_jwk", &self.public_jwk)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish()
    }
}

/// The token formats the store accepts in [`TokenRecord::format`].
pub const TOKEN_FORMATS: [&str; 2] = ["jwt", "opaque"];

/// An issued access token, kept for introspection and revocation.
///
/// Opaque tokens are only ever stored as their SHA-256, so they can be found by hash only;
/// JWTs are also found by `jti`. `Debug` prints only a short prefix of the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token string as sent to the client (opaque token or compact JWT);
    /// exactly 32 bytes.
    pub hash: Vec<u8>,
    /// Unique token identifier (the JWT `jti`; also set for opaque tokens).
    pub jti: String,
    /// The client the token was issued to; only it may revoke the token.
    pub client_id: String,
    /// `"jwt"` or `"opaque"` (see [`TOKEN_FORMATS`]).
    pub format: String,
    /// The token's claims as JSON text, including `cnf` when the token is certificate-bound.
    pub claims: String,
    /// When the token was issued (seconds since the Unix epoch).
    pub issued_at: i64,
    /// When the token expires (seconds since the Unix epoch).
    pub expires_at: i64,
    /// When the token was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("hash", &HashPrefix(&self.hash))
            .field("jti", &self.jti)
            .field("client_id", &self.client_id)
            .field("format", &self.format)
            .field("claims", &self.claims)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// How to find a token: opaque tokens by the SHA-256 of the token, JWTs by `jti` (or hash).
/// `Debug` prints only a short prefix of a hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TokenLookup<'a> {
    /// SHA-256 of the token string.
    Hash(&'a [u8]),
    /// The JWT `jti`.
    Jti(&'a str),
}

impl fmt::Debug for TokenLookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenLookup::Hash(hash) => f.debug_tuple("Hash").field(&HashPrefix(hash)).finish(),
            TokenLookup::Jti(jti) => f.debug_tuple("Jti").field(jti).finish(),
        }
    }
}

/// Shows the first 4 bytes of a hash in hex, enough to correlate log lines, not to look up.
struct HashPrefix<'a>(&'a [u8]);

impl fmt::Debug for HashPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.iter().take(4) {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…({} bytes)", self.0.len())
    }
}
