//! The certbound OAuth 2.0 authorization server (RFC 8705).
//!
//! [`start`] binds the conventional listener (no client certificate requested) and the optional
//! mTLS listener (certificate requested, any certificate with proof of possession accepted), and
//! serves metadata, JWKS, token, introspection, revocation and userinfo on both. Clients
//! authenticate with `tls_client_auth`, `self_signed_tls_client_auth`, `client_secret_basic` or
//! `client_secret_post`; bound clients get tokens carrying `cnf.x5t#S256` of the certificate they
//! presented.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_auth;
pub mod config;
pub mod extract;
pub mod grants;
pub mod handlers;
pub mod http_error;
pub mod jwks_uri;
pub mod keys;
pub mod profile;
pub mod readiness;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod web;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use certbound_core::auth::TrustAnchors;
use certbound_core::metadata::{discovery_documents, MetadataInput};
use certbound_core::oidc::{DiscoveryInput, OpenIdDiscovery};
use certbound_net::{
    load_cert_chain, load_key_pair, server_config, ClientCertMode, ServeOptions, TlsHandle,
};
use certbound_store::Store;
use config::ValidatedConfig;
use keys::{Keys, SigningAlg};
use state::{now_secs, AppState, Inner};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS files.
    #[error(transparent)]
    Tls(#[from] certbound_net::TlsError),
    /// A client CA file holds something that is not a usable trust anchor.
    #[error("{path}: not a usable CA certificate: {reason}")]
    TrustAnchor {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The store.
    #[error("store: {0}")]
    Store(#[from] certbound_store::StoreError),
    /// Signing keys.
    #[error("signing keys: {0}")]
    Keys(#[from] keys::KeyError),
    /// Binding a listener.
    #[error(transparent)]
    Bind(#[from] certbound_net::BindError),
    /// The HTTP client for `jwks_uri`.
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// The admin listener's token file.
    #[error(transparent)]
    Admin(#[from] certbound_net::metrics::AdminAccessError),
    /// `[dpop] nonce_secret_file` or `nonce_rotation_seconds`.
    #[error("[dpop] {key}: {0}", key = .0.key())]
    DpopNonce(#[from] certbound_net::secret_file::NonceKeyError),
}

/// A running server: its bound addresses, and the handle that stops it.
pub struct RunningServer {
    /// The conventional listener's address.
    pub https_addr: SocketAddr,
    /// The mTLS listener's address.
    pub mtls_addr: Option<SocketAddr>,
    /// The admin listener's address (`/metrics`, `/livez`, `/readyz`), if configured.
    pub admin_addr: Option<SocketAddr>,
    /// Replaces the TLS configuration and trust anchors from the files (SIGHUP).
    pub reload: Reloader,
    /// The shared state (tests and tools read keys and clients from it).
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and waits for the listeners to close.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Runs until a listener task ends (normally never).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Re-reads the server certificate, its key and the client CA files, and swaps them in without a
/// restart (new connections use them; open ones keep theirs). Nothing changes if a file is
/// unreadable or invalid.
#[derive(Clone)]
pub struct Reloader {
    https: TlsHandle,
    mtls: Option<TlsHandle>,
}

impl Reloader {
    /// Reloads from the files named in `config` into `state`.
    pub fn reload(&self, config: &ValidatedConfig, state: &AppState) -> Result<(), ServerError> {
        let cfg = &config.config;
        let (chain, key) = load_key_pair(&cfg.tls.cert, &cfg.tls.key)?;
        let mut ca_certs = Vec::new();
        for path in &cfg.tls.client_ca {
            ca_certs.extend(load_cert_chain(path)?);
        }
        let anchors = trust_anchors(cfg, &ca_certs)?;
        let (chain_for_metrics, ca_for_metrics) = (chain.clone(), ca_certs.clone());
        let https = server_config(chain.clone(), key.clone_key(), &ClientCertMode::None)?;
        let mtls = match &self.mtls {
            Some(_) => Some(server_config(
                chain,
                key,
                &ClientCertMode::Optional { hints: ca_certs },
            )?),
            None => None,
        };
        self.https.replace(https);
        if let (Some(handle), Some(c)) = (&self.mtls, mtls) {
            handle.replace(c);
        }
        state.replace_anchors(anchors);
        record_certificates(&state.metrics, &chain_for_metrics, &ca_for_metrics);
        tracing::info!(
            target: "certbound::audit",
            event = "tls_reloaded",
            cert = %cfg.tls.cert.display(),
            client_ca_files = cfg.tls.client_ca.len(),
        );
        Ok(())
    }
}

/// Exports the expiry of the served chain and of the client CAs (at start and on every reload).
fn record_certificates(
    metrics: &certbound_net::metrics::Metrics,
    chain: &[rustls_pki_types::CertificateDer<'static>],
    client_cas: &[rustls_pki_types::CertificateDer<'static>],
) {
    let (leaf, intermediates) = chain.split_at(chain.len().min(1));
    metrics.certificates.replace(&[
        ("server", leaf),
        ("server_intermediate", intermediates),
        ("client_ca", client_cas),
    ]);
}

fn trust_anchors(
    cfg: &config::Config,
    ca_certs: &[rustls_pki_types::CertificateDer<'static>],
) -> Result<TrustAnchors, ServerError> {
    certbound_core::auth::trust_anchors_from_der(ca_certs).map_err(|reason| {
        ServerError::TrustAnchor {
            path: cfg
                .tls
                .client_ca
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason,
        }
    })
}

/// The DPoP nonce scheme of `[dpop]`, when `use_nonce` is on. A random key (no
/// `nonce_secret_file`) with a PostgreSQL store is logged as a warning: several instances then
/// refuse each other's nonces, and clients loop on `use_dpop_nonce`.
fn dpop_nonces(
    cfg: &config::Config,
) -> Result<Option<certbound_core::dpop::NonceScheme>, ServerError> {
    if !cfg.dpop.use_nonce {
        return Ok(None);
    }
    if cfg.dpop.nonce_secret_file.is_none() && cfg.store.url.starts_with("postgres") {
        tracing::warn!(
            "[dpop] use_nonce is on without nonce_secret_file: the nonce key is random per \
             process, so instances sharing this PostgreSQL store refuse each other's nonces. \
             Set [dpop] nonce_secret_file to one file (at least 32 bytes, mode 0600) on every \
             instance, e.g. `openssl rand -base64 48 > dpop-nonce.key`"
        );
    }
    Ok(Some(cfg.dpop.nonce_scheme()?))
}

/// Binds the configured addresses and starts serving.
pub async fn start(config: ValidatedConfig) -> Result<RunningServer, ServerError> {
    use certbound_net::bind;
    let https = bind(
        config.config.listen.https,
        "[listen] https in the configuration file, or CERTBOUND_LISTEN_HTTPS",
    )
    .await?;
    let mtls = match config.config.listen.mtls {
        Some(addr) => Some(
            bind(
                addr,
                "[listen] mtls in the configuration file, or CERTBOUND_LISTEN_MTLS",
            )
            .await?,
        ),
        None => None,
    };
    start_on(config, https, mtls).await
}

/// Starts serving on already-bound listeners (tests bind port 0 first, then write the
/// configuration with the real ports).
pub async fn start_on(
    config: ValidatedConfig,
    https: TcpListener,
    mtls: Option<TcpListener>,
) -> Result<RunningServer, ServerError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cfg = &config.config;
    let (chain, key) = load_key_pair(&cfg.tls.cert, &cfg.tls.key)?;
    let admin_access = certbound_net::metrics::AdminAccess::from_config(&cfg.admin)?;

    let mut ca_certs = Vec::new();
    for path in &cfg.tls.client_ca {
        ca_certs.extend(load_cert_chain(path)?);
    }
    let anchors = trust_anchors(cfg, &ca_certs)?;

    let store = cfg.store.connect().await?;
    let alg = SigningAlg::parse(&cfg.tokens.signing_alg).unwrap_or(SigningAlg::Es256);
    let keys = Keys::load_or_init(&store, alg, now_secs()).await?;

    let http = jwks_http_client(&config)?;
    let jwks_uri = jwks_uri::JwksUriCache::new(
        http,
        Duration::from_secs(cfg.jwks_uri.cache_ttl_seconds.into()),
        Duration::from_secs(cfg.jwks_uri.min_refresh_seconds.into()),
    );

    let mut scopes: Vec<String> = Vec::new();
    for c in &config.clients {
        for s in &c.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
    }
    let id_token_algs = [alg.as_str().to_owned()];
    let openid = OpenIdDiscovery::new(&DiscoveryInput {
        base_url: &cfg.issuer,
        mtls_base_url: cfg.listen.mtls_url.as_deref(),
        require_par: cfg.authorization.require_pushed_authorization_requests,
        id_token_signing_algs: &id_token_algs,
        scopes: &scopes,
    });
    let dpop_algs = cfg.dpop.algs();
    let (mut metadata, mut openid_configuration) = discovery_documents(
        &MetadataInput {
            issuer: &cfg.issuer,
            base_url: &cfg.issuer,
            mtls_base_url: cfg.listen.mtls_url.as_deref(),
            scopes: scopes.clone(),
            signing_alg: alg.as_str(),
            grant_types: &grants::served(),
            dpop_algs: &dpop_algs,
        },
        &openid,
    );

    if cfg.profile == profile::Profile::Fapi2 {
        profile::restrict_metadata(&mut metadata);
        profile::restrict_metadata(&mut openid_configuration);
    }

    let dpop_nonces = dpop_nonces(cfg)?;
    let clients = state::ClientRegistry::new(&config.clients);
    clients.reload(&store, &config).await?;
    let metrics = Arc::new(certbound_net::metrics::Metrics::new());
    record_certificates(&metrics, &chain, &ca_certs);
    let state = AppState::new(Inner {
        issuer: Arc::from(cfg.issuer.as_str()),
        audience: cfg.audience().to_owned(),
        ttl_seconds: cfg.tokens.access_token_ttl_seconds.into(),
        clients,
        anchors: std::sync::RwLock::new(Arc::new(anchors)),
        metrics: metrics.clone(),
        throttle: throttle::Throttle::new(&cfg.rate_limit),
        keys: keys.clone(),
        alg,
        store: store.clone(),
        jwks_uri,
        metadata: bytes::Bytes::from(metadata.to_string()),
        openid_configuration: bytes::Bytes::from(openid_configuration.to_string()),
        config: config.clone(),
        dpop_algs: Arc::from(dpop_algs.as_slice()),
        dpop_nonces,
        verified_jwts: certbound_net::token_cache::BoundedCache::new(tokens::VERIFIED_JWT_ENTRIES),
        login_step: Arc::new(web::login_step::BuiltIn),
    });

    let app = router(state.clone());
    // The browser routes (authorization endpoint, login, consent, logout) exist only on the
    // conventional listener: never aliased, never behind a certificate request (RFC 8705 §5).
    let https_app = app.clone().merge(web::router(state.clone()));
    let limits = &cfg.limits;
    let (shutdown, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = Vec::new();
    let https_addr = https
        .local_addr()
        .map_err(|source| certbound_net::BindError {
            addr: cfg.listen.https,
            setting: "[listen] https",
            source,
        })?;
    let https_tls = TlsHandle::new(server_config(
        chain.clone(),
        key.clone_key(),
        &ClientCertMode::None,
    )?);
    tasks.push(tokio::spawn(certbound_net::serve(
        https,
        https_tls.clone(),
        listener_app(
            &https_app,
            &config.https_cert_policy,
            &metrics,
            "https",
            limits,
            cfg.listen.mtls_url.as_deref(),
        ),
        ServeOptions::with_limits("https", limits).metered(&metrics),
        stopped(rx.clone()),
    )));
    let mut mtls_addr = None;
    let mut mtls_tls = None;
    if let Some(listener) = mtls {
        mtls_addr = listener.local_addr().ok();
        let tls = TlsHandle::new(server_config(
            chain,
            key,
            &ClientCertMode::Optional { hints: ca_certs },
        )?);
        mtls_tls = Some(tls.clone());
        tasks.push(tokio::spawn(certbound_net::serve(
            listener,
            tls,
            listener_app(
                &app,
                &config.mtls_cert_policy,
                &metrics,
                "mtls",
                limits,
                Some(&cfg.issuer),
            ),
            ServeOptions::with_limits("mtls", limits).metered(&metrics),
            stopped(rx.clone()),
        )));
    }
    let mut admin_addr = None;
    if let Some(addr) = cfg.admin.listen {
        let listener =
            certbound_net::bind(addr, "[admin] listen in the configuration file").await?;
        admin_addr = listener.local_addr().ok();
        let readiness = readiness::StoreAndKeys {
            store: store.clone(),
            keys: keys.clone(),
        };
        tasks.push(tokio::spawn(certbound_net::metrics::serve_admin(
            listener,
            metrics.clone(),
            Arc::new(readiness),
            admin_access,
            ServeOptions::with_limits("admin", limits).metered(&metrics),
            stopped(rx.clone()),
        )));
    }

    tasks.push(tokio::spawn(maintenance(
        state.clone(),
        keys,
        store,
        alg,
        Duration::from_secs(cfg.tokens.key_refresh_seconds.max(1).into()),
        rx,
    )));

    tracing::info!(issuer = %cfg.issuer, %https_addr, mtls_addr = %mtls_addr.map(|a| a.to_string()).unwrap_or_else(|| "none".to_owned()), clients = config.clients.len(), alg = alg.as_str(), "certbound authorization server started");
    Ok(RunningServer {
        https_addr,
        mtls_addr,
        admin_addr,
        reload: Reloader {
            https: https_tls,
            mtls: mtls_tls,
        },
        state,
        shutdown,
        tasks,
    })
}

/// How often expired token records are purged, and how many rows one purge deletes at most (so
/// a purge never holds the store for long).
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const PURGE_BATCH: u32 = 1000;

/// Background work of every instance: re-read the key ring and the run-time clients (a rotation
/// or a `certbound clients add` anywhere is picked up without a restart) and purge expired tokens
/// in bounded batches.
async fn maintenance(
    app: AppState,
    keys: Keys,
    store: Store,
    alg: SigningAlg,
    refresh: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_purge = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = stop.wait_for(|v| *v) => break,
        }
        if let Err(e) = keys.reload(&store, alg, now_secs()).await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones");
        }
        if let Err(e) = app.clients.reload(&store, &app.config).await {
            tracing::warn!(error = %e, "reloading run-time clients failed; keeping the current ones");
        }
        if last_purge.elapsed() >= PURGE_INTERVAL {
            last_purge = tokio::time::Instant::now();
            loop {
                match store.purge_expired(now_secs(), PURGE_BATCH).await {
                    Ok(n) if n == u64::from(PURGE_BATCH) => continue,
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(purged = n, "purged expired tokens");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "purging expired tokens failed");
                        break;
                    }
                }
            }
        }
    }
}

/// One listener's application: the routes behind its client-certificate policy and request
/// metrics. Layers run outside in: metrics, authority (not `other_listener_url`'s), certificate
/// policy, body limit, routes.
fn listener_app(
    app: &Router,
    policy: &certbound_net::client_cert::ClientCertPolicy,
    metrics: &Arc<certbound_net::metrics::Metrics>,
    listener: &'static str,
    limits: &certbound_net::Limits,
    other_listener_url: Option<&str>,
) -> Router {
    let app = with_cert_policy(
        app.clone().layer(axum::middleware::from_fn_with_state(
            Arc::new(limits.clone()),
            certbound_net::limits::buffer_body,
        )),
        policy,
    );
    serving(app, other_listener_url).layer(axum::middleware::from_fn_with_state(
        (metrics.clone(), listener),
        certbound_net::metrics::record,
    ))
}

/// Refuses, on one listener, requests for the *other* listener's authority (421: an HTTP/2 client
/// coalescing its connections would send a request for the mTLS alias over the conventional
/// listener, without its certificate) and requests with a missing, repeated or malformed `Host`
/// (400): see `certbound_net::authority`. Other authorities pass: behind a proxy, `Host` may be
/// the backend address.
fn serving(app: Router, other_listener_url: Option<&str>) -> Router {
    use certbound_net::authority::{enforce, ServedAuthorities};
    let mut served = ServedAuthorities::any();
    let other = other_listener_url.and_then(|u| {
        let u = url::Url::parse(u).ok()?;
        Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
    });
    if let Some(other) = other {
        if let Err(e) = served.refuse(&other) {
            // Not reached: the configuration loader accepts only https://host[:port].
            tracing::warn!(error = %e, "the other listener's authority is not checked");
        }
    }
    app.layer(axum::middleware::from_fn_with_state(
        Arc::new(served),
        enforce,
    ))
}

/// Applies a listener's client-certificate policy (TLS or a trusted proxy's header) before the
/// routes, so handlers see the resolved certificate in `ConnectionInfo`.
pub fn with_cert_policy(
    app: Router,
    policy: &certbound_net::client_cert::ClientCertPolicy,
) -> Router {
    app.layer(axum::middleware::from_fn_with_state(
        Arc::new(policy.clone()),
        certbound_net::client_cert::apply,
    ))
}

/// The routes, identical on both listeners.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(handlers::discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(handlers::discovery::openid_configuration),
        )
        .route("/jwks", get(handlers::discovery::jwks))
        .route("/health", get(handlers::discovery::health))
        .route("/token", post(handlers::token::token))
        .route("/introspect", post(handlers::introspect::introspect))
        .route("/revoke", post(handlers::revoke::revoke))
        .route(
            certbound_core::oidc::USERINFO_PATH,
            get(handlers::userinfo::userinfo).post(handlers::userinfo::userinfo),
        )
        .route("/par", post(handlers::par::par))
        // The body is buffered (and bounded) by `limits::buffer_body` in front of the routes.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The HTTPS client used to fetch clients' `jwks_uri` (system roots plus `[jwks_uri] ca`).
pub fn jwks_http_client(config: &ValidatedConfig) -> Result<reqwest::Client, ServerError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_native_certs(true)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5));
    for path in &config.config.jwks_uri.ca {
        let pem = std::fs::read(path)
            .map_err(|e| ServerError::HttpClient(format!("{}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ServerError::HttpClient(format!("{}: {e}", path.display())))?;
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder
        .build()
        .map_err(|e| ServerError::HttpClient(e.to_string()))
}
