//! The one access decision of the resource side, used by the gateway and by the tower layer:
//! bearer token → validated JWT (or opaque → JWT) → certificate binding → scopes.

use crate::bearer::{bearer_token, BearerError, Rejection};
use crate::binding::check_binding;
use crate::refusal::RefusalReason;
use crate::tokens::{Introspector, TokenError, VerifiedToken, Verifier};
use certbound_core::ClientCertificate;
use http::{HeaderMap, Uri};
use std::sync::Arc;

/// What a protected resource requires of a token.
#[derive(Clone, Debug, Default)]
pub struct Requirements {
    /// Refuse plain bearer tokens (bound tokens are always checked against the certificate).
    pub require_bound: bool,
    /// Scopes that must all have been granted.
    pub scopes: Vec<String>,
}

/// Checks requests against one authorization server's tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenGuard {
    verifier: Verifier,
    introspector: Option<Introspector>,
    realm: Arc<str>,
}

impl TokenGuard {
    /// A guard that verifies JWTs with `verifier` and, when `introspector` is given, accepts
    /// opaque tokens by exchanging them for their JWT.
    pub fn new(
        verifier: Verifier,
        introspector: Option<Introspector>,
        realm: impl Into<String>,
    ) -> Self {
        TokenGuard {
            verifier,
            introspector,
            realm: Arc::from(realm.into()),
        }
    }

    /// The verifier (for its metadata).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Decides one request. The binding is checked on every call, also when the token's
    /// validation was cached.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        certificate: Option<&ClientCertificate>,
        req: &Requirements,
    ) -> Result<VerifiedToken, Rejection> {
        let realm = &*self.realm;
        let token = match bearer_token(headers, uri.query()) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(Rejection::missing(realm)),
            Err(
                e @ (BearerError::WrongMethod | BearerError::Repeated | BearerError::Malformed),
            ) => return Err(Rejection::invalid_request(realm, &e.to_string())),
        };
        let verified = if token.split('.').count() == 3 {
            self.verifier.verify(token).await
        } else {
            match &self.introspector {
                Some(i) => i.exchange(token, certificate.map(|c| c.thumbprint())).await,
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
            Err(e) => return Err(Rejection::invalid_token(realm, RefusalReason::from(&e))),
        };
        check_binding(&verified.claims, certificate, req.require_bound).map_err(|e| {
            Rejection::invalid_token(realm, e.into()).for_token(verified.claims.clone())
        })?;
        if !verified.claims.has_scopes(&req.scopes) {
            return Err(Rejection::insufficient_scope(realm, &req.scopes)
                .for_token(verified.claims.clone()));
        }
        Ok(verified)
    }
}
