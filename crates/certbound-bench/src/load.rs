//! The load loop: workers on hyper over tokio-rustls, one connection each (keep-alive) or one per
//! request, with latency recording and error classification.

use crate::jws::{AssertionSigner, DpopSigner, Es256Key};
use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// Results of a run.
pub struct Report {
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    rss_kb: Option<(u64, u64)>,
    /// CPU seconds (user + system) the server's process tree used during the run.
    server_cpu_seconds: Option<f64>,
    /// CPU seconds the load generator (this process) used during the run.
    generator_cpu_seconds: Option<f64>,
    /// Time spent signing DPoP proofs and client assertions, all workers together.
    signing: Duration,
    /// Whether requests carried anything signed per request.
    signs: bool,
}

fn tls_config(setup: &Setup) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&setup.cacert).context("cacert")? {
        roots.add(c?)?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&setup.cert)
        .context("cert")?
        .collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&setup.key).context("key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    // A private_key_jwt client authenticates with its assertion, not with a certificate.
    let mut config = if setup.private_key_jwt.is_some() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_auth_cert(chain, key)?
    };
    if !setup.resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(tls: &TlsConnector, req: &Request) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect((req.host.as_str(), req.port))
        .await
        .map_err(|_| "connect".to_owned())?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(req.host.clone()).map_err(|_| "server name".to_owned())?;
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

fn split(url: &str) -> anyhow::Result<(String, u16, String, String)> {
    let u = url::Url::parse(url)?;
    let host = u.host_str().context("host")?.to_owned();
    let port = u.port_or_known_default().context("port")?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    Ok((host.clone(), port, path, format!("{host}:{port}")))
}

fn form(pairs: &[(&str, &str)]) -> Bytes {
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
    // Discovery: the metadata on the conventional listener (any connection works). RFC 8414's
    // path first, then OpenID Connect's (peer servers such as node-oidc-provider serve only that).
    let (host, port, _, authority) = split(&setup.issuer)?;
    let mut meta = None;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let req = Request {
            host: host.clone(),
            port,
            path: path.into(),
            authority: authority.clone(),
            content_type: "text/plain",
            authorization: None,
            body: Bytes::new(),
            expect: &[],
            dpop: None,
            assertion: None,
        };
        let mut s = connect(&tls, &req).await.map_err(anyhow::Error::msg)?;
        let r = http::Request::get(&req.path)
            .header(http::header::HOST, &req.authority)
            .body(Full::new(Bytes::new()))?;
        let resp = s.send_request(r).await?;
        let ok = resp.status().is_success();
        let body = resp.into_body().collect().await?.to_bytes();
        if ok {
            meta = Some(serde_json::from_slice::<serde_json::Value>(&body).context("metadata")?);
            break;
        }
    }
    let meta = meta.context("no metadata at the issuer's well-known paths")?;
    let alias = |name: &str| -> anyhow::Result<String> {
        meta.pointer(&format!("/mtls_endpoint_aliases/{name}"))
            .or_else(|| meta.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .with_context(|| format!("no {name} in the metadata"))
    };
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
                        expect: &[br#""active""#],
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

    let cpu_before = pid.and_then(tree_cpu_seconds);
    let own_before = tree_cpu_seconds(std::process::id());
    let deadline = Instant::now() + duration;
    let started = Instant::now();
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
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let tls = tls.clone();
            let request = request.clone();
            let new_connection = setup.new_connection;
            let pace = setup
                .rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(concurrency as f64 / r));
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                let mut sender: Option<Sender> = None;
                let mut signing = Duration::ZERO;
                let mut ticks = pace.map(|p| {
                    let mut i = tokio::time::interval(p);
                    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    i
                });
                while Instant::now() < deadline {
                    if let Some(t) = ticks.as_mut() {
                        t.tick().await;
                    }
                    let req: Arc<Request> = request.borrow().clone();
                    // Signed before the clock starts: latency is the server's answer, the
                    // signing cost is reported on its own.
                    let s0 = Instant::now();
                    let fresh = req.fresh();
                    if req.dpop.is_some() || req.assertion.is_some() {
                        signing += s0.elapsed();
                    }
                    let t0 = Instant::now();
                    let result = async {
                        let fresh = fresh?;
                        if new_connection || sender.is_none() {
                            sender = Some(connect(&tls, &req).await?);
                        }
                        match sender.as_mut() {
                            Some(s) => send(s, &req, fresh).await,
                            None => Err("no connection".to_owned()),
                        }
                    }
                    .await;
                    match result {
                        Ok(_) => lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err(kind) => {
                            *errors.entry(kind).or_default() += 1;
                            sender = None;
                        }
                    }
                }
                (lat, errors, signing)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = BTreeMap::new();
    let mut signing = Duration::ZERO;
    for w in workers {
        let (l, e, s) = w.await?;
        latencies_us.extend(l);
        for (k, v) in e {
            *errors.entry(k).or_insert(0) += v;
        }
        signing += s;
    }
    let elapsed = started.elapsed();
    let cpu_after = pid.and_then(tree_cpu_seconds);
    let own_after = tree_cpu_seconds(std::process::id());
    latencies_us.sort_unstable();
    let delta = |b: Option<f64>, a: Option<f64>| b.zip(a).map(|(b, a)| (a - b).max(0.0));
    Ok(Report {
        elapsed,
        latencies_us,
        errors,
        rss_kb: pid.and_then(rss_kb),
        server_cpu_seconds: delta(cpu_before, cpu_after),
        generator_cpu_seconds: delta(own_before, own_after),
        signing,
        signs: setup.dpop || setup.private_key_jwt.is_some(),
    })
}

