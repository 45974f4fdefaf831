//! Prometheus metrics of a certbound process (authorization server, gateway, or both in one
//! quickstart process), served in the text exposition format on a separate admin listener so the
//! public listeners never expose them.
//!
//! One [`Metrics`] per process part, shared by `Arc`; label values are `&'static str` or numbers
//! (never a client id, a token or a certificate), so cardinality stays bounded whatever clients send.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The listener (`https`, `mtls`, `gateway`).
    pub listener: &'static str,
    /// The route pattern (`/token`), or `unmatched`.
    pub endpoint: String,
    /// The response status.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The listener.
    pub listener: &'static str,
    /// The route pattern.
    pub endpoint: String,
}

/// Labels of a client-authentication decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `token`, `introspect`, `revoke`.
    pub endpoint: &'static str,
    /// The registered method (`tls_client_auth` ...), or `none` when no client was identified.
    pub method: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Why a request was denied (`ok` when allowed).
    pub reason: &'static str,
}

/// Labels of an issued token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssueLabels {
    /// `jwt` or `opaque`.
    pub format: &'static str,
    /// Certificate-bound or not.
    pub bound: bool,
}

/// One label: a kind of event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What happened.
    pub kind: &'static str,
}

/// Labels of a cache lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// Which cache.
    pub cache: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Every metric certbound exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by listener, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by listener and route.
    pub latency: Family<EndpointLabels, Histogram>,
    /// Client-authentication decisions.
    pub client_auth: Family<AuthLabels, Counter>,
    /// Access tokens issued.
    pub tokens_issued: Family<IssueLabels, Counter>,
    /// Access tokens revoked.
    pub tokens_revoked: Counter,
    /// Requests refused by a rate limit (`failed_auth_address`, `requests_client` ...).
    pub rate_limited: Family<KindLabels, Counter>,
    /// Store operations that failed (`issue`, `introspect`, `revoke`, `reload` ...).
    pub store_errors: Family<KindLabels, Counter>,
    /// Gateway token checks by outcome (`allowed`, or the RFC 6750 error code).
    pub gateway_checks: Family<KindLabels, Counter>,
    /// Cache lookups (gateway token caches).
    pub cache: Family<CacheLabels, Counter>,
    /// Gateway requests the upstream could not answer.
    pub upstream_errors: Counter,
    /// Open connections.
    pub open_connections: Gauge,
    forwarded_stripped: Counter,
    pulls: std::sync::Mutex<Vec<Pull>>,
}

