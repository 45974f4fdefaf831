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
    /// Registered clients (held in memory: never read from the store per request).
    pub clients: ClientRegistry,
    /// Trust anchors for `tls_client_auth` (replaced by a reload: [`Inner::anchors`]).
    pub anchors: std::sync::RwLock<Arc<TrustAnchors>>,
    /// Metrics of this server.
    pub metrics: Arc<certbound_net::metrics::Metrics>,
    /// Brute-force and flood bounds.
    pub throttle: crate::throttle::Throttle,
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
    /// The OpenID Connect discovery document (the metadata plus the OpenID members), serialised
    /// once.
    pub openid_configuration: Bytes,
    /// The configuration it was built from.
    pub config: ValidatedConfig,
    /// The DPoP proof algorithms accepted (`[dpop] signing_algs`, parsed once).
    pub dpop_algs: Arc<[certbound_core::dpop::DpopAlg]>,
    /// The DPoP nonce scheme, when `[dpop] use_nonce` is on (RFC 9449 §8, §9).
    pub dpop_nonces: Option<certbound_core::dpop::NonceScheme>,
    /// JWT access tokens whose signature this server has checked, by SHA-256 of the token, so
    /// one presented again at /userinfo or /introspect skips the ES256/RS256 verification
    /// ([`crate::tokens::find`]; revocation is still read from the store each time).
    pub verified_jwts: certbound_net::token_cache::BoundedCache<VerifiedJwt>,
    /// The login step of the user flows (the built-in username/password form today; an external
    /// login app later).
    pub login_step: Arc<dyn crate::web::login_step::LoginStep>,
}

/// A JWT access token whose signature was checked (an entry of [`Inner::verified_jwts`]): its
/// claims and the `kid` of the key that signed it.
#[derive(Clone)]
pub struct VerifiedJwt {
    /// The token's claims.
    pub claims: Arc<certbound_core::token::AccessTokenClaims>,
    /// The key that signed it: the entry is void once the key leaves the ring.
    pub kid: Arc<str>,
}

impl AppState {
    /// Wraps the state.
    pub fn new(inner: Inner) -> Self {
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// `error` as this server answers it (its `WWW-Authenticate` realm is the issuer).
    pub fn reject(&self, error: certbound_core::OAuthError) -> crate::http_error::OAuthResponse {
        crate::http_error::OAuthResponse {
            error,
            realm: self.issuer.clone(),
        }
    }

    /// The `[authorization]` settings of the user flows (validated at load).
    pub fn authorization(&self) -> &crate::config::AuthorizationConfig {
        &self.config.config.authorization
    }
}

impl Inner {
    /// The current trust anchors for `tls_client_auth`.
    pub fn anchors(&self) -> Arc<TrustAnchors> {
        self.anchors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the trust anchors (a reload); requests already running keep the old set.
    pub fn replace_anchors(&self, anchors: TrustAnchors) {
        *self.anchors.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(anchors);
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// The registered clients: those of the configuration file, and those added at run time with
/// `certbound clients add` (stored, and reloaded by every instance periodically). A client id in
/// the file always wins over the store.
pub struct ClientRegistry {
    configured: HashMap<String, Arc<RegisteredClient>>,
    stored: std::sync::RwLock<Arc<HashMap<String, Arc<RegisteredClient>>>>,
}

impl ClientRegistry {
    /// A registry of the configuration's clients.
    pub fn new(configured: &[RegisteredClient]) -> Self {
        ClientRegistry {
            configured: configured
                .iter()
                .map(|c| (c.client_id.clone(), Arc::new(c.clone())))
                .collect(),
            stored: std::sync::RwLock::new(Arc::new(HashMap::new())),
        }
    }

    /// The registration of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<Arc<RegisteredClient>> {
        if let Some(c) = self.configured.get(client_id) {
            return Some(c.clone());
        }
        let stored = self
            .stored
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        stored.get(client_id).cloned()
    }

    /// Whether `client_id` is declared in the configuration file.
    pub fn is_configured(&self, client_id: &str) -> bool {
        self.configured.contains_key(client_id)
    }

    /// Replaces the run-time clients with those in the store. A stored client that no longer
    /// validates (e.g. its CA file is gone) is skipped with a warning, not fatal.
    pub async fn reload(
        &self,
        store: &Store,
        config: &ValidatedConfig,
    ) -> Result<usize, certbound_store::StoreError> {
        let mut map = HashMap::new();
        for (id, json) in store.clients().await? {
            if self.configured.contains_key(&id) {
                tracing::warn!(client_id = %id, "a stored client has the id of a configured client; the configuration wins");
                continue;
            }
            let registered = serde_json::from_str::<certbound_core::client::ClientMetadata>(&json)
                .map_err(|e| ("-".to_owned(), e.to_string()))
                .and_then(|meta| config.config.register(&meta, &config.base));
            match registered {
                Ok(c) => {
                    map.insert(id, Arc::new(c));
                }
                Err((key, message)) => {
                    tracing::warn!(client_id = %id, key, %message, "skipping a stored client that does not validate")
                }
            }
        }
        let n = map.len();
        *self.stored.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        Ok(n)
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
