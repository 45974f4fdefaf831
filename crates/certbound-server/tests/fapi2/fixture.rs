//! The fixture of the conformance mirror: a `profile = "fapi2"` server with two clients for each
//! of the four client-authentication × sender-constraint variants (different subject DNs, as the
//! suite's `client`/`client2` and `mtls`/`mtls2`), a user, and the suite's registered redirect
//! URI; and the driver that plays the suite's client for a variant: PAR → authorize (login and
//! consent on the AS's pages) → token → resource (the AS's own `/userinfo`).

use crate::support::dpop::ProofKey;
use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_pki::{
    jwk_for_certificate, self_signed, IssuedCertificate, KeyAlgorithm, LeafSpec, SubjectSpec,
};
use certbound_testkit::browser::{Browser, Page};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The suite's callback for a test alias (`https://<suite>/test/a/<alias>/callback`).
pub const CB: &str = "https://suite.example/test/a/certbound/callback";
/// The user the browser signs in as.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "correct horse battery staple";
/// RFC 7523 `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The suite's `client_auth_type` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `tls_client_auth` with the client's certificate.
    Mtls,
    /// `private_key_jwt` with an ES256 key from the client's `jwks`.
    PrivateKeyJwt,
}

/// The suite's `sender_constrain` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constrain {
    /// Certificate-bound access tokens (RFC 8705 §3).
    Mtls,
    /// DPoP-bound access tokens (RFC 9449).
    Dpop,
}

/// One variant of the plan: client authentication, sender constraint, `openid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `client_auth_type`.
    pub auth: ClientAuth,
    /// `sender_constrain`.
    pub constrain: Constrain,
    /// `openid=openid_connect` (true) or `plain_oauth` (false).
    pub openid: bool,
}

/// The four client-authentication × sender-constraint pairs.
pub const PAIRS: [(ClientAuth, Constrain); 4] = [
    (ClientAuth::Mtls, Constrain::Mtls),
    (ClientAuth::Mtls, Constrain::Dpop),
    (ClientAuth::PrivateKeyJwt, Constrain::Mtls),
    (ClientAuth::PrivateKeyJwt, Constrain::Dpop),
];

impl Variant {
    /// The eight variants of `fapi2-security-profile-final-test-plan` (plain_fapi, unsigned,
    /// plain response) that the mirror runs.
    pub fn all() -> Vec<Variant> {
        let mut out = Vec::new();
        for (auth, constrain) in PAIRS {
            for openid in [true, false] {
                out.push(Variant {
                    auth,
                    constrain,
                    openid,
                });
            }
        }
        out
    }

    /// A variant with `openid_connect`.
    pub fn oidc(auth: ClientAuth, constrain: Constrain) -> Variant {
        Variant {
            auth,
            constrain,
            openid: true,
        }
    }
}

/// A client signing key for `private_key_jwt`: the private key PEM and its public JWK.
#[derive(Clone)]
pub struct ClientKey {
    /// PKCS#8 PEM of the P-256 key.
    pub pem: String,
    /// The public JWK with `kid`, `use` and `alg`.
    pub jwk: Value,
}

impl ClientKey {
    /// A fresh P-256 key.
    pub fn new(name: &str) -> ClientKey {
        let c =
            self_signed(&LeafSpec::client(SubjectSpec::cn(name)).with_key(KeyAlgorithm::EcdsaP256))
                .expect("a P-256 key");
        let full = jwk_for_certificate(&c.cert_der).expect("its JWK");
        ClientKey {
            pem: c.key_pem.clone(),
            jwk: json!({
                "kty": full["kty"], "crv": full["crv"], "x": full["x"], "y": full["y"],
                "kid": full["kid"], "use": "sig", "alg": "ES256",
            }),
        }
    }

    /// Signs `claims` with ES256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.jwk["kid"].as_str().map(str::to_owned);
        encode(
            &header,
            claims,
            &EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("the key"),
        )
        .expect("a signed assertion")
    }

    /// The `jwks` value of a client registration, as TOML.
    fn toml_jwks(&self) -> String {
        let members: Vec<String> = self
            .jwk
            .as_object()
            .expect("an object")
            .iter()
            .map(|(n, v)| format!("{n} = {}", toml_string(v.as_str().expect("a string"))))
            .collect();
        format!("{{ keys = [{{ {} }}] }}", members.join(", "))
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    certbound_testkit::dpop::now()
}

