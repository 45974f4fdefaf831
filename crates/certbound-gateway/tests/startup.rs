//! The gateway's start-up against an authorization server that is not there yet, not listening,
//! or not trusted: it serves at once, answers 503 on protected routes, says why on `/readyz`,
//! and becomes ready by itself once the AS answers. Real AS, real TLS, on 127.0.0.1.

use certbound_gateway::config::GatewayConfig;
use certbound_testkit::*;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;

/// An upstream that answers 201.
async fn upstream() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        axum::Router::new().fallback(|| async { (axum::http::StatusCode::CREATED, "created") });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A gateway for `issuer`, trusting `ca` for it, with an admin listener.
async fn gateway(pki: &Pki, issuer: &str, ca: &Path) -> certbound_gateway::RunningGateway {
    let up = upstream().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        "[listen]\nhttps = \"{gw}\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n\
         [authorization_server]\nissuer = \"{issuer}\"\nca = {ca}\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[routes]]\npath_prefix = \"/api/\"\nupstream = \"http://{up}\"\n",
        gw = listener.local_addr().unwrap(),
        ca = toml_string(&ca.display().to_string()),
    );
    let config = GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).unwrap();
    certbound_gateway::start_on(config, listener)
        .await
        .expect("the gateway starts whatever the AS does")
}

/// `GET http://admin{path}`: status and body.
async fn admin(g: &certbound_gateway::RunningGateway, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", g.admin_addr.unwrap()))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test]
async fn a_gateway_started_before_its_authorization_server_becomes_ready_when_it_comes_up() {
    let pki = Pki::new();
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mtls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://127.0.0.1:{}", https.local_addr().unwrap().port());
    // Until the AS starts, its port accepts connections and closes them at once.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        tokio::pin!(stop_rx);
        loop {
            tokio::select! {
                accepted = https.accept() => drop(accepted),
                _ = &mut stop_rx => return https,
            }
        }
    });
    let g = gateway(&pki, &issuer, &pki.path("ca.pem")).await;

    // Serving, but not ready: /readyz says why in one line, protected routes answer 503.
    assert_eq!(admin(&g, "/livez").await, (200, "ok\n".to_owned()));
    let (status, body) = admin(&g, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let port = issuer.rsplit(':').next().unwrap();
    assert!(
        body.starts_with("not ready: the authorization server is not discovered yet: fetching ")
            && body.contains(&format!(
                "127.0.0.1:{port} closed the connection before answering"
            )),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1, "{body}");
    let a = pki.client("partner-a", "Example");
    let client = |cert: &certbound_pki::IssuedCertificate| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{}", cert.cert_pem, cert.key_pem).as_bytes())
                .unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(pki.ca.cert_pem().as_bytes()).unwrap(),
            )
            .identity(identity)
            .build()
            .unwrap()
    };
    let gw_url = format!("https://127.0.0.1:{}/api/x", g.addr.port());
    let r = client(&a)
        .get(&gw_url)
        .bearer_auth("x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let (_, metrics) = admin(&g, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "certbound_gateway_refused_total{reason=\"not_ready\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "certbound_gateway_authorization_server_discovered "
        ),
        0.0
    );
    assert!(sample(&metrics, "certbound_gateway_discovery_failures_total ") >= 1.0);

    // The AS comes up on the same port: the gateway finds it on its next attempt.
    stop_tx.send(()).unwrap();
    let https = holder.await.unwrap();
    let clients = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    let auth = TestServer::start_on(&pki, &clients, https, mtls).await;
    assert_eq!(auth.issuer, issuer);
    tokio::time::timeout(Duration::from_secs(30), g.ready())
        .await
        .expect("ready within the 30 s backoff cap");
    assert_eq!(admin(&g, "/readyz").await, (200, "ready\n".to_owned()));
    let token = auth.mtls_token(&a, "partner-a").await;
    let token = token.json["access_token"].as_str().unwrap().to_owned();
    let r = client(&a)
        .get(&gw_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, metrics) = admin(&g, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "certbound_gateway_authorization_server_discovered "
        ),
        1.0
    );
    g.shutdown().await;
}

#[tokio::test]
async fn nothing_listening_is_reported_as_connection_refused_and_shutdown_stops_the_retries() {
    let pki = Pki::new();
    let g = gateway(&pki, "https://127.0.0.1:1", &pki.path("ca.pem")).await;
    let (status, body) = admin(&g, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("connection refused to 127.0.0.1:1 (attempt 1)"),
        "{body}"
    );
    // The retry loop is sleeping in its backoff: shutdown must not wait for it.
    tokio::time::timeout(Duration::from_secs(10), g.shutdown())
        .await
        .expect("shutdown ends the discovery loop");
}

#[tokio::test]
async fn an_untrusted_authorization_server_certificate_is_reported_with_the_trusted_ca_file() {
    let pki = Pki::new();
    let auth = TestServer::start(&pki, "").await;
    // The gateway trusts another CA than the one that issued the AS's certificate.
    let other = Pki::new();
    let other_ca = other.path("ca.pem");
    let g = gateway(&pki, &auth.issuer, &other_ca).await;
    let (status, body) = admin(&g, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("TLS: the authorization server's certificate is not trusted")
            && body.contains(&format!(
                "trusted CAs: [authorization_server] ca = {}",
                other_ca.display()
            )),
        "{body}"
    );
    assert!(
        !body.contains("UnknownIssuer") && !body.contains("error sending request"),
        "{body}"
    );
    g.shutdown().await;
}
