use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn metadata_is_published_on_both_listeners_with_rfc8705_members() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &tls_client(
            "partner-a",
            "tls_client_auth_subject_dn",
            "CN=partner-a,O=Example",
        ),
    )
    .await;
    let http = s.http(None);
    let doc: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], s.issuer.as_str());
    assert_eq!(doc["token_endpoint"], format!("{}/token", s.issuer));
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", s.issuer));
    assert_eq!(
        doc["tls_client_certificate_bound_access_tokens"],
        Value::Bool(true)
    );
    let methods: Vec<&str> = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for m in [
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "client_secret_basic",
        "client_secret_post",
    ] {
        assert!(methods.contains(&m), "{m} missing");
    }
    let aliases = doc["mtls_endpoint_aliases"]
        .as_object()
        .expect("aliases object");
    assert_eq!(aliases["token_endpoint"], s.mtls("/token").as_str());
    assert_eq!(
        aliases["introspection_endpoint"],
        s.mtls("/introspect").as_str()
    );
    assert_eq!(aliases["revocation_endpoint"], s.mtls("/revoke").as_str());
    assert!(!aliases.contains_key("authorization_endpoint"));
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["transactions", "read"])
    );

    // The same document on the OpenID path and on the mTLS listener.
    let oidc: Value = http
        .get(format!("{}/.well-known/openid-configuration", s.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A superset: every RFC 8414 member with the same value (scopes_supported gains openid).
    for (k, v) in doc.as_object().unwrap() {
        if k != "scopes_supported" {
            assert_eq!(&oidc[k], v, "{k}");
        }
    }
    let cert = pki.client("partner-a", "Example");
    let on_mtls: Value = s
        .http(Some(&cert))
        .get(s.mtls("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(on_mtls, doc);
}

#[tokio::test]
async fn jwks_health_and_unknown_paths() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, "").await;
    let http = s.http(None);
    let jwks: Value = http
        .get(format!("{}/jwks", s.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(
        keys[0].get("d").is_none(),
        "private part must never be published"
    );
    let health = http
        .get(format!("{}/health", s.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let missing = http.get(format!("{}/nope", s.issuer)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let get_token = http.get(s.token_url()).send().await.unwrap();
    assert_eq!(
        get_token.status(),
        405,
        "RFC 6749 §3.2: the token endpoint is POST only"
    );
}

#[tokio::test]
async fn conventional_listener_requests_no_certificate_but_alias_does() {
    // openssl s_client prints the CA names of a CertificateRequest, or says none was sent.
    let pki = Pki::new();
    let s = TestServer::start(&pki, "").await;
    let ca = pki.path("ca.pem");
    let https = s_client(s.server.https_addr, &ca).await;
    let mtls = s_client(s.server.mtls_addr.unwrap(), &ca).await;
    assert!(
        https.contains("No client certificate CA names sent"),
        "{https}"
    );
    assert!(
        mtls.contains("Acceptable client certificate CA names"),
        "{mtls}"
    );
    assert!(mtls.contains("Test Root CA"), "{mtls}");
}

async fn s_client(addr: std::net::SocketAddr, ca: &std::path::Path) -> String {
    let out = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(ca)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}
