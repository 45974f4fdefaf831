//! `certbound demo-client`: a partner's web application that tells the certificate-bound token
//! story in the browser, in four steps: a plain token, a bound token, a call through the gateway
//! with it (201), and the same token replayed with another partner's certificate (401). Then the
//! same story for a user ("Sign in as a user", steps 5 to 9): PAR over mutual TLS, login and
//! consent at the authorization server, the code exchanged for a bound user token and an ID
//! token, a call through the gateway, a refresh, and the stolen user token refused. Each
//! browser has its own session; forms are protected against cross-site requests, the callback
//! by `state`. Server-rendered HTML (askama templates in `templates/`), no JavaScript.

mod csrf;
mod session;
mod steps;
mod user_flow;
mod view;

use anyhow::Context;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Form;
use session::Sessions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use steps::{CallResult, Step, TokenResult};
use user_flow::{Pending, Pushed, UserTokens};
use view::{call_view, pushed_view, refresh_view, signed_in_view, token_view, HomePage, Shown};

/// Arguments of `certbound demo-client`.
#[derive(Clone, clap::Args)]
pub struct DemoClientArgs {
    /// Address of the web page.
    #[arg(long, default_value = "127.0.0.1:5002")]
    pub listen: SocketAddr,
    /// The authorization server's issuer URL.
    #[arg(long)]
    pub issuer: String,
    /// CA certificate (PEM) trusted for the authorization server and the gateway.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// client_id of the secret (client_secret_basic) client.
    #[arg(long)]
    pub client_id: String,
    /// Its secret.
    #[arg(long, env = "CERTBOUND_DEMO_SECRET")]
    pub secret: String,
    /// client_id of the certificate (tls_client_auth) client.
    #[arg(long)]
    pub mtls_client_id: String,
    /// Its certificate (PEM).
    #[arg(long)]
    pub cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// The API URL through the gateway, for steps 3 and 4
    /// (e.g. https://localhost:9443/api/transactions).
    #[arg(long)]
    pub gateway_url: Option<String>,
    /// Another partner's certificate (PEM), to replay the bound token with in step 4.
    #[arg(long, requires = "replay_key")]
    pub replay_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "replay_cert")]
    pub replay_key: Option<PathBuf>,
    /// client_id of the web client for "Sign in as a user" (authorization code with PAR and
    /// PKCE; it authenticates with --cert over mutual TLS). Without it the page has no user flow.
    #[arg(long)]
    pub web_client_id: Option<String>,
    /// The web client's registered redirect URI (default: http://<listen>/callback).
    #[arg(long)]
    pub redirect_uri: Option<String>,
}

/// Most browser sessions held at once (the least recently used one goes first).
const MAX_SESSIONS: usize = 1000;
/// A session unused for this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Largest form body accepted (the forms carry one token).
const MAX_FORM_BYTES: usize = 4096;

/// What one browser's page shows.
#[derive(Default)]
struct Results {
    plain: Option<Result<TokenResult, String>>,
    bound: Option<Result<TokenResult, String>>,
    call: Option<Result<CallResult, String>>,
    replay: Option<Result<CallResult, String>>,
    user: UserResults,
}

/// The user story's part of one browser's page (steps 5 to 9).
#[derive(Default)]
struct UserResults {
    /// The sign-in started here and not yet called back (used once).
    pending: Option<Pending>,
    /// 5. The pushed authorization request.
    pushed: Option<Result<Pushed, String>>,
    /// 6. The callback and the code exchange.
    signed_in: Option<Result<UserTokens, String>>,
    /// 7. The user token through the gateway.
    call: Option<Result<CallResult, String>>,
    /// 8. The refreshed token.
    refreshed: Option<Result<UserTokens, String>>,
    /// 9. The refreshed token replayed with another certificate.
    replay: Option<Result<CallResult, String>>,
}

impl Results {
    /// Keeps the token of step 1 or 2. A new bound token clears steps 3 and 4: they showed
    /// the earlier token.
    fn set_token(&mut self, bound: bool, got: Result<TokenResult, String>) {
        if bound {
            self.bound = Some(got);
            self.call = None;
            self.replay = None;
        } else {
            self.plain = Some(got);
        }
    }

    /// Keeps the call of step 3 or 4.
    fn set_call(&mut self, replay: bool, made: Result<CallResult, String>) {
        if replay {
            self.replay = Some(made);
        } else {
            self.call = Some(made);
        }
    }

