//! Fetching and caching self-signed clients' `jwks_uri` (RFC 8705 §2.2).
//!
//! A set is used for `cache_ttl`; when a presented certificate is not in the cached set (the client
//! may have rotated), the set is fetched again, but at most once per `min_refresh` per URL so that
//! unknown certificates cannot turn into a flood of outgoing requests. Fetches are bounded in size
//! and time; the lock is never held across a fetch.

use certbound_core::jwks::registered_certificates;
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest JWK Set document fetched.
const MAX_JWKS_BYTES: usize = 64 * 1024;

struct Entry {
    certs: Arc<Vec<CertificateDer<'static>>>,
    fetched_at: Instant,
    last_attempt: Instant,
}

/// The cache of client JWK Sets.
pub struct JwksUriCache {
    http: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl JwksUriCache {
    /// A cache using `http` for fetches.
    pub fn new(http: reqwest::Client, ttl: Duration, min_refresh: Duration) -> Self {
        JwksUriCache {
            http,
            ttl,
            min_refresh,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The registered certificates behind `url`, fetched if absent, stale, or (rate-limited) if
    /// `presented` is not among them. On a fetch failure the previous set, if any, is kept.
    pub async fn certificates(
        &self,
        url: &url::Url,
        presented: Option<&[u8]>,
    ) -> Arc<Vec<CertificateDer<'static>>> {
        let key = url.as_str().to_owned();
        let now = Instant::now();
        let (cached, should_fetch) = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get_mut(&key) {
                Some(e) => {
                    let known = presented.is_none_or(|p| e.certs.iter().any(|c| c.as_ref() == p));
                    let stale = now.duration_since(e.fetched_at) >= self.ttl;
                    let may_refresh = now.duration_since(e.last_attempt) >= self.min_refresh;
                    let fetch = (stale || !known) && may_refresh;
                    if fetch {
                        e.last_attempt = now;
                    }
                    (Some(e.certs.clone()), fetch)
                }
                None => (None, true),
            }
        };
        if !should_fetch {
            return cached.unwrap_or_default();
        }
        match self.fetch(url).await {
            Ok(certs) => {
                let certs = Arc::new(certs);
                let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                entries.insert(
                    key,
                    Entry {
                        certs: certs.clone(),
                        fetched_at: now,
                        last_attempt: now,
                    },
                );
                certs
            }
            Err(e) => {
                tracing::warn!(jwks_uri = %url, error = %e, "fetching a client's jwks_uri failed");
                if cached.is_none() {
                    let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                    // Remember the failure so the next attempt waits min_refresh.
                    entries.insert(
                        key,
                        Entry {
                            certs: Arc::new(Vec::new()),
                            fetched_at: now,
                            last_attempt: now,
                        },
                    );
                }
                cached.unwrap_or_default()
            }
        }
    }

    async fn fetch(&self, url: &url::Url) -> Result<Vec<CertificateDer<'static>>, String> {
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
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        registered_certificates(&value).map_err(|e| e.to_string())
    }
}
