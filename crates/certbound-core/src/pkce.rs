//! PKCE (RFC 7636) the FAPI 2.0 way: `S256` only, and no downgrade.
//!
//! At the authorization endpoint (and at PAR) [`CodeChallenge::from_request`] refuses a request
//! without a challenge, without a `code_challenge_method` (RFC 7636 §4.3 makes that `plain`) or with
//! `plain`. At the token endpoint [`check_token_request`] refuses a verifier for a code issued
//! without a challenge (RFC 9700 §4.8.2) and a code with a challenge but no verifier, then compares
//! `base64url(SHA-256(verifier))` with the stored challenge in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The only `code_challenge_method` certbound accepts, and the only one it advertises
/// (`code_challenge_methods_supported`).
pub const S256: &str = "S256";

/// Length of an S256 challenge: 32 bytes of SHA-256 in unpadded base64url.
pub const S256_CHALLENGE_LEN: usize = 43;

/// Shortest `code_verifier` (RFC 7636 §4.1).
pub const MIN_VERIFIER_LEN: usize = 43;

/// Longest `code_verifier` (RFC 7636 §4.1).
pub const MAX_VERIFIER_LEN: usize = 128;

/// Why a PKCE parameter was refused. The authorization endpoint and PAR answer
/// `invalid_request`; the token endpoint answers `invalid_grant` for every variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.description())]
pub enum PkceError {
    /// No `code_challenge` in the authorization request (FAPI 2.0 §5.3.2.2-5).
    MissingChallenge,
    /// A `code_challenge` without `code_challenge_method`, which RFC 7636 §4.3 defines as `plain`.
    MissingMethod,
    /// `code_challenge_method=plain`, or an unknown method.
    UnsupportedMethod,
    /// A `code_challenge_method` without a `code_challenge`.
    MethodWithoutChallenge,
    /// The challenge is not 43 base64url characters.
    MalformedChallenge,
    /// The code was issued with a challenge and the token request has no `code_verifier`.
    MissingVerifier,
    /// A `code_verifier` for a code issued without a challenge: a PKCE downgrade (RFC 9700 §4.8.2).
    VerifierWithoutChallenge,
    /// The verifier is not 43-128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    MalformedVerifier,
    /// The verifier does not hash to the challenge.
    Mismatch,
}

impl PkceError {
    /// The message for the client (`error_description`); it quotes nothing from the request.
    pub fn description(self) -> &'static str {
        match self {
            PkceError::MissingChallenge => "code_challenge is required",
            PkceError::MissingMethod => "code_challenge_method is required and must be S256",
            PkceError::UnsupportedMethod => "code_challenge_method must be S256",
            PkceError::MethodWithoutChallenge => {
                "code_challenge_method was sent without code_challenge"
            }
            PkceError::MalformedChallenge => {
                "code_challenge is not an S256 challenge (43 base64url characters)"
            }
            PkceError::MissingVerifier => "code_verifier is required",
            PkceError::VerifierWithoutChallenge => {
                "code_verifier sent for an authorization code issued without code_challenge"
            }
            PkceError::MalformedVerifier => "code_verifier is malformed",
            PkceError::Mismatch => "code_verifier does not match the code_challenge",
        }
    }
}

impl From<PkceError> for crate::error::OAuthError {
    /// The token endpoint's answer: `invalid_grant` for every PKCE failure (RFC 7636 §4.6).
    fn from(e: PkceError) -> Self {
        crate::error::OAuthError::new(crate::error::OAuthErrorCode::InvalidGrant, e.description())
    }
}

/// An S256 code challenge, validated: 43 base64url characters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge of an authorization request from its `code_challenge` and
    /// `code_challenge_method` parameters: both required, method `S256` only.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<CodeChallenge, PkceError> {
        match (challenge, method) {
            (None, None) => Err(PkceError::MissingChallenge),
            (None, Some(_)) => Err(PkceError::MethodWithoutChallenge),
            (Some(_), None) => Err(PkceError::MissingMethod),
            (Some(_), Some(m)) if m != S256 => Err(PkceError::UnsupportedMethod),
            (Some(c), Some(_)) => CodeChallenge::parse(c),
        }
    }

    /// An S256 challenge value, e.g. read back from the store.
    pub fn parse(challenge: &str) -> Result<CodeChallenge, PkceError> {
        let well_formed = challenge.len() == S256_CHALLENGE_LEN
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(CodeChallenge(challenge.to_owned()))
        } else {
            Err(PkceError::MalformedChallenge)
        }
    }

    /// The S256 challenge of a verifier: `base64url(SHA-256(ASCII(verifier)))`. Clients compute
    /// this; the server uses it only through [`CodeChallenge::verify`] and in tests.
    pub fn s256_of(verifier: &str) -> CodeChallenge {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        CodeChallenge(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }

    /// The challenge text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The method, always `S256`.
    pub fn method(&self) -> &'static str {
        S256
    }

    /// Whether `verifier` is well formed and hashes to this challenge; compared in constant time.
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        if !verifier_is_well_formed(verifier) {
            return Err(PkceError::MalformedVerifier);
        }
        use subtle::ConstantTimeEq;
        let computed = CodeChallenge::s256_of(verifier);
        let (a, b) = (computed.0.as_bytes(), self.0.as_bytes());
        if a.len() == b.len() && bool::from(a.ct_eq(b)) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = PkceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CodeChallenge::parse(&value)
    }
}

