//! The admin listener: `GET /metrics`, `GET /livez`, `GET /readyz` in plain HTTP.
//!
//! `/livez` answers 200 while the process runs (an orchestrator restarts the process when it
//! stops answering). `/readyz` runs the caller's [`Readiness`] check and answers 200 `ready`, or
//! 503 with one line saying what is missing (a load balancer stops sending traffic, nothing is
//! restarted). `/health` is kept as another name for `/livez`. Who may ask is
//! [`AdminAccess`](super::AdminAccess) (`[admin] bearer_token_file`).

use super::Exporter;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The longest a readiness check may take before `/readyz` answers 503 anyway: probes have
/// their own timeouts (often 1 s), and a check that hangs must read as "not ready", not as a
/// stalled admin listener.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a process is not ready, in one line of plain words (shown by `/readyz` and logged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// The future of a [`Readiness`] check.
pub type ReadinessFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotReady>> + Send + 'a>>;

/// What "ready to take traffic" means for a process part, supplied by that part (the
/// authorization server: the store answers and signing keys are loaded; the gateway: the
/// authorization server was discovered). Called on every `GET /readyz`, so keep it cheap.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready, else what is missing.
    fn check(&self) -> ReadinessFuture<'_>;
}

#[derive(Clone)]
struct Admin {
    metrics: Arc<dyn Exporter>,
    readiness: Arc<dyn Readiness>,
}

/// The admin routes (for [`serve_admin`], and for in-process tests).
pub fn admin_router(metrics: Arc<dyn Exporter>, readiness: Arc<dyn Readiness>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_text))
        .route("/livez", axum::routing::get(live))
        .route("/health", axum::routing::get(live))
        .route("/readyz", axum::routing::get(ready))
        .with_state(Admin { metrics, readiness })
}

async fn metrics_text(State(admin): State<Admin>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

async fn live() -> Response {
    plain(StatusCode::OK, "ok".to_owned())
}

async fn ready(State(admin): State<Admin>) -> Response {
    let verdict = match tokio::time::timeout(READINESS_TIMEOUT, admin.readiness.check()).await {
        Ok(verdict) => verdict,
        Err(_) => Err(NotReady(format!(
            "the readiness check did not finish within {} s",
            READINESS_TIMEOUT.as_secs()
        ))),
    };
    match verdict {
        Ok(()) => plain(StatusCode::OK, "ready".to_owned()),
        Err(NotReady(reason)) => {
            tracing::debug!(%reason, "readiness probe: not ready");
            // One line, whatever the check wrote.
            let line = reason.lines().next().unwrap_or("not ready").to_owned();
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {line}"),
            )
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

/// Serves the admin routes in plain HTTP on `listener` until `shutdown` resolves, with the
/// limits, timeouts and drain deadline in `options` (so a stalled scraper can neither exhaust
/// the process nor hold its shutdown), to the clients `access` lets in. Logs a warning when the
/// listener is reachable from other hosts without authentication.
pub async fn serve_admin(
    listener: TcpListener,
    metrics: Arc<dyn Exporter>,
    readiness: Arc<dyn Readiness>,
    access: super::AdminAccess,
    options: crate::serve::ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Some(warning) = listener
        .local_addr()
        .ok()
        .and_then(|addr| access.exposure_warning(addr))
    {
        tracing::warn!(setting = "[admin] listen", "{warning}");
    }
    let app = admin_router(metrics, readiness).layer(axum::middleware::from_fn_with_state(
        access,
        super::access::require,
    ));
    crate::serve::serve_plain(listener, app, options, shutdown).await
}

/// Binds the admin listener.
pub async fn bind_admin(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
