//! The accept loop: TLS handshake, one [`ConnectionInfo`] per connection, HTTP/1.1 and HTTP/2.
//!
//! Every connection must earn its slot: the TLS handshake within `handshake_timeout`, the first
//! request within `header_read_timeout` of the handshake (whatever the protocol: hyper's own
//! header timeout starts only once it has chosen HTTP/1 or HTTP/2, and a client that sends
//! nothing never lets it choose), and a next request within `idle_timeout` of the last response.
//! When every slot is taken, the longest-idle connection is closed to make room. Closes are
//! counted by [`CloseReason`].

use crate::activity::{Activity, Busy, Connections, Expiry, Registration};
use crate::limits::Limits;
use crate::linger::{Linger, LingerLimits, LingerSwitch};
use crate::metrics::{ConnectionCloseLabels, Exporter};
use certbound_core::{CertificateSource, ClientCertificate};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What the connection a request arrived on knows: who the TCP peer is, which listener it hit and
/// the client certificate proven in the handshake. Inserted into every request's extensions.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The TCP peer (a client, or a proxy in front of certbound).
    pub peer_addr: SocketAddr,
    /// The name of the listener (e.g. `https`, `mtls`), for logs and per-listener behaviour.
    pub listener: &'static str,
    /// The certificate from the TLS handshake, parsed once for the connection. With TLS 1.3
    /// resumption rustls restores it from the session, so it is present on resumed connections too.
    pub client_certificate: Option<ClientCertificate>,
}

/// Name, timeouts and limits of one listener.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The listener's name, copied into [`ConnectionInfo::listener`].
    pub name: &'static str,
    /// The longest a TLS handshake may take (slow or stalled clients are dropped).
    pub handshake_timeout: Duration,
    /// The longest a request head may take to arrive: the first one after the handshake (any
    /// protocol), and with HTTP/1.1 each next one after the previous response.
    pub header_read_timeout: Duration,
    /// The longest a connection may stay with no request in flight after its first request.
    pub idle_timeout: Duration,
    /// HTTP/2 PING interval (`None`: no pings); an unanswered PING closes the connection after
    /// `header_read_timeout`.
    pub http2_ping_interval: Option<Duration>,
    /// Lingering close: the longest the server reads and discards after closing a connection the
    /// client may still be writing to (zero: close at once).
    pub linger_time: Duration,
    /// Lingering close: the most bytes discarded.
    pub linger_max_bytes: usize,
    /// The largest request head in bytes (hyper answers `431` above it).
    pub max_header_bytes: usize,
    /// The most header fields in one request (hyper answers `431` above it).
    pub max_headers: usize,
    /// Simultaneous connections. When all are taken the longest-idle one is asked to close for
    /// the next; when all are busy, further ones wait in the accept queue.
    pub max_connections: usize,
    /// On shutdown, how long open connections may take to finish their requests.
    pub drain_timeout: Duration,
    /// Where to count open connections (this listener's `certbound_open_connections` series).
    pub open_connections: Option<Gauge>,
    /// Where to count closed connections by reason (`certbound_connections_closed_total`).
    pub connections_closed: Option<Family<ConnectionCloseLabels, Counter>>,
}

impl ServeOptions {
    /// The default limits ([`Limits::default`]) for a named listener.
    pub fn named(name: &'static str) -> Self {
        Self::with_limits(name, &Limits::default())
    }

    /// The same, counting this listener's open and closed connections in `metrics`.
    pub fn metered(mut self, metrics: &impl Exporter) -> Self {
        self.open_connections = Some(metrics.process().open_connections_of(self.name));
        self.connections_closed = Some(metrics.process().connections_closed.clone());
        self
    }

    /// A named listener with the configured limits.
    pub fn with_limits(name: &'static str, limits: &Limits) -> Self {
        let seconds = |s: u32| Duration::from_secs(s.into());
        ServeOptions {
            name,
            handshake_timeout: seconds(limits.handshake_timeout_seconds),
            header_read_timeout: seconds(limits.header_timeout_seconds),
            idle_timeout: seconds(limits.idle_timeout_seconds),
            http2_ping_interval: (limits.http2_ping_seconds > 0)
                .then(|| seconds(limits.http2_ping_seconds)),
            linger_time: seconds(limits.linger_seconds),
            linger_max_bytes: limits.linger_max_bytes,
            max_header_bytes: limits.max_header_bytes.max(8192),
            max_headers: limits.max_headers,
            max_connections: limits.max_connections.max(1),
            drain_timeout: seconds(limits.drain_seconds),
            open_connections: None,
            connections_closed: None,
        }
    }

    fn count_close(&self, reason: CloseReason) {
        if let Some(family) = &self.connections_closed {
            family
                .get_or_create(&ConnectionCloseLabels {
                    listener: self.name,
                    reason: reason.label(),
                })
                .inc();
        }
    }
}

