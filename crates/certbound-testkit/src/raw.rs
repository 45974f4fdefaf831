//! A raw HTTP/1.1-over-TLS client for hostile-input tests: sends exactly the bytes given (oversized
//! heads, repeated headers, bodies that stall), which a well-behaved client library refuses to do.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What came back.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code (0 if the server closed without answering).
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    /// The body.
    pub body: String,
}

impl RawResponse {
    /// The JSON `error` member of the body, if any.
    pub fn error(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        let name = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.starts_with(&name))
            .map(|l| l[name.len()..].trim().to_owned())
    }
}

/// A TLS connection to `addr` (server name `localhost`/127.0.0.1) trusting `ca_pem`.
pub async fn connect(addr: SocketAddr, ca_pem: &str) -> TlsStream<TcpStream> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .expect("TLS handshake")
}

/// The same, presenting a client certificate (PEM chain and key): for listeners that require one
/// (the gateway, the mTLS listener).
pub async fn connect_as(
    addr: SocketAddr,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> TlsStream<TcpStream> {
    use rustls::pki_types::PrivateKeyDer;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .map(|c| c.expect("certificate PEM"))
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .expect("TLS handshake")
}

/// Reads a response until the server closes the connection (send `Connection: close`), at most
/// `limit` long.
pub async fn read_response(stream: &mut TlsStream<TcpStream>, limit: Duration) -> RawResponse {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Chunked bodies: good enough for the small JSON error bodies these tests read.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n")
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s)
            .collect::<String>()
    } else {
        body.to_owned()
    };
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

/// Sends `request` on a new connection and reads the response.
pub async fn exchange(addr: SocketAddr, ca_pem: &str, request: &[u8]) -> RawResponse {
    let mut s = connect(addr, ca_pem).await;
    // The server may answer (and close) before all of an oversized request is written.
    let _ = s.write_all(request).await;
    let _ = s.flush().await;
    read_response(&mut s, Duration::from_secs(10)).await
}