    /// The bound token of step 2, if it was obtained.
    fn bound_token(&self) -> Option<TokenResult> {
        self.bound.as_ref().and_then(|b| b.as_ref().ok()).cloned()
    }
}

struct DemoState {
    args: DemoClientArgs,
    /// Subject of the replay certificate, for the page's text.
    replay_subject: Option<String>,
    /// The page's Content-Security-Policy: its forms may lead to the authorization server.
    csp: HeaderValue,
    sessions: Sessions<Results>,
}

/// The fields every form posts.
#[derive(serde::Deserialize)]
struct StepForm {
    csrf: String,
}

/// Runs the web app until SIGINT/SIGTERM.
pub async fn run(args: DemoClientArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("demo client on http://{}/home", args.listen);
    serve(args, listener, crate::shutdown_signal())?.await?;
    Ok(())
}

/// Serves the app on `listener`; the returned task runs the server until it is aborted. Fails
/// when the replay certificate cannot be read.
pub fn start(
    args: DemoClientArgs,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    serve(args, listener, std::future::pending())
}

fn serve(
    args: DemoClientArgs,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let replay_subject = match (&args.replay_cert, &args.replay_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::tls_client::ClientCertArgs {
                cert: Some(cert.clone()),
                key: Some(key.clone()),
                ..Default::default()
            };
            let id = tls.identity()?.context("no replay certificate")?;
            Some(
                id.certificate
                    .parsed()
                    .map(|p| p.subject.to_string())
                    .unwrap_or_else(|_| id.certificate.thumbprint().to_string()),
            )
        }
        _ => None,
    };
    let csp = page_csp(&args.issuer)?;
    let state = Arc::new(DemoState {
        args,
        replay_subject,
        csp,
        sessions: Sessions::new(MAX_SESSIONS, SESSION_IDLE),
    });
    let app = axum::Router::new()
        .route("/", get(|| async { Redirect::to("/home") }))
        .route("/home", get(home))
        .route("/step/plain-token", post(plain_token))
        .route("/step/bound-token", post(bound_token))
        .route("/step/call", post(call))
        .route("/step/replay", post(replay))
        .route("/user/start", post(user_start))
        .route("/callback", get(callback))
        .route("/reset", post(reset))
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state);
    Ok(tokio::spawn(certbound_net::serve_plain(
        listener,
        app,
        certbound_net::ServeOptions::named("demo"),
        shutdown,
    )))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The page's Content-Security-Policy: no scripts, no framing, no external resources; forms
/// post to the page itself, and "Sign in as a user" is redirected on to the authorization
/// server's origin (browsers apply `form-action` to the redirects after a form submission).
fn page_csp(issuer: &str) -> anyhow::Result<HeaderValue> {
    let origin = url::Url::parse(issuer)
        .with_context(|| format!("--issuer {issuer:?} is not a URL"))?
        .origin()
        .ascii_serialization();
    if !origin.starts_with("http") || origin.contains([';', ',', '\'', ' ']) {
        anyhow::bail!("--issuer {issuer:?} has no http(s) origin");
    }
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .context("the issuer's origin does not fit in a header")
}

/// Headers of every page: not cached, the page's Content-Security-Policy, no sniffing.
fn page_headers(headers: &mut HeaderMap, csp: &HeaderValue) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_SECURITY_POLICY, csp.clone());
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

fn server_error(e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "demo page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "The demo page failed; see the demo client's log.",
    )
        .into_response()
}

/// The page for this browser's session (a new session, and its cookie, when it has none).
async fn home(State(state): State<Arc<DemoState>>, headers: HeaderMap) -> Response {
    let now = Instant::now();
    let existing = session::session_id(&headers)
        .filter(|id| state.sessions.with(id, now, |_| ()).is_some())
        .map(str::to_owned);
    let (id, new) = match existing {
        Some(id) => (id, false),
        None => match state.sessions.create(now) {
            Ok(id) => (id, true),
            Err(e) => return server_error(&e),
        },
    };
    let Some(page) = state
        .sessions
        .with(&id, now, |s| page(&state, &s.csrf, &s.data))
    else {
        return server_error(&anyhow::anyhow!("the new session was evicted at once"));
    };
    let html = match page.render() {
        Ok(html) => html,
        Err(e) => return server_error(&e.into()),
    };
    let mut response = Html(html).into_response();
    page_headers(response.headers_mut(), &state.csp);
    if new {
        match HeaderValue::from_str(&session::set_cookie(&id, SESSION_IDLE)) {
            Ok(v) => {
                response.headers_mut().insert(SET_COOKIE, v);
            }
            Err(e) => return server_error(&e.into()),
        }
    }
    response
}

