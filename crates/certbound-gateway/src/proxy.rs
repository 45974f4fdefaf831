//! Forwarding a checked request to its upstream: hop-by-hop headers removed, identity headers
//! stripped ([`crate::headers`]), `Forwarded`/`X-Forwarded-*` set by the gateway, the verified JWT
//! as the only credential, bounded body, timeouts mapped to 502/504, and a request body the client
//! broke (malformed chunked encoding, cut off) answered 400: the client's fault, not the upstream's.

use crate::headers::{join_cookies, quoted_string, HeaderPolicy};
use crate::metrics::GatewayMetrics;
use crate::upstream::{UpstreamError, UpstreamPool};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request, StatusCode, Uri, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::headers::is_identity_header;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers only the gateway sets (and `DPoP`, consumed here): whatever the client sent is removed
/// before they are written.
const GATEWAY_SET: [&str; 7] = [
    "authorization",
    // The DPoP proof was checked and recorded here; forwarded, anyone who sees upstream traffic
    // could replay it (with the token) to another gateway instance within its window.
    "dpop",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded",
];

/// A pooled HTTP/1.1 client to upstreams.
#[derive(Clone)]
pub struct UpstreamClient {
    pool: UpstreamPool,
    max_body_bytes: usize,
    headers: HeaderPolicy,
    metrics: Option<Arc<GatewayMetrics>>,
}

impl UpstreamClient {
    /// A client with the connect timeout and the request-body limit; idle connections are kept
    /// for 60 s, at most 256 per upstream. Headers follow the default [`HeaderPolicy`].
    pub fn new(connect_timeout: Duration, max_body_bytes: usize) -> Self {
        UpstreamClient {
            pool: UpstreamPool::new(connect_timeout, Duration::from_secs(60), 256),
            max_body_bytes,
            headers: HeaderPolicy::default(),
            metrics: None,
        }
    }

    /// The same with the configured header rules, counting dropped headers in `metrics`.
    pub fn with_headers(mut self, headers: HeaderPolicy, metrics: Arc<GatewayMetrics>) -> Self {
        self.headers = headers;
        self.metrics = Some(metrics);
        self
    }
}

/// The error of a request body the *client* failed to deliver (malformed chunked encoding, a
/// connection closed mid-body), told apart from upstream failures by its type in the error chain.
#[derive(Debug, thiserror::Error)]
#[error("reading the request body from the client: {0}")]
pub struct ClientBodyError(#[source] axum::Error);

/// What the gateway adds to a forwarded request.
pub struct Forward<'a> {
    /// `http://host:port` of the upstream.
    pub upstream: &'a Uri,
    /// The TCP peer of the client connection.
    pub peer: SocketAddr,
    /// The verified JWT to send as `Authorization: Bearer`.
    pub jwt: &'a str,
    /// How long to wait for the upstream's response head.
    pub timeout: Duration,
}

/// A gateway-generated error response (not an OAuth error: the token was fine).
fn gateway_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Forwards `req` and returns the upstream's response (or 413/502/504).
pub async fn forward(client: &UpstreamClient, req: Request<Body>, f: Forward<'_>) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > client.max_body_bytes as u64 {
            return gateway_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "the request body exceeds the gateway's limit",
            );
        }
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));

    let uri = match upstream_uri(f.upstream, &parts.uri) {
        Ok(u) => u,
        Err(_) => {
            return gateway_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request target cannot be forwarded",
            )
        }
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let dropped = |why: crate::headers::Dropped| {
        if let Some(m) = &client.metrics {
            m.header_dropped(why);
        }
    };
    if let Err(e) = client.headers.strip(&mut parts.headers, dropped) {
        return gateway_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string());
    }
    prepare_headers(&mut parts.headers, &f, host.as_deref());

    use http_body_util::BodyExt as _;
    let limited =
        http_body_util::Limited::new(body.map_err(ClientBodyError), client.max_body_bytes);
    let upstream_req = Request::from_parts(parts, Body::new(limited));
    let response = match tokio::time::timeout(f.timeout, client.pool.send(upstream_req)).await {
        Err(_) => {
            return gateway_error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the upstream did not answer in time",
            )
        }
        Ok(Err(e)) => {
            if in_chain::<http_body_util::LengthLimitError>(&e) {
                return gateway_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    "the request body exceeds the gateway's limit",
                );
            }
            if in_chain::<ClientBodyError>(&e) {
                tracing::debug!(upstream = %f.upstream, error = %e, "the client's request body failed");
                return gateway_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body is malformed or ended early",
                );
            }
            tracing::warn!(upstream = %f.upstream, error = %e, "upstream request failed");
            return gateway_error(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "the upstream could not be reached",
            );
        }
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body)
}

