//! The FAPI 2.0 conformance mirror's probes of the gateway, the resource server of the
//! `fapi_client_credentials_grant` profile (FAPI 2.0 SP §5.2.1-2/-3, §5.2.2-1, §5.3.4;
//! FAPI2.md N2, N3, N6, R1, R2, R6): TLS probed with `openssl s_client` (TLS 1.0/1.1 refused,
//! TLS 1.2 only with ECDHE + AES-GCM, TLS 1.3 preferred), then a certificate-bound token at a
//! route: accepted with the scheme in any case, with a `Date` header; refused in the query and
//! with another client's certificate. The AS's listeners are probed in
//! crates/certbound-server/tests/fapi2/tls.rs.

use certbound_gateway::config::GatewayConfig;
use certbound_testkit::tls_probe::assert_fapi_tls;
use certbound_testkit::*;

#[tokio::test]
async fn the_gateway_passes_the_fapi2_tls_probes_and_resource_checks() {
    let pki = Pki::new();
    let mut clients = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    clients.push_str(&tls_client(
        "partner-b",
        "tls_client_auth_subject_dn",
        "CN=partner-b,O=Example",
    ));
    clients.push_str("[[clients]]\nclient_id = \"gateway\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=gateway,O=Example\"\nresource_server = true\ngrant_types = []\n");
    let auth = TestServer::start(&pki, &clients).await;
    let gw_cert = pki.client("gateway", "Example");
    std::fs::write(pki.path("gateway.pem"), &gw_cert.cert_pem).unwrap();
    std::fs::write(pki.path("gateway.key"), &gw_cert.key_pem).unwrap();
    let a = pki.client("partner-a", "Example");
    let b = pki.client("partner-b", "Example");
    std::fs::write(pki.path("probe.pem"), a.chain_pem()).unwrap();
    std::fs::write(pki.path("probe.key"), &a.key_pem).unwrap();

    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async { "resource" });
    tokio::spawn(async move { axum::serve(upstream, app).await.unwrap() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        "[listen]\nhttps = \"{gw}\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n\
         [authorization_server]\nissuer = \"{issuer}\"\nca = \"ca.pem\"\nclient_id = \"gateway\"\n\
         client_cert = \"gateway.pem\"\nclient_key = \"gateway.key\"\n\
         [[routes]]\npath_prefix = \"/api/\"\nupstream = \"http://{up}\"\nscopes = [\"transactions\"]\n",
        gw = listener.local_addr().unwrap(),
        issuer = auth.issuer,
    );
    let config = GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).expect("config");
    let gateway = certbound_gateway::start_on(config, listener)
        .await
        .expect("gateway starts");
    let addr = gateway.addr;
    let dir = pki.dir.path();

    // TLS: the same probes as the authorization server's listeners.
    assert_fapi_tls(addr, dir, "gateway").await;

    // The resource.
    let r = auth.mtls_token(&a, "partner-a").await;
    assert_eq!(r.status, 200, "{}", r.json);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    let url = format!("https://127.0.0.1:{}/api/accounts", addr.port());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = auth
            .http(Some(&a))
            .get(&url)
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
        assert!(r.headers().contains_key("date"), "a Date header");
    }
    let r = auth
        .http(Some(&a))
        .get(format!("{url}?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert!(
        [400, 401].contains(&r.status().as_u16()),
        "query token: {}",
        r.status()
    );
    assert!(
        r.headers().contains_key("date"),
        "a Date header on refusals too"
    );
    let r = auth
        .http(Some(&b))
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "partner-a's token with partner-b's certificate"
    );
}
