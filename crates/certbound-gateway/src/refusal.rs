//! Why the resource side refused a request: one closed list, with a stable label for the
//! `certbound_gateway_refused_total{reason}` metric and the `gateway_refused` audit line.
//!
//! The labels are an interface (dashboards and alerts are written against them): add variants,
//! never rename one. `binding_mismatch` is the headline security signal: a certificate-bound
//! token presented with another certificate, i.e. a stolen token being replayed.

use crate::bearer::BearerError;
use crate::binding::BindingError;
use crate::dpop::ProofRefusal;
use crate::tokens::TokenError;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// The bearer request itself is wrong: token in the query, two `Authorization` headers, or a
    /// value that is not b64token syntax (RFC 6750 §2).
    InvalidRequest,
    /// Not a JWT (or an opaque token where none are accepted), or claims that do not parse.
    MalformedToken,
    /// `alg` is not on the allow-list (`none`, HMAC, or not configured).
    AlgorithmNotAllowed,
    /// `typ` is not `at+jwt`, or a `crit` header is present.
    WrongType,
    /// No published key has the token's `kid`.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// `cnf` holds a confirmation method other than `x5t#S256`.
    UnsupportedConfirmation,
    /// The authorization server says the opaque token is not active (revoked, expired or unknown).
    IntrospectionInactive,
    /// The route requires a certificate-bound token and this one is a plain bearer token.
    UnboundToken,
    /// The token is bound but the request came without a client certificate.
    NoCertificate,
    /// The token is bound to another certificate than the one presented.
    BindingMismatch,
    /// The token lacks a scope the route requires.
    InsufficientScope,
    /// The authorization server (JWKS refresh or introspection) could not be reached.
    AuthorizationServerUnavailable,
    /// The gateway has not yet discovered the authorization server (it is starting, or the AS
    /// has been unreachable since it started).
    NotReady,
    /// The presenting certificate made too many introspection calls (cache misses: new or
    /// garbage opaque tokens); answered 429.
    IntrospectionRateLimited,
    /// The DPoP proof is missing, repeated or breaks a rule of RFC 9449 §4.3 (signature, `typ`,
    /// `alg`, `htm`, `htu`, `iat`, `ath` ...).
    DpopProofInvalid,
    /// The DPoP proof's `jti` was already used (a replayed proof).
    DpopReplayed,
    /// The DPoP proof is signed by another key than the token's `cnf.jkt`: a stolen DPoP-bound
    /// token presented with the thief's own key.
    DpopKeyMismatch,
    /// A DPoP-bound token sent as `Bearer`, or a token that is not DPoP-bound sent as `DPoP`.
    DpopSchemeMismatch,
    /// The token is bound by the kind of proof of possession this route does not accept
    /// (certificate on a DPoP-only route, or the reverse).
    BindingKindNotAccepted,
    /// The DPoP replay cache is full of live entries; the proof could not be recorded.
    DpopReplayCacheFull,
    /// Server nonces are on and the proof's `nonce` is missing, stale or not ours: answered
    /// `use_dpop_nonce` with the nonce to use (a normal first request, not an attack).
    DpopNonceRequired,
}

impl RefusalReason {
    /// Every reason, in a fixed order (the gateway creates each series at zero, so
    /// `rate(...)` and alerts work before the first refusal).
    pub const ALL: [RefusalReason; 27] = [
        RefusalReason::MissingToken,
        RefusalReason::InvalidRequest,
        RefusalReason::MalformedToken,
        RefusalReason::AlgorithmNotAllowed,
        RefusalReason::WrongType,
        RefusalReason::UnknownKid,
        RefusalReason::BadSignature,
        RefusalReason::Expired,
        RefusalReason::NotYetValid,
        RefusalReason::WrongIssuer,
        RefusalReason::WrongAudience,
        RefusalReason::UnsupportedConfirmation,
        RefusalReason::IntrospectionInactive,
        RefusalReason::UnboundToken,
        RefusalReason::NoCertificate,
        RefusalReason::BindingMismatch,
        RefusalReason::InsufficientScope,
        RefusalReason::AuthorizationServerUnavailable,
        RefusalReason::NotReady,
        RefusalReason::IntrospectionRateLimited,
        RefusalReason::DpopProofInvalid,
        RefusalReason::DpopReplayed,
        RefusalReason::DpopKeyMismatch,
        RefusalReason::DpopSchemeMismatch,
        RefusalReason::BindingKindNotAccepted,
        RefusalReason::DpopReplayCacheFull,
        RefusalReason::DpopNonceRequired,
    ];

