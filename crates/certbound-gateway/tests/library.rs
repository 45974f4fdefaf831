//! The library layer on its own: an API that terminates mTLS with certbound-net and protects its
//! routes with `BoundTokenLayer`, against the real authorization server.

use axum::routing::post;
use axum::Json;
use certbound_gateway::guard::{Requirements, TokenGuard};
use certbound_gateway::layer::{BoundToken, BoundTokenLayer};
use certbound_gateway::tokens::{Verifier, VerifierConfig};
use certbound_net::{
    load_cert_chain, load_private_key, server_config, ClientCertMode, ServeOptions,
};
use certbound_testkit::*;

async fn api(pki: &Pki, auth: &TestServer, scopes: Vec<String>) -> String {
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(auth.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let verifier = Verifier::discover(VerifierConfig::new(auth.issuer.clone()), http)
        .await
        .expect("discovery");
    let guard = TokenGuard::new(verifier, None, "test-api");
    let app = axum::Router::new()
        .route(
            "/whoami",
            post(|BoundToken(t): BoundToken| async move {
                Json(serde_json::json!({"client_id": t.claims.client_id, "bound": t.claims.x5t_s256.as_ref().map(|x| x.to_string())}))
            }),
        )
        .layer(BoundTokenLayer::new(guard, Requirements { require_bound: true, scopes }));
    let tls = server_config(
        load_cert_chain(&pki.path("server.pem")).unwrap(),
        load_private_key(&pki.path("server.key")).unwrap(),
        &ClientCertMode::Required { hints: Vec::new() },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/whoami",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(certbound_net::serve(
        listener,
        tls,
        app,
        ServeOptions::named("api"),
        std::future::pending(),
    ));
    url
}

#[tokio::test]
async fn the_layer_enforces_binding_and_scopes_in_process() {
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
    let auth = TestServer::start(&pki, &clients).await;
    let a = pki.client("partner-a", "Example");
    let b = pki.client("partner-b", "Example");
    let token = auth.mtls_token(&a, "partner-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let url = api(&pki, &auth, vec!["transactions".into()]).await;
    // Right certificate: the handler sees the claims.
    let r = TestServer::read(
        auth.http(Some(&a))
            .post(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["client_id"], "partner-a");
    assert_eq!(r.json["bound"], a.thumbprint().as_str());
    // Another CA-valid certificate: invalid_token.
    let r = TestServer::read(
        auth.http(Some(&b))
            .post(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    // No token: a bare challenge.
    let r = TestServer::read(auth.http(Some(&a)).post(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"test-api\"")
    );

    // A scope the token lacks: 403 insufficient_scope.
    let strict = api(&pki, &auth, vec!["admin".into()]).await;
    let r = TestServer::read(
        auth.http(Some(&a))
            .post(&strict)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
}
