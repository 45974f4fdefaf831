//! The phantom-token exchange against the real authorization server and the real gateway on
//! 127.0.0.1 (issue 13): a signed introspection answer is never an access token (finding 3), and
//! garbage opaque tokens cannot drive unbounded introspection calls (finding 12).

use certbound_gateway::config::GatewayConfig;
use certbound_gateway::guard::{Requirements, TokenGuard};
use certbound_gateway::layer::BoundTokenLayer;
use certbound_gateway::tokens::{Verifier, VerifierConfig};
use certbound_pki::IssuedCertificate;
use certbound_testkit::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Setup {
    pki: Pki,
    auth: TestServer,
    gateway: certbound_gateway::RunningGateway,
    /// The `Authorization` header of the last request the upstream received.
    forwarded: Arc<Mutex<Option<String>>>,
}

/// The AS (with an opaque-token client and the gateway as a resource server), an upstream that
/// records what it receives, and a gateway whose `[authorization_server]` gets `extra`.
async fn setup(extra: &str) -> Setup {
    let pki = Pki::new();
    let mut clients = tls_client(
        "partner-b",
        "tls_client_auth_subject_dn",
        "CN=partner-b,O=Example",
    );
    clients.push_str("[[clients]]\nclient_id = \"opaque-a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=opaque-a,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\nscope = \"transactions\"\n");
    clients.push_str("[[clients]]\nclient_id = \"gateway\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=gateway,O=Example\"\nresource_server = true\ngrant_types = []\n");
    let auth = TestServer::start(&pki, &clients).await;
    let gw_cert = pki.client("gateway", "Example");
    std::fs::write(pki.path("gateway.pem"), &gw_cert.cert_pem).unwrap();
    std::fs::write(pki.path("gateway.key"), &gw_cert.key_pem).unwrap();

    let forwarded = Arc::new(Mutex::new(None));
    let record = forwarded.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            *record.lock().unwrap() = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (axum::http::StatusCode::CREATED, "ok")
        }
    });
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(up, app).await });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
client_id = "gateway"
client_cert = "gateway.pem"
client_key = "gateway.key"
{extra}
[admin]
listen = "127.0.0.1:0"
[[routes]]
path_prefix = "/api/"
upstream = "http://{up_addr}"
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
    Setup {
        pki,
        auth,
        gateway,
        forwarded,
    }
}

