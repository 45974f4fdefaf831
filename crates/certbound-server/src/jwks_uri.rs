//! Fetching and caching clients' `jwks_uri`: a self-signed client's certificates (RFC 8705 §2.2)
//! and a `private_key_jwt` client's public keys (RFC 7523, FAPI2.md §2.9 trap 5).
//!
//! A set is used for `cache_ttl`; when a presented certificate (or an assertion's `kid`) is not in
//! the cached set (the client may have rotated), the set is fetched again, but at most once per
//! `min_refresh` per URL so that unknown certificates or key ids cannot turn into a flood of
//! outgoing requests. Fetches are bounded in size and time; the lock is never held across a fetch.

use certbound_core::client_assertion::validate_client_jwks;
use certbound_core::jwks::registered_certificates;
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest JWK Set document fetched.
const MAX_JWKS_BYTES: usize = 64 * 1024;

struct Entry<T> {
    value: Arc<T>,
    fetched_at: Instant,
    last_attempt: Instant,
}

type Entries<T> = Mutex<HashMap<String, Entry<T>>>;

/// The cache of client JWK Sets.
pub struct JwksUriCache {
    http: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    certificates: Entries<Vec<CertificateDer<'static>>>,
    key_sets: Entries<Value>,
}

impl JwksUriCache {
    /// A cache using `http` for fetches.
    pub fn new(http: reqwest::Client, ttl: Duration, min_refresh: Duration) -> Self {
        JwksUriCache {
            http,
            ttl,
            min_refresh,
            certificates: Mutex::new(HashMap::new()),
            key_sets: Mutex::new(HashMap::new()),
        }
    }

    /// The registered certificates behind `url`, fetched if absent, stale, or (rate-limited) if
    /// `presented` is not among them. On a fetch failure the previous set, if any, is kept.
    pub async fn certificates(
        &self,
        url: &url::Url,
        presented: Option<&[u8]>,
    ) -> Arc<Vec<CertificateDer<'static>>> {
        self.lookup(
            &self.certificates,
            url,
            |certs: &Vec<CertificateDer<'static>>| {
                presented.is_none_or(|p| certs.iter().any(|c| c.as_ref() == p))
            },
            |doc| registered_certificates(&doc).map_err(|e| e.to_string()),
            Vec::new,
        )
        .await
    }

    /// The `private_key_jwt` JWK Set behind `url` (public keys only, [`validate_client_jwks`]),
    /// fetched if absent, stale, or (rate-limited) if no key has the assertion's `kid`. On a fetch
    /// failure the previous set is kept; without one, an empty set (every assertion is refused).
    pub async fn key_set(&self, url: &url::Url, kid: Option<&str>) -> Arc<Value> {
        self.lookup(
            &self.key_sets,
            url,
            |set: &Value| {
                kid.is_none_or(|k| {
                    set.get("keys")
                        .and_then(Value::as_array)
                        .is_some_and(|keys| {
                            keys.iter()
                                .any(|key| key.get("kid").and_then(Value::as_str) == Some(k))
                        })
                })
            },
            |doc| {
                validate_client_jwks(&doc).map_err(|e| e.to_string())?;
                Ok(doc)
            },
            || serde_json::json!({ "keys": [] }),
        )
        .await
    }

    async fn lookup<T>(
        &self,
        entries: &Entries<T>,
        url: &url::Url,
        known: impl Fn(&T) -> bool,
        parse: impl FnOnce(Value) -> Result<T, String>,
        empty: impl Fn() -> T,
    ) -> Arc<T> {
        let key = url.as_str().to_owned();
        let now = Instant::now();
        let (cached, should_fetch) = {
            let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get_mut(&key) {
                Some(e) => {
                    let stale = now.duration_since(e.fetched_at) >= self.ttl;
                    let may_refresh = now.duration_since(e.last_attempt) >= self.min_refresh;
                    let fetch = (stale || !known(&e.value)) && may_refresh;
                    if fetch {
                        e.last_attempt = now;
                    }
                    (Some(e.value.clone()), fetch)
                }
                None => (None, true),
            }
        };
        if !should_fetch {
            return cached.unwrap_or_else(|| Arc::new(empty()));
        }
        match self.fetch(url).await.and_then(parse) {
            Ok(value) => {
                let value = Arc::new(value);
                let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
                entries.insert(
                    key,
                    Entry {
                        value: value.clone(),
                        fetched_at: now,
                        last_attempt: now,
                    },
                );
                value
            }
            Err(e) => {
                tracing::warn!(jwks_uri = %url, error = %e, "fetching a client's jwks_uri failed");
                if cached.is_none() {
                    let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
                    // Remember the failure so the next attempt waits min_refresh.
                    entries.insert(
                        key,
                        Entry {
                            value: Arc::new(empty()),
                            fetched_at: now,
                            last_attempt: now,
                        },
                    );
                }
                cached.unwrap_or_else(|| Arc::new(empty()))
            }
        }
    }

    async fn fetch(&self, url: &url::Url) -> Result<Value, String> {
        let mut response = self
            .http
            .get(url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("document larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}
