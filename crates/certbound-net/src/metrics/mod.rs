//! Prometheus metrics of certbound processes, served in the text exposition format on a separate
//! admin listener so the public listeners never expose them.
//!
//! Each process part has its own registry holding only its own families over the shared ones:
//! the authorization server's [`AuthServerMetrics`] (here, so its modules keep one import path)
//! and the gateway's `certbound_gateway::metrics::GatewayMetrics`. Both embed [`ProcessMetrics`]:
//! requests, latency, open connections, `certbound_build_info` and the certificate expiry gauges.
//! A quickstart process that runs both parts serves two admin listeners, never one mixed registry.
//!
//! Label values are `&'static str`, numbers, or names taken from the process's own configuration
//! (certificate subjects): never a client id, a token or a presented certificate, so cardinality
//! stays bounded whatever clients send.

mod access;
mod admin;
mod auth_server;
mod certificates;

pub use access::{AdminAccess, AdminAccessError, AdminConfig, ADMIN_REALM, MIN_TOKEN_LEN};
pub use admin::{admin_router, bind_admin, serve_admin, NotReady, Readiness, ReadinessFuture};
pub use auth_server::{AuthLabels, AuthServerMetrics, IssueLabels, Metrics};
pub use certificates::{CertificateExpiry, CertificateLabels};
/// The metrics library, for the families other crates register next to the shared ones.
pub use prometheus_client;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

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

/// One label: the listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// The listener's name (`https`, `mtls`, `gateway`).
    pub listener: &'static str,
}

/// Labels of a closed connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionCloseLabels {
    /// The listener's name.
    pub listener: &'static str,
    /// Why it closed (a closed list: `crate::serve::CloseReason`).
    pub reason: &'static str,
}

/// One label: a kind of event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What happened.
    pub kind: &'static str,
}

/// One label: why something was refused (a closed list owned by the caller).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The reason's stable label.
    pub reason: &'static str,
}

/// Labels of a cache lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// Which cache (`gateway_jwt`, `gateway_introspection`).
    pub cache: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Labels of `certbound_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The certbound version.
    pub version: &'static str,
    /// Which process part exports the registry (`authorization_server`, `gateway`).
    pub process: &'static str,
}

/// The families every certbound process part exports, registered in that part's registry.
pub struct ProcessMetrics {
    /// Requests by listener, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by listener and route.
    pub latency: Family<EndpointLabels, Histogram>,
    /// Open client connections by listener.
    pub open_connections: Family<ListenerLabels, Gauge>,
    /// Closed client connections by listener and reason.
    pub connections_closed: Family<ConnectionCloseLabels, Counter>,
    /// Expiry of the server certificate and of the configured CAs.
    pub certificates: CertificateExpiry,
    forwarded_stripped: Counter,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

impl ProcessMetrics {
    /// Registers the shared families in `registry`, with `certbound_build_info` set to 1 for
    /// this build and `process` (`authorization_server`, `gateway`).
    pub fn register(registry: &mut Registry, process: &'static str) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let open_connections = Family::<ListenerLabels, Gauge>::default();
        let connections_closed = Family::<ConnectionCloseLabels, Counter>::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        let certificates = CertificateExpiry::default();
        let forwarded_stripped = Counter::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                process,
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels name the certbound version and the process part",
            build_info,
        );
        registry.register(
            "http_requests",
            "HTTP requests by listener, route and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by listener and route",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "open_connections",
            "Open client connections by listener",
            open_connections.clone(),
        );
        registry.register(
            "connections_closed",
            "Closed client connections by listener and reason (idle, header_timeout, evicted, ...)",
            connections_closed.clone(),
        );
        registry.register_with_unit(
            "certificate_expiry_timestamp",
            "notAfter of the server certificate and of the configured CAs, in Unix seconds",
            Unit::Seconds,
            certificates.family(),
        );
        registry.register(
            "forwarded_cert_headers_stripped",
            "Client-certificate headers removed because the peer was not a trusted proxy",
            forwarded_stripped.clone(),
        );
        ProcessMetrics {
            requests,
            latency,
            open_connections,
            connections_closed,
            certificates,
            forwarded_stripped,
        }
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

    /// The open-connections gauge of `listener` (a shared handle: the accept loop moves it up
    /// and down).
    pub fn open_connections_of(&self, listener: &'static str) -> Gauge {
        self.open_connections
            .get_or_create(&ListenerLabels { listener })
            .clone()
    }

    /// Copies counters kept elsewhere in the process into the registry; called before each
    /// scrape.
    fn sync(&self) {
        // The stripped-header counter is process-wide (the policy middleware has no state).
        sync_counter(
            &self.forwarded_stripped,
            crate::client_cert::UNTRUSTED_HEADERS_STRIPPED.load(Ordering::Relaxed),
        );
    }
}

/// A process part's metrics, as the admin listener and the accept loop see them.
pub trait Exporter: Send + Sync + 'static {
    /// The shared families.
    fn process(&self) -> &ProcessMetrics;
    /// The text exposition (OpenMetrics text format) of this part's registry.
    fn render(&self) -> String;
}

impl<T: Exporter + ?Sized> Exporter for Arc<T> {
    fn process(&self) -> &ProcessMetrics {
        (**self).process()
    }
    fn render(&self) -> String {
        (**self).render()
    }
}

/// Encodes `registry` after bringing `process`'s pulled counters up to date.
pub fn encode(registry: &Registry, process: &ProcessMetrics) -> String {
    process.sync();
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        tracing::warn!("encoding metrics failed");
    }
    out
}

/// Counts one event of `kind` in `family`.
pub fn count(family: &Family<KindLabels, Counter>, kind: &'static str) {
    family.get_or_create(&KindLabels { kind }).inc();
}

/// Raises `counter` to `total` (a monotonic count kept elsewhere).
pub fn sync_counter(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Middleware recording every request's route, status and latency. Apply with
/// `Router::layer` so the matched route is known.
pub async fn record<M: Exporter>(
    State((metrics, listener)): State<(Arc<M>, &'static str)>,
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
    metrics.process().observe(
        listener,
        endpoint,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
