//! What the gateway forwards, black-box: the real AS, the real gateway and a raw recording
//! upstream on 127.0.0.1, with real TLS. Requests that a client library would normalise (dot
//! segments, backslashes, repeated `Host`, broken chunked bodies) go through a raw TLS client;
//! the upstream records the exact request head it received.
//!
//! Issue 13: path confusion (2), identity headers with other spellings (7), header hygiene and
//! 421 (8), a client's broken body answered as an upstream failure (9).

use certbound_gateway::config::GatewayConfig;
use certbound_testkit::raw::{connect_as, read_response, RawResponse};
use certbound_testkit::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The request heads the upstream received, in order.
type Heads = Arc<Mutex<Vec<String>>>;

/// An upstream that records each request head as received (bytes as text), reads the body
/// (`Content-Length` or chunked to its last chunk), and answers `200 {"ok":true}`, closing the
/// connection. It never answers a request whose body did not arrive whole.
async fn recording_upstream() -> (std::net::SocketAddr, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads: Heads = Arc::default();
    let record = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let lower = head.to_ascii_lowercase();
                let length: usize = lower
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let chunked = lower.contains("transfer-encoding: chunked");
                loop {
                    let body = &buf[head_end..];
                    let complete = if chunked {
                        body.ends_with(b"0\r\n\r\n")
                    } else {
                        body.len() >= length
                    };
                    if complete {
                        break;
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                record.lock().unwrap().push(head);
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}")
                    .await;
            });
        }
    });
    (addr, heads)
}

struct Setup {
    _pki: Pki,
    auth: TestServer,
    gateway: certbound_gateway::RunningGateway,
    heads: Heads,
    client: certbound_pki::IssuedCertificate,
}

const SECRET: &str = "hygiene-test-secret-0123456789";

/// The AS, a gateway with an unbound-token route `/api/public/` and a bound-only route
/// `/api/admin/` (both to the recording upstream), and a client certificate.
async fn setup() -> Setup {
    let pki = Pki::new();
    let mut clients = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    clients.push_str(&format!("[[clients]]\nclient_id = \"secret-c\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\nscope = \"read\"\n"));
    let auth = TestServer::start(&pki, &clients).await;
    let (up, heads) = recording_upstream().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        r#"
[listen]
https = "{gw}"
[tls]
cert = "server.pem"
key = "server.key"
[authorization_server]
issuer = "{issuer}"
ca = "ca.pem"
[admin]
listen = "127.0.0.1:0"
[proxy]
response_timeout_seconds = 5
[[routes]]
path_prefix = "/api/public/"
upstream = "http://{up}"
require_bound_token = false
[[routes]]
path_prefix = "/api/admin/"
upstream = "http://{up}"
scopes = ["transactions"]
"#,
        gw = listener.local_addr().unwrap(),
        issuer = auth.issuer,
    );
    let config =
        GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).expect("gateway config");
    let gateway = certbound_gateway::start_on(config, listener)
        .await
        .expect("gateway starts");
    let client = pki.client("partner-a", "Example");
    Setup {
        _pki: pki,
        auth,
        gateway,
        heads,
        client,
    }
}

