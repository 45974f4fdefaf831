//! DPoP (RFC 9449) on the resource side: the proof check of a DPoP-bound access token and the
//! gateway's `jti` replay cache.
//!
//! The proof rules themselves are certbound-core's [`DpopProof::verify`]; this module adds what
//! needs state or configuration: the allowed algorithms and `iat` window, the expected `htu`
//! (the caller's public URL for the request, never the `Host` header as sent), and a bounded
//! in-memory replay cache keyed on the normalised `(jkt, htu, jti)`.
//!
//! The replay cache is local to one process. Several gateways behind one load balancer each
//! accept a proof once, so a captured proof can be replayed once per instance within the
//! window. Server nonces (`[dpop] use_nonce`, RFC 9449 §9) narrow that gap without shared
//! state: a proof must carry a nonce of the current or previous rotation window, so it cannot
//! be made in advance and dies with its nonce; gateways sharing `nonce_secret_file` accept each
//! other's nonces. A proof without an acceptable nonce is answered `use_dpop_nonce` and is not
//! recorded.

use certbound_core::dpop::{
    DpopAlg, DpopError, DpopProof, NonceScheme, ProofExpectations, VerifiedProof,
};
use certbound_net::secret_file::NonceKeyError;
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `[dpop]` of the gateway configuration, and the settings of [`DpopChecker`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopConfig {
    /// The public origin clients address (`https://api.example.com`), when the gateway sits
    /// behind a proxy or load balancer that changes the authority. The proof's `htu` must be
    /// this origin plus the request path. Default: `https://` and the request's authority, as
    /// checked against `[listen] server_names`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How old a proof's `iat` may be, in seconds.
    #[serde(default = "default_max_age")]
    pub proof_max_age_seconds: u32,
    /// How far in the future a proof's `iat` may be (clock skew), in seconds.
    #[serde(default = "default_max_future")]
    pub proof_max_future_seconds: u32,
    /// How many proof `jti`s are remembered at most. When full (every entry still within its
    /// window), new proofs are refused rather than accepted unrecorded.
    #[serde(default = "default_replay_entries")]
    pub replay_cache_entries: usize,
    /// Require server nonces in proofs (RFC 9449 §9): a proof without an acceptable `nonce`
    /// is answered 401 `use_dpop_nonce` with a `DPoP-Nonce` header.
    #[serde(default)]
    pub use_nonce: bool,
    /// How often the nonce changes, in seconds (1 to 3600); a nonce is accepted for one to two
    /// periods.
    #[serde(default = "default_nonce_rotation")]
    pub nonce_rotation_seconds: u32,
    /// A file holding the nonce key (at least 32 bytes, used as they are; mode 0600 or
    /// stricter), shared by every gateway behind one public URL. Without it the key is random
    /// per process, and gateways refuse each other's nonces.
    #[serde(default)]
    pub nonce_secret_file: Option<PathBuf>,
}

fn default_max_age() -> u32 {
    60
}
fn default_max_future() -> u32 {
    10
}
fn default_replay_entries() -> usize {
    100_000
}
fn default_nonce_rotation() -> u32 {
    300
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            public_url: None,
            proof_max_age_seconds: default_max_age(),
            proof_max_future_seconds: default_max_future(),
            replay_cache_entries: default_replay_entries(),
            use_nonce: false,
            nonce_rotation_seconds: default_nonce_rotation(),
            nonce_secret_file: None,
        }
    }
}

impl DpopConfig {
    /// The nonce scheme `use_nonce` asks for (`None` when it is off), keyed with
    /// `nonce_secret_file` or, without one, a random key of this process.
    pub fn nonce_scheme(&self) -> Result<Option<NonceScheme>, NonceKeyError> {
        if !self.use_nonce {
            return Ok(None);
        }
        certbound_net::secret_file::nonce_scheme(
            self.nonce_secret_file.as_deref(),
            self.nonce_rotation_seconds,
        )
        .map(Some)
    }
}

/// Why a DPoP proof was refused at a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefusal {
    /// No `DPoP` header, or more than one (RFC 9449 §4.3 step 1).
    #[error("exactly one DPoP header is required")]
    NotOneHeader,
    /// The resource has no public URL to compare `htu` with (a layer without `public_url`).
    #[error("this resource does not accept DPoP proofs")]
    NoPublicUrl,
    /// The proof broke a rule of RFC 9449 §4.3.
    #[error("{0}")]
    Invalid(DpopError),
    /// The proof's key is not the one the token is bound to (`cnf.jkt`).
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    KeyMismatch,
    /// The proof's `jti` was already used within its window.
    #[error("the DPoP proof was already used")]
    Replayed,
    /// The replay cache is full of live entries: the proof cannot be recorded, so it is refused.
    #[error("too many DPoP proofs; retry later")]
    CacheFull,
    /// The proof is good but its `nonce` is missing, stale or not ours: answer `use_dpop_nonce`
    /// with the current nonce (RFC 9449 §9).
    #[error("a DPoP nonce from the server is required")]
    NonceRequired,
}