/// A value never used before in this process (assertion `jti`, `state`, PKCE verifier).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    format!(
        "{prefix}-{}-{}",
        N.fetch_add(1, Ordering::Relaxed),
        URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// One of the suite's clients.
pub struct Client {
    /// `client_id` (also the CN of its certificate).
    pub id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// How its tokens are bound.
    pub constrain: Constrain,
    /// Its certificate (`CN=<id>,O=Example`): the credential of an mTLS client, the binding of a
    /// certificate-bound one.
    pub cert: IssuedCertificate,
    /// Its assertion signing key (registered only for `private_key_jwt`).
    pub key: ClientKey,
    /// Its DPoP proof key.
    pub dpop: ProofKey,
}

impl Client {
    /// Whether it presents its certificate (to authenticate or to bind), and so calls the mTLS
    /// endpoint aliases; a `private_key_jwt` + DPoP client calls the root endpoints without one.
    pub fn presents_cert(&self) -> bool {
        self.auth == ClientAuth::Mtls || self.constrain == Constrain::Mtls
    }

    /// The base URL of the endpoints it calls.
    pub fn base<'a>(&self, s: &'a TestServer) -> &'a str {
        if self.presents_cert() {
            &s.mtls_url
        } else {
            &s.issuer
        }
    }

    /// The URL of `path` on the listener it calls.
    pub fn url(&self, s: &TestServer, path: &str) -> String {
        format!("{}{path}", self.base(s))
    }

    /// Its registration, as TOML.
    fn toml(&self) -> String {
        let auth = match self.auth {
            ClientAuth::Mtls => format!(
                "token_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN={},O=Example\"\n",
                self.id
            ),
            ClientAuth::PrivateKeyJwt => format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\ntoken_endpoint_auth_signing_alg = \"ES256\"\njwks = {}\n",
                self.key.toml_jwks()
            ),
        };
        let bound = match self.constrain {
            Constrain::Mtls => "tls_client_certificate_bound_access_tokens = true",
            Constrain::Dpop => "dpop_bound_access_tokens = true",
        };
        format!(
            "[[clients]]\nclient_id = \"{id}\"\n{auth}{bound}\n\
             grant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]\n\
             redirect_uris = [\"{CB}\"]\nscope = \"openid profile email\"\n\
             client_name = \"Conformance client {id}\"\n",
            id = self.id
        )
    }

    /// The standard claims of a client assertion with `aud` = the issuer string.
    pub fn assertion_claims(&self, s: &TestServer) -> Value {
        let t = now();
        json!({
            "iss": self.id, "sub": self.id, "aud": s.issuer,
            "iat": t, "exp": t + 60, "jti": unique("jti"),
        })
    }

    /// A fresh, valid client assertion.
    pub fn assertion(&self, s: &TestServer) -> String {
        self.key.sign(&self.assertion_claims(s))
    }
}

/// What a request presents besides its form.
pub struct Opts<'a> {
    /// The client certificate on the connection.
    pub cert: Cert<'a>,
    /// The `DPoP` header.
    pub proof: Proof<'a>,
    /// The client authentication in the form.
    pub auth: Auth,
    /// Send `client_id` in the form (the suite always does).
    pub client_id: Option<String>,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            cert: Cert::Own,
            proof: Proof::Own,
            auth: Auth::Own,
            client_id: None,
        }
    }
}

/// Which certificate a request presents.
pub enum Cert<'a> {
    /// The client's own, if it presents one at all.
    Own,
    /// None.
    None,
    /// This one.
    This(&'a IssuedCertificate),
}

/// Which DPoP proof a request carries.
pub enum Proof<'a> {
    /// A fresh proof by the client's key for this request, if the client is DPoP-bound.
    Own,
    /// None.
    None,
    /// A fresh proof by this key for this request.
    Key(&'a ProofKey),
    /// Exactly these header values (zero, one or more `DPoP` headers).
    Raw(Vec<String>),
}

/// The client authentication in the form.
pub enum Auth {
    /// A fresh assertion for a `private_key_jwt` client; nothing more for an mTLS client.
    Own,
    /// No assertion.
    None,
    /// This assertion.
    Assertion(String),
}