    /// The stable label (`binding_mismatch`, `expired` ...).
    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::MissingToken => "missing_token",
            RefusalReason::InvalidRequest => "invalid_request",
            RefusalReason::MalformedToken => "malformed_token",
            RefusalReason::AlgorithmNotAllowed => "algorithm_not_allowed",
            RefusalReason::WrongType => "wrong_type",
            RefusalReason::UnknownKid => "unknown_kid",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::Expired => "expired",
            RefusalReason::NotYetValid => "not_yet_valid",
            RefusalReason::WrongIssuer => "wrong_issuer",
            RefusalReason::WrongAudience => "wrong_audience",
            RefusalReason::UnsupportedConfirmation => "unsupported_confirmation",
            RefusalReason::IntrospectionInactive => "introspection_inactive",
            RefusalReason::UnboundToken => "unbound_token",
            RefusalReason::NoCertificate => "no_certificate",
            RefusalReason::BindingMismatch => "binding_mismatch",
            RefusalReason::InsufficientScope => "insufficient_scope",
            RefusalReason::AuthorizationServerUnavailable => "authorization_server_unavailable",
            RefusalReason::NotReady => "not_ready",
            RefusalReason::IntrospectionRateLimited => "introspection_rate_limited",
            RefusalReason::DpopProofInvalid => "dpop_proof_invalid",
            RefusalReason::DpopReplayed => "dpop_replayed",
            RefusalReason::DpopKeyMismatch => "dpop_key_mismatch",
            RefusalReason::DpopSchemeMismatch => "dpop_scheme_mismatch",
            RefusalReason::BindingKindNotAccepted => "binding_kind_not_accepted",
            RefusalReason::DpopReplayCacheFull => "dpop_replay_cache_full",
            RefusalReason::DpopNonceRequired => "dpop_nonce_required",
        }
    }
}

