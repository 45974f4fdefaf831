//! Hostile input against the real server: every case gets a standard error (status and RFC 6749
//! code), never a panic, a hang or a token. Table-driven: each case is the raw bytes sent and the
//! expected status and `error`. Also the listener limits (slow handshakes, slow heads, slow bodies),
//! the brute-force bounds (429 + Retry-After) and the metrics exposition.

use crate::support::raw::{connect, exchange, read_response};
use crate::support::*;
use base64::Engine;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "s3cret-for-hostile-tests-0123456789";

fn config(extra: &str) -> String {
    format!(
        r#"
[limits]
max_body_bytes = 4096
max_header_bytes = 8192
max_headers = 32
handshake_timeout_seconds = 1
header_timeout_seconds = 1
body_timeout_seconds = 1
drain_seconds = 2
[admin]
listen = "127.0.0.1:0"
{extra}
[[clients]]
client_id = "basic-c"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRET}"
scope = "read"
"#
    )
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("https://").parse().unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let with_host: Vec<(&str, &str)> = std::iter::once(("Host", "127.0.0.1"))
        .chain(headers.iter().copied())
        .collect();
    post_raw(path, &with_host, body)
}

/// [`post`] without the usual `Host: 127.0.0.1`: the case supplies its own (or none).
fn post_raw(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn hostile_requests_get_standard_errors() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &config("")).await;
    let auth = basic("basic-c", SECRET);
    let good_auth = ("Authorization", auth.as_str());
    let big_body = vec![b'a'; 5000];
    let many_headers: Vec<(String, String)> =
        (0..40).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain([FORM, good_auth])
        .collect();
    let long_value = "v".repeat(10_000);
    let long_id = "c".repeat(3000);
    let long_id_form = format!("grant_type=client_credentials&client_id={long_id}");
    // Issue 13's classes: log injection, attacker-sized identifiers, Host confusion.
    let forged_basic = basic(
        "x\r\n2026-12-07T00:00:00Z INFO token_issued client_id=basic-c\x1b[31m",
        "y",
    );
    let long_basic = basic(&"b".repeat(300), "y");
    let mtls_host = s.mtls_url.trim_start_matches("https://").to_owned();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "sanity: a good request",
            post("/token", &[FORM, good_auth], b"grant_type=client_credentials"),
            200,
            "",
        ),
        (
            "body over max_body_bytes",
            post("/token", &[FORM, good_auth], &big_body),
            413,
            "invalid_request",
        ),
        (
            "declared Content-Length far over the limit",
            post(
                "/token",
                &[FORM, good_auth, ("Content-Length", "10000000000")],
                b"",
            ),
            413,
            "invalid_request",
        ),
        ("too many header fields", post("/token", &many, b""), 431, ""),
        (
            "a header over max_header_bytes",
            post("/token", &[FORM, ("X-Long", &long_value)], b""),
            431,
            "",
        ),
        (
            "repeated grant_type",
            post(
                "/token",
                &[FORM, good_auth],
                b"grant_type=client_credentials&grant_type=client_credentials",
            ),
            400,
            "invalid_request",
        ),
        (
            "invalid UTF-8 in the form",
            post("/token", &[FORM, good_auth], b"grant_type=client_\xff\xfe"),
            400,
            "invalid_request",
        ),
        (
            // WHATWG form decoding keeps an invalid escape literally: the value is then unknown.
            "invalid percent-encoding",
            post(
                "/token",
                &[FORM, good_auth],
                b"grant_type=client%ZZcredentials",
            ),
            400,
            "unsupported_grant_type",
        ),
        (
            "a JSON body",
            post(
                "/token",
                &[("Content-Type", "application/json"), good_auth],
                br#"{"grant_type":"client_credentials"}"#,
            ),
            400,
            "invalid_request",
        ),
        (
            "no body",
            post("/token", &[FORM, good_auth], b""),
            400,
            "invalid_request",
        ),
        (
            "unsupported grant",
            post("/token", &[FORM, good_auth], b"grant_type=password"),
            400,
            "unsupported_grant_type",
        ),
        (
            "garbage Basic credentials",
            post(
                "/token",
                &[FORM, ("Authorization", "Basic !!!not-base64!!!")],
                b"grant_type=client_credentials",
            ),
            400,
            "invalid_request",
        ),
        (
            "a NUL in client_id",
            post(
                "/token",
                &[FORM],
                b"grant_type=client_credentials&client_id=basic-c%00",
            ),
            401,
            "invalid_client",
        ),
        (
            "a 3000-character client_id",
            post("/token", &[FORM], long_id_form.as_bytes()),
            401,
            "invalid_client",
        ),
        (
            "CR, LF and ESC in the form's client_id (log injection)",
            post(
                "/token",
                &[FORM],
                b"grant_type=client_credentials&client_id=x%0D%0A2026-12-07T00:00:00Z%20INFO%20token_issued%1B%5B31m",
            ),
            401,
            "invalid_client",
        ),
        (
            "CR, LF and ESC in the Basic user name (log injection)",
            post(
                "/token",
                &[FORM, ("Authorization", forged_basic.as_str())],
                b"grant_type=client_credentials",
            ),
            401,
            "invalid_client",
        ),
        (
            "a 300-byte client_id in Basic (over the registrable 255)",
            post(
                "/token",
                &[FORM, ("Authorization", long_basic.as_str())],
                b"grant_type=client_credentials",
            ),
            401,
            "invalid_client",
        ),
        (
            "no Host header",
            post_raw("/token", &[FORM, good_auth], b"grant_type=client_credentials"),
            400,
            "",
        ),
        (
            "two Host headers",
            post_raw(
                "/token",
                &[("Host", "127.0.0.1"), ("Host", "evil.example"), FORM, good_auth],
                b"grant_type=client_credentials",
            ),
            400,
            "",
        ),
        (
            "a Host that is not host[:port]",
            post_raw(
                "/token",
                &[("Host", "127.0.0.1\"; for=evil"), FORM, good_auth],
                b"grant_type=client_credentials",
            ),
            400,
            "",
        ),
        (
            "the mTLS listener's authority on the conventional listener",
            post_raw(
                "/token",
                &[("Host", mtls_host.as_str()), FORM, good_auth],
                b"grant_type=client_credentials",
            ),
            421,
            "",
        ),
        (
            "a client assertion (not supported)",
            post(
                "/token",
                &[FORM],
                b"grant_type=client_credentials&client_id=basic-c&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z",
            ),
            401,
            "invalid_client",
        ),
        (
            "introspection without a token",
            post("/introspect", &[FORM, good_auth], b""),
            400,
            "invalid_request",
        ),
        (
            "revocation of garbage",
            post(
                "/revoke",
                &[FORM, good_auth],
                b"token=%00%01%02not-a-token",
            ),
            200,
            "",
        ),
    ];
    let issuer = addr(&s.issuer);
    for (name, request, status, error) in &cases {
        let r = exchange(issuer, &s.ca_pem, request).await;
        assert_eq!(r.status, *status, "{name}: {r:?}");
        if !error.is_empty() {
            assert_eq!(r.error(), *error, "{name}: {r:?}");
            assert_eq!(
                r.header("cache-control").as_deref(),
                Some("no-store"),
                "{name}"
            );
        }
        if *status != 200 {
            assert!(!r.body.contains("access_token"), "{name}: {r:?}");
        }
        if *status == 401 {
            assert!(r.header("www-authenticate").is_some(), "{name}: {r:?}");
        }
        assert!(!r.body.contains(SECRET), "{name} leaked the secret");
    }
    // The server is still up and correct after all that.
    let r = exchange(
        issuer,
        &s.ca_pem,
        &post(
            "/token",
            &[FORM, good_auth],
            b"grant_type=client_credentials",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &config("")).await;
    let issuer = addr(&s.issuer);

    // A TCP connection that never starts the TLS handshake is closed after the handshake timeout.
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(issuer).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("the server must close a silent connection");
    assert_eq!(n.unwrap_or(0), 0);
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Slowloris: half a request head, then nothing: closed after the header timeout.
    let started = Instant::now();
    let mut tls = connect(issuer, &s.ca_pem).await;
    tls.write_all(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let r = read_response(&mut tls, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the slow head was not cut off"
    );
    assert!(r.status == 0 || r.status == 408, "{r:?}");

    // A body that stops arriving: 408 after the body timeout.
    let started = Instant::now();
    let mut tls = connect(issuer, &s.ca_pem).await;
    tls.write_all(
        b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let r = read_response(&mut tls, Duration::from_secs(5)).await;
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.error(), "invalid_request");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn failed_authentications_are_bounded_per_address_and_per_client() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &config(
            "[rate_limit]\nfailed_auth_per_address = { per_second = 0.05, burst = 5 }\nfailed_auth_per_client = { per_second = 0.05, burst = 3 }\n",
        ),
    )
    .await;
    let http = s.http(None);
    let cc = [("grant_type", "client_credentials")];
    let wrong = basic("basic-c", "wrong-secret-0000000000");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = TestServer::read(
            http.post(s.token_url())
                .header("authorization", &wrong)
                .form(&cc)
                .send()
                .await
                .unwrap(),
        )
        .await;
        statuses.push(r.status.as_u16());
        if r.status == 429 {
            assert_eq!(r.error(), "temporarily_unavailable");
            let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=20).contains(&retry), "{retry}");
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
    // Three wrong secrets lock the client id; the fourth attempt is refused before checking.
    assert_eq!(statuses, [401, 401, 401, 429]);
    // Even the right secret is refused while the client id is locked out.
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(429, "temporarily_unavailable");

    // Per address: unknown clients (no secret) fail until the address's burst is spent.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = s
            .post(
                &http,
                &s.token_url(),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &format!("nobody-{i}")),
                ],
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    // 3 failures above + 2 here = 5 (the burst); then 429.
    assert_eq!(statuses, [401, 401, 429, 429]);

    // The refusals are counted in the metrics.
    let metrics = scrape(&s).await;
    assert!(
        metric(
            &metrics,
            "certbound_rate_limited_total",
            &[("kind", "failed_auth_client")]
        ) >= 1.0
    );
    assert!(
        metric(
            &metrics,
            "certbound_rate_limited_total",
            &[("kind", "failed_auth_address")]
        ) >= 2.0
    );
}

