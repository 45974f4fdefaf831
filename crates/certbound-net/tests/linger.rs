//! Lingering close after a refusal (issue 13, finding 13): an HTTP/1.1 client that keeps writing
//! a request the server refused (`413` on a declared body too large, `431` on a head too large)
//! reads the response instead of "broken pipe" / "connection reset" (RFC 9112 §9.6).

mod support;

use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Lingering long and large enough for the whole request the client insists on sending.
fn lingering_limits() -> certbound_net::Limits {
    certbound_net::Limits {
        max_body_bytes: 1024,
        linger_seconds: 20,
        linger_max_bytes: 64 * 1024 * 1024,
        ..certbound_net::Limits::default()
    }
}

/// More than the kernel buffers on both sides of a loopback connection hold, so the client is
/// still writing when the server answers.
const INSISTENT: usize = 16 * 1024 * 1024;

/// Writes `head` then `rest` in full (an error means the server reset the connection under the
/// client), then reads the response to the end.
async fn insist(server: &Server, head: &[u8], rest: usize) -> Vec<u8> {
    let mut tls = server.connect(b"http/1.1").await;
    tls.write_all(head).await.expect("writing the head");
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < rest {
        let n = chunk.len().min(rest - sent);
        tls.write_all(&chunk[..n])
            .await
            .unwrap_or_else(|e| panic!("the server reset the connection after {sent} bytes: {e}"));
        sent += n;
    }
    tls.flush().await.expect("flush");
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut received)).await;
    received
}

#[tokio::test]
async fn a_client_still_sending_a_refused_body_reads_the_413() {
    let server = start(lingering_limits(), true).await;
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {INSISTENT}\r\n\r\n");
    let received = insist(&server, head.as_bytes(), INSISTENT).await;
    assert_eq!(
        status(&received),
        413,
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_client_still_sending_an_oversized_head_reads_the_431() {
    let server = start(lingering_limits(), true).await;
    // A 40 KB header field, and the client keeps writing it.
    let received = insist(
        &server,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ",
        INSISTENT,
    )
    .await;
    assert_eq!(
        status(&received),
        431,
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn lingering_is_bounded_by_its_byte_limit() {
    let limits = certbound_net::Limits {
        linger_max_bytes: 256 * 1024,
        ..lingering_limits()
    };
    let server = start(limits, true).await;
    let mut tls = server.connect(b"http/1.1").await;
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {INSISTENT}\r\n\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    // The server stops reading after its limit: the client cannot send everything.
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    let refused = loop {
        if sent >= INSISTENT {
            break false;
        }
        match tokio::time::timeout(Duration::from_secs(10), tls.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) | Err(_) => break true,
        }
    };
    assert!(refused, "the server read all {INSISTENT} bytes");
    assert_eq!(server.closed("closed", 1).await, 1);
}