impl RefusalReason {
    /// What the client is told (`error_description`): safe to show, no detail an attacker
    /// could use beyond the reason itself.
    pub fn description(self) -> &'static str {
        match self {
            RefusalReason::MissingToken => "an access token is required",
            RefusalReason::InvalidRequest => "malformed bearer request",
            RefusalReason::MalformedToken => "malformed token",
            RefusalReason::AlgorithmNotAllowed => "signing algorithm not allowed",
            RefusalReason::WrongType => "not an access token",
            RefusalReason::UnknownKid => "unknown signing key",
            RefusalReason::BadSignature => "invalid signature",
            RefusalReason::Expired => "token expired",
            RefusalReason::NotYetValid => "token not yet valid",
            RefusalReason::WrongIssuer => "wrong issuer",
            RefusalReason::WrongAudience => "wrong audience",
            RefusalReason::UnsupportedConfirmation => "unsupported confirmation method",
            RefusalReason::IntrospectionInactive => "token is not active",
            RefusalReason::UnboundToken => "this resource requires a certificate-bound token",
            RefusalReason::NoCertificate => {
                "the token is bound to a certificate but none was presented"
            }
            RefusalReason::BindingMismatch => "the token is bound to another certificate",
            RefusalReason::InsufficientScope => "the token lacks a required scope",
            RefusalReason::AuthorizationServerUnavailable => {
                "the authorization server is unavailable"
            }
            RefusalReason::NotReady => "the gateway has not reached the authorization server yet",
            RefusalReason::IntrospectionRateLimited => {
                "too many new tokens from this certificate; retry later"
            }
            RefusalReason::DpopProofInvalid => "invalid DPoP proof",
            RefusalReason::DpopReplayed => "the DPoP proof was already used",
            RefusalReason::DpopKeyMismatch => "the DPoP proof is signed by another key",
            RefusalReason::DpopSchemeMismatch => {
                "the authorization scheme does not match the token's binding"
            }
            RefusalReason::BindingKindNotAccepted => {
                "this resource does not accept this kind of bound token"
            }
            RefusalReason::DpopReplayCacheFull => "too many DPoP proofs; retry later",
            RefusalReason::DpopNonceRequired => {
                "a DPoP nonce from the server is required: retry with the DPoP-Nonce header's value"
            }
        }
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl From<&TokenError> for RefusalReason {
    fn from(e: &TokenError) -> Self {
        match e {
            TokenError::Malformed => RefusalReason::MalformedToken,
            TokenError::AlgorithmNotAllowed => RefusalReason::AlgorithmNotAllowed,
            TokenError::WrongType => RefusalReason::WrongType,
            TokenError::UnknownKey => RefusalReason::UnknownKid,
            TokenError::BadSignature => RefusalReason::BadSignature,
            TokenError::Expired => RefusalReason::Expired,
            TokenError::NotYetValid => RefusalReason::NotYetValid,
            TokenError::WrongIssuer => RefusalReason::WrongIssuer,
            TokenError::WrongAudience => RefusalReason::WrongAudience,
            TokenError::UnsupportedConfirmation => RefusalReason::UnsupportedConfirmation,
            TokenError::Inactive => RefusalReason::IntrospectionInactive,
            TokenError::Unavailable(_) => RefusalReason::AuthorizationServerUnavailable,
            TokenError::RateLimited(_) => RefusalReason::IntrospectionRateLimited,
        }
    }
}

impl From<BindingError> for RefusalReason {
    fn from(e: BindingError) -> Self {
        match e {
            BindingError::NotBound => RefusalReason::UnboundToken,
            BindingError::NoCertificate => RefusalReason::NoCertificate,
            BindingError::Mismatch => RefusalReason::BindingMismatch,
            BindingError::KindNotAccepted => RefusalReason::BindingKindNotAccepted,
        }
    }
}

impl From<ProofRefusal> for RefusalReason {
    fn from(e: ProofRefusal) -> Self {
        match e {
            ProofRefusal::NotOneHeader | ProofRefusal::NoPublicUrl | ProofRefusal::Invalid(_) => {
                RefusalReason::DpopProofInvalid
            }
            ProofRefusal::KeyMismatch => RefusalReason::DpopKeyMismatch,
            ProofRefusal::Replayed => RefusalReason::DpopReplayed,
            ProofRefusal::CacheFull => RefusalReason::DpopReplayCacheFull,
            ProofRefusal::NonceRequired => RefusalReason::DpopNonceRequired,
        }
    }
}

impl From<BearerError> for RefusalReason {
    fn from(_: BearerError) -> Self {
        RefusalReason::InvalidRequest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn labels_are_distinct_snake_case_and_all_listed() {
        let labels: HashSet<&str> = RefusalReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), RefusalReason::ALL.len());
        for l in &labels {
            assert!(
                l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{l}"
            );
        }
        // Every token and binding error maps into the list.
        for e in [
            TokenError::Malformed,
            TokenError::Expired,
            TokenError::Inactive,
            TokenError::Unavailable("x".into()),
        ] {
            assert!(RefusalReason::ALL.contains(&RefusalReason::from(&e)));
        }
        assert_eq!(
            RefusalReason::from(BindingError::Mismatch).label(),
            "binding_mismatch"
        );
    }
}
