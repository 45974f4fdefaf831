//! The one access decision of the resource side, used by the gateway and by the tower layer:
//! access token (`Bearer` or `DPoP`) → validated JWT (or opaque → JWT) → binding (the
//! certificate, or a DPoP proof of the bound key) → scopes.

use crate::bearer::{presented_token, AuthScheme, BearerError, Rejection};
use crate::binding::{check_binding, check_kind, SenderConstraint};
use crate::dpop::{DpopChecker, DpopConfig, ProofRefusal};
use crate::refusal::RefusalReason;
use crate::tokens::{Introspector, TokenError, VerifiedToken, Verifier};
use certbound_core::dpop::NonceScheme;
use certbound_core::ClientCertificate;
use http::{HeaderMap, Method, Uri};
use std::sync::Arc;

/// What a protected resource requires of a token.
#[derive(Clone, Debug, Default)]
pub struct Requirements {
    /// Refuse plain bearer tokens (bound tokens are always checked against the certificate).
    /// `true` means certificate-bound tokens only, unless [`TokenGuard::decide`] is given
    /// another [`SenderConstraint`].
    pub require_bound: bool,
    /// Scopes that must all have been granted.
    pub scopes: Vec<String>,
}

/// The parts of one request the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// The request method (the DPoP proof's `htm`).
    pub method: &'a Method,
    /// The request target (its query is checked for `access_token=`).
    pub uri: &'a Uri,
    /// The request headers (`Authorization`, `DPoP`).
    pub headers: &'a HeaderMap,
    /// The client certificate of the connection.
    pub certificate: Option<&'a ClientCertificate>,
    /// The public URL of this request (scheme, authority and path as clients address it), the
    /// expected DPoP `htu`. Built from configuration or a validated authority, never from the
    /// `Host` header as sent. `None`: DPoP-bound tokens are refused.
    pub htu: Option<&'a str>,
}

/// Checks requests against one authorization server's tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenGuard {
    verifier: Verifier,
    introspector: Option<Introspector>,
    realm: Arc<str>,
    dpop: Arc<DpopChecker>,
    dpop_algs: Arc<str>,
    dpop_config: DpopConfig,
}

impl TokenGuard {
    /// A guard that verifies JWTs with `verifier` and, when `introspector` is given, accepts
    /// opaque tokens by exchanging them for their JWT. DPoP proofs get the default settings
    /// ([`TokenGuard::with_dpop`] changes them).
    pub fn new(
        verifier: Verifier,
        introspector: Option<Introspector>,
        realm: impl Into<String>,
    ) -> Self {
        TokenGuard {
            verifier,
            introspector,
            realm: Arc::from(realm.into()),
            dpop: Arc::new(DpopChecker::new(&DpopConfig::default())),
            dpop_algs: Arc::from(DpopChecker::new(&DpopConfig::default()).algs()),
            dpop_config: DpopConfig::default(),
        }
    }

    /// The same guard with `config`'s DPoP proof window and replay cache size (a new, empty
    /// replay cache, and no nonces: `use_nonce` is not read here; pass
    /// [`DpopConfig::nonce_scheme`] to [`TokenGuard::with_dpop_nonces`]).
    pub fn with_dpop(mut self, config: &DpopConfig) -> Self {
        let checker = DpopChecker::new(config);
        self.dpop_algs = Arc::from(checker.algs());
        self.dpop = Arc::new(checker);
        self.dpop_config = config.clone();
        self
    }

    /// The same guard requiring server nonces of `nonces` in DPoP proofs (RFC 9449 §9; build
    /// it with [`DpopConfig::nonce_scheme`]); call after [`TokenGuard::with_dpop`].
    pub fn with_dpop_nonces(mut self, nonces: NonceScheme) -> Self {
        self.dpop = Arc::new(DpopChecker::new(&self.dpop_config).with_nonces(nonces));
        self
    }

    /// The nonce for a `DPoP-Nonce` header on a response to a DPoP request, when nonces are
    /// required (the same value for a whole rotation window).
    pub fn dpop_nonce(&self) -> Option<String> {
        self.dpop.nonce(crate::tokens::now_secs())
    }