/// User + system CPU seconds of a process, its threads and its child processes (nginx's
/// workers are children of the master whose PID is given), from `/proc`.
fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    // USER_HZ is 100 on every Linux configuration the kernel exposes to user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    fn ticks(pid: u32, depth: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let own = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let mut children = 0;
        if depth < 4 {
            if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
                for task in tasks.flatten() {
                    let list =
                        std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                    for child in list
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok())
                    {
                        children += ticks(child, depth + 1).unwrap_or(0);
                    }
                }
            }
        }
        Some(own + children)
    }
    ticks(pid, 0).map(|t| t as f64 / TICKS_PER_SECOND)
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

impl Report {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    /// Requests that failed, all kinds.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful requests.
    pub fn requests(&self) -> usize {
        self.latencies_us.len()
    }

    /// Failures by kind (`connect`, `tls`, `http 401`, ...).
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Server CPU time per successful request, in microseconds: the fair figure when the load
    /// generator, not the server, is what saturates (two cores shared by everything).
    fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len();
        self.server_cpu_seconds
            .filter(|_| n > 0)
            .map(|cpu| cpu * 1e6 / n as f64)
    }

    /// The load generator's own CPU time per successful request, in microseconds (signing,
    /// TLS, HTTP): when it nears 1e6 / requests-per-second the generator, not the server, is the
    /// limit.
    fn generator_cpu_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len();
        self.generator_cpu_seconds
            .filter(|_| n > 0)
            .map(|cpu| cpu * 1e6 / n as f64)
    }

    /// Time spent signing DPoP proofs and client assertions per request, in microseconds (the
    /// attempts that failed included); `None` when nothing is signed per request.
    fn signing_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len() as u64 + self.errors_total();
        (self.signs && n > 0).then(|| self.signing.as_secs_f64() * 1e6 / n as f64)
    }

    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The summary as one JSON object.
    pub fn to_json(&self, scenario: &str, setup: &Setup, concurrency: usize) -> serde_json::Value {
        serde_json::json!({
            "scenario": scenario,
            "new_connection": setup.new_connection,
            "resumption": setup.resumption,
            "concurrency": concurrency,
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.latencies_us.len(),
            "requests_per_second": self.rps(),
            "latency_ms": {"p50": self.pct(0.50), "p90": self.pct(0.90), "p99": self.pct(0.99), "max": self.pct(1.0)},
            "errors": self.errors,
            "server_rss_kb": self.rss_kb.map(|r| r.0),
            "server_peak_rss_kb": self.rss_kb.map(|r| r.1),
            "server_cpu_seconds": self.server_cpu_seconds,
            "server_cpu_us_per_request": self.cpu_us_per_request(),
            "dpop": setup.dpop,
            "private_key_jwt": setup.private_key_jwt.is_some(),
            "generator_cpu_seconds": self.generator_cpu_seconds,
            "generator_cpu_us_per_request": self.generator_cpu_us_per_request(),
            "signing_us_per_request": self.signing_us_per_request(),
        })
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
            self.elapsed.as_secs_f64()
        );
        println!(
            "  requests/s  {:.0}  ({} requests)",
            self.rps(),
            self.latencies_us.len()
        );
        println!(
            "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.pct(0.5),
            self.pct(0.9),
            self.pct(0.99),
            self.pct(1.0)
        );
        println!(
            "  errors      {}{}",
            self.errors_total(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(" {:?}", self.errors)
            }
        );
        if let (Some(cpu), Some(per)) = (self.server_cpu_seconds, self.cpu_us_per_request()) {
            println!(
                "  server CPU  {:.2} s ({:.0}% of one core), {per:.1} µs per request",
                cpu,
                100.0 * cpu / self.elapsed.as_secs_f64()
            );
        }
        if let (Some(cpu), Some(per)) = (
            self.generator_cpu_seconds,
            self.generator_cpu_us_per_request(),
        ) {
            println!(
                "  load CPU    {:.2} s ({:.0}% of one core), {per:.1} µs per request{}",
                cpu,
                100.0 * cpu / self.elapsed.as_secs_f64(),
                self.signing_us_per_request()
                    .map(|s| format!(", of which signing {s:.1} µs"))
                    .unwrap_or_default()
            );
        }
        if let Some((rss, hwm)) = self.rss_kb {
            println!(
                "  server RSS  {:.1} MB (peak {:.1} MB)",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_a_process_tree_is_read_from_proc() {
        let me = std::process::id();
        let before = tree_cpu_seconds(me).expect("this process's CPU time");
        // Burn CPU until the kernel's 10 ms accounting shows it (bounded, in case it never does).
        let started = Instant::now();
        let mut x = 0u64;
        while tree_cpu_seconds(me).unwrap_or(before) <= before
            && started.elapsed() < Duration::from_secs(10)
        {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
        assert!(tree_cpu_seconds(me).unwrap() > before);
        assert_eq!(tree_cpu_seconds(u32::MAX), None, "no such process");
    }
}
