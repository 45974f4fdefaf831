//! The accept loop: TLS handshake, one [`ConnectionInfo`] per connection, HTTP/1.1 and HTTP/2.

use crate::limits::Limits;
use crate::metrics::Exporter;
use certbound_core::{CertificateSource, ClientCertificate};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
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
    /// The longest an HTTP/1 request head may take to arrive.
    pub header_read_timeout: Duration,
    /// The largest request head in bytes (hyper answers `431` above it).
    pub max_header_bytes: usize,
    /// The most header fields in one request (hyper answers `431` above it).
    pub max_headers: usize,
    /// Simultaneous connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// On shutdown, how long open connections may take to finish their requests.
    pub drain_timeout: Duration,
    /// Where to count open connections (this listener's `certbound_open_connections` series).
    pub open_connections: Option<Gauge>,
}

impl ServeOptions {
    /// The default limits ([`Limits::default`]) for a named listener.
    pub fn named(name: &'static str) -> Self {
        Self::with_limits(name, &Limits::default())
    }

    /// The same, counting this listener's open connections in `metrics`.
    pub fn metered(mut self, metrics: &impl Exporter) -> Self {
        self.open_connections = Some(metrics.process().open_connections_of(self.name));
        self
    }

    /// A named listener with the configured limits.
    pub fn with_limits(name: &'static str, limits: &Limits) -> Self {
        ServeOptions {
            name,
            handshake_timeout: Duration::from_secs(limits.handshake_timeout_seconds.into()),
            header_read_timeout: Duration::from_secs(limits.header_timeout_seconds.into()),
            max_header_bytes: limits.max_header_bytes.max(8192),
            max_headers: limits.max_headers,
            max_connections: limits.max_connections.max(1),
            drain_timeout: Duration::from_secs(limits.drain_seconds.into()),
            open_connections: None,
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
    let (draining, drain_signal) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
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
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.as_ref().map(|tls| TlsAcceptor::from(tls.current()));
        let app = app.clone();
        let options = options.clone();
        let mut drain_signal = drain_signal.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = options.open_connections.as_ref().map(OpenConnection::new);
            let Some(acceptor) = acceptor else {
                let info = ConnectionInfo {
                    peer_addr,
                    listener: options.name,
                    client_certificate: None,
                };
                serve_connection(tcp, info, app, &options, drain_signal).await;
                return;
            };
            let handshake = tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp));
            let stream = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(listener = options.name, %peer_addr, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(listener = options.name, %peer_addr, "TLS handshake timed out");
                        return;
                    }
                },
                // No request can be in flight before the handshake ends: shutting down closes it.
                _ = async { drain_signal.wait_for(|d| *d).await.map(|_| ()) } => {
                    tracing::debug!(listener = options.name, %peer_addr, "closed in its TLS handshake: shutting down");
                    return;
                }
            };
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
            serve_connection(stream, info, app, &options, drain_signal).await;
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

/// HTTP/1.1 or HTTP/2 on one established connection, `info` in every request's extensions,
/// until the client closes it or a drain finishes it gracefully.
async fn serve_connection<IO>(
    io: IO,
    info: ConnectionInfo,
    app: axum::Router,
    options: &ServeOptions,
    mut drain_signal: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer_addr = info.peer_addr;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(info.clone());
            app.clone().oneshot(req)
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
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(100);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        _ = async { drain_signal.wait_for(|d| *d).await.map(|_| ()) } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(listener = options.name, %peer_addr, error = %e, "connection ended with an error");
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
