//! An API that terminates mTLS itself and accepts only certificate-bound tokens, with
//! `BoundTokenLayer` instead of the gateway.
//!
//! ```sh
//! cargo run -p certbound-gateway --example api_with_layer -- \
//!     https://localhost:8443 certbound-dev/pki/ca.pem certbound-dev/pki/server.pem certbound-dev/pki/server.key
//! curl --cacert certbound-dev/pki/ca.pem --cert certbound-dev/pki/partner-a.pem --key certbound-dev/pki/partner-a.key \
//!     -H "Authorization: Bearer $TOKEN" https://localhost:7443/whoami
//! ```

use axum::routing::get;
use axum::Json;
use certbound_gateway::guard::{Requirements, TokenGuard};
use certbound_gateway::layer::{BoundToken, BoundTokenLayer};
use certbound_gateway::tokens::{Verifier, VerifierConfig};
use certbound_net::{
    load_cert_chain, load_private_key, server_config, ClientCertMode, ServeOptions,
};
use std::path::Path;

async fn whoami(BoundToken(token): BoundToken) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "client_id": &token.claims.client_id,
        "scopes": &token.claims.scopes,
        "bound_to": token.claims.x5t_s256.as_ref().map(|t| t.to_string()),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let [_, issuer, ca, cert, key] = args.as_slice() else {
        eprintln!("usage: api_with_layer ISSUER CA.pem SERVER.pem SERVER.key");
        std::process::exit(2);
    };
    // Trust for the authorization server's TLS, then discovery of its metadata and JWKS.
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca)?)?)
        .build()?;
    let verifier = Verifier::discover(VerifierConfig::new(issuer.clone()), http).await?;
    let guard = TokenGuard::new(verifier, None, "example-api");

    let app = axum::Router::new()
        .route("/whoami", get(whoami))
        .layer(BoundTokenLayer::new(
            guard,
            Requirements {
                require_bound: true,
                scopes: vec![],
            },
        ));

    // Terminate mTLS here: any client certificate with proof of possession; the layer checks
    // that the token is bound to it.
    let tls = server_config(
        load_cert_chain(Path::new(cert))?,
        load_private_key(Path::new(key))?,
        &ClientCertMode::Required { hints: Vec::new() },
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:7443").await?;
    println!("listening on https://127.0.0.1:7443/whoami");
    certbound_net::serve(
        listener,
        tls,
        app,
        ServeOptions::named("api"),
        std::future::pending(),
    )
    .await;
    Ok(())
}