/// The admin listener's exposition.
async fn scrape(s: &TestServer) -> Vec<Sample> {
    let admin = s.server.admin_addr.expect("admin listener");
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_exposition(&text)
}

/// Parses the Prometheus/OpenMetrics text format strictly enough to catch malformed output:
/// every sample line is `name{label="value",...} number`, every family has HELP and TYPE, and the
/// text ends with `# EOF`.
/// One exposition sample: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.trim_end().ends_with("# EOF"), "no # EOF");
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split_whitespace().next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').expect("labels end with }");
                let labels = if l.is_empty() {
                    Vec::new()
                } else {
                    l.split("\",")
                        .map(|kv| {
                            let (k, v) = kv.split_once("=\"").expect("label k=\"v\"");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect()
                };
                (n.to_owned(), labels)
            }
            None => (series.to_owned(), Vec::new()),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name {name}"
        );
        let family = ["_total", "_bucket", "_count", "_sum", "_created"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name)
            .to_owned();
        assert!(
            typed.contains(&family) || typed.contains(&name),
            "no TYPE for {name}"
        );
        samples.push((name, labels, value));
    }
    samples
}

fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_decisions_and_tokens() {
    let pki = Pki::new();
    let extra = format!(
        "{}\n[[clients]]\nclient_id = \"partner\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=partner,O=Example\"\ntls_client_certificate_bound_access_tokens = true\n",
        ""
    );
    let s = TestServer::start(&pki, &config(&extra)).await;
    let partner = pki.client("partner", "Example");
    let stranger = pki.client("stranger", "Example");
    for _ in 0..3 {
        let r = s.mtls_token(&partner, "partner").await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let r = s.mtls_token(&stranger, "partner").await;
    r.assert_error(401, "invalid_client");
    let m = scrape(&s).await;
    assert_eq!(
        metric(
            &m,
            "certbound_tokens_issued_total",
            &[("format", "jwt"), ("bound", "true")]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "certbound_client_authentications_total",
            &[("method", "tls_client_auth"), ("decision", "allow")]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "certbound_client_authentications_total",
            &[("decision", "deny"), ("reason", "subject_mismatch")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "certbound_http_requests_total",
            &[
                ("listener", "mtls"),
                ("endpoint", "/token"),
                ("status", "200")
            ]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "certbound_http_request_duration_seconds_count",
            &[("listener", "mtls"), ("endpoint", "/token")]
        ),
        4.0
    );
    // The client id, the certificate and the token never become label values.
    let admin = s.server.admin_addr.unwrap();
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("partner"), "{text}");
    assert!(!text.contains("stranger"));
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

/// The browser-facing endpoints (issue 14) under hostile input: never a 5xx, never a redirect
/// before the client and its redirect URI are validated (RFC 6749 §4.1.2.1), never a reflected
/// raw value, always the security headers; unknown interactions and forms without their CSRF
/// token are refused.
#[tokio::test]
async fn hostile_browser_requests_get_local_pages() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &config("")).await;
    let many_params: String = (0..200).map(|i| format!("p{i}=v&")).collect();
    let long_state = "s".repeat(5000);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("no parameters", get("/authorize"), 400),
        (
            "an unknown client with a redirect_uri (never redirected)",
            get("/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=x"),
            400,
        ),
        (
            "a client without the code grant",
            get("/authorize?response_type=code&client_id=basic-c&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"),
            400,
        ),
        (
            "a repeated client_id",
            get("/authorize?client_id=basic-c&client_id=other&response_type=code"),
            400,
        ),
        (
            "markup and control characters in client_id",
            get("/authorize?client_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E%0D%0ASet-Cookie%3A%20x%3D1"),
            400,
        ),
        ("invalid UTF-8", get("/authorize?client_id=%ff%fe&response_type=code"), 400),
        ("200 parameters", get(&format!("/authorize?{many_params}")), 400),
        (
            "a 5000-byte state for an unknown client",
            get(&format!("/authorize?client_id=x&state={long_state}")),
            400,
        ),
        (
            "a request_uri that was never pushed",
            get("/authorize?client_id=basic-c&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aforged"),
            400,
        ),
        ("an unknown interaction", get("/interaction/forged"), 400),
        (
            "a login post to an unknown interaction without CSRF",
            post(
                "/interaction/forged/login",
                &[FORM],
                b"username=alice&password=wrong",
            ),
            400,
        ),
        (
            "a consent post to an unknown interaction",
            post("/interaction/forged/consent", &[FORM], b"decision=allow"),
            400,
        ),
    ];
    let issuer = addr(&s.issuer);
    for (name, request, status) in &cases {
        let r = exchange(issuer, &s.ca_pem, request).await;
        assert!(r.status < 500, "{name}: {r:?}");
        assert_eq!(r.status, *status, "{name}: {r:?}");
        assert!(r.header("location").is_none(), "{name} redirected: {r:?}");
        assert!(
            !r.body.contains("<script>"),
            "{name} reflected markup: {r:?}"
        );
        assert!(
            r.header("set-cookie").is_none_or(|c| !c.contains("x=1")),
            "{name}"
        );
        assert!(
            r.header("content-security-policy")
                .is_some_and(|v| v.contains("frame-ancestors 'none'")),
            "{name}: {r:?}"
        );
    }
}