/// The upstream's scheme and authority, its path (if any) as a prefix, then the request's path
/// and query.
fn upstream_uri(upstream: &Uri, request: &Uri) -> Result<Uri, http::Error> {
    let path_and_query = request.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let base_path = upstream.path().trim_end_matches('/');
    let mut builder = Uri::builder();
    if let Some(scheme) = upstream.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = upstream.authority() {
        builder = builder.authority(authority.clone());
    }
    if base_path.is_empty() {
        match request.path_and_query() {
            Some(pq) => builder.path_and_query(pq.clone()).build(),
            None => builder.path_and_query("/").build(),
        }
    } else {
        builder
            .path_and_query(format!("{base_path}{path_and_query}"))
            .build()
    }
}

/// Whether an error of type `E` is in `e`'s source chain.
fn in_chain<E: std::error::Error + 'static>(e: &UpstreamError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<E>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Removes hop-by-hop headers, including those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// The gateway's own headers on a request whose client headers were already filtered
/// ([`HeaderPolicy::strip`]): hop-by-hop removed, `Cookie` joined, `Authorization` with the JWT,
/// `Forwarded` and `X-Forwarded-*` (any client value of these is removed first, whatever the
/// policy passed through).
fn prepare_headers(headers: &mut HeaderMap, f: &Forward<'_>, host: Option<&str>) {
    strip_hop_by_hop(headers);
    let identity: Vec<HeaderName> = headers
        .keys()
        .filter(|n| GATEWAY_SET.contains(&n.as_str()))
        .cloned()
        .collect();
    for n in identity {
        headers.remove(n);
    }
    join_cookies(headers);
    headers.remove(http::header::HOST);
    if let Ok(v) = HeaderValue::try_from(format!("Bearer {}", f.jwt)) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    use std::fmt::Write as _;
    let ip = f.peer.ip().to_string();
    let mut forwarded = String::with_capacity(64);
    if f.peer.is_ipv6() {
        let _ = write!(forwarded, "for=\"[{ip}]\";proto=https");
    } else {
        let _ = write!(forwarded, "for={ip};proto=https");
    }
    // The host is a validated host[:port] (certbound_net::authority); quoted all the same, so no
    // value can end the parameter early.
    if let Some((h, q)) = host.and_then(|h| Some((h, quoted_string(h)?))) {
        forwarded.push_str(";host=");
        forwarded.push_str(&q);
        if let Ok(v) = HeaderValue::from_str(h) {
            headers.insert(HeaderName::from_static("x-forwarded-host"), v);
        }
    }
    if let Ok(v) = HeaderValue::try_from(forwarded) {
        headers.insert(http::header::FORWARDED, v);
    }
    if let Ok(v) = HeaderValue::try_from(ip) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("https"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uris_keep_the_request_target() {
        let req: Uri = "/api/transactions?x=1&y=%2F".parse().unwrap();
        let cases = [
            (
                "http://127.0.0.1:3000",
                "http://127.0.0.1:3000/api/transactions?x=1&y=%2F",
            ),
            (
                "http://127.0.0.1:3000/",
                "http://127.0.0.1:3000/api/transactions?x=1&y=%2F",
            ),
            (
                "http://api.internal:80/base/",
                "http://api.internal:80/base/api/transactions?x=1&y=%2F",
            ),
        ];
        for (upstream, want) in cases {
            let got = upstream_uri(&upstream.parse().unwrap(), &req).unwrap();
            assert_eq!(got.to_string(), want, "{upstream}");
        }
        let bare: Uri = "http://gateway.example".parse().unwrap();
        let got = upstream_uri(&"http://127.0.0.1:3000".parse().unwrap(), &bare).unwrap();
        assert_eq!(got.to_string(), "http://127.0.0.1:3000/");
    }

    #[test]
    fn identity_and_hop_by_hop_headers_are_replaced() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer opaque"),
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("x-client-cert", "forged"),
            ("x-ssl-client-s-dn", "CN=admin"),
            ("x-amzn-mtls-clientcert", "forged"),
            ("client-cert", ":Zm9yZ2Vk:"),
            ("connection", "close, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("dpop", "the.checked.proof"),
            ("accept", "application/json"),
            ("host", "gateway.example"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        let upstream: Uri = "http://127.0.0.1:3000".parse().unwrap();
        let f = Forward {
            upstream: &upstream,
            peer: "[2001:db8::1]:5555".parse().unwrap(),
            jwt: "the.jwt.here",
            timeout: Duration::from_secs(1),
        };
        HeaderPolicy::default().strip(&mut h, |_| {}).unwrap();
        prepare_headers(&mut h, &f, Some("gateway.example"));
        assert_eq!(h["authorization"], "Bearer the.jwt.here");
        assert_eq!(h["x-forwarded-for"], "2001:db8::1");
        assert_eq!(
            h["forwarded"],
            "for=\"[2001:db8::1]\";proto=https;host=\"gateway.example\""
        );
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gateway.example");
        assert_eq!(h["accept"], "application/json");
        for gone in [
            "x-client-cert",
            "x-ssl-client-s-dn",
            "x-amzn-mtls-clientcert",
            "client-cert",
            "connection",
            "x-secret-hop",
            "te",
            "host",
            "dpop",
        ] {
            assert!(!h.contains_key(gone), "{gone} must be removed");
        }
        assert_eq!(h.get_all("authorization").iter().count(), 1);
    }
}
