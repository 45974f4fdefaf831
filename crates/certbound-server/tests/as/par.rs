//! PAR (RFC 9126) at `/par` on both listeners, and the fixture the authorization-flow tests
//! share: a web client (`tls_client_auth`, authorization_code), a user in the store, and a
//! browser (cookies kept by hand, redirects not followed).

use crate::support::*;
use certbound_pki::IssuedCertificate;
pub use certbound_testkit::browser::{Browser, Page};

pub const CB: &str = "https://app.example/cb";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const PASSWORD: &str = "correct horse battery staple";

/// The web client's registration (plus `extra` lines).
pub fn web_client(id: &str, cn: &str, extra: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
         tls_client_auth_subject_dn = \"CN={cn},O=Example\"\n\
         tls_client_certificate_bound_access_tokens = true\n\
         grant_types = [\"authorization_code\", \"refresh_token\"]\n\
         redirect_uris = [\"{CB}\"]\nscope = \"openid profile email\"\n\
         client_name = \"Partner <Web> & Co\"\n{extra}\n"
    )
}

/// A form body as pairs.
type Form<'a> = Vec<(&'a str, &'a str)>;

pub struct Flow {
    /// Keeps the PKI files alive.
    pub _pki: Pki,
    pub s: TestServer,
    /// The certificate of client `web`.
    pub cert: IssuedCertificate,
    /// The certificate of client `other`.
    pub other_cert: IssuedCertificate,
}

impl Flow {
    /// A server with clients `web` and `other` (and `extra` configuration), and user `alice`.
    pub async fn start(extra: &str) -> Flow {
        let pki = Pki::new();
        let config = format!(
            "{}{}{extra}",
            web_client("web", "web", ""),
            web_client("other", "other", "")
        );
        let s = TestServer::start(&pki, &config).await;
        let hash = certbound_core::secret::hash_password(PASSWORD).unwrap();
        s.server
            .state
            .store
            .add_user(
                &certbound_store::NewUser {
                    username: "alice".into(),
                    email: Some("alice@example.com".into()),
                    name: Some("Alice".into()),
                    claims: "{}".into(),
                    password_hash: hash.phc().to_owned(),
                },
                0,
            )
            .await
            .unwrap();
        let cert = pki.client("web", "Example");
        let other_cert = pki.client("other", "Example");
        Flow {
            _pki: pki,
            s,
            cert,
            other_cert,
        }
    }

    /// The standard pushed request body for `client_id` (`extra` pairs appended).
    pub fn par_body<'a>(
        client_id: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut body = vec![
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid profile"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        body.extend_from_slice(extra);
        body
    }

    /// PAR for `other` (its own certificate) with the standard body.
    pub async fn other_request_uri(&self) -> String {
        let c = self.s.http(Some(&self.other_cert));
        let r = self
            .s
            .post(&c, &self.s.mtls("/par"), &Self::par_body("other", &[]))
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["request_uri"].as_str().unwrap().to_owned()
    }

    /// PAR for `web` over mTLS with `form`.
    pub async fn par(&self, form: &[(&str, &str)]) -> Response {
        let c = self.s.http(Some(&self.cert));
        self.s.post(&c, &self.s.mtls("/par"), form).await
    }

    /// A fresh request_uri for `web` with the standard body (plus `extra`).
    pub async fn request_uri(&self, extra: &[(&str, &str)]) -> String {
        let r = self.par(&Self::par_body("web", extra)).await;
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["request_uri"].as_str().unwrap().to_owned()
    }

    /// `/authorize` for a pushed request.
    pub fn authorize_url(&self, client_id: &str, request_uri: &str) -> String {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri)
            .finish();
        format!("{}/authorize?{q}", self.s.issuer)
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.s.issuer, &self.s.ca_pem)
    }
}

#[tokio::test]
async fn par_over_mtls_and_on_the_conventional_listener() {
    let f = Flow::start("").await;
    let r = f.par(&Flow::par_body("web", &[])).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let uri = r.json["request_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    assert_eq!(r.json["expires_in"], 60);
    // The conventional listener serves PAR too (a tls_client_auth client without a certificate
    // there is refused, as at /token).
    let c = f.s.http(None);
    let r =
        f.s.post(
            &c,
            &format!("{}/par", f.s.issuer),
            &Flow::par_body("web", &[]),
        )
        .await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.json);
    assert_eq!(r.error(), "invalid_client");
    // Metadata publishes it, aliased on the mTLS listener.
    let meta: serde_json::Value =
        f.s.http(None)
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                f.s.issuer
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        format!("{}/par", f.s.issuer)
    );
    assert_eq!(
        meta["mtls_endpoint_aliases"]["pushed_authorization_request_endpoint"],
        f.s.mtls("/par")
    );
    assert!(meta["mtls_endpoint_aliases"]
        .get("authorization_endpoint")
        .is_none());
}

/// The standard body for `web` with `name` set to `value`.
fn with_param(name: &str, value: &'static str) -> Form<'static> {
    Flow::par_body("web", &[])
        .into_iter()
        .map(|(k, v)| if k == name { (k, value) } else { (k, v) })
        .collect()
}

/// The standard body for `web` without `name`.
fn without_param(name: &str) -> Form<'static> {
    Flow::par_body("web", &[])
        .into_iter()
        .filter(|(k, _)| *k != name)
        .collect()
}

#[tokio::test]
async fn par_errors_are_rfc9126_json() {
    let f = Flow::start("").await;
    let cases: Vec<(Form, u16, &str)> = vec![
        // request_uri inside a PAR body.
        (
            Flow::par_body(
                "web",
                &[("request_uri", "urn:ietf:params:oauth:request_uri:abc")],
            ),
            400,
            "invalid_request",
        ),
        // PKCE plain, and no method (which means plain).
        (
            with_param("code_challenge_method", "plain"),
            400,
            "invalid_request",
        ),
        (
            without_param("code_challenge_method"),
            400,
            "invalid_request",
        ),
        // Unregistered redirect_uri, and none at all.
        (
            with_param("redirect_uri", "https://evil.example/cb"),
            400,
            "invalid_request",
        ),
        (without_param("redirect_uri"), 400, "invalid_request"),
        // response_type token.
        (with_param("response_type", "token"), 400, "invalid_request"),
        // A scope the client does not have.
        (with_param("scope", "openid admin"), 400, "invalid_scope"),
    ];
    for (form, status, code) in cases {
        let r = f.par(&form).await;
        r.assert_error(status, code);
    }
    // Another client's id with web's certificate: the certificate does not match "other".
    let r = f.par(&Flow::par_body("other", &[])).await;
    r.assert_error(401, "invalid_client");
    // GET is not PAR.
    let r =
        f.s.http(Some(&f.cert))
            .get(f.s.mtls("/par"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test]
async fn par_refuses_a_client_without_the_authorization_code_grant() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &tls_client("m2m", "tls_client_auth_subject_dn", "CN=m2m,O=Example"),
    )
    .await;
    let cert = pki.client("m2m", "Example");
    let c = s.http(Some(&cert));
    let r = s
        .post(&c, &s.mtls("/par"), &Flow::par_body("m2m", &[]))
        .await;
    r.assert_error(400, "unauthorized_client");
}
