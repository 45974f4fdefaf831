//! The phantom-token exchange: an opaque token is sent to the authorization server's
//! introspection endpoint with `Accept: application/token-introspection+jwt` (RFC 9701), and the
//! signed answer that comes back is verified and forwarded in its place.
//!
//! The answer is typed `token-introspection+jwt` and addressed to the gateway's client_id, so it
//! can never be presented as an access token (every verifier accepts only `at+jwt` there): a
//! revoked opaque token leaves no usable twin behind.
//!
//! Cost control (a flood of garbage tokens must not turn into a flood of introspection calls, nor
//! push valid tokens out of the cache): active and inactive answers live in two separately bounded
//! caches, so negative entries can never evict or crowd out positive ones; and calls to the
//! authorization server are rate-limited per presenting certificate (a cache hit costs nothing).

use super::verify::{TokenError, VerifiedToken, Verifier};
use super::{now_secs, token_hash};
use certbound_core::token::INTROSPECTION_JWT_MEDIA_TYPE;
use certbound_core::Thumbprint;
use certbound_net::rate_limit::{KeyedLimiter, Rate};
use certbound_net::token_cache::BoundedCache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bounds of the exchange (`[authorization_server] introspection_*`, see docs/gateway.md).
#[derive(Clone, Debug)]
pub struct IntrospectionLimits {
    /// How long an active answer is reused (never beyond the token's `exp`): a revoked opaque
    /// token keeps working at most this long.
    pub cache_ttl: Duration,
    /// How many active answers are remembered.
    pub cache_entries: usize,
    /// How long an inactive answer is remembered (bounded by `cache_ttl` too).
    pub negative_ttl: Duration,
    /// How many inactive answers are remembered, apart from the active ones.
    pub negative_entries: usize,
    /// Introspection calls per presenting certificate (cache misses only). Requests without a
    /// certificate (possible with the tower layer) share one bucket.
    pub calls_per_certificate: Rate,
    /// How many certificates' buckets are tracked at most.
    pub tracked_certificates: usize,
}

impl Default for IntrospectionLimits {
    fn default() -> Self {
        IntrospectionLimits {
            cache_ttl: Duration::from_secs(30),
            cache_entries: 10_000,
            negative_ttl: Duration::from_secs(5),
            negative_entries: 10_000,
            calls_per_certificate: Rate {
                per_second: 1.0,
                burst: 20,
            },
            tracked_certificates: 10_000,
        }
    }
}

struct Inner {
    endpoint: url::Url,
    http: reqwest::Client,
    client_id: String,
    client_secret: Option<String>,
    verifier: Verifier,
    limits: IntrospectionLimits,
    active: BoundedCache<VerifiedToken>,
    inactive: BoundedCache<()>,
    per_certificate: KeyedLimiter<String>,
    calls: AtomicU64,
    rate_limited: AtomicU64,
}

/// Swaps opaque tokens for signed introspection answers, with bounded caches and a per-certificate
/// rate limit. Cheap to clone.
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

impl Introspector {
    /// `http` carries the gateway's client certificate when it authenticates with mTLS (then
    /// `endpoint` should be the mTLS alias); otherwise `client_secret` is sent with HTTP Basic.
    /// Answers must be addressed to `client_id`.
    pub fn new(
        endpoint: url::Url,
        http: reqwest::Client,
        client_id: String,
        client_secret: Option<String>,
        verifier: Verifier,
        limits: IntrospectionLimits,
    ) -> Self {
        Introspector {
            inner: Arc::new(Inner {
                endpoint,
                http,
                client_id,
                client_secret,
                verifier,
                active: BoundedCache::new(limits.cache_entries),
                inactive: BoundedCache::new(limits.negative_entries),
                per_certificate: KeyedLimiter::new(
                    limits.calls_per_certificate,
                    limits.tracked_certificates,
                ),
                limits,
                calls: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
            }),
        }
    }

    /// The verified introspection answer for an opaque token presented on a connection with the
    /// certificate `presenter`. Answers are cached by the token's hash (see
    /// [`IntrospectionLimits`]); a cache miss over the certificate's rate is
    /// [`TokenError::RateLimited`] and reaches nothing.
    pub async fn exchange(
        &self,
        opaque: &str,
        presenter: Option<&Thumbprint>,
    ) -> Result<VerifiedToken, TokenError> {
        if opaque.is_empty() || opaque.len() > 4096 {
            return Err(TokenError::Malformed);
        }
        let key = token_hash(opaque);
        if let Some(cached) = self.inner.active.get(&key) {
            return Ok(cached);
        }
        if self.inner.inactive.get(&key).is_some() {
            return Err(TokenError::Inactive);
        }
        let bucket = presenter.map(|t| t.as_str().to_owned()).unwrap_or_default();
        if let Err(retry) = self.inner.per_certificate.take(&bucket, Instant::now()) {
            self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err(TokenError::RateLimited(retry.seconds()));
        }
        let result = self.call(opaque).await;
        let limits = &self.inner.limits;
        match &result {
            Ok(token) => {
                let remaining = (token.claims.exp - now_secs()).max(0) as u64;
                let ttl = limits.cache_ttl.min(Duration::from_secs(remaining));
                self.inner
                    .active
                    .insert(key, token.clone(), Instant::now() + ttl);
            }
            Err(TokenError::Inactive) => {
                let ttl = limits.cache_ttl.min(limits.negative_ttl);
                self.inner.inactive.insert(key, (), Instant::now() + ttl);
            }
            Err(_) => {}
        }
        result
    }

    /// Lookups of the introspection caches since start: (hits, misses). A hit is an answer
    /// found in either cache; a miss is a lookup that found neither.
    pub fn cache_stats(&self) -> (u64, u64) {
        let (active_hits, _) = self.inner.active.stats();
        let (inactive_hits, misses) = self.inner.inactive.stats();
        (active_hits + inactive_hits, misses)
    }