impl Setup {
    async fn call(&self, cert: &IssuedCertificate, token: &str) -> Response {
        let r = self
            .auth
            .http(Some(cert))
            .get(format!(
                "https://127.0.0.1:{}/api/x",
                self.gateway.addr.port()
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("the gateway answers");
        TestServer::read(r).await
    }

    async fn opaque_token(&self, cert: &IssuedCertificate) -> String {
        let r = self.auth.mtls_token(cert, "opaque-a").await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["access_token"].as_str().unwrap().to_owned()
    }

    /// What a phantom-token caller gets from the AS with `Accept: application/jwt`.
    async fn introspect_as_jwt(
        &self,
        cert: &IssuedCertificate,
        client_id: &str,
        token: &str,
    ) -> String {
        let r = self
            .auth
            .http(Some(cert))
            .post(self.auth.mtls("/introspect"))
            .header("accept", "application/jwt")
            .form(&[("client_id", client_id), ("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/jwt");
        r.text().await.unwrap()
    }

    /// The value of a gateway metric series.
    async fn metric(&self, series: &str) -> f64 {
        let admin = self.gateway.admin_addr.expect("admin listener");
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }
}

fn assert_not_an_access_token(r: &Response) {
    assert_eq!(r.status, 401, "{}", r.json);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("not an access token"), "{challenge}");
}

/// An API protected in-process by the tower layer, with the same AS.
async fn layer_api(s: &Setup) -> String {
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(s.auth.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let verifier = Verifier::discover(VerifierConfig::new(s.auth.issuer.clone()), http)
        .await
        .expect("discovery");
    let app = axum::Router::new()
        .route("/x", axum::routing::get(|| async { "reached" }))
        .layer(BoundTokenLayer::new(
            TokenGuard::new(verifier, None, "layer"),
            Requirements::default(),
        ));
    let tls = certbound_net::server_config(
        certbound_net::load_cert_chain(&s.pki.path("server.pem")).unwrap(),
        certbound_net::load_private_key(&s.pki.path("server.key")).unwrap(),
        &certbound_net::ClientCertMode::Required { hints: Vec::new() },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/x",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(certbound_net::serve(
        listener,
        tls,
        app,
        certbound_net::ServeOptions::named("layer"),
        std::future::pending(),
    ));
    url
}

#[tokio::test]
async fn a_signed_introspection_answer_never_passes_as_an_access_token() {
    let s = setup("introspection_cache_seconds = 1").await;
    let o = s.pki.client("opaque-a", "Example");
    let gw = s.pki.client("gateway", "Example");
    let opaque = s.opaque_token(&o).await;

    // The phantom exchange works, and the upstream receives the AS's signed answer, addressed to
    // the gateway: typ token-introspection+jwt, the token's claims inside token_introspection.
    assert_eq!(s.call(&o, &opaque).await.status, 201);
    let forwarded = s.forwarded.lock().unwrap().clone().expect("forwarded");
    let forwarded = forwarded.strip_prefix("Bearer ").unwrap().to_owned();
    let (header, claims) = jwt_parts(&forwarded);
    assert_eq!(header["typ"], "token-introspection+jwt");
    assert_eq!(claims["aud"], "gateway");
    assert_eq!(claims["iss"], s.auth.issuer.as_str());
    assert_eq!(
        claims["token_introspection"]["cnf"]["x5t#S256"],
        o.thumbprint().as_str()
    );
    assert!(claims.get("exp").is_none() && claims.get("cnf").is_none());
    // An upstream verifies it as the gateway's forwarded token (what `certbound sample-api` does).
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(s.auth.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let upstream_verifier = Verifier::discover(VerifierConfig::new(s.auth.issuer.clone()), http)
        .await
        .unwrap();
    let seen = upstream_verifier
        .verify_forwarded(&forwarded, Some("gateway"))
        .await
        .expect("the upstream accepts what the gateway forwards");
    assert_eq!(seen.claims.client_id.as_deref(), Some("opaque-a"));
    assert!(upstream_verifier.verify(&forwarded).await.is_err());

    // The JWT forms of introspection, presented as bearer tokens with the right certificate: the
    // token's own client's twin, the gateway's, and what the upstream received.
    let own = s.introspect_as_jwt(&o, "opaque-a", &opaque).await;
    let gateways = s.introspect_as_jwt(&gw, "gateway", &opaque).await;
    let twins = [own, gateways, forwarded];
    for twin in &twins {
        assert_not_an_access_token(&s.call(&o, twin).await);
    }
    assert_eq!(
        s.metric("certbound_gateway_refused_total{reason=\"wrong_type\"}")
            .await,
        3.0
    );
    // The tower layer refuses them too.
    let url = layer_api(&s).await;
    for twin in &twins {
        let r = s
            .auth
            .http(Some(&o))
            .get(&url)
            .bearer_auth(twin)
            .send()
            .await
            .unwrap();
        assert_not_an_access_token(&TestServer::read(r).await);
    }

    // Revoke the opaque token: after the gateway's cache (1 s here) it is refused, and nothing
    // derived from it works either.
    let r = s
        .auth
        .post(
            &s.auth.http(Some(&o)),
            &s.auth.mtls("/revoke"),
            &[("client_id", "opaque-a"), ("token", &opaque)],
        )
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.call(&o, &opaque).await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert!(r.header("www-authenticate").unwrap().contains("not active"));
    for twin in &twins {
        assert_not_an_access_token(&s.call(&o, twin).await);
    }
}

#[tokio::test]
async fn garbage_tokens_cost_the_as_a_bounded_number_of_calls_and_valid_tokens_stay_cached() {
    let s = setup(
        "introspection_calls_per_certificate = { per_second = 0.01, burst = 5 }\nintrospection_negative_cache_entries = 3",
    )
    .await;
    let o = s.pki.client("opaque-a", "Example");
    let opaque = s.opaque_token(&o).await;
    let introspector = s.gateway.introspector().expect("introspection configured");
    assert_eq!(s.call(&o, &opaque).await.status, 201);
    assert_eq!(introspector.as_calls(), 1);

    // One certificate, thirty distinct garbage tokens: four more calls (the burst), then 429.
    let mut limited = 0;
    for n in 0..30 {
        let r = s.call(&o, &format!("garbage-{n}")).await;
        match r.status.as_u16() {
            401 => assert!(r
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token")),
            429 => {
                let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!(retry >= 1);
                assert_eq!(r.json["error"], "temporarily_unavailable");
                limited += 1;
            }
            other => panic!("{other}: {}", r.json),
        }
    }
    assert_eq!(limited, 26);
    assert_eq!(
        introspector.as_calls(),
        5,
        "bounded by the certificate's burst"
    );
    // The valid token's cached answer survived the flood (no new call), for the same certificate.
    assert_eq!(s.call(&o, &opaque).await.status, 201);
    assert_eq!(introspector.as_calls(), 5);
    // Another certificate is not limited by the first one's flood.
    let b = s.pki.client("partner-b", "Example");
    assert_eq!(s.call(&b, "other-garbage").await.status, 401);
    assert_eq!(introspector.as_calls(), 6);
    assert_eq!(
        s.metric("certbound_gateway_refused_total{reason=\"introspection_rate_limited\"}")
            .await,
        26.0
    );
}