/// A running conformance fixture.
pub struct Suite {
    /// Keeps the PKI files alive.
    pub pki: Pki,
    /// The server under test.
    pub s: TestServer,
    /// Two clients per pair of [`PAIRS`], in that order.
    pub clients: Vec<Client>,
}

/// The TOML of a `fapi2` server: the top-level keys come before every table.
fn server_toml(
    issuer: &str,
    https: std::net::SocketAddr,
    mtls: std::net::SocketAddr,
    mtls_url: &str,
    db: &std::path::Path,
    authorization: &str,
    clients: &str,
) -> String {
    format!(
        "profile = \"fapi2\"\nissuer = \"{issuer}\"\n\
         client_auth = {{ assertion_audience = \"issuer\" }}\n\
         [listen]\nhttps = \"{https}\"\nmtls = \"{mtls}\"\nmtls_url = \"{mtls_url}\"\n\
         [tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"ca.pem\"]\n\
         [store]\nurl = \"sqlite://{}\"\n[tokens]\nsigning_alg = \"ES256\"\n\
         [authorization]\n{authorization}\n{clients}",
        db.display()
    )
}

impl Suite {
    /// The fixture with the default `[authorization]` settings.
    pub async fn start() -> Suite {
        Suite::start_with("").await
    }

    /// The fixture with `authorization` lines in `[authorization]` (short TTLs).
    pub async fn start_with(authorization: &str) -> Suite {
        let pki = Pki::new();
        let mut clients = Vec::new();
        for (auth, constrain) in PAIRS {
            for n in 1..=2 {
                let id = format!(
                    "{}-{}-{n}",
                    match auth {
                        ClientAuth::Mtls => "mtls",
                        ClientAuth::PrivateKeyJwt => "pkjwt",
                    },
                    match constrain {
                        Constrain::Mtls => "mtls",
                        Constrain::Dpop => "dpop",
                    }
                );
                clients.push(Client {
                    cert: pki.client(&id, "Example"),
                    key: ClientKey::new(&id),
                    dpop: ProofKey::new(),
                    id,
                    auth,
                    constrain,
                });
            }
        }
        let registrations: String = clients.iter().map(Client::toml).collect();
        let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mtls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("https://{}", https.local_addr().unwrap());
        let mtls_url = format!("https://{}", mtls.local_addr().unwrap());
        let db = pki.path(&format!("as-{}.db", https.local_addr().unwrap().port()));
        let text = server_toml(
            &issuer,
            https.local_addr().unwrap(),
            mtls.local_addr().unwrap(),
            &mtls_url,
            &db,
            authorization,
            &registrations,
        );
        let config = certbound_server::config::Config::from_toml(
            &text,
            "fapi2.toml",
            pki.dir.path(),
            |_| None,
        )
        .unwrap_or_else(|e| panic!("config: {e}"));
        let server = certbound_server::start_on(config, https, Some(mtls))
            .await
            .expect("server starts");
        let s = TestServer {
            server,
            issuer,
            mtls_url,
            ca_pem: pki.ca.cert_pem(),
        };
        let hash = certbound_core::secret::hash_password(PASSWORD).expect("a hash");
        s.server
            .state
            .store
            .add_user(
                &certbound_store::NewUser {
                    username: USER.into(),
                    email: Some("alice@example.com".into()),
                    name: Some("Alice".into()),
                    claims: "{}".into(),
                    password_hash: hash.phc().to_owned(),
                },
                0,
            )
            .await
            .expect("the user");
        Suite { pki, s, clients }
    }

    /// Client `n` (1 or 2) of a pair.
    pub fn client(&self, auth: ClientAuth, constrain: Constrain, n: usize) -> &Client {
        let i = PAIRS
            .iter()
            .position(|p| *p == (auth, constrain))
            .expect("a pair");
        &self.clients[i * 2 + n - 1]
    }

    /// Both clients of a variant.
    pub fn pair(&self, v: Variant) -> (&Client, &Client) {
        (
            self.client(v.auth, v.constrain, 1),
            self.client(v.auth, v.constrain, 2),
        )
    }

