//! The user-flow scenarios: a web client (tls_client_auth) and its user's browser.
//!
//! - `code-flow`: one flow is PAR over mTLS (the metadata's `mtls_endpoint_aliases`), the
//!   browser at the authorization endpoint with `client_id` + `request_uri` until the redirect
//!   to the client (its `state` and `iss` checked, never fetched), and the token request with
//!   the code and the PKCE verifier over mTLS. With `login_each_flow` each flow is a fresh
//!   browser (empty cookie jar) that signs in and allows (the request says `prompt=consent`, so
//!   a consent remembered earlier does not skip the page); without, each worker's browser signs
//!   in (and allows, remembered) once before the clock starts, and every flow must come straight
//!   back with a code.
//! - `refresh`: each worker gets a refresh token through one code flow before the clock, then
//!   loops refresh_token grants over mTLS, using a rotated refresh token when one comes back.
//! - `userinfo`: each worker gets a certificate-bound access token through one code flow, then
//!   loops `GET /userinfo` over mTLS, renewing the token (refresh grant, untimed) at half its
//!   lifetime.

use crate::browser::{Browser, Conns, Credentials, Pages};
use crate::load::{aliased, client_tls, discover, form};
use crate::measure::{drive, Report, Worker};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

/// The scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Whole authorization-code flows (PAR, browser, token).
    CodeFlow {
        /// A fresh browser that signs in (and consents) in every flow.
        login_each_flow: bool,
    },
    /// refresh_token grants.
    Refresh,
    /// `GET /userinfo` with a bound access token.
    Userinfo,
}

impl Flow {
    /// The scenario's name (the subcommand).
    pub fn name(self) -> &'static str {
        match self {
            Flow::CodeFlow { .. } => "code-flow",
            Flow::Refresh => "refresh",
            Flow::Userinfo => "userinfo",
        }
    }

    /// What one timed operation is.
    pub fn unit(self) -> &'static str {
        match self {
            Flow::CodeFlow { .. } => "flow",
            Flow::Refresh | Flow::Userinfo => "request",
        }
    }
}

/// The web client, its user, and the server.
#[derive(Clone)]
pub struct FlowSetup {
    /// The issuer URL (metadata is read from it).
    pub issuer: String,
    /// The web client (tls_client_auth, authorization_code + refresh_token).
    pub client_id: String,
    /// Its certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA of the servers' certificates.
    pub cacert: PathBuf,
    /// Target total rate in operations per second; `None` = as fast as the server answers.
    pub rate: Option<f64>,
    /// The user who signs in.
    pub credentials: Credentials,
    /// The client's registered redirect URI (never fetched: the redirect's `Location` is read).
    pub redirect_uri: String,
    /// The scope requested in every authorization.
    pub scope: String,
}

/// The endpoints a flow uses, from the metadata.
struct Endpoints {
    issuer: String,
    authorization: String,
    par: String,
    token: String,
    userinfo: Option<String>,
}

/// What a token request brought back.
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

/// One flow's secrets: `state`, `nonce` and the PKCE verifier.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
}

/// `n` random bytes, base64url.
fn random(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "random".to_owned())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Pending {
    fn new() -> Result<Pending, String> {
        Ok(Pending {
            state: random(16)?,
            nonce: random(16)?,
            verifier: random(32)?,
        })
    }

    /// RFC 7636 §4.2: BASE64URL(SHA256(verifier)).
    fn challenge(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(d.as_ref())
    }
}

/// The web client of one worker: its own mTLS connections.
struct Client {
    conns: Conns,
    endpoints: Arc<Endpoints>,
    setup: Arc<FlowSetup>,
}

