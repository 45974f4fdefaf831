//! Pooled HTTP/1.1 connections from the gateway to its upstreams.
//!
//! The gateway sends every checked request to one of a few configured `http://host:port`
//! upstreams, so the pool is a plain list of idle connections per authority: take one that is
//! still open, or connect; give it back when the response body has been read to its end. A
//! connection the upstream closed while idle is skipped, and a request it refused before sending
//! anything is retried once on a new connection. This replaces hyper-util's general-purpose
//! client, whose per-request work (a connect future raced against every checkout, a task spawned
//! to return each connection) was a measurable share of the gateway's CPU (bench/README.md).

use axum::body::Body;
use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderValue, Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URI has no authority (a configuration bug upstream of this module).
    #[error("the upstream URI has no host")]
    NoAuthority,
    /// TCP connect failed or timed out.
    #[error("connecting to {authority}: {reason}")]
    Connect {
        /// The upstream.
        authority: Authority,
        /// What happened.
        reason: String,
    },
    /// The HTTP exchange failed (including a request body over its limit: see the source).
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Idle connections, most recently used last.
struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// A pool of HTTP/1.1 connections to upstreams. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    idle: Mutex<HashMap<Authority, Vec<Idle>>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle_per_upstream: usize,
}

impl UpstreamPool {
    /// A pool that connects within `connect_timeout` and keeps up to `max_idle_per_upstream`
    /// idle connections per upstream for at most `idle_timeout`.
    pub fn new(
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_idle_per_upstream: usize,
    ) -> Self {
        UpstreamPool {
            inner: Arc::new(PoolInner {
                idle: Mutex::new(HashMap::new()),
                connect_timeout,
                idle_timeout,
                max_idle_per_upstream,
            }),
        }
    }

    /// Sends `req` (absolute URI `http://authority/path`) and returns the response head; its body
    /// streams from the connection, which returns to the pool when the body has been read.
    pub async fn send(&self, mut req: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        let authority = req
            .uri()
            .authority()
            .cloned()
            .ok_or(UpstreamError::NoAuthority)?;
        // HTTP/1.1 to an origin server: origin-form target and a Host header.
        let origin_form = req
            .uri()
            .path_and_query()
            .cloned()
            .map_or_else(|| http::Uri::from_static("/"), http::Uri::from);
        *req.uri_mut() = origin_form;
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            req.headers_mut().insert(http::header::HOST, host);
        }
        let mut retried = false;
        loop {
            let (mut sender, reused) = match self.checkout(&authority).await {
                Some(s) => (s, true),
                None => (self.connect(&authority).await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody {
                        body,
                        sender: Some(sender),
                        authority,
                        pool: self.inner.clone(),
                    };
                    return Ok(Response::from_parts(parts, Body::new(body)));
                }
                Err(mut e) => match e.take_message() {
                    // Refused before anything was written: an idle connection the upstream had
                    // just closed. Once, on a fresh connection.
                    Some(unsent) if reused && !retried => {
                        retried = true;
                        req = unsent;
                    }
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    /// An idle connection to `authority` that is still open and ready, if any.
    async fn checkout(&self, authority: &Authority) -> Option<SendRequest<Body>> {
        loop {
            let idle = {
                let mut map = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                map.get_mut(authority)?.pop()?
            };
            if idle.sender.is_closed() || idle.since.elapsed() > self.inner.idle_timeout {
                continue;
            }
            let mut sender = idle.sender;
            // Returned when its last body ended; the connection task may not have noticed yet.
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, authority: &Authority) -> Result<SendRequest<Body>, UpstreamError> {
        let err = |reason: String| UpstreamError::Connect {
            authority: authority.clone(),
            reason,
        };
        let port = authority.port_u16().unwrap_or(80);
        let tcp = tokio::time::timeout(
            self.inner.connect_timeout,
            TcpStream::connect((authority.host(), port)),
        )
        .await
        .map_err(|_| err("timed out".into()))?
        .map_err(|e| err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

impl PoolInner {
    fn give_back(&self, authority: Authority, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.entry(authority).or_default();
        if list.len() < self.max_idle_per_upstream {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// A response body that returns its connection to the pool once read to the end. Dropped
/// earlier, the connection is dropped with it (hyper closes a connection whose response was
/// abandoned mid-body).
struct PooledBody {
    body: Incoming,
    sender: Option<SendRequest<Body>>,
    authority: Authority,
    pool: Arc<PoolInner>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.give_back(self.authority.clone(), sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            Poll::Ready(Some(Err(_))) => self.sender = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty body (204, 304, HEAD) may never be polled.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}
