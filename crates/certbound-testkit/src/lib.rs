//! Test support for certbound's black-box tests: a PKI generated per test, the real
//! authorization server on 127.0.0.1 with real TLS, and HTTPS clients that present certificates.
//! Not part of the product; used only as a dev-dependency.
#![forbid(unsafe_code)]
#![allow(missing_docs)]

pub mod browser;
pub mod dpop;
pub mod postgres;
pub mod process;
pub mod raw;
pub mod tls_probe;

use certbound_pki::{CertificateAuthority, IssuedCertificate, KeyAlgorithm, LeafSpec, SubjectSpec};
use certbound_server::config::Config;
use certbound_server::RunningServer;
use reqwest::StatusCode;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use tempfile::TempDir;

/// A CA, a server certificate for 127.0.0.1/localhost, files in a temporary directory.
pub struct Pki {
    pub ca: CertificateAuthority,
    pub dir: TempDir,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let ca = CertificateAuthority::generate(
            &SubjectSpec::new()
                .country("US")
                .org("Example")
                .common_name("Test Root CA"),
            KeyAlgorithm::EcdsaP256,
        )
        .expect("CA");
        let server = ca
            .issue(&LeafSpec::server(
                &["localhost"],
                &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ))
            .expect("server cert");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.chain_pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), &server.key_pem).unwrap();
        Pki { ca, dir }
    }

    /// A CA-issued client certificate with subject CN=<cn>,O=<org>.
    pub fn client(&self, cn: &str, org: &str) -> IssuedCertificate {
        self.ca
            .issue(&LeafSpec::client(SubjectSpec::cn_o(cn, org)))
            .expect("client cert")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The server under test.
pub struct TestServer {
    pub server: RunningServer,
    pub issuer: String,
    pub mtls_url: String,
    pub ca_pem: String,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Response {
    pub fn error(&self) -> &str {
        self.json
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("<none>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 §5.2 error with status, code and no-store.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status for {}: {}",
            code,
            self.json
        );
        assert_eq!(self.error(), code, "body: {}", self.json);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert!(self.json.get("access_token").is_none());
        if status == 401 {
            let challenge = self
                .header("www-authenticate")
                .expect("401 must carry WWW-Authenticate");
            assert!(challenge.starts_with("Basic realm="), "{challenge}");
        }
    }
}

impl TestServer {
    /// Starts a server whose configuration is `extra` (TOML: [tokens], [[clients]] ...) appended to
    /// the listener and TLS settings.
    pub async fn start(pki: &Pki, extra: &str) -> TestServer {
        let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mtls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(pki, extra, https, mtls).await
    }

    /// The same on listeners the test bound itself (so the issuer URL can be known, and used,
    /// before the server runs).
    pub async fn start_on(
        pki: &Pki,
        extra: &str,
        https: tokio::net::TcpListener,
        mtls: tokio::net::TcpListener,
    ) -> TestServer {
        let issuer = format!("https://127.0.0.1:{}", https.local_addr().unwrap().port());
        let mtls_url = format!("https://127.0.0.1:{}", mtls.local_addr().unwrap().port());
        let db = pki.path(&format!("as-{}.db", https.local_addr().unwrap().port()));
        let toml = format!(
            r#"
issuer = "{issuer}"
[listen]
https = "{https}"
mtls = "{mtls}"
mtls_url = "{mtls_url}"
[tls]
cert = "server.pem"
key = "server.key"
client_ca = ["ca.pem"]
[store]
url = "sqlite://{db}"
{extra}
"#,
            https = https.local_addr().unwrap(),
            mtls = mtls.local_addr().unwrap(),
            db = db.display(),
        );
        let config = Config::from_toml(&toml, "test.toml", pki.dir.path(), |_| None)
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

    /// An HTTPS client trusting the test CA, presenting `cert` if given. A new client per call
    /// means a new TLS connection.
    pub fn http(&self, cert: Option<&IssuedCertificate>) -> reqwest::Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap());
        if let Some(c) = cert {
            let bundle = format!("{}{}", c.chain_pem(), c.key_pem);
            b = b.identity(reqwest::Identity::from_pem(bundle.as_bytes()).expect("identity"));
        }
        b.build().unwrap()
    }

    pub async fn post(
        &self,
        client: &reqwest::Client,
        url: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let r = client.post(url).form(form).send().await.expect("request");
        Self::read(r).await
    }

    pub async fn read(r: reqwest::Response) -> Response {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Response {
            status,
            headers,
            json,
        }
    }

    /// The AS's published JWKS.
    pub async fn jwks(&self) -> Value {
        self.http(None)
            .get(format!("{}/jwks", self.issuer))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks JSON")
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    pub fn mtls(&self, path: &str) -> String {
        format!("{}{path}", self.mtls_url)
    }

    /// client_credentials at the mTLS token endpoint with `cert` and `client_id`.
    pub async fn mtls_token(&self, cert: &IssuedCertificate, client_id: &str) -> Response {
        let c = self.http(Some(cert));
        self.post(
            &c,
            &self.mtls("/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
            ],
        )
        .await
    }
}

/// Decodes a JWT's header and payload without verifying (the tests verify separately).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut it = token.split('.');
    let dec = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let h = dec(it.next().unwrap());
    let p = dec(it.next().unwrap());
    (h, p)
}

/// Verifies a JWT against a JWKS document with jsonwebtoken (an implementation we did not write).
pub fn verify_with_jwks(token: &str, jwks: &Value, issuer: &str) -> Value {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, DecodingKey, Validation};
    let header = decode_header(token).expect("header");
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("jwks");
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid published");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    decode::<Value>(token, &key, &v)
        .expect("signature verifies")
        .claims
}

/// `toml` for a tls_client_auth client registered with one subject field.
pub fn tls_client(id: &str, field: &str, value: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n{field} = {}\ntls_client_certificate_bound_access_tokens = true\nscope = \"transactions read\"\n",
        toml_string(value)
    )
}

/// A TOML basic string literal for any value.
pub fn toml_string(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.push_str(&format!("\\u{:04X}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
