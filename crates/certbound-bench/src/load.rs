//! The load loop: workers on hyper over tokio-rustls, one connection each (keep-alive) or one per
//! request, with latency recording and error classification.

use crate::jws::{AssertionSigner, DpopSigner, Es256Key};
pub use crate::measure::Report;
use crate::measure::{drive, Worker};
use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

/// What the load is aimed at.
pub enum Target {
    /// POST the token endpoint (mTLS alias).
    Token,
    /// POST the introspection endpoint (mTLS alias) with one token.
    Introspect,
    /// POST this URL with a bound token.
    Gateway(String),
}

/// Connection settings.
pub struct Setup {
    /// The issuer URL (metadata is read from it).
    pub issuer: String,
    /// The tls_client_auth client.
    pub client_id: String,
    /// Its certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA of the servers' certificates.
    pub cacert: PathBuf,
    /// A new connection per request.
    pub new_connection: bool,
    /// TLS session resumption (with `new_connection`).
    pub resumption: bool,
    /// Extra form parameters for the token request (e.g. `resource` for a peer server that
    /// issues JWTs only for a resource indicator).
    pub token_params: Vec<(String, String)>,
    /// Target total rate in requests per second (paced across the workers); `None` = as fast as
    /// the server answers. The soak test runs at a fraction of measured capacity.
    pub rate: Option<f64>,
    /// Sign a fresh DPoP proof (RFC 9449) for every token request, and, for the gateway, send the
    /// DPoP-bound token as `Authorization: DPoP` with a fresh proof (`ath`, the API URL) each time.
    pub dpop: bool,
    /// Authenticate at the token endpoint with a fresh `private_key_jwt` assertion per request
    /// instead of the TLS client certificate (the token endpoint is then `token_endpoint`, not
    /// its mTLS alias, and no certificate is presented).
    pub private_key_jwt: Option<PrivateKeyJwt>,
}

/// The key a `private_key_jwt` client signs its assertions with.
#[derive(Clone)]
pub struct PrivateKeyJwt {
    /// A P-256 private key, PEM (PKCS#8 or SEC1).
    pub key: PathBuf,
    /// The `kid` of its public key in the client's registered JWK Set.
    pub kid: String,
}

/// `client_assertion_type` of RFC 7523 §2.2, form-encoded.
const JWT_BEARER_ASSERTION: &str =
    "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=";

/// One prepared request.
#[derive(Clone)]
struct Request {
    host: String,
    port: u16,
    path: String,
    authority: String,
    content_type: &'static str,
    authorization: Option<String>,
    body: Bytes,
    /// Bytes a successful response body must contain (a 200 without a token is a failure).
    expect: &'static [&'static [u8]],
    /// Signs a `DPoP` header for each request.
    dpop: Option<DpopSigner>,
    /// Appends a fresh client assertion to the form body of each request.
    assertion: Option<Arc<AssertionSigner>>,
}

/// The parts of one request that are signed for it alone.
struct Fresh {
    dpop: Option<String>,
    body: Bytes,
}

impl Request {
    /// Signs what this request needs signed (nothing for most scenarios: the body is shared).
    fn fresh(&self) -> Result<Fresh, String> {
        let dpop = match &self.dpop {
            Some(d) => Some(d.proof().map_err(|e| format!("signing: {e}"))?),
            None => None,
        };
        let body = match &self.assertion {
            Some(a) => {
                let jwt = a.assertion().map_err(|e| format!("signing: {e}"))?;
                // A compact JWS is base64url and dots: nothing to escape in a form value.
                let mut b = BytesMut::with_capacity(
                    self.body.len() + JWT_BEARER_ASSERTION.len() + jwt.len(),
                );
                b.put_slice(&self.body);
                b.put_slice(JWT_BEARER_ASSERTION.as_bytes());
                b.put_slice(jwt.as_bytes());
                b.freeze()
            }
            None => self.body.clone(),
        };
        Ok(Fresh { dpop, body })
    }
}

fn tls_config(setup: &Setup) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    // A private_key_jwt client authenticates with its assertion, not with a certificate.
    let identity = match setup.private_key_jwt {
        Some(_) => None,
        None => Some((setup.cert.as_path(), setup.key.as_path())),
    };
    client_tls(&setup.cacert, identity, setup.resumption)
}