    /// A browser for the AS's pages.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.s.issuer, &self.s.ca_pem)
    }

    /// POST `form` to `path` as `client` with `opts`: the client's listener, its certificate,
    /// its client authentication, a proof by its key when it is DPoP-bound.
    pub async fn post(
        &self,
        client: &Client,
        path: &str,
        form: &[(&str, &str)],
        opts: Opts<'_>,
    ) -> Response {
        let url = client.url(&self.s, path);
        let mut body: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        body.push((
            "client_id".into(),
            opts.client_id.clone().unwrap_or_else(|| client.id.clone()),
        ));
        let assertion = match opts.auth {
            Auth::Own if client.auth == ClientAuth::PrivateKeyJwt => {
                Some(client.assertion(&self.s))
            }
            Auth::Own | Auth::None => None,
            Auth::Assertion(a) => Some(a),
        };
        if let Some(a) = assertion {
            body.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
            body.push(("client_assertion".into(), a));
        }
        let mut req = self.http_for(client, &opts.cert).post(&url).form(&body);
        for p in proofs(client, &opts.proof, "POST", &url, None) {
            req = req.header("dpop", p);
        }
        TestServer::read(req.send().await.expect("a response")).await
    }

    /// The HTTPS client a request of `client` uses with `cert`.
    pub fn http_for(&self, client: &Client, cert: &Cert<'_>) -> reqwest::Client {
        match cert {
            Cert::Own if client.presents_cert() => self.s.http(Some(&client.cert)),
            Cert::Own | Cert::None => self.s.http(None),
            Cert::This(c) => self.s.http(Some(c)),
        }
    }

    /// PAR for `client` with `request`.
    pub async fn par(&self, client: &Client, request: &AuthRequest, opts: Opts<'_>) -> Response {
        let form = request.form();
        self.post(client, "/par", &form, opts).await
    }

    /// PAR, then `/authorize` in a browser with login and consent; returns the redirect to the
    /// suite, checked to carry `code`, `iss` and the `state` sent.
    pub async fn authorize(&self, client: &Client, request: &AuthRequest) -> Authorized {
        let r = self.par(client, request, Opts::default()).await;
        assert_eq!(r.status, 201, "PAR for {}: {}", client.id, r.json);
        let request_uri = r.json["request_uri"]
            .as_str()
            .expect("request_uri")
            .to_owned();
        let mut b = self.browser();
        let done = b
            .sign_in_and_allow(
                &self.authorize_url(&client.id, &request_uri),
                USER,
                PASSWORD,
            )
            .await;
        assert!(done.location().starts_with(CB), "{}", done.location());
        let params = done.redirect_params();
        assert_eq!(
            params.get("iss"),
            Some(&self.s.issuer),
            "RFC 9207 iss: {params:?}"
        );
        assert_eq!(params.get("state"), request.get("state"), "{params:?}");
        assert!(!params.contains_key("error"), "{params:?}");
        Authorized {
            code: params.get("code").expect("a code").clone(),
            params,
        }
    }

    /// `/authorize?client_id&request_uri` (no other parameter, RFC 9126 §4).
    pub fn authorize_url(&self, client_id: &str, request_uri: &str) -> String {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri)
            .finish();
        format!("{}/authorize?{q}", self.s.issuer)
    }

    /// The code exchange of `client` for `code` with `verifier`.
    pub async fn exchange(
        &self,
        client: &Client,
        code: &str,
        verifier: &str,
        opts: Opts<'_>,
    ) -> Response {
        self.post(
            client,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", verifier),
            ],
            opts,
        )
        .await
    }

    /// The whole happy flow for `client`: PAR, authorization, code exchange; the token response
    /// checked (bound token, ID token when `openid`).
    pub async fn tokens(&self, client: &Client, openid: bool) -> Tokens {
        let request = AuthRequest::new(openid);
        let authorized = self.authorize(client, &request).await;
        let r = self
            .exchange(client, &authorized.code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "code exchange of {}: {}", client.id, r.json);
        self.check_token_response(client, &r);
        if openid {
            self.check_id_token(client, &r, request.get("nonce").map(String::as_str))
                .await;
        } else {
            assert!(r.json.get("id_token").is_none(), "plain OAuth: {}", r.json);
        }
        Tokens {
            access_token: r.json["access_token"]
                .as_str()
                .expect("an access token")
                .to_owned(),
            refresh_token: r.json["refresh_token"].as_str().map(str::to_owned),
        }
    }

    /// A token response is no-store, of the client's token type, and bound to its certificate
    /// or DPoP key (exactly one `cnf` member).
    pub fn check_token_response(&self, client: &Client, r: &Response) {
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let at = r.json["access_token"].as_str().expect("an access token");
        let (_, claims) = jwt_parts(at);
        let cnf = claims["cnf"].as_object().expect("a cnf claim");
        assert_eq!(cnf.len(), 1, "exactly one binding: {cnf:?}");
        match client.constrain {
            Constrain::Mtls => {
                assert_eq!(r.json["token_type"], "Bearer", "{}", r.json);
                assert_eq!(cnf["x5t#S256"], client.cert.thumbprint().as_str());
            }
            Constrain::Dpop => {
                assert_eq!(r.json["token_type"], "DPoP", "{}", r.json);
                assert_eq!(cnf["jkt"], client.dpop.thumbprint().as_str());
            }
        }
        assert_eq!(claims["client_id"], client.id.as_str());
    }

    /// The ID token: signed by a key of the AS's JWKS, `iss`, `aud` ∋ the client, the nonce
    /// echoed byte for byte (no `at_hash` requirement, FAPI 2.0 uses no front-channel tokens).
    pub async fn check_id_token(
        &self,
        client: &Client,
        r: &Response,
        nonce: Option<&str>,
    ) -> Value {
        let id_token = r.json["id_token"].as_str().expect("an ID token");
        let (header, _) = jwt_parts(id_token);
        assert_eq!(header["alg"], "ES256", "a FAPI algorithm: {header}");
        let claims = verify_with_jwks(id_token, &self.s.jwks().await, &self.s.issuer);
        let aud_ok = match &claims["aud"] {
            Value::String(a) => a == &client.id,
            Value::Array(a) => a.contains(&json!(client.id)),
            _ => false,
        };
        assert!(aud_ok, "aud names the client: {claims}");
        assert_eq!(claims["nonce"].as_str(), nonce, "{claims}");
        assert!(
            claims["sub"].is_string() && claims["exp"].is_number() && claims["iat"].is_number()
        );
        claims
    }

    /// The resource request (`GET /userinfo` on the client's listener) with `token` in the
    /// client's scheme, its certificate and a proof with `ath` by its key (as `opts` says).
    pub async fn resource(&self, client: &Client, token: &str, opts: Opts<'_>) -> Response {
        let scheme = match client.constrain {
            Constrain::Mtls => "Bearer",
            Constrain::Dpop => "DPoP",
        };
        self.resource_as(client, &format!("{scheme} {token}"), token, opts)
            .await
    }

    /// The same with an exact `Authorization` value.
    pub async fn resource_as(
        &self,
        client: &Client,
        authorization: &str,
        token: &str,
        opts: Opts<'_>,
    ) -> Response {
        let url = client.url(&self.s, "/userinfo");
        let mut req = self
            .http_for(client, &opts.cert)
            .get(&url)
            .header("authorization", authorization);
        for p in proofs(client, &opts.proof, "GET", &url, Some(token)) {
            req = req.header("dpop", p);
        }
        TestServer::read(req.send().await.expect("a response")).await
    }

    /// The happy resource call: 200 with `sub` for an `openid` token; for a plain-OAuth token
    /// the sender constraint passes and the userinfo scope rule answers 403 (userinfo is an
    /// OpenID resource), never a 401 binding refusal.
    pub async fn assert_resource_ok(&self, client: &Client, token: &str, openid: bool) {
        let r = self.resource(client, token, Opts::default()).await;
        assert!(r.header("date").is_some(), "a Date header");
        if openid {
            assert_eq!(r.status, 200, "{} at the resource: {}", client.id, r.json);
            assert!(r.json["sub"].is_string(), "{}", r.json);
        } else {
            assert_eq!(
                r.status, 403,
                "{} plain OAuth at userinfo: {}",
                client.id, r.json
            );
            assert_eq!(r.json["error"], "insufficient_scope", "{}", r.json);
        }
    }

    /// client_credentials for `client` (the `fapi_client_credentials_grant` profile).
    pub async fn client_credentials(&self, client: &Client, opts: Opts<'_>) -> Response {
        self.post(
            client,
            "/token",
            &[("grant_type", "client_credentials"), ("scope", "profile")],
            opts,
        )
        .await
    }
}

