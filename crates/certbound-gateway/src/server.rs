//! The gateway process: the mTLS listener, route matching, the token guard and the proxy.

use crate::bearer::Rejection;
use crate::binding::SenderConstraint;
use crate::config::{GatewayConfig, RouteConfig};
use crate::discovery::Discovery;
use crate::guard::{Presented, Requirements, TokenGuard};
use crate::metrics::GatewayMetrics;
use crate::proxy::{forward, Forward, UpstreamClient};
use crate::tokens::Introspector;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use certbound_net::authority::{AuthorityError, ServedAuthorities};
use certbound_net::{load_cert_chain, server_config, ClientCertMode, ConnectionInfo, ServeOptions};
use http::{Request, StatusCode, Uri};
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// TLS files.
    #[error(transparent)]
    Tls(#[from] certbound_net::TlsError),
    /// Binding a listener.
    #[error(transparent)]
    Bind(#[from] certbound_net::BindError),
    /// The HTTPS client for the authorization server.
    #[error("HTTPS client for the authorization server: {0}")]
    HttpClient(String),
    /// An invalid configuration value.
    #[error("configuration: {0}")]
    Config(String),
}

/// One route, ready to match.
struct Route {
    prefix: String,
    upstream: Uri,
    requirements: Requirements,
    constraint: SenderConstraint,
    timeout: Duration,
}

struct GatewayState {
    metrics: Arc<GatewayMetrics>,
    routes: Vec<Route>,
    served: ServedAuthorities,
    discovery: Arc<Discovery>,
    realm: String,
    upstream: UpstreamClient,
    /// `[dpop] public_url` without a trailing `/`, when configured.
    public_url: Option<String>,
}

/// A running gateway.
pub struct RunningGateway {
    /// The listener's address.
    pub addr: SocketAddr,
    /// The admin listener's address (`/metrics`, `/livez`, `/readyz`), if configured.
    pub admin_addr: Option<SocketAddr>,
    admin: Option<JoinHandle<()>>,
    discovery: Arc<Discovery>,
    discovering: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningGateway {
    /// The token guard, once the authorization server is discovered (tests read the
    /// introspection counters through it).
    pub fn guard(&self) -> Option<TokenGuard> {
        self.discovery.get().map(|d| d.guard.clone())
    }

    /// The introspector, once discovered, when opaque tokens are accepted.
    pub fn introspector(&self) -> Option<Introspector> {
        self.discovery.get().and_then(|d| d.introspector.clone())
    }

    /// Waits until the authorization server is discovered (returns at once if it is).
    pub async fn ready(&self) {
        self.discovery.wait().await
    }

    /// Stops accepting connections and drains the open ones (in-flight requests finish).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.discovering.await;
        if let Some(a) = self.admin {
            let _ = a.await;
        }
    }

    /// Runs until the listener ends.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Binds the configured address and starts.
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let addr = config.listen.https;
    let listener = certbound_net::bind(addr, "[listen] https in the gateway configuration").await?;
    start_on(config, listener).await
}

/// Starts on an already-bound listener: serves at once, and discovers the authorization server
/// (metadata, JWKS) in the background, retrying with backoff until it answers (see
/// [`crate::discovery`]). Returns after the first discovery attempt, successful or not, so a
/// gateway whose AS is up is ready when this returns; until discovery succeeds, protected
/// routes answer 503 and `/readyz` says why.
pub async fn start_on(
    config: GatewayConfig,
    listener: TcpListener,
) -> Result<RunningGateway, GatewayError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    config.limits.validate().map_err(GatewayError::Config)?;
    // One nonce key for the life of the process (rediscovery keeps it).
    let nonces = config
        .dpop
        .nonce_scheme()
        .map_err(|e| GatewayError::Config(format!("dpop.{}: {e}", e.key())))?;
    let admin_access = certbound_net::metrics::AdminAccess::from_config(&config.admin)
        .map_err(|e| GatewayError::Config(e.to_string()))?;
    let http = as_client(&config)?;
    let mut routes: Vec<Route> = config
        .routes
        .iter()
        .filter_map(|r| route(r, &config))
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    let metrics = Arc::new(GatewayMetrics::new());
    let discovery = Arc::new(Discovery::default());
    let headers = crate::headers::HeaderPolicy::new(
        config.proxy.headers_with_underscores,
        &config.proxy.pass_identity_headers,
    )
    .map_err(|m| GatewayError::Config(format!("proxy.pass_identity_headers: {m}")))?;
    let (chain, key) = certbound_net::load_key_pair(&config.tls.cert, &config.tls.key)?;
    let local = listener
        .local_addr()
        .map_err(|source| certbound_net::BindError {
            addr: config.listen.https,
            setting: "[listen] https",
            source,
        })?;
    let served = served_authorities(&config, &chain, local)?;
    let state = Arc::new(GatewayState {
        metrics: metrics.clone(),
        routes,
        served,
        discovery: discovery.clone(),
        realm: config.realm.clone(),
        public_url: config
            .dpop
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned()),
        upstream: UpstreamClient::new(
            Duration::from_secs(config.proxy.connect_timeout_seconds),
            config.proxy.max_body_bytes,
        )
        .with_headers(headers, metrics.clone()),
    });

    let mut client_cas = Vec::new();
    for p in &config.tls.client_ca {
        client_cas.extend(load_cert_chain(p)?);
    }
    record_certificates(&metrics, &config, &chain, &client_cas);
    let optional = config.tls.client_certificate == crate::config::ClientCertificate::Optional;
    let mode = match (client_cas.is_empty(), optional) {
        (true, false) => ClientCertMode::Required { hints: Vec::new() },
        (true, true) => ClientCertMode::Optional { hints: Vec::new() },
        (false, false) => ClientCertMode::RequiredTrusted {
            anchors: client_cas,
        },
        (false, true) => ClientCertMode::OptionalTrusted {
            anchors: client_cas,
        },
    };
    let tls = server_config(chain, key, &mode)?;
    let policy = config
        .client_cert
        .https
        .to_policy(true)
        .map_err(|(k, m)| GatewayError::Config(format!("client_cert.https.{k}: {m}")))?;
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(policy),
            certbound_net::client_cert::apply,
        ));
    let addr = listener
        .local_addr()
        .map_err(|source| certbound_net::BindError {
            addr: config.listen.https,
            setting: "[listen] https",
            source,
        })?;
    let (shutdown, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut admin_addr = None;
    let admin = match config.admin.listen {
        Some(a) => {
            let l = certbound_net::bind(a, "[admin] listen in the gateway configuration").await?;
            admin_addr = l.local_addr().ok();
            Some(tokio::spawn(certbound_net::metrics::serve_admin(
                l,
                metrics.clone(),
                discovery.clone(),
                admin_access,
                ServeOptions::with_limits("admin", &config.limits).metered(&metrics),
                stopped(rx.clone()),
            )))
        }
        None => None,
    };
    let task = tokio::spawn(certbound_net::serve(
        listener,
        tls,
        app,
        ServeOptions::with_limits("gateway", &config.limits).metered(&metrics),
        stopped(rx.clone()),
    ));
    let issuer = config.authorization_server.issuer.clone();
    let routes = config.routes.len();
    let (first_tx, first_rx) = oneshot::channel();
    let discovering = tokio::spawn(crate::discovery::run(
        discovery.clone(),
        Arc::new(config),
        nonces,
        http,
        metrics,
        first_tx,
        rx,
    ));
    tracing::info!(%addr, %issuer, routes, "certbound gateway started");
    let _ = first_rx.await;
    Ok(RunningGateway {
        addr,
        admin_addr,
        admin,
        discovery,
        discovering,
        shutdown,
        task,
    })
}

