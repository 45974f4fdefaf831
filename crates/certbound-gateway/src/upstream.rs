//! Pooled HTTP/1.1 connections from the gateway to its upstreams.
//!
//! The gateway sends every checked request to one of a few configured `http://host:port`
//! upstreams, so the pool is a plain list of idle connections per authority: take one that is
//! still open, or connect; give it back when the response body has been read to its end. A
//! connection the upstream closed while idle is skipped, and a request it refused before sending
//! anything is retried once on a new connection. This replaces hyper-util's general-purpose
//! client, whose per-request work (a connect future raced against every checkout, a task spawned
//! to return each connection) was a measurable share of the gateway's CPU (bench/README.md).
//!
//! A connection has no task of its own: the request using it drives it (its hyper
//! `Connection` future is polled inside [`UpstreamPool::send`] and then by the response body,
//! which the client's connection task polls). So a proxied request runs on one task from the
//! client's bytes to the upstream's answer, as in an event-loop proxy, instead of handing the
//! request and the response across tasks twice. An idle connection is not polled; the next
//! checkout polls it once, which is when an upstream's close is noticed.

use axum::body::Body;
use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderValue, Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
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

/// One HTTP/1.1 connection: the handle requests are sent on, and the hyper state machine that
/// reads and writes the socket, polled by whoever is using the connection.
struct Conn {
    sender: SendRequest<Body>,
    io: Pin<Box<http1::Connection<TokioIo<TcpStream>, Body>>>,
}

impl Conn {
    /// Lets the connection read and write what it can. `false` once it has ended (closed by the
    /// upstream, or failed): it must not be polled again.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        match self.io.as_mut().poll(cx) {
            Poll::Pending => true,
            Poll::Ready(Ok(())) => false,
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "upstream connection ended with an error");
                false
            }
        }
    }
}

/// Idle connections, most recently used last.
struct Idle {
    conn: Conn,
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
            let (conn, reused) = match self.checkout(&authority).await {
                Some(c) => (c, true),
                None => (self.connect(&authority).await?, false),
            };
            match exchange(conn, req).await {
                Ok((response, conn)) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody {
                        body,
                        conn,
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
    async fn checkout(&self, authority: &Authority) -> Option<Conn> {
        loop {
            let idle = {
                let mut map = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                map.get_mut(authority)?.pop()?
            };
            if idle.since.elapsed() > self.inner.idle_timeout {
                continue;
            }
            let mut conn = idle.conn;
            // Polled once: an upstream that closed the connection while it was idle is noticed
            // here; a connection returned when its last body ended becomes ready.
            let ready = poll_fn(|cx| {
                if !conn.drive(cx) {
                    return Poll::Ready(false);
                }
                conn.sender.poll_ready(cx).map(|r| r.is_ok())
            })
            .await;
            if ready {
                return Some(conn);
            }
        }
    }

    async fn connect(&self, authority: &Authority) -> Result<Conn, UpstreamError> {
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
        let (sender, io) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(UpstreamError::Http)?;
        Ok(Conn {
            sender,
            io: Box::pin(io),
        })
    }
}

/// Sends `req` on `conn`, driving the connection until the response head has arrived. Returns
/// the connection with the response while it is still open (its body is read from it), none if
/// it ended with the head.
async fn exchange(
    conn: Conn,
    req: Request<Body>,
) -> Result<(Response<Incoming>, Option<Conn>), hyper::client::conn::TrySendError<Request<Body>>> {
    let Conn { mut sender, io } = conn;
    let mut io = Some(io);
    let result = {
        let mut sending = std::pin::pin!(sender.try_send_request(req));
        poll_fn(|cx| {
            if let Poll::Ready(r) = sending.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if let Some(running) = io.as_mut() {
                if let Poll::Ready(ended) = running.as_mut().poll(cx) {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "upstream connection ended with an error");
                    }
                    // Dropping the ended connection fails the request still waiting on it.
                    io = None;
                }
            }
            sending.as_mut().poll(cx)
        })
        .await
    };
    let response = result?;
    Ok((response, io.map(|io| Conn { sender, io })))
}

impl PoolInner {
    fn give_back(&self, authority: Authority, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.entry(authority).or_default();
        if list.len() < self.max_idle_per_upstream {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// A response body that drives its connection while it is read and returns it to the pool once
/// read to the end. Dropped earlier, the connection is dropped with it (closed).
struct PooledBody {
    body: Incoming,
    conn: Option<Conn>,
    authority: Authority,
    pool: Arc<PoolInner>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(self.authority.clone(), conn);
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
        // The connection reads the body's bytes into `body`; an ended connection ends the body
        // (its last bytes, or an error) and is not polled again.
        if let Some(conn) = self.conn.as_mut() {
            if !conn.drive(cx) {
                self.conn = None;
            }
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            Poll::Ready(Some(Err(_))) => self.conn = None,
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