/// Why a connection closed: the `reason` label of `certbound_connections_closed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed it, or HTTP ended it normally (`Connection: close`, a lingering close
    /// after a `413` or `431`).
    Closed,
    /// The TLS handshake failed.
    HandshakeFailed,
    /// The TLS handshake took longer than `handshake_timeout_seconds`.
    HandshakeTimeout,
    /// No request head within `header_timeout_seconds` (after the handshake, or with HTTP/1.1
    /// after the previous response).
    HeaderTimeout,
    /// No request in flight for `idle_timeout_seconds`.
    Idle,
    /// Closed to make room for a new connection at `max_connections`.
    Evicted,
    /// Closed by a graceful shutdown of the process.
    Shutdown,
    /// A protocol or I/O error.
    Error,
}

impl CloseReason {
    /// The stable metric label.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Closed => "closed",
            CloseReason::HandshakeFailed => "handshake_failed",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Error => "error",
        }
    }
}

/// The TLS configuration of a listener, replaceable while it runs (a certificate or trust-anchor
/// reload): connections accepted after [`TlsHandle::replace`] use the new one, open ones keep theirs.
#[derive(Clone)]
pub struct TlsHandle(Arc<watch::Sender<Arc<ServerConfig>>>);

impl TlsHandle {
    /// A handle holding `config`.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsHandle(Arc::new(watch::Sender::new(config)))
    }

    /// Uses `config` for every connection accepted from now on.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        self.0.send_replace(config);
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.borrow().clone()
    }
}

impl From<Arc<ServerConfig>> for TlsHandle {
    fn from(config: Arc<ServerConfig>) -> Self {
        TlsHandle::new(config)
    }
}

/// Serves `app` on `listener` over TLS until the task is dropped or `shutdown` resolves. On
/// shutdown it stops accepting, asks every open connection to finish its in-flight requests
/// (HTTP/1 keep-alive ends after the current response; HTTP/2 sends GOAWAY), closes connections
/// still in their TLS handshake (they carry no request), and returns when all are done or
/// `drain_timeout` has passed.
pub async fn serve(
    listener: TcpListener,
    tls: impl Into<TlsHandle>,
    app: axum::Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    accept_loop(listener, Some(tls.into()), app, options, shutdown).await
}

/// [`serve`] in plain HTTP (no TLS, no client certificate): for the admin listener, which must
/// obey the same limits, timeouts and drain deadline as the public ones.
pub async fn serve_plain(
    listener: TcpListener,
    app: axum::Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    accept_loop(listener, None, app, options, shutdown).await
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsHandle>,
    app: axum::Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let connections = Arc::new(Connections::default());
    let (draining, drain_signal) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer_addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = options.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // At most one accepted connection waits here for room; the next ones stay in the
        // kernel's accept queue.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => tokio::select! {
                _ = &mut shutdown => break,
                slot = make_room(&connections, &slots, options.name) => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            },
        };
        let _ = tcp.set_nodelay(true);
        let registration = connections.register();
        let acceptor = tls.as_ref().map(|tls| TlsAcceptor::from(tls.current()));
        let app = app.clone();
        let options = options.clone();
        let drain_signal = drain_signal.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = options.open_connections.as_ref().map(OpenConnection::new);
            let reason = connection(
                tcp,
                peer_addr,
                acceptor,
                app,
                &options,
                drain_signal,
                &registration,
            )
            .await;
            drop(registration);
            options.count_close(reason);
        });
    }
    drop(listener);
    let _ = draining.send(true);
    let all = u32::try_from(options.max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(options.drain_timeout, slots.acquire_many(all)).await;
    match drained {
        Ok(_) => tracing::debug!(listener = options.name, "all connections closed"),
        Err(_) => tracing::warn!(
            listener = options.name,
            "connections still open after the drain timeout were cut"
        ),
    }
}

/// Every slot is taken: asks the connection idle the longest to close, one at a time, and
/// returns the first slot freed (by it or by any other connection).
async fn make_room(
    connections: &Connections,
    slots: &Arc<Semaphore>,
    listener: &'static str,
) -> Result<OwnedSemaphorePermit, tokio::sync::AcquireError> {
    let mut asked: Option<std::sync::Weak<Activity>> = None;
    loop {
        let wait = connections.idle_signal();
        let became_idle = wait.notified();
        tokio::pin!(became_idle);
        became_idle.as_mut().enable();
        // Ask another one only if the last one asked is gone or busy again (a request arrived
        // before it closed).
        let pending = asked
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .is_some_and(|a| a.is_idle());
        if !pending {
            asked = connections.evict_longest_idle();
            if asked.is_some() {
                tracing::debug!(
                    listener,
                    "all connection slots taken: closing the longest-idle connection"
                );
            }
        }
        tokio::select! {
            slot = slots.clone().acquire_owned() => return slot,
            _ = became_idle => {}
        }
    }
}

