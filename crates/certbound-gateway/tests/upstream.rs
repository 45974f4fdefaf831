//! The gateway's upstream side against real HTTP/1.1 servers on 127.0.0.1: connections are
//! pooled and reused, a connection the upstream closed while idle costs no request, request
//! bodies over the limit are 413 whether or not they announce their length, and an upstream
//! that is down is 502.

use axum::body::Body;
use certbound_gateway::proxy::{forward, Forward, UpstreamClient};
use http::{Request, StatusCode, Uri};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream that answers every request with `200` and the body length it received; counts
/// the TCP connections it accepted. With `close_idle_after`, it closes each connection that
/// long after answering on it (as upstreams with short keep-alive timeouts do).
async fn upstream(close_idle_after: Option<Duration>) -> (Uri, Arc<AtomicUsize>) {
    upstream_answering(close_idle_after, |len| len.to_string()).await
}

/// [`upstream`], answering a request of `len` body bytes with `answer(len)`.
async fn upstream_answering(
    close_idle_after: Option<Duration>,
    answer: fn(usize) -> String,
) -> (Uri, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: head, then Content-Length bytes (or a chunked body).
                    let mut chunk = [0u8; 65536];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let body = answer(len);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tcp.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                    if let Some(after) = close_idle_after {
                        tokio::time::sleep(after).await;
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}").parse().unwrap(), accepted)
}

async fn send(client: &UpstreamClient, upstream: &Uri, body: Body) -> (StatusCode, String) {
    let req = Request::post("https://gateway.example/api/x")
        .header("host", "gateway.example")
        .body(body)
        .unwrap();
    let response = forward(
        client,
        req,
        Forward {
            upstream,
            peer: "127.0.0.1:5555".parse().unwrap(),
            jwt: "a.b.c",
            timeout: Duration::from_secs(5),
        },
    )
    .await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let (uri, accepted) = upstream(None).await;
    let client = UpstreamClient::new(Duration::from_secs(2), 1 << 20);
    for i in 0..20 {
        let (status, body) = send(&client, &uri, Body::from(vec![b'x'; i])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, i.to_string());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// The connection is driven by the request and then by the response body (it has no task of
/// its own): large bodies each way must stream whole, and the connection must come back for the
/// next request.
#[tokio::test]
async fn large_bodies_stream_both_ways_on_one_reused_connection() {
    let (uri, accepted) = upstream_answering(None, |len| "y".repeat(len * 4)).await;
    let client = UpstreamClient::new(Duration::from_secs(2), 1 << 20);
    for i in 0..5 {
        let sent = 256 * 1024 + i;
        let (status, body) = send(&client, &uri, Body::from(vec![b'x'; sent])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), sent * 4, "request {i}");
        assert!(body.bytes().all(|b| b == b'y'));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_open_several_connections_and_keep_them() {
    let (uri, accepted) = upstream(None).await;
    let client = UpstreamClient::new(Duration::from_secs(2), 1 << 20);
    for _ in 0..3 {
        let rounds: Vec<_> = (0..8)
            .map(|_| {
                let (client, uri) = (client.clone(), uri.clone());
                tokio::spawn(async move { send(&client, &uri, Body::from("abc")).await })
            })
            .collect();
        for r in rounds {
            assert_eq!(r.await.unwrap(), (StatusCode::OK, "3".to_string()));
        }
    }
    let n = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=8).contains(&n),
        "{n} connections for 8 concurrent clients"
    );
}

#[tokio::test]
async fn a_connection_closed_by_the_upstream_while_idle_costs_no_request() {
    let (uri, accepted) = upstream(Some(Duration::from_millis(50))).await;
    let client = UpstreamClient::new(Duration::from_secs(2), 1 << 20);
    for _ in 0..5 {
        assert_eq!(
            send(&client, &uri, Body::from("ab")).await,
            (StatusCode::OK, "2".to_string())
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_a_length() {
    let (uri, _) = upstream(None).await;
    let client = UpstreamClient::new(Duration::from_secs(2), 1000);
    assert_eq!(
        send(&client, &uri, Body::from(vec![b'x'; 1000])).await.0,
        StatusCode::OK
    );
    // Announced: refused before anything is sent.
    let req = Request::post("https://gateway.example/api/x")
        .header("content-length", "5000")
        .body(Body::from(vec![b'x'; 5000]))
        .unwrap();
    let f = Forward {
        upstream: &uri,
        peer: "127.0.0.1:5555".parse().unwrap(),
        jwt: "a.b.c",
        timeout: Duration::from_secs(5),
    };
    assert_eq!(
        forward(&client, req, f).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Streamed without a length: cut off at the limit.
    let chunks = futures_stream(vec![vec![b'x'; 600], vec![b'y'; 600]]);
    let (status, body) = send(&client, &uri, chunks).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("request_too_large"), "{body}");
    // And the pool still works afterwards.
    assert_eq!(
        send(&client, &uri, Body::from("ok")).await,
        (StatusCode::OK, "2".to_string())
    );
}

#[tokio::test]
async fn an_upstream_that_is_down_is_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let uri: Uri = format!("http://127.0.0.1:{port}").parse().unwrap();
    let client = UpstreamClient::new(Duration::from_secs(2), 1000);
    let (status, body) = send(&client, &uri, Body::from("x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("upstream_unavailable"), "{body}");
}

/// A body of several chunks with no length (sent chunked).
fn futures_stream(chunks: Vec<Vec<u8>>) -> Body {
    Body::new(Chunks(chunks.into_iter().map(bytes::Bytes::from).collect()))
}

/// Frames handed out one by one, with no size hint.
struct Chunks(std::collections::VecDeque<bytes::Bytes>);

impl hyper::body::Body for Chunks {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}