/// The page's values for one session's results.
fn page(state: &DemoState, csrf: &str, r: &Results) -> HomePage {
    let now = now_secs();
    let a = &state.args;
    HomePage {
        issuer: a.issuer.clone(),
        gateway_url: a
            .gateway_url
            .clone()
            .unwrap_or_else(|| "not set (start the demo client with --gateway-url)".to_owned()),
        csrf: csrf.to_owned(),
        secret_client: a.client_id.clone(),
        mtls_client: a.mtls_client_id.clone(),
        replay_subject: state
            .replay_subject
            .clone()
            .unwrap_or_else(|| "not set: start the demo client with --replay-cert".to_owned()),
        plain: Shown::of(&r.plain, |t| token_view(t, now)),
        bound: Shown::of(&r.bound, |t| token_view(t, now)),
        call: Shown::of(&r.call, |c| call_view(c, now)),
        replay: Shown::of(&r.replay, |c| call_view(c, now)),
        web_client: a
            .web_client_id
            .clone()
            .unwrap_or_else(|| "not set: start the demo client with --web-client-id".to_owned()),
        redirect_uri: user_flow::redirect_uri(a),
        scope: user_flow::SCOPE,
        pushed: Shown::of(&r.user.pushed, |p| pushed_view(p, now)),
        signed_in: Shown::of(&r.user.signed_in, |t| signed_in_view(t, now)),
        user_call: Shown::of(&r.user.call, |c| call_view(c, now)),
        refreshed: Shown::of(&r.user.refreshed, |t| {
            let first = r
                .user
                .signed_in
                .as_ref()
                .and_then(|s| s.as_ref().ok())
                .map(|s| &s.access);
            refresh_view(t, first, now)
        }),
        user_replay: Shown::of(&r.user.replay, |c| call_view(c, now)),
    }
}

/// Step 5: pushes the authorization request (over mutual TLS, from this backend) and sends the
/// browser to the authorization endpoint with the `request_uri`. On failure, back to the page
/// with the reason.
async fn user_start(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    let id = match authorize(&state, &headers, form) {
        Ok(id) => id,
        Err(refused) => return refused.into_response(),
    };
    let started = user_flow::start(&state.args).await;
    let target = state.sessions.with(&id, Instant::now(), |s| {
        let user = &mut s.data.user;
        *user = UserResults::default();
        match started {
            Ok((pending, pushed)) => {
                let url = pushed.authorize_url.clone();
                user.pending = Some(pending);
                user.pushed = Some(Ok(pushed));
                url
            }
            Err(e) => {
                user.pushed = Some(Err(format!("{e:#}")));
                "/home#step-5".to_owned()
            }
        }
    });
    match target {
        Some(url) => Redirect::to(&url).into_response(),
        None => Refusal::NoSession.into_response(),
    }
}

