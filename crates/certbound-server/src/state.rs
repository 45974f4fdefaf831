//! Everything a request handler needs, built once at start.

use crate::config::ValidatedConfig;
use crate::jwks_uri::JwksUriCache;
use crate::keys::{Keys, SigningAlg};
use bytes::Bytes;
use certbound_core::auth::TrustAnchors;
use certbound_core::client::RegisteredClient;
use certbound_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// Shared server state. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The contents of [`AppState`].
pub struct Inner {
    /// Issuer identifier; also the realm of `WWW-Authenticate` challenges.
    pub issuer: Arc<str>,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Access token lifetime in seconds.
    pub ttl_seconds: i64,
    /// Registered clients by id (static data: never read from the store per request).
    pub clients: HashMap<String, Arc<RegisteredClient>>,
    /// Trust anchors for `tls_client_auth`.
    pub anchors: TrustAnchors,
    /// Signing keys.
    pub keys: Keys,
    /// The configured signing algorithm.
    pub alg: SigningAlg,
    /// Persistent state.
    pub store: Store,
    /// Client JWK Sets behind `jwks_uri`.
    pub jwks_uri: JwksUriCache,
    /// The metadata document, serialised once.
    pub metadata: Bytes,
    /// The configuration it was built from.
    pub config: ValidatedConfig,
}

impl AppState {
    /// Wraps the state.
    pub fn new(inner: Inner) -> Self {
        AppState {
            inner: Arc::new(inner),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
