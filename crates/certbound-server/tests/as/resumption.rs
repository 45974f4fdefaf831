//! TLS 1.3 session resumption restores the peer certificate without re-running the verifier
//! (DESIGN.md traps): the binding must still come out right on a resumed connection.

use crate::support::*;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one HTTP/1.1 token request on a fresh TLS connection; returns whether the handshake
/// was a resumption, and the response body.
async fn token_on_new_connection(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> (bool, serde_json::Value) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("handshake");
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let body = "grant_type=client_credentials&client_id=partner-a";
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // The body may be chunked; the JSON object is between the first '{' and the last '}'.
    let (start, end) = (
        json.find('{').unwrap_or(0),
        json.rfind('}').map(|i| i + 1).unwrap_or(0),
    );
    (
        resumed,
        serde_json::from_str(&json[start..end]).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_resumed_tls13_session_still_binds_to_the_original_certificate() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &tls_client(
            "partner-a",
            "tls_client_auth_subject_dn",
            "CN=partner-a,O=Example",
        ),
    )
    .await;
    let cert = pki.client("partner-a", "Example");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.cert()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(cert.rustls_chain(), cert.private_key())
        .unwrap();
    let config = Arc::new(config); // one config: one session cache shared by both connections
    let addr = s.server.mtls_addr.unwrap();

    let (first_resumed, first) = token_on_new_connection(addr, config.clone()).await;
    assert!(!first_resumed);
    let (second_resumed, second) = token_on_new_connection(addr, config.clone()).await;
    assert!(
        second_resumed,
        "the second connection must resume the TLS 1.3 session"
    );
    for body in [&first, &second] {
        let token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"));
        let (_, claims) = jwt_parts(token);
        assert_eq!(claims["cnf"]["x5t#S256"], cert.thumbprint().as_str());
    }
}
