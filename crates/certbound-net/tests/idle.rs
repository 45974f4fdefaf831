//! Connections that never send (issue 13, finding 1): a client that completes the TLS handshake
//! and sends nothing, an HTTP/2 connection idle after its preface or after a request, a silent
//! plain-TCP client of `serve_plain`, and a full `max_connections` held by idle clients. Real
//! sockets on 127.0.0.1, real TLS, limits of one or two seconds.

mod support;

use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;

/// Generous bound on "closed promptly" (the timeouts under test are 1–2 s).
const WITHIN: Duration = Duration::from_secs(6);

#[tokio::test]
async fn a_silent_tls_client_is_closed_after_the_header_timeout_whatever_its_alpn() {
    let server = start(short_limits(), true).await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let mut silent = server.connect(alpn).await;
        let took = closed_within(&mut silent, WITHIN, &mut Vec::new())
            .await
            .unwrap_or_else(|| panic!("a silent {alpn:?} client was still open after {WITHIN:?}"));
        // Closed by the header timeout (1 s), not at once.
        assert!(took >= Duration::from_millis(800), "{took:?}");
    }
    assert_eq!(server.closed("header_timeout", 2).await, 2);
}

#[tokio::test]
async fn an_http2_connection_that_sends_only_its_preface_is_closed_with_goaway() {
    let server = start(short_limits(), true).await;
    let mut h2 = server.connect(b"h2").await;
    // Connection preface and an empty SETTINGS frame, then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut received = Vec::new();
    closed_within(&mut h2, WITHIN, &mut received)
        .await
        .expect("an HTTP/2 connection without requests was still open");
    assert!(
        frame_types(&received).contains(&0x7),
        "no GOAWAY before the close"
    );
    assert_eq!(server.closed("header_timeout", 1).await, 1);
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_after_the_idle_timeout() {
    let server = start(short_limits(), true).await;
    let tls = server.connect(b"h2").await;
    let (mut send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    for _ in 0..2 {
        let response = send
            .send_request(
                http::Request::get(format!("https://127.0.0.1:{}/", server.addr.port()))
                    .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        drop(response);
    }
    // Both requests were answered on the connection; now it is idle: the server sends GOAWAY
    // after 2 s and the client's connection ends cleanly.
    let ended = tokio::time::timeout(WITHIN, connection)
        .await
        .expect("an idle HTTP/2 connection was still open");
    assert!(ended.unwrap().is_ok());
    assert_eq!(server.closed("idle", 1).await, 1);
}

#[tokio::test]
async fn a_silent_tcp_client_of_a_plain_listener_is_closed() {
    let server = start(short_limits(), false).await;
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    closed_within(&mut silent, WITHIN, &mut Vec::new())
        .await
        .expect("a silent client of serve_plain was still open");
    assert_eq!(server.closed("header_timeout", 1).await, 1);
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_between_requests() {
    let server = start(short_limits(), true).await;
    let mut tls = server.connect(b"http/1.1").await;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    closed_within(&mut tls, WITHIN, &mut received)
        .await
        .expect("an idle keep-alive connection was still open");
    // The response came first, then the close.
    assert_eq!(status(&received), 200);
}

#[tokio::test]
async fn at_max_connections_the_longest_idle_client_makes_room_for_a_request() {
    // Timeouts far longer than the test: only eviction can free a slot.
    let limits = certbound_net::Limits {
        max_connections: 4,
        header_timeout_seconds: 60,
        idle_timeout_seconds: 60,
        ..short_limits()
    };
    let server = start(limits, true).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(server.connect(b"http/1.1").await);
    }
    // A real request still gets through promptly.
    let request = async {
        let mut tls = server.connect(b"http/1.1").await;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        closed_within(&mut tls, WITHIN, &mut received).await;
        received
    };
    let received = tokio::time::timeout(WITHIN, request)
        .await
        .expect("all slots held by idle clients: the request never got one");
    assert_eq!(status(&received), 200);
    // The oldest idle client was the one closed, the others are still open.
    closed_within(&mut idle[0], WITHIN, &mut Vec::new())
        .await
        .expect("the longest-idle connection was not closed");
    for other in &mut idle[1..] {
        assert!(
            closed_within(other, Duration::from_millis(200), &mut Vec::new())
                .await
                .is_none()
        );
    }
    assert_eq!(server.closed("evicted", 1).await, 1);
    assert_eq!(server.open_connections(3).await, 3);
}

#[tokio::test]
async fn silent_http2_clients_at_max_connections_make_room_promptly_too() {
    // They never answer the GOAWAY's PING: the slot must not wait for the header timeout.
    let limits = certbound_net::Limits {
        max_connections: 2,
        header_timeout_seconds: 60,
        idle_timeout_seconds: 60,
        ..short_limits()
    };
    let server = start(limits, true).await;
    let mut silent = Vec::new();
    for _ in 0..2 {
        let mut h2 = server.connect(b"h2").await;
        h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .await
            .unwrap();
        silent.push(h2);
    }
    let request = async {
        let mut tls = server.connect(b"http/1.1").await;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        closed_within(&mut tls, WITHIN, &mut received).await;
        received
    };
    let received = tokio::time::timeout(WITHIN, request)
        .await
        .expect("silent HTTP/2 clients held every slot");
    assert_eq!(status(&received), 200);
    assert_eq!(server.closed("evicted", 1).await, 1);
}

/// The frame types in raw HTTP/2 bytes from the server (no preface on this side).
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}