    /// The verifier (for its metadata).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Decides one request presented with `Bearer` (the method and public URL are unknown
    /// here, so DPoP-bound tokens are refused). The binding is checked on every call, also when
    /// the token's validation was cached.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        certificate: Option<&ClientCertificate>,
        req: &Requirements,
    ) -> Result<VerifiedToken, Rejection> {
        let presented = Presented {
            method: &Method::GET,
            uri,
            headers,
            certificate,
            htu: None,
        };
        self.decide(&presented, req, SenderConstraint::None).await
    }

    /// Decides one request: the token (`Authorization: Bearer` or `DPoP`), then the kind of its
    /// binding against `constraint` (with `req.require_bound` read as
    /// [`SenderConstraint::Certificate`] when `constraint` is `None`), then the binding itself
    /// (the certificate, or a DPoP proof by the bound key, checked on every request and never
    /// cached), then the scopes.
    pub async fn decide(
        &self,
        p: &Presented<'_>,
        req: &Requirements,
        constraint: SenderConstraint,
    ) -> Result<VerifiedToken, Rejection> {
        let realm = &*self.realm;
        let algs = || self.dpop_algs.clone();
        let (scheme, token) = match presented_token(p.headers, p.uri.query()) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(Rejection::missing(realm).with_both_challenges(algs())),
            Err(
                e @ (BearerError::WrongMethod | BearerError::Repeated | BearerError::Malformed),
            ) => return Err(Rejection::invalid_request(realm, &e.to_string())),
        };
        let in_scheme = |r: Rejection| match scheme {
            AuthScheme::Bearer => r,
            AuthScheme::Dpop => r.with_dpop_challenge(algs()),
        };
        let verified = if token.split('.').count() == 3 {
            self.verifier.verify(token).await
        } else {
            match &self.introspector {
                Some(i) => {
                    i.exchange(token, p.certificate.map(|c| c.thumbprint()))
                        .await
                }
                None => Err(TokenError::Malformed),
            }
        };
        let verified = match verified {
            Ok(v) => v,
            Err(TokenError::Unavailable(reason)) => {
                tracing::warn!(%reason, "authorization server unavailable while checking a token");
                return Err(Rejection::unavailable(realm));
            }
            Err(TokenError::RateLimited(seconds)) => {
                return Err(Rejection::rate_limited(realm, seconds))
            }
            Err(e) => {
                return Err(in_scheme(Rejection::invalid_token(
                    realm,
                    RefusalReason::from(&e),
                )))
            }
        };
        let claims = &verified.claims;
        let refuse = |reason: RefusalReason| {
            Rejection::invalid_token(realm, reason).for_token(claims.clone())
        };
        let constraint = match constraint {
            SenderConstraint::None if req.require_bound => SenderConstraint::Certificate,
            c => c,
        };
        check_kind(claims, constraint).map_err(|e| in_scheme(refuse(e.into())))?;
        match (&claims.jkt, scheme) {
            (Some(_), AuthScheme::Bearer) => {
                // RFC 9449 §7.1: a DPoP-bound token is never accepted as a bearer token.
                return Err(refuse(RefusalReason::DpopSchemeMismatch).with_dpop_challenge(algs()));
            }
            (None, AuthScheme::Dpop) => {
                return Err(refuse(RefusalReason::DpopSchemeMismatch).with_dpop_challenge(algs()));
            }
            (Some(jkt), AuthScheme::Dpop) => {
                self.check_proof(p, token, jkt).map_err(|e| {
                    if let (ProofRefusal::NonceRequired, Some(nonce)) = (e, self.dpop_nonce()) {
                        return Rejection::use_dpop_nonce(realm, nonce, algs())
                            .for_token(claims.clone());
                    }
                    let reason = RefusalReason::from(e);
                    let description = match e {
                        ProofRefusal::Invalid(d) => d.description(),
                        other => other.to_string(),
                    };
                    tracing::debug!(%reason, "DPoP proof refused");
                    Rejection::invalid_dpop_proof(realm, reason, &description, algs())
                        .for_token(claims.clone())
                })?;
            }
            (None, AuthScheme::Bearer) => {
                check_binding(claims, p.certificate, req.require_bound)
                    .map_err(|e| refuse(e.into()))?;
            }
        }
        if !claims.has_scopes(&req.scopes) {
            return Err(in_scheme(
                Rejection::insufficient_scope(realm, &req.scopes).for_token(claims.clone()),
            ));
        }
        Ok(verified)
    }

    /// The DPoP proof of a request presenting a token bound to `jkt`.
    fn check_proof(&self, p: &Presented<'_>, token: &str, jkt: &str) -> Result<(), ProofRefusal> {
        let mut proofs = p.headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(ProofRefusal::NotOneHeader);
        };
        let proof = proof
            .to_str()
            .map_err(|_| ProofRefusal::Invalid(certbound_core::dpop::DpopError::Malformed))?;
        let Some(htu) = p.htu else {
            tracing::warn!("DPoP-bound token refused: no public URL is configured for htu");
            return Err(ProofRefusal::NoPublicUrl);
        };
        self.dpop.check(
            proof,
            p.method.as_str(),
            htu,
            token,
            jkt,
            crate::tokens::now_secs(),
        )?;
        Ok(())
    }
}