impl Setup {
    /// An unbound token (client_secret_basic): good for `/api/public/`, refused on `/api/admin/`.
    async fn unbound_token(&self) -> String {
        let r = self
            .auth
            .http(None)
            .post(self.auth.token_url())
            .basic_auth("secret-c", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        TestServer::read(r).await.json["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.gateway.addr.port())
    }

    /// Sends `request` (the exact bytes) over TLS with the client certificate.
    async fn raw(&self, request: &str) -> RawResponse {
        let mut s = connect_as(
            self.gateway.addr,
            &self.auth.ca_pem,
            &self.client.cert_pem,
            &self.client.key_pem,
        )
        .await;
        let _ = s.write_all(request.as_bytes()).await;
        let _ = s.flush().await;
        read_response(&mut s, Duration::from_secs(10)).await
    }

    /// `GET target` with `Host`, the token, and `extra` header lines.
    async fn get(&self, target: &str, token: &str, extra: &str) -> RawResponse {
        self.raw(&format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n",
            self.host()
        ))
        .await
    }

    fn received(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    async fn metrics(&self) -> String {
        let admin = self.gateway.admin_addr.expect("admin listener");
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn request_line(head: &str) -> &str {
    head.lines().next().unwrap_or_default()
}

/// Finding 2: every spelling an upstream might resolve to another route is a 400 before any
/// token check or forwarding, and the upstream never sees it.
#[tokio::test]
async fn ambiguous_paths_are_refused_before_routing_and_never_reach_the_upstream() {
    let s = setup().await;
    let token = s.unbound_token().await;
    // The token works on the public route, and is refused on the bound-only one.
    assert_eq!(s.get("/api/public/x", &token, "").await.status, 200);
    assert_eq!(s.get("/api/admin/x", &token, "").await.status, 401);
    let forwarded = s.received().len();
    for path in [
        "/api/public/..\\admin/x",
        "/api/public\\..\\admin/x",
        "/api/public/..;/admin/x",
        "/api/public/.;/x",
        "/api/public/%5c..%5cadmin/x",
        "/api/public/%5C",
        "/api/public/%2e%2e/admin/x",
        "/api/public/%2E%2e/admin/x",
        "/api/public/.%2e/admin/x",
        "/api/public/%252e%252e/admin/x",
        "/api/public/%252e%252e%252fadmin/x",
        "/api/public/%c0%ae%c0%ae/admin/x",
        "/api/public/%c0%af",
        "/api/public/x%00.json",
        "/api/public/%0d%0ax",
        "/api/public/%2fx",
        "/api/public/%ff",
        "/api/public/..%3b/admin/x",
    ] {
        let r = s.get(path, &token, "").await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{path}: {}", r.body);
        assert!(
            r.body.contains("error_description"),
            "{path}: the refusal says why: {}",
            r.body
        );
    }
    assert_eq!(
        s.received().len(),
        forwarded,
        "a refused path reached the upstream: {:?}",
        &s.received()[forwarded..]
    );
}

/// Finding 2: the route is chosen on the canonical path and that very path goes upstream; the
/// query string is forwarded byte for byte.
#[tokio::test]
async fn the_canonical_path_is_routed_and_forwarded_and_the_query_is_unchanged() {
    let s = setup().await;
    let token = s.unbound_token().await;
    for (target, forwarded) in [
        (
            "/%61pi/public/x?q=%2e%2e%5c&r=a;b",
            "GET /api/public/x?q=%2e%2e%5c&r=a;b HTTP/1.1",
        ),
        (
            "/api//public///x/caf%c3%a9",
            "GET /api/public/x/caf%C3%A9 HTTP/1.1",
        ),
    ] {
        let r = s.get(target, &token, "").await;
        assert_eq!(r.status, 200, "{target}: {}", r.body);
        let received = s.received();
        let head = received.last().expect("forwarded");
        assert_eq!(request_line(head), forwarded, "{target}");
    }
    // A non-canonical spelling of the bound-only route is checked as that route.
    let r = s.get("/api/%61dmin/x", &token, "").await;
    assert_eq!(r.status, 401, "{}", r.body);
}

/// Finding 7: underscore spellings of identity headers and the identity headers of cloud
/// proxies are dropped (and counted); ordinary headers pass.
#[tokio::test]
async fn underscore_and_cloud_identity_headers_never_reach_the_upstream() {
    let s = setup().await;
    let token = s.unbound_token().await;
    let forged = [
        "X_Forwarded_For: 6.6.6.6",
        "X_SSL_Client_Cert: forged",
        "Client_Cert: :Zm9yZ2Vk:",
        "X_Remote_User: admin",
        "True-Client-IP: 6.6.6.6",
        "X-Client-IP: 6.6.6.6",
        "X-Original-URL: /api/admin/x",
        "X-Forwarded: for=6.6.6.6",
        "X-Amzn-Oidc-Identity: admin",
        "X-Goog-Authenticated-User-Email: accounts.google.com:admin@example.com",
        "X-MS-CLIENT-PRINCIPAL-NAME: admin",
    ];
    let extra: String = forged.iter().map(|h| format!("{h}\r\n")).collect();
    let r = s
        .get(
            "/api/public/x",
            &token,
            &format!("{extra}X-Request-Id: r1\r\n"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let received = s.received();
    let head = received.last().unwrap().to_ascii_lowercase();
    for h in forged {
        let name = h.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            !head.contains(&format!("\r\n{name}:")),
            "{name} reached the upstream:\n{head}"
        );
    }
    assert!(!head.contains("6.6.6.6"), "{head}");
    assert!(!head.contains("admin"), "{head}");
    assert!(head.contains("\r\nx-request-id: r1\r\n"), "{head}");
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("certbound_gateway_headers_dropped_total{reason=\"underscore\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("certbound_gateway_headers_dropped_total{reason=\"identity\"} 7"),
        "{metrics}"
    );
}

/// Finding 8: HTTP/2 cookie crumbs arrive upstream as one HTTP/1.1 `Cookie` line.
#[tokio::test]
async fn http2_cookie_crumbs_are_joined_for_the_upstream() {
    let s = setup().await;
    let token = s.unbound_token().await;
    let r = s
        .auth
        .http(Some(&s.client))
        .get(format!("https://{}/api/public/x", s.host()))
        .bearer_auth(&token)
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .header("cookie", "c=3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let received = s.received();
    let head = received.last().unwrap().to_ascii_lowercase();
    let cookies: Vec<&str> = head.lines().filter(|l| l.starts_with("cookie:")).collect();
    assert_eq!(cookies, ["cookie: a=1; b=2; c=3"], "{head}");
}

/// Finding 8: a missing, repeated or malformed `Host`, or one that disagrees with an
/// absolute-form target, is a 400; another server's authority is a 421; nothing reaches the
/// upstream, and no `Host` can break the `Forwarded` header.
#[tokio::test]
async fn host_headers_are_checked_and_other_authorities_get_421() {
    let s = setup().await;
    let token = s.unbound_token().await;
    let host = s.host();
    let port = s.gateway.addr.port();
    let before = s.received().len();
    let auth = format!("Authorization: Bearer {token}\r\n");
    for (request, status) in [
        (format!("GET /api/public/x HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"), 400),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: {host}\\\r\n{auth}Connection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: a\";for=6.6.6.6\r\n{auth}Connection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: user@{host}\r\n{auth}Connection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET https://other.example/api/public/x HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: other.example:{port}\r\n{auth}Connection: close\r\n\r\n"),
            421,
        ),
        (
            format!("GET /api/public/x HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}Connection: close\r\n\r\n", port.wrapping_add(1)),
            421,
        ),
    ] {
        let r = s.raw(&request).await;
        assert_eq!(r.status, status, "{request:?}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{request:?}: {}", r.body);
    }
    assert_eq!(s.received().len(), before, "{:?}", &s.received()[before..]);
    // The health check is answered whatever authority a load balancer probes with.
    let r = s
        .raw("GET /health HTTP/1.1\r\nHost: 10.0.0.5:9443\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The gateway's own names (certificate SANs, loopback) pass; Forwarded quotes the host.
    for ok in [host.clone(), format!("localhost:{port}")] {
        let r = s
            .raw(&format!(
                "GET /api/public/x HTTP/1.1\r\nHost: {ok}\r\n{auth}Connection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
        let received = s.received();
        let head = received.last().unwrap().to_ascii_lowercase();
        assert!(
            head.contains(&format!(
                "\r\nforwarded: for=127.0.0.1;proto=https;host=\"{ok}\"\r\n"
            )),
            "{head}"
        );
    }
}

/// Finding 9: a malformed chunked body is the client's fault: 400, no upstream error counted.
#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_no_upstream_error() {
    let s = setup().await;
    let token = s.unbound_token().await;
    let r = s
        .raw(&format!(
            "POST /api/public/x HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{{\"a\":\r\nzz-not-a-size\r\n",
            s.host()
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), "invalid_request", "{}", r.body);
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("certbound_gateway_upstream_errors_total 0"),
        "{metrics}"
    );
    // A well-formed chunked body still goes through.
    let r = s
        .raw(&format!(
            "POST /api/public/x HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n",
            s.host()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