/// The `DPoP` header values of a request.
fn proofs(
    client: &Client,
    proof: &Proof<'_>,
    htm: &str,
    htu: &str,
    token: Option<&str>,
) -> Vec<String> {
    match proof {
        Proof::Own if client.constrain == Constrain::Dpop => {
            vec![client.dpop.proof_for(htm, htu, token, None)]
        }
        Proof::Own | Proof::None => vec![],
        Proof::Key(k) => vec![k.proof_for(htm, htu, token, None)],
        Proof::Raw(values) => values.clone(),
    }
}

/// An authorization request (the pushed parameters) and its PKCE verifier.
#[derive(Clone)]
pub struct AuthRequest {
    /// The PKCE verifier of the `code_challenge`.
    pub verifier: String,
    /// The parameters, in order.
    pub params: Vec<(String, String)>,
}

impl AuthRequest {
    /// The suite's request: `response_type=code`, the callback, a scope (with `openid` and a
    /// nonce for OpenID Connect), a state, S256 PKCE.
    pub fn new(openid: bool) -> AuthRequest {
        let verifier = unique("verifier");
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("redirect_uri", CB.to_owned()),
            (
                "scope",
                if openid { "openid profile" } else { "profile" }.to_owned(),
            ),
            ("state", unique("state")),
            ("code_challenge", s256(&verifier)),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if openid {
            params.push(("nonce", unique("nonce")));
        }
        AuthRequest {
            verifier,
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Sets (replaces) a parameter.
    pub fn set(mut self, name: &str, value: &str) -> AuthRequest {
        self = self.without(name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a parameter.
    pub fn without(mut self, name: &str) -> AuthRequest {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// The parameters as form pairs.
    pub fn form(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The redirect back to the suite after a successful authorization.
pub struct Authorized {
    /// The authorization code.
    pub code: String,
    /// Every parameter of the redirect.
    pub params: HashMap<String, String>,
}

/// A token response of the happy flow.
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if issued.
    pub refresh_token: Option<String>,
}

/// Asserts the AS's local error page: 400, no redirect (FAPI2.md G7).
pub fn assert_error_page(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.header("location").is_none(), "no redirect");
    assert!(page.body.contains("Authorization error"), "{}", page.body);
}

/// Asserts a redirect to the suite with `error` and `iss`.
pub fn assert_redirect_error(page: &Page, issuer: &str, error: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().starts_with(CB), "{}", page.location());
    let p = page.redirect_params();
    assert_eq!(p.get("error").map(String::as_str), Some(error), "{p:?}");
    assert_eq!(p.get("iss").map(String::as_str), Some(issuer), "{p:?}");
    assert!(!p.contains_key("code"), "{p:?}");
}

/// Either a local error page or an error redirect with `iss` (what the suite accepts for
/// "the authorization endpoint refuses").
pub fn assert_authorize_refused(page: &Page, issuer: &str) {
    if page.status == 303 && page.header("location").is_some_and(|l| l.starts_with(CB)) {
        let p = page.redirect_params();
        assert!(p.contains_key("error"), "{p:?}");
        assert_eq!(p.get("iss").map(String::as_str), Some(issuer), "{p:?}");
        assert!(!p.contains_key("code"), "{p:?}");
    } else {
        assert_error_page(page);
    }
}

/// Runs `module` for the OpenID Connect variant of each client-authentication ×
/// sender-constraint pair, concurrently on one server.
pub async fn each_pair<F, Fut>(suite: std::sync::Arc<Suite>, module: F)
where
    F: Fn(std::sync::Arc<Suite>, Variant) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (auth, constrain) in PAIRS {
        set.spawn(module(suite.clone(), Variant::oidc(auth, constrain)));
    }
    while let Some(done) = set.join_next().await {
        done.expect("the module passes for every variant");
    }
}

/// Asserts a token-endpoint error: `status`, one of `codes`, no-store, no token.
pub fn assert_token_error(r: &Response, codes: &[&str], case: &str) {
    assert!(
        r.status == 400 || (r.status == 401 && r.error() == "invalid_client"),
        "{case}: status {} {}",
        r.status,
        r.json
    );
    assert!(
        codes.contains(&r.error()),
        "{case}: {} not in {codes:?}",
        r.json
    );
    assert!(r.json.get("access_token").is_none(), "{case}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{case}");
    let description = r.json["error_description"].as_str().unwrap_or("");
    assert!(
        !description.contains(['\r', '\n', '\t']),
        "{case}: no CR/LF/TAB in error_description"
    );
}
