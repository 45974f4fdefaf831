//! Resource limits of a listener: how long a peer may take and how much it may send. An
//! authorization server is attacked by design; these bound what one connection or request can
//! cost (slowloris handshakes and headers, huge bodies, too many connections) and turn every
//! breach into a standard HTTP error instead of a hang or an allocation.
//!
//! Header limits are enforced by hyper (`431 Request Header Fields Too Large`); body size and body
//! read time by [`buffer_body`] (`413`, `408`) for endpoints that read whole bodies, and by
//! [`limit_streamed_body`] for proxied bodies.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// `[limits]` of a configuration file (the authorization server and the gateway share it).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body, in bytes (`413` above it).
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers), in bytes (`431` above it; at least 8192).
    pub max_header_bytes: usize,
    /// The most header fields in one request (`431` above it).
    pub max_headers: usize,
    /// Simultaneous connections per listener. When all are taken, the connection that has been
    /// idle longest (no request in flight) is asked to close to make room for the next one; if
    /// every connection is busy, further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// The longest a TLS handshake may take.
    pub handshake_timeout_seconds: u32,
    /// The longest a request head may take to arrive: the first request of a connection must
    /// arrive within it after the handshake (HTTP/1.1 and HTTP/2 alike), and with HTTP/1.1 each
    /// next request within it after the previous response (so it also bounds an idle HTTP/1.1
    /// keep-alive connection).
    pub header_timeout_seconds: u32,
    /// How long a connection may stay open with no request in flight after its first request
    /// (HTTP/2 gets GOAWAY, HTTP/1.1 is closed), like nginx's `keepalive_timeout` or Envoy's
    /// `idle_timeout`.
    pub idle_timeout_seconds: u32,
    /// HTTP/2 keep-alive: a PING every this many seconds; a peer that does not answer within
    /// `header_timeout_seconds` is disconnected. 0 sends none.
    pub http2_ping_seconds: u32,
    /// Lingering close (RFC 9112 §9.6): when the server closes a connection the client may still
    /// be writing to (a 413 or 431 before the whole request was read), it shuts its side down
    /// and reads and discards what the client still sends for at most this long, so the client
    /// reads the response instead of a reset. 0 closes at once.
    pub linger_seconds: u32,
    /// The most bytes discarded in one lingering close.
    pub linger_max_bytes: usize,
    /// The longest a request body may take to arrive (`408` after it).
    pub body_timeout_seconds: u32,
    /// On shutdown, how long in-flight requests may take to finish before connections are cut.
    pub drain_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_connections: 10_000,
            handshake_timeout_seconds: 10,
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            http2_ping_seconds: 30,
            linger_seconds: 5,
            linger_max_bytes: 1024 * 1024,
            body_timeout_seconds: 10,
            drain_seconds: 30,
        }
    }
}

impl Limits {
    /// Checks the values make sense (hyper needs a head buffer of at least 8192 bytes).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_header_bytes < 8192 {
            return Err("limits.max_header_bytes must be at least 8192".into());
        }
        if self.max_headers == 0 || self.max_connections == 0 || self.max_body_bytes == 0 {
            return Err(
                "limits.max_headers, max_connections and max_body_bytes must be positive".into(),
            );
        }
        if self.handshake_timeout_seconds == 0
            || self.header_timeout_seconds == 0
            || self.body_timeout_seconds == 0
            || self.idle_timeout_seconds == 0
        {
            return Err("limits.handshake_timeout_seconds, header_timeout_seconds, body_timeout_seconds and idle_timeout_seconds must be at least one second".into());
        }
        Ok(())
    }

    /// The body read timeout.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds.into())
    }
}

/// A JSON error in the RFC 6749 §5.2 shape, for limit breaches (the request never reached a
/// handler, so `invalid_request` is the only honest code).
fn refusal(status: StatusCode, description: &str) -> Response {
    let body = serde_json::json!({"error": "invalid_request", "error_description": description});
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

/// Middleware for endpoints that need the whole body (the OAuth endpoints): reads it within
/// `max_body_bytes` and `body_timeout_seconds`, answering `413` or `408` otherwise, and hands the
/// handler a fully buffered body.
pub async fn buffer_body(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return too_large(&limits);
    }
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limits.max_body_bytes).collect();
    let bytes = match tokio::time::timeout(limits.body_timeout(), read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(&limits),
        Ok(Err(_)) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
        Err(_) => {
            return refusal(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            )
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(limits: &Limits) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body exceeds {} bytes", limits.max_body_bytes),
    )
}

/// Middleware for proxied requests: refuses a declared `Content-Length` over the limit with
/// `413` and caps a streamed body at it (the upstream request fails when the cap is reached), so
/// the body is never buffered whole.
pub async fn limit_streamed_body(
    State(limits): State<Arc<Limits>>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return too_large(&limits);
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(Limited::new(body, limits.max_body_bytes));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_small_heads_are_refused() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let l = Limits {
            max_header_bytes: 4096,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            body_timeout_seconds: 0,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            idle_timeout_seconds: 0,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        // Pings and lingering may be switched off.
        let l = Limits {
            http2_ping_seconds: 0,
            linger_seconds: 0,
            linger_max_bytes: 0,
            ..Limits::default()
        };
        assert_eq!(l.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Limits>("max_body_bytes = 10\nmax_bodies = 3").is_err());
        let l: Limits = toml::from_str("max_body_bytes = 10").unwrap();
        assert_eq!(l.max_body_bytes, 10);
        assert_eq!(l.max_headers, Limits::default().max_headers);
    }
}