/// Exports the expiry of the gateway's certificates: its server chain, the client CAs, the CA it
/// trusts for the authorization server, and its own client certificate.
fn record_certificates(
    metrics: &GatewayMetrics,
    config: &GatewayConfig,
    chain: &[CertificateDer<'static>],
    client_cas: &[CertificateDer<'static>],
) {
    let a = &config.authorization_server;
    // Read failures of these two surface (with the file name) when the HTTPS client is built.
    let read = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .and_then(|p| load_cert_chain(p).ok())
            .unwrap_or_default()
    };
    let (as_ca, client) = (read(&a.ca), read(&a.client_cert));
    let (leaf, intermediates) = chain.split_at(chain.len().min(1));
    metrics.certificates.replace(&[
        ("server", leaf),
        ("server_intermediate", intermediates),
        ("client_ca", client_cas),
        ("authorization_server_ca", &as_ca),
        ("client", &client[..client.len().min(1)]),
    ]);
}

/// The authorities the gateway answers for (others get 421): `[listen] server_names`, or by
/// default the server certificate's DNS names and IP addresses at the listen port and at 443 (a
/// gateway published through a port mapping), and the listen address itself unless it is
/// unspecified. Loopback names stand for each other (certbound_net::authority).
fn served_authorities(
    config: &GatewayConfig,
    chain: &[CertificateDer<'static>],
    local: SocketAddr,
) -> Result<ServedAuthorities, GatewayError> {
    let err = |m: String| GatewayError::Config(format!("listen.server_names: {m}"));
    if let Some(names) = &config.listen.server_names {
        return ServedAuthorities::from_names(names.iter().map(String::as_str)).map_err(err);
    }
    let mut served = ServedAuthorities::from_names(Vec::<&str>::new()).map_err(err)?;
    let port = local.port();
    let leaf = certbound_core::ClientCertificate::new(
        chain.iter().take(1).cloned().collect(),
        certbound_core::CertificateSource::Tls,
    );
    let mut hosts: Vec<String> = Vec::new();
    if let Some(Ok(parsed)) = leaf.as_ref().map(|c| c.parsed()) {
        for san in &parsed.sans {
            match san {
                certbound_core::identity::san::PresentedSan::Dns(d) => hosts.push(d.clone()),
                certbound_core::identity::san::PresentedSan::Ip(ip) => hosts.push(match ip {
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                }),
                _ => {}
            }
        }
    }
    if !local.ip().is_unspecified() {
        hosts.push(match local.ip() {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    for h in hosts {
        for p in [port, 443] {
            // A certificate name that is not a valid host (an odd SAN) is simply not served.
            let _ = served.add(&format!("{h}:{p}"));
        }
    }
    Ok(served)
}

fn route(r: &RouteConfig, config: &GatewayConfig) -> Option<Route> {
    Some(Route {
        prefix: r.path_prefix.clone(),
        upstream: r.upstream.parse().ok()?,
        requirements: Requirements {
            require_bound: r.require_bound_token,
            scopes: r.scopes.clone(),
        },
        constraint: r.sender_constraint.unwrap_or(if r.require_bound_token {
            SenderConstraint::Certificate
        } else {
            SenderConstraint::None
        }),
        timeout: Duration::from_secs(
            r.timeout_seconds
                .unwrap_or(config.proxy.response_timeout_seconds),
        ),
    })
}

fn as_client(config: &GatewayConfig) -> Result<reqwest::Client, GatewayError> {
    let a = &config.authorization_server;
    let err = |e: String| GatewayError::HttpClient(e);
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(true)
        .timeout(Duration::from_secs(10));
    match &a.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            b = b.tls_built_in_root_certs(false);
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| err(format!("{}: {e}", path.display())))?
            {
                b = b.add_root_certificate(c);
            }
        }
        None => b = b.tls_built_in_native_certs(true),
    }
    if let (Some(cert), Some(key)) = (&a.client_cert, &a.client_key) {
        let mut pem = std::fs::read(cert).map_err(|e| err(format!("{}: {e}", cert.display())))?;
        pem.push(b'\n');
        certbound_net::tls::warn_if_key_readable(key);
        pem.extend(std::fs::read(key).map_err(|e| err(format!("{}: {e}", key.display())))?);
        b = b.identity(
            reqwest::Identity::from_pem(&pem)
                .map_err(|e| err(format!("client certificate: {e}")))?,
        );
    }
    b.build().map_err(|e| err(e.to_string()))
}

async fn handle(
    State(state): State<Arc<GatewayState>>,
    conn: Option<Extension<ConnectionInfo>>,
    req: Request<Body>,
) -> Response {
    let started = std::time::Instant::now();
    let (endpoint, response, unread) = route_request(&state, conn, req).await;
    if let Some(req) = unread {
        drain_small_body(req).await;
    }
    state.metrics.observe(
        "gateway",
        endpoint,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Request bodies up to this size are read (and dropped) before an early answer is sent.
const DRAIN_LIMIT_BYTES: usize = 64 * 1024;
/// How long draining may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads and drops a small request body the gateway answers without forwarding (a refusal, a
/// 400, a 404), so the client sees the answer: over HTTP/2, answering before the body arrived
/// makes the stream end early, and clients such as curl then report "stream error in the HTTP/2
/// framing layer" instead of the 401 (over HTTP/1.1, an unread body can make the close reset the
/// response). Bodies declared larger than the limit, or slower than the timeout, are not read:
/// the answer goes out and the stream is reset, as nginx does.
async fn drain_small_body(req: Request<Body>) {
    use http_body_util::BodyExt;
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if matches!(declared, Some(n) if n > DRAIN_LIMIT_BYTES as u64) {
        return;
    }
    let body = http_body_util::Limited::new(req.into_body(), DRAIN_LIMIT_BYTES);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, body.collect()).await;
}

/// What [`route_request`] decided: the route label for metrics, the response, and the request
/// when it was answered without forwarding (its body may still be unread).
type Routed = (String, Response, Option<Request<Body>>);

/// The gateway's decision and forwarding for one request.
async fn route_request(
    state: &GatewayState,
    conn: Option<Extension<ConnectionInfo>>,
    req: Request<Body>,
) -> Routed {
    // The authority first (400 for a missing, repeated or malformed Host; 421 for another
    // server's), then one normalisation of the path: the route is chosen on the canonical path,
    // and that is the path the upstream receives.
    let authority = match state.served.check(req.version(), req.uri(), req.headers()) {
        Ok(a) => Some(a),
        Err(AuthorityError::Misdirected)
            if req.uri().path() == certbound_net::authority::HEALTH_PATH =>
        {
            None
        }
        Err(e) => return ("unmatched".into(), e.response(), Some(req)),
    };
    let path = match crate::path::normalize(req.uri().path()) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "request path refused");
            let refused = (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    serde_json::json!({"error": "invalid_request", "error_description": e.to_string()}),
                ),
            );
            return ("unmatched".into(), refused.into_response(), Some(req));
        }
    };
    if path == "/health" {
        let ok = (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        );
        return ("/health".into(), ok.into_response(), Some(req));
    }
    let Some(route) = state.routes.iter().find(|r| path.starts_with(&r.prefix)) else {
        let not_found = (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "not_found"})),
        );
        return ("unmatched".into(), not_found.into_response(), Some(req));
    };
    let endpoint = route.prefix.clone();
    let Some(conn) = conn else {
        return (
            endpoint,
            StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            Some(req),
        );
    };
    let certificate = conn.client_certificate.as_ref();
    let checked = match state.discovery.get() {
        Some(d) => {
            // The DPoP `htu`: the configured public origin, or https and the authority that
            // passed the served-names check, plus the path as the client sent it.
            let htu = match (&state.public_url, &authority) {
                (Some(origin), _) => Some(format!("{origin}{}", req.uri().path())),
                (None, Some(a)) => Some(format!("https://{a}{}", req.uri().path())),
                (None, None) => None,
            };
            let presented = Presented {
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
                certificate,
                htu: htu.as_deref(),
            };
            d.guard
                .decide(&presented, &route.requirements, route.constraint)
                .await
        }
        None => Err(Rejection::not_ready(&state.realm)),
    };
    let token = match checked {
        Ok(t) => t,
        Err(rejection) => {
            crate::audit::refused(&rejection, certificate, Some(conn.peer_addr), &path);
            state
                .metrics
                .refused(rejection.reason(), rejection.error_code());
            return (endpoint, rejection.into_response(), Some(req));
        }
    };
    state.metrics.allowed();
    let jwt = token.raw.clone();
    let mut req = req;
    if let Err(e) = with_path(req.uri_mut(), &path) {
        tracing::warn!(error = %e, "canonical path does not form a URI");
        return (endpoint, StatusCode::BAD_REQUEST.into_response(), None);
    }
    // RFC 9449 §9: the next nonce rides on every answer to a DPoP request (one value per
    // rotation window), so clients roll over without a use_dpop_nonce round trip.
    let nonce = match (&token.claims.jkt, state.discovery.get()) {
        (Some(_), Some(d)) => d.guard.dpop_nonce(),
        _ => None,
    };
    let mut response = forward(
        &state.upstream,
        req,
        Forward {
            upstream: &route.upstream,
            peer: conn.peer_addr,
            jwt: &jwt,
            timeout: route.timeout,
        },
    )
    .await;
    if let Some(v) = nonce.and_then(|n| http::HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(crate::bearer::DPOP_NONCE, v);
    }
    if matches!(
        response.status(),
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
    ) {
        state.metrics.upstream_errors.inc();
    }
    (endpoint, response, None)
}

/// Replaces the path of `uri` with `path`, keeping its scheme, authority and query (the query is
/// forwarded unchanged).
fn with_path(uri: &mut Uri, path: &str) -> Result<(), http::Error> {
    if uri.path() == path {
        return Ok(());
    }
    let mut parts = std::mem::take(uri).into_parts();
    let pq = match parts.path_and_query.as_ref().and_then(|pq| pq.query()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    parts.path_and_query = Some(pq.parse()?);
    *uri = Uri::from_parts(parts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_path;
    use http::Uri;

    #[test]
    fn the_canonical_path_replaces_the_path_only() {
        for (before, path, after) in [
            (
                "/%61pi//x?q=%2e%2e&r=..%5c",
                "/api/x",
                "/api/x?q=%2e%2e&r=..%5c",
            ),
            ("https://gw.example/%61pi", "/api", "https://gw.example/api"),
            ("/api/x", "/api/x", "/api/x"),
        ] {
            let mut uri: Uri = before.parse().unwrap();
            with_path(&mut uri, path).unwrap();
            assert_eq!(uri.to_string(), after);
        }
    }
}
