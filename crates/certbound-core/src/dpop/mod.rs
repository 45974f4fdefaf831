//! DPoP (RFC 9449): the pure rules for a proof JWT and for JWK thumbprints.
//!
//! [`DpopProof::verify`] checks one `DPoP` header value against what the endpoint expects
//! ([`ProofExpectations`]) and returns the key thumbprint the token is (or must be) bound to.
//! The `jti` replay check stays with the caller because it needs state (a store shared by every
//! instance, keyed on the normalised values in [`VerifiedProof`]). Server nonces need none:
//! [`NonceScheme`] issues and checks stateless, HMAC-keyed, rotating nonces. Nothing here reads
//! a clock; `now` is a parameter.

mod htu;
mod nonce;
mod proof;
mod thumbprint;

pub use nonce::{
    NonceScheme, NonceSchemeError, MAX_NONCE_ROTATION_SECONDS, MIN_NONCE_SECRET_BYTES, NONCE_CHARS,
};
pub use proof::{DpopProof, ProofExpectations, VerifiedProof, MAX_JTI_BYTES, MAX_PROOF_BYTES};
pub use thumbprint::jwk_thumbprint;

/// A signature algorithm accepted for DPoP proofs: the FAPI 2.0 set (FAPI 2.0 §5.4.1, RFC 8725).
///
/// `none`, the HMAC algorithms and RS256 have no variant, so no configuration can allow them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DpopAlg {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PSS with SHA-256 (RSA keys of at least 2048 bits).
    Ps256,
    /// Ed25519.
    EdDsa,
}

impl DpopAlg {
    /// Every accepted algorithm, in the order metadata lists them
    /// (`dpop_signing_alg_values_supported`).
    pub const ALL: [DpopAlg; 3] = [DpopAlg::Ps256, DpopAlg::Es256, DpopAlg::EdDsa];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopAlg::Es256 => "ES256",
            DpopAlg::Ps256 => "PS256",
            DpopAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `alg`, if it is one of ours (exact, case-sensitive, RFC 7515 §4.1.1).
    pub fn from_name(alg: &str) -> Option<Self> {
        DpopAlg::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            DpopAlg::Es256 => jsonwebtoken::Algorithm::ES256,
            DpopAlg::Ps256 => jsonwebtoken::Algorithm::PS256,
            DpopAlg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// Why a DPoP proof was refused.
///
/// Every variant but [`DpopError::UseNonce`] is `invalid_dpop_proof` (RFC 9449 §5: 400 at the
/// authorization server, §7.1: 401 with `WWW-Authenticate: DPoP` at a resource server). The
/// messages are fixed texts: they never echo the proof, a claim or the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// The proof is longer than [`MAX_PROOF_BYTES`].
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// Not one compact JWS with a JSON object header and claims set.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// The header `typ` is not `dpop+jwt`.
    #[error("the DPoP proof must have typ \"dpop+jwt\"")]
    WrongType,
    /// The header `alg` is missing or not an allowed asymmetric algorithm.
    #[error("the DPoP proof is signed with an algorithm that is not allowed")]
    UnsupportedAlg,
    /// The header names a critical extension certbound does not implement (RFC 7515 §4.1.11).
    #[error("the DPoP proof has an unsupported critical header")]
    CriticalHeader,
    /// No `jwk` object in the header.
    #[error("the DPoP proof has no jwk header")]
    MissingKey,
    /// The `jwk` carries private key material.
    #[error("the DPoP proof jwk must be a public key")]
    PrivateKey,
    /// The `jwk` is malformed, too weak, or of a type that does not match `alg`.
    #[error("the DPoP proof jwk is not a usable public key for its alg")]
    BadKey,
    /// The signature does not verify with the `jwk`.
    #[error("the DPoP proof signature is invalid")]
    BadSignature,
    /// A required claim is missing or has the wrong JSON type.
    #[error("the DPoP proof lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `jti` is empty or longer than [`MAX_JTI_BYTES`].
    #[error("the DPoP proof jti is empty or too long")]
    BadJti,
    /// `htm` is not the method of the request.
    #[error("the DPoP proof htm does not match the request method")]
    MethodMismatch,
    /// `htu` is not the URL of this endpoint.
    #[error("the DPoP proof htu does not match this endpoint")]
    UrlMismatch,
    /// `iat` is older than the acceptance window.
    #[error("the DPoP proof is too old")]
    Stale,
    /// `iat` is further in the future than the allowed clock skew.
    #[error("the DPoP proof is issued in the future")]
    Future,
    /// `ath` is not the hash of the presented access token.
    #[error("the DPoP proof ath does not match the access token")]
    AccessTokenHash,
    /// The server requires a nonce and the proof has none or another one: answer
    /// `use_dpop_nonce` with a fresh `DPoP-Nonce` (RFC 9449 §8, §9).
    #[error("a DPoP nonce from the server is required")]
    UseNonce,
}

impl DpopError {
    /// The OAuth `error` code: `use_dpop_nonce` or `invalid_dpop_proof` (RFC 9449 §12.2).
    pub fn error_code(self) -> &'static str {
        match self {
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }

    /// The `error_description`: a fixed text, safe in a JSON body and a `WWW-Authenticate`
    /// header (no quotes, CR, LF or TAB).
    pub fn description(self) -> String {
        self.to_string().replace('"', "'")
    }
}