/// Steps 6 to 9, where the authorization server sends the browser back: checks the callback
/// against this browser's pending sign-in (used once), exchanges the code, calls the API with the
/// user token, refreshes it, and replays the new token with the other certificate. Then back to
/// the page at step 6.
async fn callback(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    query: RawQuery,
) -> Response {
    let Some(id) = session::session_id(&headers).map(str::to_owned) else {
        return Refusal::NoSession.into_response();
    };
    let Some(pending) = state
        .sessions
        .with(&id, Instant::now(), |s| s.data.user.pending.take())
    else {
        return Refusal::NoSession.into_response();
    };
    let args = &state.args;
    let words = |e: anyhow::Error| format!("{e:#}");
    let mut user = UserResults {
        pushed: state
            .sessions
            .with(&id, Instant::now(), |s| s.data.user.pushed.take())
            .flatten(),
        ..UserResults::default()
    };
    let code = match pending {
        None => Err(
            "no sign-in was started in this browser, or its callback was already used: \
                     refused"
                .to_owned(),
        ),
        Some(pending) => {
            user_flow::check_callback(query.0.as_deref().unwrap_or(""), &pending, &args.issuer)
                .map(|code| (pending, code))
        }
    };
    match code {
        Err(e) => user.signed_in = Some(Err(e)),
        Ok((pending, code)) => {
            let signed_in = user_flow::exchange(args, &pending, &code)
                .await
                .map_err(words);
            if let Ok(tokens) = &signed_in {
                user.call = Some(
                    steps::call(args, Some(&tokens.access), false)
                        .await
                        .map_err(words),
                );
                let refreshed = match &tokens.refresh_token {
                    Some(rt) => user_flow::refresh(args, rt).await.map_err(words),
                    None => Err("the token endpoint issued no refresh token".to_owned()),
                };
                if let Ok(new) = &refreshed {
                    user.replay = Some(
                        steps::call(args, Some(&new.access), true)
                            .await
                            .map_err(words),
                    );
                }
                user.refreshed = Some(refreshed);
            }
            user.signed_in = Some(signed_in);
        }
    }
    state
        .sessions
        .with(&id, Instant::now(), |s| s.data.user = user);
    Redirect::to("/home#step-6").into_response()
}

async fn plain_token(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    run_step(&state, &headers, form, Step::PlainToken).await
}

async fn bound_token(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    run_step(&state, &headers, form, Step::BoundToken).await
}

async fn call(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    run_step(&state, &headers, form, Step::Call).await
}

async fn replay(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    run_step(&state, &headers, form, Step::Replay).await
}

/// Forgets this session's results.
async fn reset(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    match authorize(&state, &headers, form) {
        Ok(id) => {
            state.sessions.with(&id, Instant::now(), |s| {
                s.data = Results::default();
            });
            Redirect::to("/home").into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

/// Why a POST was not run.
enum Refusal {
    /// No live session: back to the page, which starts one.
    NoSession,
    /// Another origin, or not this session's form token.
    Forged,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoSession => Redirect::to("/home").into_response(),
            Refusal::Forged => (
                StatusCode::FORBIDDEN,
                "This form was not sent from the demo page in this browser, so it was refused. \
                 Open the page again and use its buttons.",
            )
                .into_response(),
        }
    }
}

/// Checks that a POST comes from this browser's page: its session, its origin and its form
/// token. Returns the session id.
fn authorize(
    state: &DemoState,
    headers: &HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
) -> Result<String, Refusal> {
    if !csrf::same_origin(headers) {
        return Err(Refusal::Forged);
    }
    let id = session::session_id(headers).ok_or(Refusal::NoSession)?;
    let presented = form.map(|Form(f)| f.csrf).unwrap_or_default();
    match state
        .sessions
        .with(id, Instant::now(), |s| s.csrf_matches(&presented))
    {
        None => Err(Refusal::NoSession),
        Some(false) => Err(Refusal::Forged),
        Some(true) => Ok(id.to_owned()),
    }
}

/// Runs one step for this browser's session, keeps its result, and goes back to the page at
/// that step (POST, redirect, GET).
async fn run_step(
    state: &DemoState,
    headers: &HeaderMap,
    form: Result<Form<StepForm>, FormRejection>,
    step: Step,
) -> Response {
    let id = match authorize(state, headers, form) {
        Ok(id) => id,
        Err(refused) => return refused.into_response(),
    };
    let args = &state.args;
    let words = |e: anyhow::Error| format!("{e:#}");
    let anchor = match step {
        Step::PlainToken | Step::BoundToken => {
            let bound = step == Step::BoundToken;
            let got = steps::token(args, bound).await.map_err(words);
            state
                .sessions
                .with(&id, Instant::now(), |s| s.data.set_token(bound, got));
            if bound {
                2
            } else {
                1
            }
        }
        Step::Call | Step::Replay => {
            let replay = step == Step::Replay;
            let token = state
                .sessions
                .with(&id, Instant::now(), |s| s.data.bound_token())
                .flatten();
            let made = steps::call(args, token.as_ref(), replay)
                .await
                .map_err(words);
            state
                .sessions
                .with(&id, Instant::now(), |s| s.data.set_call(replay, made));
            if replay {
                4
            } else {
                3
            }
        }
    };
    Redirect::to(&format!("/home#step-{anchor}")).into_response()
}