impl Client {
    /// POSTs a form to `url` over mTLS and reads a JSON object back; errors are `what: ...`.
    async fn post_json(
        &mut self,
        what: &str,
        url: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Value, String> {
        let r = self
            .conns
            .request(http::Method::POST, url, &[], Some(form(pairs)))
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if !(200..300).contains(&r.status) {
            return Err(format!("{what}: http {}", r.status));
        }
        serde_json::from_slice(&r.body).map_err(|_| format!("{what}: not JSON"))
    }

    /// Pushes the authorization request (RFC 9126) and returns its `request_uri`.
    async fn par(&mut self, pending: &Pending, prompt: Option<&str>) -> Result<String, String> {
        let challenge = pending.challenge();
        let setup = self.setup.clone();
        let mut pairs = vec![
            ("client_id", setup.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", setup.redirect_uri.as_str()),
            ("scope", setup.scope.as_str()),
            ("state", pending.state.as_str()),
            ("nonce", pending.nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(p) = prompt {
            pairs.push(("prompt", p));
        }
        let par = self.endpoints.par.clone();
        let answer = self.post_json("par", &par, &pairs).await?;
        answer
            .get("request_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "par: no request_uri".to_owned())
    }

    /// A token request over mTLS; the answer must hold an access token of type Bearer (a
    /// certificate-bound token is one), and an ID token carrying `nonce` when one was sent.
    async fn token(
        &mut self,
        pairs: &[(&str, &str)],
        nonce: Option<&str>,
    ) -> Result<Tokens, String> {
        let url = self.endpoints.token.clone();
        let answer = self.post_json("token", &url, pairs).await?;
        let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
        let access_token =
            text("access_token").ok_or_else(|| "token: no access_token".to_owned())?;
        if !text("token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
            return Err("token: token_type is not Bearer".to_owned());
        }
        if let Some(nonce) = nonce {
            let id_token = text("id_token").ok_or_else(|| "token: no id_token".to_owned())?;
            if id_token_nonce(&id_token).as_deref() != Some(nonce) {
                return Err("token: the ID token's nonce is not the one sent".to_owned());
            }
        }
        Ok(Tokens {
            access_token,
            refresh_token: text("refresh_token"),
            expires_in: answer.get("expires_in").and_then(Value::as_u64),
        })
    }

    /// A refresh_token grant.
    async fn refresh(&mut self, refresh_token: &str) -> Result<Tokens, String> {
        let setup = self.setup.clone();
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", setup.client_id.as_str()),
                ("refresh_token", refresh_token),
            ],
            None,
        )
        .await
    }

    /// `GET /userinfo` with the access token over mTLS: 200 and a `sub`.
    async fn userinfo(&mut self, access_token: &str) -> Result<(), String> {
        let url = self
            .endpoints
            .userinfo
            .clone()
            .ok_or_else(|| "userinfo: no userinfo_endpoint".to_owned())?;
        let bearer = format!("Bearer {access_token}");
        let r = self
            .conns
            .request(
                http::Method::GET,
                &url,
                &[(http::header::AUTHORIZATION, &bearer)],
                None,
            )
            .await
            .map_err(|e| format!("userinfo: {e}"))?;
        if r.status != 200 {
            return Err(format!("userinfo: http {}", r.status));
        }
        let claims: Value =
            serde_json::from_slice(&r.body).map_err(|_| "userinfo: not JSON".to_owned())?;
        match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if !sub.is_empty() => Ok(()),
            _ => Err("userinfo: no sub".to_owned()),
        }
    }
}

/// The `nonce` claim of an ID token (its payload read, the signature not checked: the bench
/// checks that the flow completed, not the token's cryptography).
fn id_token_nonce(jwt: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    claims.get("nonce")?.as_str().map(str::to_owned)
}

/// The code of a redirect to the client, after checking `state` and `iss` (RFC 9207); an
/// `error` the server sent is the failure.
fn callback_code(redirect: &url::Url, pending: &Pending, issuer: &str) -> Result<String, String> {
    let mut state = None;
    let mut iss = None;
    let mut code = None;
    let mut error = None;
    for (k, v) in redirect.query_pairs() {
        match k.as_ref() {
            "state" => state = Some(v.into_owned()),
            "iss" => iss = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if state.as_deref() != Some(pending.state.as_str()) {
        return Err("callback: state is not the one sent".to_owned());
    }
    if iss.as_deref() != Some(issuer) {
        return Err("callback: iss is not the issuer".to_owned());
    }
    if let Some(e) = error {
        // The server's error code (short, from a fixed set), not its description.
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect();
        return Err(format!("callback: {e}"));
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| "callback: no code".to_owned())
}

/// A worker's web client and its user's browser.
struct User {
    client: Client,
    browser: Browser,
}

impl User {
    /// One authorization-code flow: PAR, the browser to the redirect, the token request.
    async fn code_flow(&mut self, prompt: Option<&str>) -> Result<(Tokens, Pages), String> {
        let pending = Pending::new()?;
        let request_uri = self.client.par(&pending, prompt).await?;
        let setup = self.client.setup.clone();
        let endpoints = self.client.endpoints.clone();
        let mut url = url::Url::parse(&endpoints.authorization)
            .map_err(|_| "authorize: bad authorization_endpoint".to_owned())?;
        url.query_pairs_mut()
            .append_pair("client_id", &setup.client_id)
            .append_pair("request_uri", &request_uri);
        let (redirect, pages) = self
            .browser
            .authorize(url.as_str(), &setup.redirect_uri, &setup.credentials)
            .await?;
        let code = callback_code(&redirect, &pending, &endpoints.issuer)?;
        let wants_id_token = setup.scope.split(' ').any(|s| s == "openid");
        let tokens = self
            .client
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", setup.client_id.as_str()),
                    ("code", code.as_str()),
                    ("redirect_uri", setup.redirect_uri.as_str()),
                    ("code_verifier", pending.verifier.as_str()),
                ],
                wants_id_token.then_some(pending.nonce.as_str()),
            )
            .await?;
        Ok((tokens, pages))
    }
}

/// `code-flow`.
struct CodeFlowWorker {
    user: User,
    login_each_flow: bool,
}

impl Worker for CodeFlowWorker {
    async fn once(&mut self) -> Result<Duration, String> {
        let t0 = Instant::now();
        let prompt = if self.login_each_flow {
            self.user.browser.clear_cookies();
            Some("consent")
        } else {
            None
        };
        let (_, pages) = self.user.code_flow(prompt).await?;
        let took = t0.elapsed();
        let expected = match self.login_each_flow {
            true => Pages {
                login: 1,
                consent: 1,
            },
            false => Pages::default(),
        };
        if pages != expected {
            return Err(format!(
                "authorize: {} login and {} consent pages, expected {} and {}",
                pages.login, pages.consent, expected.login, expected.consent
            ));
        }
        Ok(took)
    }
}

/// `refresh`.
struct RefreshWorker {
    client: Client,
    refresh_token: String,
}

impl Worker for RefreshWorker {
    async fn once(&mut self) -> Result<Duration, String> {
        let t0 = Instant::now();
        let tokens = self.client.refresh(&self.refresh_token).await?;
        let took = t0.elapsed();
        if let Some(rotated) = tokens.refresh_token {
            self.refresh_token = rotated;
        }
        Ok(took)
    }
}

/// `userinfo`.
struct UserinfoWorker {
    client: Client,
    tokens: Tokens,
    renew_at: Instant,
}

/// When to renew an access token that lives `expires_in` seconds: at half its lifetime.
fn renew_at(expires_in: Option<u64>) -> Instant {
    Instant::now() + Duration::from_secs(expires_in.unwrap_or(300).max(2) / 2)
}

impl Worker for UserinfoWorker {
    async fn once(&mut self) -> Result<Duration, String> {
        if Instant::now() >= self.renew_at {
            let refresh_token = self
                .tokens
                .refresh_token
                .clone()
                .ok_or_else(|| "renew: no refresh token".to_owned())?;
            let mut renewed = self
                .client
                .refresh(&refresh_token)
                .await
                .map_err(|e| format!("renew: {e}"))?;
            renewed.refresh_token = renewed.refresh_token.or(Some(refresh_token));
            self.renew_at = renew_at(renewed.expires_in);
            self.tokens = renewed;
        }
        let t0 = Instant::now();
        self.client.userinfo(&self.tokens.access_token).await?;
        Ok(t0.elapsed())
    }
}

/// Reads the metadata, prepares `concurrency` workers (each signing in first where the
/// scenario needs it, all at once, before the clock) and runs them for `duration`.
pub async fn run(
    setup: &FlowSetup,
    flow: Flow,
    concurrency: usize,
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let mtls = TlsConnector::from(client_tls(
        &setup.cacert,
        Some((setup.cert.as_path(), setup.key.as_path())),
        true,
    )?);
    // The browser presents no certificate (a server that asks gets none).
    let browser_tls = TlsConnector::from(client_tls(&setup.cacert, None, true)?);
    let meta = discover(&browser_tls, &setup.issuer).await?;
    let text = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
    let endpoints = Arc::new(Endpoints {
        issuer: text("issuer").context("no issuer in the metadata")?,
        authorization: text("authorization_endpoint")
            .context("no authorization_endpoint in the metadata")?,
        par: aliased(&meta, "pushed_authorization_request_endpoint")?,
        token: aliased(&meta, "token_endpoint")?,
        userinfo: aliased(&meta, "userinfo_endpoint").ok(),
    });
    if flow == Flow::Userinfo && endpoints.userinfo.is_none() {
        anyhow::bail!("no userinfo_endpoint in the metadata");
    }
    let shared = Arc::new(setup.clone());
    let user = || User {
        client: Client {
            conns: Conns::new(mtls.clone()),
            endpoints: endpoints.clone(),
            setup: shared.clone(),
        },
        browser: Browser::new(browser_tls.clone()),
    };
    match flow {
        Flow::CodeFlow {
            login_each_flow: true,
        } => {
            let workers = (0..concurrency)
                .map(|_| CodeFlowWorker {
                    user: user(),
                    login_each_flow: true,
                })
                .collect();
            drive(workers, duration, setup.rate, pid, false).await
        }
        _ => {
            // Every worker signs in once, concurrently, before the clock starts.
            let mut signing_in = tokio::task::JoinSet::new();
            for _ in 0..concurrency {
                let mut u = user();
                signing_in.spawn(async move {
                    let tokens = u.code_flow(None).await;
                    (u, tokens)
                });
            }
            let mut workers = Vec::new();
            while let Some(joined) = signing_in.join_next().await {
                let (u, tokens) = joined?;
                let (tokens, _) =
                    tokens.map_err(|e| anyhow::anyhow!("signing in before the run failed: {e}"))?;
                workers.push((u, tokens));
            }
            match flow {
                Flow::CodeFlow { .. } => {
                    let workers = workers
                        .into_iter()
                        .map(|(user, _)| CodeFlowWorker {
                            user,
                            login_each_flow: false,
                        })
                        .collect();
                    drive(workers, duration, setup.rate, pid, false).await
                }
                Flow::Refresh => {
                    let workers = workers
                        .into_iter()
                        .map(|(u, t)| {
                            Ok(RefreshWorker {
                                client: u.client,
                                refresh_token: t.refresh_token.context(
                                    "the code flow gave no refresh token (the client needs the \
                                     refresh_token grant)",
                                )?,
                            })
                        })
                        .collect::<anyhow::Result<_>>()?;
                    drive(workers, duration, setup.rate, pid, false).await
                }
                Flow::Userinfo => {
                    let workers = workers
                        .into_iter()
                        .map(|(u, tokens)| UserinfoWorker {
                            client: u.client,
                            renew_at: renew_at(tokens.expires_in),
                            tokens,
                        })
                        .collect();
                    drive(workers, duration, setup.rate, pid, false).await
                }
            }
        }
    }
}

impl Report {
    /// The summary of a user-flow run as one JSON object.
    pub fn flow_json(&self, flow: Flow, concurrency: usize) -> Value {
        let mut v = self.figures_json(flow.name(), flow.unit(), concurrency);
        if let Flow::CodeFlow { login_each_flow } = flow {
            v.insert("login_each_flow".into(), login_each_flow.into());
        }
        Value::Object(v)
    }

    /// The summary of a user-flow run for people.
    pub fn print_flow(&self, flow: Flow, concurrency: usize) {
        let what = match flow {
            Flow::CodeFlow {
                login_each_flow: true,
            } => "PAR + PKCE over mTLS, login and consent in a fresh browser each flow",
            Flow::CodeFlow {
                login_each_flow: false,
            } => "PAR + PKCE over mTLS, signed-in browser, consent remembered",
            Flow::Refresh => "refresh_token grant over mTLS",
            Flow::Userinfo => "GET /userinfo over mTLS with a bound token",
        };
        println!(
            "{} ({what}, concurrency {concurrency}, {:.1} s)",
            flow.name(),
            self.elapsed_seconds()
        );
        self.print_figures(flow.unit());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            state: "s1".into(),
            nonce: "n1".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        }
    }

    #[test]
    fn pkce_s256_is_rfc_7636s_example() {
        assert_eq!(
            pending().challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_callback_is_checked() {
        let p = pending();
        let url =
            |q: &str| url::Url::parse(&format!("http://127.0.0.1:5002/callback?{q}")).unwrap();
        let iss = "https://localhost:8443";
        assert_eq!(
            callback_code(
                &url("code=c&state=s1&iss=https%3A%2F%2Flocalhost%3A8443"),
                &p,
                iss
            ),
            Ok("c".to_owned())
        );
        for (q, e) in [
            (
                "code=c&state=s2&iss=https%3A%2F%2Flocalhost%3A8443",
                "callback: state is not the one sent",
            ),
            ("code=c&state=s1", "callback: iss is not the issuer"),
            (
                "error=access_denied&state=s1&iss=https%3A%2F%2Flocalhost%3A8443",
                "callback: access_denied",
            ),
            (
                "state=s1&iss=https%3A%2F%2Flocalhost%3A8443",
                "callback: no code",
            ),
        ] {
            assert_eq!(callback_code(&url(q), &p, iss), Err(e.to_owned()), "{q}");
        }
    }

    #[test]
    fn the_id_tokens_nonce_is_read() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"u","nonce":"n1"}"#);
        assert_eq!(
            id_token_nonce(&format!("h.{payload}.s")).as_deref(),
            Some("n1")
        );
        assert_eq!(id_token_nonce("garbage"), None);
    }
}
