//! Shared by the connection tests: a CA and a server certificate for 127.0.0.1, a listener
//! serving a tiny app on 127.0.0.1 with given limits, TLS clients with a chosen ALPN, and the
//! close counters of `certbound_connections_closed_total`.
#![allow(dead_code)]

use axum::routing::{get, post};
use certbound_net::metrics::{AuthServerMetrics, Exporter};
use certbound_net::{server_config, ClientCertMode, Limits, ServeOptions};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The listener name the tests' metrics carry.
pub const LISTENER: &str = "test";

/// A server on 127.0.0.1 that stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub ca: CertificateDer<'static>,
    pub metrics: Arc<AuthServerMetrics>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Short timeouts, so the tests run in seconds.
pub fn short_limits() -> Limits {
    Limits {
        handshake_timeout_seconds: 2,
        header_timeout_seconds: 1,
        idle_timeout_seconds: 2,
        ..Limits::default()
    }
}

/// `GET /` answers `hello`; `POST /upload` reads the body within `[limits]`.
fn app(limits: &Limits) -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { format!("{} bytes", body.len()) }).layer(
                axum::middleware::from_fn_with_state(
                    Arc::new(limits.clone()),
                    certbound_net::limits::buffer_body,
                ),
            ),
        )
}

/// Starts the app over TLS (`tls`) or plain HTTP with `limits`.
pub async fn start(limits: Limits, tls: bool) -> Server {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = certbound_pki::CertificateAuthority::generate(
        &certbound_pki::SubjectSpec::new()
            .org("Example")
            .common_name("Connections CA"),
        certbound_pki::KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let leaf = ca
        .issue(&certbound_pki::LeafSpec::server(
            &["localhost"],
            &["127.0.0.1".parse().unwrap()],
        ))
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(AuthServerMetrics::new());
    let options = ServeOptions::with_limits(LISTENER, &limits).metered(&metrics);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let app = app(&limits);
    if tls {
        let config = server_config(
            vec![CertificateDer::from(leaf.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
            &ClientCertMode::None,
        )
        .unwrap();
        tokio::spawn(certbound_net::serve(
            listener, config, app, options, shutdown,
        ));
    } else {
        tokio::spawn(certbound_net::serve_plain(listener, app, options, shutdown));
    }
    Server {
        addr,
        ca: CertificateDer::from(leaf.issuer_chain_der[0].clone()),
        metrics,
        _stop: stop,
    }
}

impl Server {
    /// A TLS connection offering `alpn`, handshake done, nothing sent.
    pub async fn connect(&self, alpn: &[u8]) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::IpAddress(self.addr.ip().into()), tcp)
            .await
            .expect("TLS handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        tls
    }

    /// `certbound_open_connections` of the listener, once it equals `expected` (or after 2 s).
    pub async fn open_connections(&self, expected: i64) -> i64 {
        let series = format!("certbound_open_connections{{listener=\"{LISTENER}\"}} ");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let n = self
                .metrics
                .render()
                .lines()
                .find_map(|l| l.strip_prefix(&series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(-1);
            if n == expected || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many connections closed for `reason` (waits up to 2 s for the count to reach
    /// `at_least`: the server counts a close just after the client sees it).
    pub async fn closed(&self, reason: &str, at_least: u64) -> u64 {
        let series = format!(
            "certbound_connections_closed_total{{listener=\"{LISTENER}\",reason=\"{reason}\"}} "
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let text = self.metrics.render();
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix(&series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads (and keeps) everything until the server closes the connection (end of stream or reset),
/// at most `limit`: how long that took, or `None` if it was still open.
pub async fn closed_within(
    stream: &mut (impl AsyncRead + Unpin),
    limit: Duration,
    received: &mut Vec<u8>,
) -> Option<Duration> {
    let started = Instant::now();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// The status code of the first response in `raw` (0 if none).
pub fn status(raw: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
