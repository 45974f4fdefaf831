//! The accept loop: TLS handshake, one [`ConnectionInfo`] per connection, HTTP/1.1 and HTTP/2.

use certbound_core::{CertificateSource, ClientCertificate};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
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

/// Timeouts and names of one listener.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The listener's name, copied into [`ConnectionInfo::listener`].
    pub name: &'static str,
    /// The longest a TLS handshake may take (slow or stalled clients are dropped).
    pub handshake_timeout: Duration,
    /// The longest an HTTP/1 request head may take to arrive.
    pub header_read_timeout: Duration,
}

impl ServeOptions {
    /// Default timeouts (10 s handshake, 10 s request head) for a named listener.
    pub fn named(name: &'static str) -> Self {
        ServeOptions {
            name,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` over TLS until the task is dropped or `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: axum::Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let acceptor = TlsAcceptor::from(tls);
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
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp))
                .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(listener = options.name, %peer_addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(listener = options.name, %peer_addr, "TLS handshake timed out");
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
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(info.clone());
                    app.clone().oneshot(req)
                },
            );
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout);
            builder.http2().timer(TokioTimer::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(listener = options.name, %peer_addr, error = %e, "connection ended with an error");
            }
        });
    }
}
