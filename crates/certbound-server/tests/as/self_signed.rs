//! self_signed_tls_client_auth with inline jwks and jwks_uri.

use crate::support::*;
use certbound_pki::{jwks, self_signed, LeafSpec, SubjectSpec};
use std::sync::{Arc, Mutex};

fn self_signed_client(id: &str, jwks_value: &serde_json::Value) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"self_signed_tls_client_auth\"\ntls_client_certificate_bound_access_tokens = true\njwks = {}\n",
        toml_inline(jwks_value)
    )
}

/// Renders JSON as a TOML inline value.
fn toml_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{} = {}", toml_string(k), toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::String(s) => toml_string(s),
        other => other.to_string(),
    }
}

/// Configuration of a self-signed client whose keys are at the JWKS host on `port`, fetched
/// with no refresh delay.
fn jwks_uri_client(id: &str, port: u16) -> String {
    format!(
        "[jwks_uri]\nmin_refresh_seconds = 0\nca = [\"ca.pem\"]\n[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"self_signed_tls_client_auth\"\ntls_client_certificate_bound_access_tokens = true\njwks_uri = \"https://127.0.0.1:{port}/jwks.json\"\n"
    )
}

/// A client's JWKS host: `app` over HTTPS on 127.0.0.1 with a server certificate from the test CA
/// (which the server is configured to trust for `jwks_uri`). Returns its port.
pub(crate) async fn serve_jwks_host(pki: &Pki, app: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let chain = certbound_net::load_cert_chain(&pki.path("server.pem")).unwrap();
    let key = certbound_net::load_private_key(&pki.path("server.key")).unwrap();
    let tls =
        certbound_net::server_config(chain, key, &certbound_net::ClientCertMode::None).unwrap();
    tokio::spawn(certbound_net::serve(
        listener,
        tls,
        app,
        certbound_net::ServeOptions::named("jwks"),
        std::future::pending(),
    ));
    port
}

#[tokio::test]
async fn self_signed_inline_jwks_matches_the_certificate_not_the_key() {
    let pki = Pki::new();
    let registered = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-s"))).unwrap();
    let set = jwks(&[registered.cert_der.as_slice()]).unwrap();
    let s = TestServer::start(&pki, &self_signed_client("partner-s", &set)).await;

    let r = s.mtls_token(&registered, "partner-s").await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], registered.thumbprint().as_str());

    // Another self-signed certificate with the same subject.
    let other = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-s"))).unwrap();
    s.mtls_token(&other, "partner-s")
        .await
        .assert_error(401, "invalid_client");
    // The same key in a re-issued certificate: the certificate is registered, not the key.
    let reissued = self_signed(
        &LeafSpec::client(SubjectSpec::cn("partner-s")).with_key_pem(registered.key_pem.clone()),
    )
    .unwrap();
    assert_ne!(reissued.cert_der, registered.cert_der);
    s.mtls_token(&reissued, "partner-s")
        .await
        .assert_error(401, "invalid_client");
    // A CA-issued certificate is not a self-signed client's credential either.
    let ca_issued = pki.client("partner-s", "Example");
    s.mtls_token(&ca_issued, "partner-s")
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn expired_registered_self_signed_certificate_is_refused() {
    let pki = Pki::new();
    let expired = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-old")).expired()).unwrap();
    let set = jwks(&[expired.cert_der.as_slice()]).unwrap();
    let s = TestServer::start(&pki, &self_signed_client("partner-old", &set)).await;
    s.mtls_token(&expired, "partner-old")
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn jwks_uri_is_fetched_and_refetched_when_the_client_rotates() {
    let pki = Pki::new();
    let first = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-u"))).unwrap();
    let second = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-u"))).unwrap();
    let served = Arc::new(Mutex::new(jwks(&[first.cert_der.as_slice()]).unwrap()));
    let fetches = Arc::new(Mutex::new(0u32));

    // The client's JWKS host: a real HTTPS server with a certificate from the test CA.
    let app = {
        let served = served.clone();
        let fetches = fetches.clone();
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                let fetches = fetches.clone();
                async move {
                    *fetches.lock().unwrap() += 1;
                    axum::Json(served.lock().unwrap().clone())
                }
            }),
        )
    };
    let port = serve_jwks_host(&pki, app).await;

    let toml = jwks_uri_client("partner-u", port);
    let s = TestServer::start(&pki, &toml).await;
    assert_eq!(s.mtls_token(&first, "partner-u").await.status, 200);
    assert_eq!(s.mtls_token(&first, "partner-u").await.status, 200);
    assert_eq!(
        *fetches.lock().unwrap(),
        1,
        "a known certificate is served from the cache"
    );

    // The client adds a key: an unknown certificate triggers one refetch and then works.
    *served.lock().unwrap() =
        jwks(&[first.cert_der.as_slice(), second.cert_der.as_slice()]).unwrap();
    let r = s.mtls_token(&second, "partner-u").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(*fetches.lock().unwrap(), 2);

    // A certificate that is in no set is refused (after at most one more fetch).
    let stranger = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-u"))).unwrap();
    s.mtls_token(&stranger, "partner-u")
        .await
        .assert_error(401, "invalid_client");
}