impl From<CodeChallenge> for String {
    fn from(c: CodeChallenge) -> String {
        c.0
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge(S256, {})", self.0)
    }
}

/// Whether a `code_verifier` has RFC 7636 §4.1 syntax: 43-128 characters of `[A-Za-z0-9-._~]`.
pub fn verifier_is_well_formed(verifier: &str) -> bool {
    (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The PKCE check of a token request for an authorization code: `stored` is the challenge the code
/// was issued with (`None` for a code issued without one), `verifier` the `code_verifier`
/// parameter. Both present and matching, or both absent; anything else is refused, so a verifier
/// can never be used to redeem a code issued without a challenge (downgrade, RFC 9700 §4.8.2).
/// Under FAPI every code has a challenge, so `(None, None)` does not arise there.
pub fn check_token_request(
    stored: Option<&CodeChallenge>,
    verifier: Option<&str>,
) -> Result<(), PkceError> {
    match (stored, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(PkceError::VerifierWithoutChallenge),
        (Some(_), None) => Err(PkceError::MissingVerifier),
        (Some(challenge), Some(v)) => challenge.verify(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        assert_eq!(CodeChallenge::s256_of(VERIFIER).as_str(), CHALLENGE);
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.method(), "S256");
        assert_eq!(c.verify(VERIFIER), Ok(()));
        assert_eq!(check_token_request(Some(&c), Some(VERIFIER)), Ok(()));
    }

    #[test]
    fn authorization_request_refusals() {
        let cases: &[(Option<&str>, Option<&str>, PkceError)] = &[
            (None, None, PkceError::MissingChallenge),
            (None, Some("S256"), PkceError::MethodWithoutChallenge),
            (Some(CHALLENGE), None, PkceError::MissingMethod),
            (Some(CHALLENGE), Some("plain"), PkceError::UnsupportedMethod),
            (Some(CHALLENGE), Some("s256"), PkceError::UnsupportedMethod),
            (Some(CHALLENGE), Some("S257"), PkceError::UnsupportedMethod),
            (Some(VERIFIER), Some("S256"), PkceError::Mismatch), // well formed; see below
            (Some("short"), Some("S256"), PkceError::MalformedChallenge),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="),
                Some("S256"),
                PkceError::MalformedChallenge,
            ),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256"),
                PkceError::MalformedChallenge,
            ),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMx"),
                Some("S256"),
                PkceError::MalformedChallenge,
            ),
        ];
        for (challenge, method, want) in cases {
            let got = CodeChallenge::from_request(*challenge, *method);
            if *want == PkceError::Mismatch {
                // A 43-character verifier is syntactically a challenge; it just won't match.
                assert!(got.is_ok(), "{challenge:?} {method:?}");
                assert_eq!(got.unwrap().verify(VERIFIER), Err(PkceError::Mismatch));
            } else {
                assert_eq!(got, Err(*want), "{challenge:?} {method:?}");
            }
        }
    }

    #[test]
    fn token_request_refusals_including_downgrade() {
        let c = CodeChallenge::parse(CHALLENGE).unwrap();
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
        type Case<'a> = (
            Option<&'a CodeChallenge>,
            Option<&'a str>,
            Result<(), PkceError>,
        );
        let cases: &[Case] = &[
            (None, None, Ok(())),
            (
                None,
                Some(VERIFIER),
                Err(PkceError::VerifierWithoutChallenge),
            ),
            (Some(&c), None, Err(PkceError::MissingVerifier)),
            (Some(&c), Some(wrong), Err(PkceError::Mismatch)),
            (Some(&c), Some("short"), Err(PkceError::MalformedVerifier)),
            (
                Some(&c),
                Some(&"a".repeat(129)),
                Err(PkceError::MalformedVerifier),
            ),
            (
                Some(&c),
                Some("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                Err(PkceError::MalformedVerifier),
            ),
            // The challenge itself is not a verifier for itself.
            (Some(&c), Some(CHALLENGE), Err(PkceError::Mismatch)),
            (Some(&c), Some(VERIFIER), Ok(())),
        ];
        for (stored, verifier, want) in cases {
            assert_eq!(
                check_token_request(*stored, *verifier),
                *want,
                "{verifier:?}"
            );
        }
    }

    #[test]
    fn verifier_syntax_bounds() {
        assert!(verifier_is_well_formed(&"a".repeat(43)));
        assert!(verifier_is_well_formed(&"~._-".repeat(32)));
        assert!(!verifier_is_well_formed(&"a".repeat(42)));
        assert!(!verifier_is_well_formed(&"é".repeat(43)));
        assert!(!verifier_is_well_formed(&format!("{} ", "a".repeat(43))));
    }

    #[test]
    fn serde_round_trip_validates() {
        let c = CodeChallenge::parse(CHALLENGE).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{CHALLENGE}\""));
        assert_eq!(serde_json::from_str::<CodeChallenge>(&json).unwrap(), c);
        assert!(serde_json::from_str::<CodeChallenge>("\"plain-value\"").is_err());
    }
}