/// One accepted connection, from the TLS handshake to its close; returns why it closed.
async fn connection(
    tcp: TcpStream,
    peer_addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: axum::Router,
    options: &ServeOptions,
    mut drain_signal: watch::Receiver<bool>,
    registration: &Registration,
) -> CloseReason {
    let activity = registration.activity();
    let Some(acceptor) = acceptor else {
        activity.handshake_done();
        let info = ConnectionInfo {
            peer_addr,
            listener: options.name,
            client_certificate: None,
        };
        return serve_connection(tcp, info, app, options, drain_signal, activity).await;
    };
    let handshake = tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(listener = options.name, %peer_addr, error = %e, "TLS handshake failed");
                return CloseReason::HandshakeFailed;
            }
            Err(_) => {
                tracing::debug!(listener = options.name, %peer_addr, "TLS handshake timed out");
                return CloseReason::HandshakeTimeout;
            }
        },
        // No request can be in flight before the handshake ends: shutting down closes it.
        _ = async { drain_signal.wait_for(|d| *d).await.map(|_| ()) } => {
            tracing::debug!(listener = options.name, %peer_addr, "closed in its TLS handshake: shutting down");
            return CloseReason::Shutdown;
        }
        _ = activity.evicted() => {
            tracing::debug!(listener = options.name, %peer_addr, "closed in its TLS handshake: its slot was needed");
            return CloseReason::Evicted;
        }
    };
    activity.handshake_done();
    let client_certificate = stream.get_ref().1.peer_certificates().and_then(|chain| {
        ClientCertificate::new(
            chain.iter().map(|c| c.clone().into_owned()).collect(),
            CertificateSource::Tls,
        )
    });
    let info = ConnectionInfo {
        peer_addr,
        listener: options.name,
        client_certificate,
    };
    serve_connection(stream, info, app, options, drain_signal, activity).await
}

/// HTTP/1.1 or HTTP/2 on one established connection, `info` in every request's extensions,
/// until the client closes it, a drain finishes it gracefully, or its watchdog closes it: no
/// first request within the header timeout, no request in flight for the idle timeout, or its
/// slot needed for a new connection. Returns why it closed.
async fn serve_connection<IO>(
    io: IO,
    info: ConnectionInfo,
    app: axum::Router,
    options: &ServeOptions,
    mut drain_signal: watch::Receiver<bool>,
    activity: &Arc<Activity>,
) -> CloseReason
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer_addr = info.peer_addr;
    let tracked = activity.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(info.clone());
            // In flight until the response body is written (or the connection dropped).
            let busy = tracked.begin();
            let response = app.clone().oneshot(req);
            async move {
                let response = response.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| axum::body::Body::new(InFlight { body, _busy: busy })),
                )
            }
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes)
        .max_headers(options.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(options.http2_ping_interval)
        .keep_alive_timeout(options.header_read_timeout)
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(100);
    let linger = LingerSwitch::default();
    let io = Linger::new(
        io,
        LingerLimits {
            time: options.linger_time,
            max_bytes: options.linger_max_bytes,
        },
        linger.clone(),
    );
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let (reason, result) = tokio::select! {
        r = connection.as_mut() => (None, Some(r)),
        _ = async { drain_signal.wait_for(|d| *d).await.map(|_| ()) } => (Some(CloseReason::Shutdown), None),
        expiry = activity.deadline(options.header_read_timeout, options.idle_timeout) => {
            let reason = match expiry {
                Expiry::NoFirstRequest => CloseReason::HeaderTimeout,
                Expiry::Idle => CloseReason::Idle,
                Expiry::Evicted => CloseReason::Evicted,
            };
            (Some(reason), None)
        }
    };
    let result = match result {
        Some(r) => Some(r),
        None => {
            // Closing for the server's own reasons: with no request in flight the client is not
            // sending one, so there is nothing to linger for.
            if activity.is_idle() {
                linger.off();
            }
            // HTTP/1.1 finishes the response in flight and closes; HTTP/2 sends GOAWAY and
            // finishes its streams. A peer that does not let it finish (never answers the
            // GOAWAY's PING) is cut after a short grace once nothing is in flight.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                r = connection.as_mut() => Some(r),
                _ = async {
                    tokio::time::sleep(CLOSE_GRACE.min(options.header_read_timeout)).await;
                    activity.idle().await;
                } => None,
            }
        }
    };
    let reason = match (reason, result) {
        (Some(reason), _) => reason,
        (None, Some(Ok(()))) => CloseReason::Closed,
        (None, Some(Err(e))) => {
            tracing::debug!(listener = options.name, %peer_addr, error = %e, "connection ended with an error");
            if e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
            {
                CloseReason::HeaderTimeout
            } else {
                CloseReason::Error
            }
        }
        (None, None) => CloseReason::Error,
    };
    if reason != CloseReason::Closed {
        tracing::debug!(listener = options.name, %peer_addr, reason = reason.label(), "connection closed");
    }
    reason
}

/// How long a connection asked to close (idle, evicted, shutting down) may take to do so once
/// nothing is in flight: one round trip for HTTP/2's GOAWAY and PING on any sane network. A peer
/// that never answers is cut after it, so an evicted silent HTTP/2 client frees its slot at once.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A response body that keeps its request counted in flight until it is written or dropped.
struct InFlight {
    body: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for InFlight {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        OpenConnection(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