/// A TLS client configuration trusting the CA certificates in `cacert`, presenting the
/// certificate chain and key of `identity` (PEM files) when the server asks for one, with or
/// without session resumption.
pub(crate) fn client_tls(
    cacert: &Path,
    identity: Option<(&Path, &Path)>,
    resumption: bool,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cacert).context("cacert")? {
        roots.add(c?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .context("cert")?
                .collect::<Result<_, _>>()?;
            let key = PrivateKeyDer::from_pem_file(key).context("key")?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    if !resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

pub(crate) type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(tls: &TlsConnector, req: &Request) -> Result<Sender, String> {
    connect_to(tls, &req.host, req.port).await
}

/// A new HTTP/1.1 connection over TLS to `host:port` (errors: `connect`, `tls`, ...).
pub(crate) async fn connect_to(
    tls: &TlsConnector,
    host: &str,
    port: u16,
) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|_| "connect".to_owned())?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.to_owned()).map_err(|_| "server name".to_owned())?;
    let stream = tls.connect(name, tcp).await.map_err(|_| "tls".to_owned())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "http handshake".to_owned())?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(sender: &mut Sender, req: &Request, fresh: Fresh) -> Result<Bytes, String> {
    let mut b = http::Request::post(&req.path)
        .header(http::header::HOST, &req.authority)
        .header(http::header::CONTENT_TYPE, req.content_type);
    if let Some(a) = &req.authorization {
        b = b.header(http::header::AUTHORIZATION, a);
    }
    if let Some(proof) = fresh.dpop {
        b = b.header("dpop", proof);
    }
    let r = b
        .body(Full::new(fresh.body))
        .map_err(|_| "request".to_owned())?;
    sender
        .ready()
        .await
        .map_err(|_| "connection closed".to_owned())?;
    let resp = sender
        .send_request(r)
        .await
        .map_err(|_| "send".to_owned())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| "body".to_owned())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("http {}", status.as_u16()));
    }
    for needle in req.expect {
        if !body.windows(needle.len()).any(|w| w == *needle) {
            return Err("unexpected body".to_owned());
        }
    }
    Ok(body)
}

pub(crate) fn split(url: &str) -> anyhow::Result<(String, u16, String, String)> {
    let u = url::Url::parse(url)?;
    let host = u.host_str().context("host")?.to_owned();
    let port = u.port_or_known_default().context("port")?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    Ok((host.clone(), port, path, format!("{host}:{port}")))
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> Bytes {
    Bytes::from(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish(),
    )
}

async fn one_shot(tls: &TlsConnector, req: &Request) -> anyhow::Result<serde_json::Value> {
    let fresh = req.fresh().map_err(anyhow::Error::msg)?;
    let mut s = connect(tls, req).await.map_err(anyhow::Error::msg)?;
    let body = send(&mut s, req, fresh).await.map_err(anyhow::Error::msg)?;
    serde_json::from_slice(&body).context("JSON")
}

/// The access token of a token response, checked to be DPoP-bound when `dpop` (a server that
/// ignored the proof would answer `token_type: Bearer`).
fn access_token(response: &serde_json::Value, dpop: bool) -> anyhow::Result<String> {
    let Some(token) = response.get("access_token").and_then(|v| v.as_str()) else {
        bail!("no token: {response}");
    };
    let token_type = response.get("token_type").and_then(|v| v.as_str());
    if dpop && !token_type.is_some_and(|t| t.eq_ignore_ascii_case("DPoP")) {
        bail!("asked for a DPoP-bound token, got token_type {token_type:?}: {response}");
    }
    Ok(token.to_owned())
}

/// Where a scenario's request carries its access token.
#[derive(Clone, Copy)]
enum TokenSlot {
    /// `Authorization: Bearer` (the gateway).
    Bearer,
    /// The `token` parameter of an introspection form.
    IntrospectionForm,
}

impl TokenSlot {
    fn put(self, req: &mut Request, token: &str, client_id: &str) {
        match self {
            TokenSlot::Bearer => match &req.dpop {
                // RFC 9449 §7.1: the DPoP scheme, and a proof whose `ath` is this token's hash.
                Some(signer) => {
                    req.authorization = Some(format!("DPoP {token}"));
                    req.dpop = Some(signer.with_access_token(token));
                }
                None => req.authorization = Some(format!("Bearer {token}")),
            },
            TokenSlot::IntrospectionForm => {
                req.body = form(&[("token", token), ("client_id", client_id)])
            }
        }
    }
}

/// The issuer's metadata, from the conventional listener (any connection works): RFC 8414's
/// path first, then OpenID Connect's (peer servers such as node-oidc-provider serve only that).
pub(crate) async fn discover(
    tls: &TlsConnector,
    issuer: &str,
) -> anyhow::Result<serde_json::Value> {
    let (host, port, _, authority) = split(issuer)?;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let mut s = connect_to(tls, &host, port)
            .await
            .map_err(anyhow::Error::msg)?;
        let r = http::Request::get(path)
            .header(http::header::HOST, &authority)
            .body(Full::new(Bytes::new()))?;
        let resp = s.send_request(r).await?;
        let ok = resp.status().is_success();
        let body = resp.into_body().collect().await?.to_bytes();
        if ok {
            return serde_json::from_slice(&body).context("metadata");
        }
    }
    bail!("no metadata at the issuer's well-known paths")
}