/// Checks DPoP proofs and remembers their `jti`s. One per guard; cheap to share.
pub struct DpopChecker {
    algs: Vec<DpopAlg>,
    max_age: i64,
    max_future: i64,
    replay: ReplayCache,
    nonces: Option<NonceScheme>,
}

impl DpopChecker {
    /// A checker accepting the FAPI 2.0 algorithms ([`DpopAlg::ALL`]) with `config`'s window.
    pub fn new(config: &DpopConfig) -> Self {
        let max_age = i64::from(config.proof_max_age_seconds);
        let max_future = i64::from(config.proof_max_future_seconds);
        DpopChecker {
            algs: DpopAlg::ALL.to_vec(),
            max_age,
            max_future,
            // A proof is accepted while `now - max_age <= iat <= now + max_future`, so no later
            // than `max_age + max_future` seconds after it was first seen.
            replay: ReplayCache::new(
                config.replay_cache_entries,
                Duration::from_secs((max_age + max_future + 1).unsigned_abs()),
            ),
            nonces: None,
        }
    }

    /// The same checker requiring nonces of `nonces` in every proof.
    pub fn with_nonces(mut self, nonces: NonceScheme) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The nonce for a `DPoP-Nonce` header at `now`, when nonces are required: the same value
    /// for a whole rotation window.
    pub fn nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|n| n.issue(now))
    }

    /// The `algs` parameter of the `DPoP` challenge (RFC 9449 §7.1): `"PS256 ES256 EdDSA"`.
    pub fn algs(&self) -> String {
        self.algs
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks `proof` for a request with `method` to `htu`, presenting `access_token` bound to
    /// `jkt`; on success records its `jti`. Runs on every request: a token's cached validation
    /// never stands in for its proof. A proof refused for its nonce is not recorded.
    pub fn check(
        &self,
        proof: &str,
        method: &str,
        htu: &str,
        access_token: &str,
        jkt: &str,
        now: i64,
    ) -> Result<VerifiedProof, ProofRefusal> {
        let expect = ProofExpectations {
            htm: method,
            htu,
            access_token: Some(access_token),
            nonce: self.nonces.as_ref(),
            allowed_algs: &self.algs,
            max_age_seconds: self.max_age,
            max_future_seconds: self.max_future,
        };
        let verified = DpopProof::verify(proof, &expect, now).map_err(|e| match e {
            DpopError::UseNonce => ProofRefusal::NonceRequired,
            e => ProofRefusal::Invalid(e),
        })?;
        let binding = certbound_core::binding::Binding::Dpop {
            jkt: jkt.to_owned(),
        };
        binding
            .check_with_proof(None, Some(&verified))
            .map_err(|_| ProofRefusal::KeyMismatch)?;
        self.replay
            .record(&verified.jkt, &verified.htu, &verified.jti)?;
        Ok(verified)
    }
}

/// The `jti`s seen, as SHA-256 of the normalised `(jkt, htu, jti)`, each kept for the same
/// time, so insertion order is expiry order and expired entries are dropped from the front.
struct ReplayCache {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Seen>,
}

/// The recorded keys, and the same keys with their expiry in insertion order.
type Seen = (HashSet<[u8; 32]>, VecDeque<([u8; 32], Instant)>);

impl ReplayCache {
    fn new(capacity: usize, ttl: Duration) -> Self {
        ReplayCache {
            capacity,
            ttl,
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn record(&self, jkt: &str, htu: &str, jti: &str) -> Result<(), ProofRefusal> {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [jkt, htu, jti] {
            // Length-prefixed, so no two triples share an encoding.
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, order) = &mut *guard;
        while let Some((k, until)) = order.front() {
            if *until > now {
                break;
            }
            seen.remove(k);
            order.pop_front();
        }
        if seen.contains(&key) {
            return Err(ProofRefusal::Replayed);
        }
        if seen.len() >= self.capacity {
            tracing::warn!(
                capacity = self.capacity,
                "DPoP replay cache full; refusing new proofs until entries expire"
            );
            return Err(ProofRefusal::CacheFull);
        }
        seen.insert(key);
        order.push_back((key, now + self.ttl));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_refused_and_the_cache_is_bounded() {
        let c = ReplayCache::new(2, Duration::from_secs(60));
        assert_eq!(c.record("k", "https://a:443/x", "1"), Ok(()));
        assert_eq!(
            c.record("k", "https://a:443/x", "1"),
            Err(ProofRefusal::Replayed)
        );
        // Another key, URL or jti is another entry; no ambiguity between the parts.
        assert_eq!(c.record("k1", "https://a:443/x", ""), Ok(()));
        assert_eq!(
            c.record("k", "https://a:443/y", "1"),
            Err(ProofRefusal::CacheFull)
        );
        let expired = ReplayCache::new(1, Duration::ZERO);
        assert_eq!(expired.record("k", "u", "1"), Ok(()));
        assert_eq!(expired.record("k", "u", "2"), Ok(()));
    }

    #[test]
    fn the_challenge_lists_the_fapi_algorithms() {
        let c = DpopChecker::new(&DpopConfig::default());
        assert_eq!(c.algs(), "PS256 ES256 EdDSA");
    }
}