/// A source of counters kept elsewhere (e.g. cache statistics), read at each scrape.
type Pull = Box<dyn Fn(&Metrics) + Send + Sync>;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("certbound");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let client_auth = Family::<AuthLabels, Counter>::default();
        let tokens_issued = Family::<IssueLabels, Counter>::default();
        let tokens_revoked = Counter::default();
        let rate_limited = Family::<KindLabels, Counter>::default();
        let store_errors = Family::<KindLabels, Counter>::default();
        let gateway_checks = Family::<KindLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let upstream_errors = Counter::default();
        let open_connections = Gauge::default();
        let forwarded_stripped = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by listener, route and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by listener and route",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "client_authentications",
            "Client-authentication decisions by endpoint, method, decision and reason",
            client_auth.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued by format and certificate binding",
            tokens_issued.clone(),
        );
        registry.register(
            "tokens_revoked",
            "Access tokens revoked",
            tokens_revoked.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        registry.register(
            "store_errors",
            "Failed store operations by operation",
            store_errors.clone(),
        );
        registry.register(
            "gateway_token_checks",
            "Gateway token checks by outcome",
            gateway_checks.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by cache and result",
            cache.clone(),
        );
        registry.register(
            "gateway_upstream_errors",
            "Gateway requests the upstream could not answer",
            upstream_errors.clone(),
        );
        registry.register(
            "open_connections",
            "Open client connections",
            open_connections.clone(),
        );
        registry.register(
            "forwarded_cert_headers_stripped",
            "Client-certificate headers removed because the peer was not a trusted proxy",
            forwarded_stripped.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            client_auth,
            tokens_issued,
            tokens_revoked,
            rate_limited,
            store_errors,
            gateway_checks,
            cache,
            upstream_errors,
            open_connections,
            forwarded_stripped,
            pulls: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Counts one event of `kind` in `family`.
    pub fn count(family: &Family<KindLabels, Counter>, kind: &'static str) {
        family.get_or_create(&KindLabels { kind }).inc();
    }

    /// Records one served request.
    pub fn observe(
        &self,
        listener: &'static str,
        endpoint: String,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        self.latency
            .get_or_create(&EndpointLabels {
                listener,
                endpoint: endpoint.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                listener,
                endpoint,
                status,
            })
            .inc();
    }

    /// Reads `pull` at every scrape: for counters kept by other components (cache statistics),
    /// which it copies in with [`Metrics::sync_counter`].
    pub fn add_pull(&self, pull: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.pulls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(pull));
    }

    /// Raises `counter` to `total` (a monotonic count kept elsewhere).
    pub fn sync_counter(counter: &Counter, total: u64) {
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }

    /// Copies a cache's (hits, misses) into `certbound_cache_lookups_total`.
    pub fn sync_cache(&self, cache: &'static str, (hits, misses): (u64, u64)) {
        for (result, total) in [("hit", hits), ("miss", misses)] {
            Self::sync_counter(
                &self.cache.get_or_create(&CacheLabels { cache, result }),
                total,
            );
        }
    }

    /// The text exposition (Prometheus / OpenMetrics text format).
    pub fn render(&self) -> String {
        for pull in self.pulls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            pull(self);
        }
        // The stripped-header counter is process-wide (the policy middleware has no state).
        Self::sync_counter(
            &self.forwarded_stripped,
            crate::client_cert::UNTRUSTED_HEADERS_STRIPPED.load(Ordering::Relaxed),
        );
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::warn!("encoding metrics failed");
        }
        out
    }
}

/// Middleware recording every request's route, status and latency. Apply with
/// `Router::layer` so the matched route is known.
pub async fn record(
    State((metrics, listener)): State<(Arc<Metrics>, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe(
        listener,
        endpoint,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Serves `GET /metrics` (and `GET /health`) in plain HTTP on `listener` until `shutdown`
/// resolves, with the limits, timeouts and drain deadline in `options` (so a stalled scraper can
/// neither exhaust the process nor hold its shutdown). Bind it to loopback or a management
/// network: it is not authenticated.
pub async fn serve_admin(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    options: crate::serve::ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
                    .into_response()
            }),
        )
        .route("/health", axum::routing::get(|| async { "ok" }))
        .with_state(metrics);
    crate::serve::serve_plain(listener, app, options, shutdown).await
}

/// Binds the admin listener.
pub async fn bind_admin(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_labels_and_help() {
        let m = Metrics::new();
        m.tokens_issued
            .get_or_create(&IssueLabels {
                format: "jwt",
                bound: true,
            })
            .inc();
        m.latency
            .get_or_create(&EndpointLabels {
                listener: "mtls",
                endpoint: "/token".into(),
            })
            .observe(0.002);
        Metrics::count(&m.rate_limited, "failed_auth_address");
        let text = m.render();
        assert!(
            text.contains("certbound_tokens_issued_total{format=\"jwt\",bound=\"true\"} 1"),
            "{text}"
        );
        assert!(text.contains("# HELP certbound_tokens_issued Access tokens issued"));
        assert!(text.contains(
            "certbound_http_request_duration_seconds_count{listener=\"mtls\",endpoint=\"/token\"} 1"
        ));
        assert!(text.contains("certbound_rate_limited_total{kind=\"failed_auth_address\"} 1"));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