    /// How many requests were sent to the authorization server.
    pub fn as_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// How many cache misses were refused by the per-certificate rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.inner.rate_limited.load(Ordering::Relaxed)
    }

    async fn call(&self, opaque: &str) -> Result<VerifiedToken, TokenError> {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .inner
            .http
            .post(self.inner.endpoint.clone())
            .header(http::header::ACCEPT, INTROSPECTION_JWT_MEDIA_TYPE)
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
                let media = v.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE)
                    || media.eq_ignore_ascii_case("application/jwt")
            });
        let body = super::read_bounded(response, super::MAX_AS_RESPONSE_BYTES)
            .await
            .map_err(TokenError::Unavailable)?;
        if is_jwt {
            let body = String::from_utf8_lossy(&body);
            return self
                .inner
                .verifier
                .verify_introspection(body.trim(), &self.inner.client_id)
                .await;
        }
        // Unsigned JSON: `{"active": false}` can only deny, so it is taken as it is; an active
        // answer cannot be forwarded (the upstream could not verify it).
        let active = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("active").and_then(serde_json::Value::as_bool));
        if active == Some(true) {
            tracing::warn!(endpoint = %self.inner.endpoint, "the authorization server answered introspection with unsigned JSON; it must support RFC 9701 (application/token-introspection+jwt)");
            return Err(TokenError::Unavailable(
                "introspection answer is not signed".into(),
            ));
        }
        Err(TokenError::Inactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::verify::tests::{active, answer, claims, signer, ISS};
    use crate::tokens::VerifierConfig;

    /// A stand-in authorization server on 127.0.0.1: `good` is active (a signed RFC 9701 answer),
    /// anything else `{"active": false}`.
    async fn fake_as(good_answer: String) -> url::Url {
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(move |body: String| {
                let good_answer = good_answer.clone();
                async move {
                    if body.contains("token=good") {
                        (
                            [(http::header::CONTENT_TYPE, INTROSPECTION_JWT_MEDIA_TYPE)],
                            good_answer,
                        )
                    } else {
                        (
                            [(http::header::CONTENT_TYPE, "application/json")],
                            r#"{"active":false}"#.to_owned(),
                        )
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        url::Url::parse(&format!("http://{addr}/introspect")).unwrap()
    }

    async fn introspector(limits: IntrospectionLimits) -> Introspector {
        let s = signer("k1");
        let good = answer(&s, "token-introspection+jwt", "gateway", active(claims()));
        let verifier = Verifier::from_jwks(VerifierConfig::new(ISS), s.jwks.clone());
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Introspector::new(
            fake_as(good).await,
            reqwest::Client::new(),
            "gateway".into(),
            Some("secret".into()),
            verifier,
            limits,
        )
    }

    fn generous() -> Rate {
        Rate {
            per_second: 1000.0,
            burst: 10_000,
        }
    }

    #[tokio::test]
    async fn a_flood_of_garbage_never_evicts_an_active_answer_and_stays_bounded() {
        let i = introspector(IntrospectionLimits {
            cache_entries: 2,
            negative_entries: 3,
            calls_per_certificate: generous(),
            ..IntrospectionLimits::default()
        })
        .await;
        let good = i.exchange("good", None).await.unwrap();
        assert_eq!(good.claims.client_id.as_deref(), Some("c"));
        assert_eq!(i.as_calls(), 1);
        for n in 0..50 {
            let garbage = format!("garbage-{n}");
            assert_eq!(
                i.exchange(&garbage, None).await.unwrap_err(),
                TokenError::Inactive
            );
        }
        assert_eq!(i.as_calls(), 51);
        assert!(i.inner.inactive.len() <= 3, "{}", i.inner.inactive.len());
        assert_eq!(i.inner.active.len(), 1);
        // The active answer survived the flood: no new call.
        assert!(i.exchange("good", None).await.is_ok());
        assert_eq!(i.as_calls(), 51);
        // A cached negative answer is served without a call too.
        assert!(i.exchange("garbage-0", None).await.is_err());
        assert_eq!(i.as_calls(), 51);
        let (hits, misses) = i.cache_stats();
        assert_eq!((hits, misses), (2, 51));
    }

    #[tokio::test]
    async fn calls_are_limited_per_certificate_and_cache_hits_are_free() {
        let i = introspector(IntrospectionLimits {
            calls_per_certificate: Rate {
                per_second: 0.001,
                burst: 5,
            },
            ..IntrospectionLimits::default()
        })
        .await;
        let a = Thumbprint::of_der(b"certificate a");
        let b = Thumbprint::of_der(b"certificate b");
        assert!(i.exchange("good", Some(&a)).await.is_ok());
        let mut limited = 0;
        for n in 0..20 {
            match i.exchange(&format!("garbage-{n}"), Some(&a)).await {
                Err(TokenError::Inactive) => {}
                Err(TokenError::RateLimited(seconds)) => {
                    assert!(seconds >= 1);
                    limited += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(i.as_calls(), 5, "the burst, then nothing reaches the AS");
        assert_eq!(limited, 16);
        assert_eq!(i.rate_limited(), 16);
        // The valid token keeps working for the limited certificate (a cache hit costs nothing)...
        assert!(i.exchange("good", Some(&a)).await.is_ok());
        // ... and another certificate is not affected.
        assert_eq!(
            i.exchange("garbage-0", Some(&b)).await.unwrap_err(),
            TokenError::Inactive,
            "cached"
        );
        assert_eq!(
            i.exchange("other-garbage", Some(&b)).await.unwrap_err(),
            TokenError::Inactive
        );
        assert_eq!(i.as_calls(), 6);
    }
}
