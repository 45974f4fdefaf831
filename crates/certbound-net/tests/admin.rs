//! The admin listener on 127.0.0.1: `/livez`, `/readyz` driven by the caller's readiness
//! check, `/metrics` of the registry it was given, and certificate expiry gauges from real
//! certificates.

use certbound_net::metrics::{AuthServerMetrics, Exporter, NotReady, Readiness, ReadinessFuture};
use certbound_net::ServeOptions;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A readiness check the test flips.
#[derive(Default)]
struct Switch(Mutex<Option<String>>);

impl Readiness for Switch {
    fn check(&self) -> ReadinessFuture<'_> {
        let verdict = match self.0.lock().unwrap().clone() {
            None => Ok(()),
            Some(why) => Err(NotReady(why)),
        };
        Box::pin(async move { verdict })
    }
}

/// One plain HTTP/1.1 GET: (status, content type, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

struct Admin {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(metrics: Arc<AuthServerMetrics>, readiness: Arc<Switch>) -> Admin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(certbound_net::metrics::serve_admin(
        listener,
        metrics,
        readiness,
        certbound_net::metrics::AdminAccess::unauthenticated(),
        ServeOptions::named("admin"),
        async move {
            let _ = rx.await;
        },
    ));
    Admin { addr, stop, task }
}

#[tokio::test]
async fn livez_is_always_ok_and_readyz_follows_the_check_with_one_line() {
    let readiness = Arc::new(Switch::default());
    *readiness.0.lock().unwrap() =
        Some("the store is unreachable: connection refused\nsecond line".into());
    let admin = serve(Arc::new(AuthServerMetrics::new()), readiness.clone()).await;

    assert_eq!(get(admin.addr, "/livez").await.0, 200);
    assert_eq!(get(admin.addr, "/health").await.0, 200);
    let (status, content_type, body) = get(admin.addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(
        body,
        "not ready: the store is unreachable: connection refused\n"
    );
    // Liveness does not depend on readiness.
    assert_eq!(
        get(admin.addr, "/livez").await,
        (200, "text/plain; charset=utf-8".into(), "ok\n".into())
    );

    *readiness.0.lock().unwrap() = None;
    assert_eq!(get(admin.addr, "/readyz").await.2, "ready\n");
    assert_eq!(get(admin.addr, "/readyz").await.0, 200);
    assert_eq!(get(admin.addr, "/nothing").await.0, 404);

    admin.stop.send(()).unwrap();
    admin.task.await.unwrap();
}

#[tokio::test]
async fn metrics_serve_the_given_registry_with_build_info_and_certificate_expiry() {
    let ca = certbound_pki::CertificateAuthority::generate(
        &certbound_pki::SubjectSpec::new()
            .org("Example")
            .common_name("Expiry CA"),
        certbound_pki::KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let server = ca
        .issue(&certbound_pki::LeafSpec::server(&["localhost"], &[]))
        .unwrap();
    let der = |d: &[u8]| rustls_pki_types::CertificateDer::from(d.to_vec());
    let metrics = Arc::new(AuthServerMetrics::new());
    metrics.certificates.replace(&[
        ("server", &[der(&server.cert_der)]),
        ("client_ca", &[der(&server.issuer_chain_der[0])]),
    ]);
    let admin = serve(metrics.clone(), Arc::new(Switch::default())).await;
    let (status, content_type, text) = get(admin.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    assert!(
        text.contains(&format!(
            "certbound_build_info{{version=\"{}\",process=\"authorization_server\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let expiry = |role: &str| -> i64 {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "certbound_certificate_expiry_timestamp_seconds{{role=\"{role}\""
                ))
            })
            .unwrap_or_else(|| panic!("no {role} expiry in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(expiry("server") > now, "{text}");
    assert!(expiry("client_ca") >= expiry("server"), "{text}");
    assert!(
        text.contains("subject=\"CN=Expiry CA,O=Example\""),
        "{text}"
    );
    // A reload replaces the set: a CA no longer configured is no longer reported.
    metrics
        .certificates
        .replace(&[("server", &[der(&server.cert_der)])]);
    assert!(!metrics.render().contains("client_ca"));
    // The AS registry holds no gateway family.
    assert!(!text.contains("gateway"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));

    admin.stop.send(()).unwrap();
    admin.task.await.unwrap();
}
