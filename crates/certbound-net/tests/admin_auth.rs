//! The admin listener with `[admin] bearer_token_file` (issue 13, finding 14): `/metrics` needs
//! the token (401 with a `Bearer realm="certbound-admin"` challenge otherwise), the probes stay
//! open unless `open_probes = false`, and a token file readable by others is refused.

use certbound_net::metrics::{
    AdminAccess, AdminConfig, AuthServerMetrics, NotReady, Readiness, ReadinessFuture,
};
use certbound_net::ServeOptions;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "3f9c1d0a7b6e5f4a3c2b1d0e9f8a7b6c";

struct Ready;

impl Readiness for Ready {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async { Ok::<(), NotReady>(()) })
    }
}

/// One plain HTTP/1.1 GET with optional `Authorization`: (status, head lower-cased).
async fn get(addr: std::net::SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), head)
}

async fn serve(access: AdminAccess) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(certbound_net::metrics::serve_admin(
        listener,
        Arc::new(AuthServerMetrics::new()),
        Arc::new(Ready),
        access,
        ServeOptions::named("admin"),
        async move {
            let _ = rx.await;
        },
    ));
    (addr, stop)
}

#[tokio::test]
async fn metrics_need_the_bearer_token_and_the_probes_stay_open() {
    let (addr, _stop) = serve(AdminAccess::bearer(TOKEN, true)).await;

    let (status, head) = get(addr, "/metrics", None).await;
    assert_eq!(status, 401);
    assert!(
        head.contains("www-authenticate: bearer realm=\"certbound-admin\""),
        "{head}"
    );
    let (status, head) = get(addr, "/metrics", Some("Bearer not-the-token-at-all")).await;
    assert_eq!(status, 401);
    assert!(head.contains("error=\"invalid_token\""), "{head}");
    assert_eq!(
        get(addr, "/metrics", Some(&format!("Bearer {TOKEN}")))
            .await
            .0,
        200
    );
    // Orchestrator probes need no token by default.
    assert_eq!(get(addr, "/livez", None).await.0, 200);
    assert_eq!(get(addr, "/readyz", None).await.0, 200);
    // Unknown paths are refused before routing (no probing of what exists).
    assert_eq!(get(addr, "/nothing", None).await.0, 401);
}

#[tokio::test]
async fn closed_probes_need_the_token_too() {
    let (addr, _stop) = serve(AdminAccess::bearer(TOKEN, false)).await;
    assert_eq!(get(addr, "/livez", None).await.0, 401);
    assert_eq!(get(addr, "/readyz", None).await.0, 401);
    assert_eq!(
        get(addr, "/readyz", Some(&format!("Bearer {TOKEN}")))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn without_a_token_file_everything_answers_as_before() {
    let (addr, _stop) = serve(AdminAccess::from_config(&AdminConfig::default()).unwrap()).await;
    assert_eq!(get(addr, "/metrics", None).await.0, 200);
    assert_eq!(get(addr, "/livez", None).await.0, 200);
}