/// A client's JWKS host is not trusted with the server's memory or stack: a document nested
/// thousands of levels deep, one over the size limit, one that is not JSON and one of the wrong
/// shape each make that client's authentication fail with `invalid_client`, and the server
/// carries on for everyone else.
#[tokio::test]
async fn hostile_jwks_uri_documents_fail_closed() {
    let pki = Pki::new();
    let client = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-h"))).unwrap();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("nested 30000 deep", {
            let mut b = br#"{"keys":"#.to_vec();
            b.extend(std::iter::repeat_n(b'[', 30_000));
            b.extend(std::iter::repeat_n(b']', 30_000));
            b.push(b'}');
            b
        }),
        ("over 64 KiB", {
            let mut b = br#"{"keys":[],"pad":""#.to_vec();
            b.extend(std::iter::repeat_n(b'a', 200_000));
            b.extend(br#""}"#);
            b
        }),
        ("not JSON", b"\xff\xfe<html>".to_vec()),
        ("keys is not a list", br#"{"keys":{"kty":"EC"}}"#.to_vec()),
    ];
    let served = Arc::new(Mutex::new(Vec::new()));
    let app = {
        let served = served.clone();
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
    };
    let port = serve_jwks_host(&pki, app).await;
    let good = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-g"))).unwrap();
    let toml = format!(
        "{}{}",
        jwks_uri_client("partner-h", port),
        self_signed_client("partner-g", &jwks(&[good.cert_der.as_slice()]).unwrap())
    );
    let s = TestServer::start(&pki, &toml).await;
    for (name, body) in bodies {
        *served.lock().unwrap() = body;
        let r = s.mtls_token(&client, "partner-h").await;
        assert_eq!(r.status, 401, "{name}: {}", r.json);
        assert_eq!(r.json["error"], "invalid_client", "{name}");
        assert_eq!(
            s.mtls_token(&good, "partner-g").await.status,
            200,
            "{name}: the server must carry on"
        );
    }
    // The same host serving a good document again: the client works.
    *served.lock().unwrap() =
        serde_json::to_vec(&jwks(&[client.cert_der.as_slice()]).unwrap()).unwrap();
    assert_eq!(s.mtls_token(&client, "partner-h").await.status, 200);
}

/// docs/policies.md: a certificate pinned in a self-signed client's `x5c` must be self-issued.
/// A CA-issued one would be accepted without its CA's chain, expiry or revocation checks while
/// looking CA-backed; such a client belongs with tls_client_auth.
#[tokio::test]
async fn a_ca_issued_certificate_registered_in_x5c_is_refused() {
    let pki = Pki::new();
    let ca_issued = pki.client("partner-s", "Example");
    let set = jwks(&[ca_issued.cert_der.as_slice()]).unwrap();
    let s = TestServer::start(&pki, &self_signed_client("partner-s", &set)).await;
    s.mtls_token(&ca_issued, "partner-s")
        .await
        .assert_error(401, "invalid_client");
}
