//! The phantom-token exchange: an opaque token is sent to the authorization server's
//! introspection endpoint with `Accept: application/jwt`, and the signed JWT that comes back is
//! verified and used in its place.

use super::cache::BoundedCache;
use super::verify::{TokenError, VerifiedToken, Verifier};
use super::{now_secs, token_hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an inactive answer is remembered (at most), so a flood of one bad token does not
/// become a flood of introspection calls.
const INACTIVE_TTL: Duration = Duration::from_secs(5);

struct Inner {
    endpoint: url::Url,
    http: reqwest::Client,
    client_id: String,
    client_secret: Option<String>,
    verifier: Verifier,
    ttl: Duration,
    cache: BoundedCache<Option<VerifiedToken>>,
    calls: AtomicU64,
}

/// Swaps opaque tokens for JWTs by introspection, with a bounded cache. Cheap to clone.
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

impl Introspector {
    /// `http` carries the gateway's client certificate when it authenticates with mTLS (then
    /// `endpoint` should be the mTLS alias); otherwise `client_secret` is sent with HTTP Basic.
    pub fn new(
        endpoint: url::Url,
        http: reqwest::Client,
        client_id: String,
        client_secret: Option<String>,
        verifier: Verifier,
        cache_ttl: Duration,
        capacity: usize,
    ) -> Self {
        Introspector {
            inner: Arc::new(Inner {
                endpoint,
                http,
                client_id,
                client_secret,
                verifier,
                ttl: cache_ttl,
                cache: BoundedCache::new(capacity),
                calls: AtomicU64::new(0),
            }),
        }
    }

    /// The JWT behind an opaque token. Results are cached by the token's hash for at most the
    /// configured TTL and never beyond the token's expiry; inactive results for at most 5 s.
    pub async fn exchange(&self, opaque: &str) -> Result<VerifiedToken, TokenError> {
        if opaque.is_empty() || opaque.len() > 4096 {
            return Err(TokenError::Malformed);
        }
        let key = token_hash(opaque);
        if let Some(cached) = self.inner.cache.get(&key) {
            return cached.ok_or(TokenError::Inactive);
        }
        let result = self.call(opaque).await;
        match &result {
            Ok(token) => {
                let remaining = (token.claims.exp - now_secs()).max(0) as u64;
                let ttl = self.inner.ttl.min(Duration::from_secs(remaining));
                self.inner
                    .cache
                    .insert(key, Some(token.clone()), Instant::now() + ttl);
            }
            Err(TokenError::Inactive) => {
                self.inner.cache.insert(
                    key,
                    None,
                    Instant::now() + self.inner.ttl.min(INACTIVE_TTL),
                );
            }
            Err(_) => {}
        }
        result
    }

    /// Lookups of the introspection cache since start: (hits, misses).
    pub fn cache_stats(&self) -> (u64, u64) {
        self.inner.cache.stats()
    }

    /// How many requests were sent to the authorization server.
    pub fn as_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    async fn call(&self, opaque: &str) -> Result<VerifiedToken, TokenError> {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .inner
            .http
            .post(self.inner.endpoint.clone())
            .header(http::header::ACCEPT, "application/jwt")
            .timeout(Duration::from_secs(5));
        req = match &self.inner.client_secret {
            Some(secret) => req
                .basic_auth(&self.inner.client_id, Some(secret))
                .form(&[("token", opaque)]),
            None => req.form(&[
                ("token", opaque),
                ("client_id", self.inner.client_id.as_str()),
            ]),
        };
        let response = req.send().await.map_err(|e| {
            TokenError::Unavailable(
                super::fetch::FetchCause::of(&e, self.inner.endpoint.as_str()).to_string(),
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            tracing::warn!(%status, endpoint = %self.inner.endpoint, "introspection refused the gateway's request; check its client registration");
            return Err(TokenError::Unavailable(format!(
                "introspection answered {status}"
            )));
        }
        let is_jwt = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/jwt")
            });
        let body = super::read_bounded(response, super::MAX_AS_RESPONSE_BYTES)
            .await
            .map_err(TokenError::Unavailable)?;
        let body = String::from_utf8_lossy(&body);
        if !is_jwt {
            // {"active": false} (or a server that does not do phantom tokens).
            return Err(TokenError::Inactive);
        }
        self.inner.verifier.verify(body.trim()).await
    }
}
