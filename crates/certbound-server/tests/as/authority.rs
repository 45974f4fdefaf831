//! Which authority each listener answers for (issue 13, finding 8): the conventional listener
//! does not serve the mTLS alias's `host:port`, the mTLS listener not the issuer's. A request for
//! the other listener's authority (as HTTP/2 connection coalescing can send it, without the client
//! certificate the alias exists for) is 421 Misdirected Request; a missing, repeated or malformed
//! `Host` is 400.

use crate::support::raw::exchange;
use crate::support::*;
use std::net::SocketAddr;

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("https://").parse().unwrap()
}

fn get(path: &str, host_lines: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn each_listener_serves_its_own_authority_and_answers_421_for_the_other() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, "").await;
    let (https, mtls) = (addr(&s.issuer), addr(&s.mtls_url));
    let https_host = s.issuer.trim_start_matches("https://");
    let mtls_host = s.mtls_url.trim_start_matches("https://");
    let jwks = "/jwks";
    for (listener, host, status) in [
        // Their own authority (loopback names stand for each other).
        (https, https_host.to_owned(), 200),
        (mtls, mtls_host.to_owned(), 200),
        (https, format!("localhost:{}", https.port()), 200),
        // The other listener's.
        (https, mtls_host.to_owned(), 421),
        (mtls, https_host.to_owned(), 421),
        // Any other name passes (a proxy in front may send the backend address).
        (https, format!("backend.internal:{}", https.port()), 200),
    ] {
        let r = exchange(
            listener,
            &s.ca_pem,
            &get(jwks, &format!("Host: {host}\r\n")),
        )
        .await;
        assert_eq!(r.status, status, "{host} at {listener}: {}", r.body);
        if status == 421 {
            assert_eq!(r.error(), "invalid_request", "{}", r.body);
            assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        }
    }
    // Syntax: 400 on both listeners, whatever the path.
    for listener in [https, mtls] {
        let own = if listener == https {
            https_host
        } else {
            mtls_host
        };
        for (hosts, what) in [
            (String::new(), "no Host"),
            (format!("Host: {own}\r\nHost: {own}\r\n"), "two Hosts"),
            ("Host: a\";for=6.6.6.6\r\n".to_owned(), "a quote"),
            (format!("Host: user@{own}\r\n"), "user information"),
        ] {
            let r = exchange(listener, &s.ca_pem, &get("/token", &hosts)).await;
            assert_eq!(r.status, 400, "{what} at {listener}: {}", r.body);
            assert_eq!(r.error(), "invalid_request", "{what}: {}", r.body);
        }
    }
    // Health checks by address keep working.
    let r = exchange(https, &s.ca_pem, &get("/health", "Host: 10.0.0.5:8443\r\n")).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