/// The metadata's `name` endpoint as a client with a certificate calls it: its
/// `mtls_endpoint_aliases` entry (RFC 8705 §5), else the endpoint itself.
pub(crate) fn aliased(meta: &serde_json::Value, name: &str) -> anyhow::Result<String> {
    meta.pointer(&format!("/mtls_endpoint_aliases/{name}"))
        .or_else(|| meta.get(name))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {name} in the metadata"))
}

/// Prepares the scenario's request (discovery, and a token where needed) and runs the load.
pub async fn run(
    setup: &Setup,
    target: Target,
    concurrency: usize,
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let config = tls_config(setup)?;
    let tls = TlsConnector::from(config.clone());
    let meta = discover(&tls, &setup.issuer).await?;
    let alias = |name: &str| aliased(&meta, name);
    // A certificate-authenticated client uses the mTLS alias; a private_key_jwt client the
    // conventional endpoint (the one its assertion's audience, the issuer, names).
    let token_endpoint = match &setup.private_key_jwt {
        Some(_) => meta
            .get("token_endpoint")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .context("no token_endpoint in the metadata")?,
        None => alias("token_endpoint")?,
    };
    let dpop = match setup.dpop {
        true => Some(DpopSigner::new(
            Arc::new(Es256Key::generate()?),
            "POST",
            &token_endpoint,
        )),
        false => None,
    };
    let assertion = match &setup.private_key_jwt {
        Some(k) => {
            let issuer = meta
                .get("issuer")
                .and_then(|v| v.as_str())
                .unwrap_or(&setup.issuer);
            Some(Arc::new(AssertionSigner::new(
                Es256Key::from_pem_file(&k.key)?,
                &k.kid,
                &setup.client_id,
                issuer,
            )))
        }
        None => None,
    };
    let (h, p, path, a) = split(&token_endpoint)?;
    let token_req = Request {
        host: h,
        port: p,
        path,
        authority: a,
        content_type: "application/x-www-form-urlencoded",
        authorization: None,
        body: {
            let mut pairs = vec![
                ("grant_type", "client_credentials"),
                ("client_id", setup.client_id.as_str()),
            ];
            pairs.extend(
                setup
                    .token_params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            form(&pairs)
        },
        // A DPoP-bound token is announced as `token_type: DPoP` (RFC 9449 §5).
        expect: if setup.dpop {
            &[br#""access_token""#, b"DPoP"]
        } else {
            &[br#""access_token""#]
        },
        dpop: dpop.clone(),
        assertion,
    };
    // Scenarios that present a token get a fresh one at half its lifetime, so runs longer than
    // the token's TTL (the soak) keep measuring the server, not an expired token.
    let mut lifetime = None;
    let slot = match target {
        Target::Token => None,
        Target::Introspect => Some(TokenSlot::IntrospectionForm),
        Target::Gateway(_) => Some(TokenSlot::Bearer),
    };
    let request = match target {
        Target::Token => token_req.clone(),
        Target::Introspect | Target::Gateway(_) => {
            let response = one_shot(&tls, &token_req).await?;
            lifetime = response.get("expires_in").and_then(|v| v.as_u64());
            let token = access_token(&response, setup.dpop)?;
            match target {
                Target::Introspect => {
                    let (h, p, path, a) = split(&alias("introspection_endpoint")?)?;
                    Request {
                        host: h,
                        port: p,
                        path,
                        authority: a,
                        content_type: "application/x-www-form-urlencoded",
                        authorization: None,
                        body: form(&[("token", &token), ("client_id", &setup.client_id)]),
                        expect: &[br#""active":true"#],
                        dpop: None,
                        assertion: None,
                    }
                }
                Target::Gateway(url) => {
                    let (h, p, path, a) = split(&url)?;
                    let mut req = Request {
                        host: h,
                        port: p,
                        path,
                        authority: a,
                        content_type: "application/json",
                        authorization: None,
                        body: Bytes::from_static(br#"{"amount":1,"currency":"EUR"}"#),
                        expect: &[],
                        // The key the token is bound to, now for the API's URL.
                        dpop: dpop.as_ref().map(|d| d.for_url(&url)),
                        assertion: None,
                    };
                    TokenSlot::Bearer.put(&mut req, &token, &setup.client_id);
                    req
                }
                Target::Token => unreachable!("handled above"),
            }
        }
    };

    let deadline = Instant::now() + duration;
    let (current, request) = tokio::sync::watch::channel(Arc::new(request));
    if let Some(slot) = slot {
        let every = Duration::from_secs(lifetime.unwrap_or(300).max(2) / 2);
        let (tls, token_req, client_id) = (tls.clone(), token_req.clone(), setup.client_id.clone());
        let dpop = setup.dpop;
        tokio::spawn(async move {
            while Instant::now() + every < deadline {
                tokio::time::sleep(every).await;
                match one_shot(&tls, &token_req)
                    .await
                    .and_then(|v| access_token(&v, dpop))
                {
                    Ok(token) => {
                        let mut next = Request::clone(&current.borrow());
                        slot.put(&mut next, &token, &client_id);
                        current.send_replace(Arc::new(next));
                    }
                    Err(e) => eprintln!("token refresh failed: {e:#}"),
                }
            }
        });
    }
    let workers = (0..concurrency)
        .map(|_| RequestWorker {
            tls: tls.clone(),
            request: request.clone(),
            new_connection: setup.new_connection,
            sender: None,
            signing: Duration::ZERO,
        })
        .collect();
    let signs = setup.dpop || setup.private_key_jwt.is_some();
    drive(workers, duration, setup.rate, pid, signs).await
}

/// A worker of the request scenarios: one prepared request, sent again and again on its
/// keep-alive connection (or a new one each time).
struct RequestWorker {
    tls: TlsConnector,
    /// The current request (replaced when the token it carries is renewed).
    request: tokio::sync::watch::Receiver<Arc<Request>>,
    new_connection: bool,
    sender: Option<Sender>,
    signing: Duration,
}

impl Worker for RequestWorker {
    async fn once(&mut self) -> Result<Duration, String> {
        let req: Arc<Request> = self.request.borrow().clone();
        // Signed before the clock starts: latency is the server's answer, the signing cost is
        // reported on its own.
        let s0 = Instant::now();
        let fresh = req.fresh();
        if req.dpop.is_some() || req.assertion.is_some() {
            self.signing += s0.elapsed();
        }
        let t0 = Instant::now();
        let result = async {
            let fresh = fresh?;
            if self.new_connection || self.sender.is_none() {
                self.sender = Some(connect(&self.tls, &req).await?);
            }
            match self.sender.as_mut() {
                Some(s) => send(s, &req, fresh).await,
                None => Err("no connection".to_owned()),
            }
        }
        .await;
        match result {
            Ok(_) => Ok(t0.elapsed()),
            Err(kind) => {
                self.sender = None;
                Err(kind)
            }
        }
    }

    fn signing(&self) -> Duration {
        self.signing
    }
}

impl Report {
    /// The summary as one JSON object.
    pub fn to_json(&self, scenario: &str, setup: &Setup, concurrency: usize) -> serde_json::Value {
        let mut v = self.figures_json(scenario, "request", concurrency);
        v.insert("new_connection".into(), setup.new_connection.into());
        v.insert("resumption".into(), setup.resumption.into());
        v.insert("dpop".into(), setup.dpop.into());
        v.insert(
            "private_key_jwt".into(),
            setup.private_key_jwt.is_some().into(),
        );
        serde_json::Value::Object(v)
    }

    /// The summary for people.
    pub fn print(&self, scenario: &str, setup: &Setup, concurrency: usize) {
        println!(
            "{scenario} ({}{}, concurrency {concurrency}, {:.1} s)",
            match (setup.dpop, setup.private_key_jwt.is_some()) {
                (true, true) => "DPoP, private_key_jwt, ",
                (true, false) => "DPoP, ",
                (false, true) => "private_key_jwt, ",
                (false, false) => "",
            },
            if setup.new_connection {
                if setup.resumption {
                    "new connection per request, resumption on"
                } else {
                    "new connection per request, full handshakes"
                }
            } else {
                "keep-alive"
            },
            self.elapsed_seconds()
        );
        self.print_figures("request");
    }
}
