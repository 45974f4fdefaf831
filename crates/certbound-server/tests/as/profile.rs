//! `profile = "fapi2"`: a configuration breaking a FAPI 2.0 rule does not start; a clean one
//! publishes only what it enforces.

use crate::support::*;
use certbound_server::config::Config;
use serde_json::Value;

const FAPI2: &str = "profile = \"fapi2\"\nclient_auth = { assertion_audience = \"issuer\" }\n";

#[tokio::test]
async fn a_fapi2_server_refuses_to_start_with_a_secret_client() {
    let pki = Pki::new();
    let text = format!(
        "{FAPI2}issuer = \"https://127.0.0.1:1\"\n[listen]\nhttps = \"127.0.0.1:0\"\nmtls = \"127.0.0.1:0\"\nmtls_url = \"https://127.0.0.1:2\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"ca.pem\"]\n{}[[clients]]\nclient_id = \"legacy\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\n",
        tls_client("bank", "tls_client_auth_subject_dn", "CN=bank,O=Example"),
    );
    let e = Config::from_toml(&text, "as.toml", pki.dir.path(), |_| None).unwrap_err();
    let shown = e.to_string();
    assert_eq!(e.key, "profile", "{shown}");
    assert!(
        shown.contains("clients[1].token_endpoint_auth_method: client 'legacy'"),
        "{shown}"
    );
    assert!(shown.contains("FAPI 2.0 SP §5.3.2.1-6"), "{shown}");
}

#[tokio::test]
async fn a_clean_fapi2_server_publishes_only_what_it_enforces() {
    let pki = Pki::new();
    let s = start_fapi2(
        &pki,
        &tls_client("bank", "tls_client_auth_subject_dn", "CN=bank,O=Example"),
    )
    .await;
    let http = s.http(None);
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let doc: Value = http
            .get(format!("{}{path}", s.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let want = serde_json::json!([
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "private_key_jwt"
        ]);
        for m in [
            "token_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
        ] {
            assert_eq!(doc[m], want, "{path} {m}");
        }
        assert_eq!(
            doc["require_pushed_authorization_requests"],
            Value::Bool(true),
            "{path}"
        );
    }
    let bank = pki.client("bank", "Example");
    let r = s.mtls_token(&bank, "bank").await;
    assert_eq!(r.status, 200, "{}", r.json);
}

/// A server under `profile = "fapi2"` (a top-level key, so it goes before the tables that
/// `TestServer::start` writes) with `clients` registered.
async fn start_fapi2(pki: &Pki, clients: &str) -> TestServer {
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mtls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://{}", https.local_addr().unwrap());
    let mtls_url = format!("https://{}", mtls.local_addr().unwrap());
    let db = pki.path(&format!("as-{}.db", https.local_addr().unwrap().port()));
    let text = format!(
        "{FAPI2}issuer = \"{issuer}\"\n[listen]\nhttps = \"{}\"\nmtls = \"{}\"\nmtls_url = \"{mtls_url}\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"ca.pem\"]\n[store]\nurl = \"sqlite://{}\"\n{clients}",
        https.local_addr().unwrap(),
        mtls.local_addr().unwrap(),
        db.display(),
    );
    let config = Config::from_toml(&text, "as.toml", pki.dir.path(), |_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let server = certbound_server::start_on(config, https, Some(mtls))
        .await
        .expect("server starts");
    TestServer {
        server,
        issuer,
        mtls_url,
        ca_pem: pki.ca.cert_pem(),
    }
}
