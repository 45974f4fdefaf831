//! `certbound demo-client`: seed 000's web app. Two buttons get a plain access token
//! (client_secret_basic) and a certificate-bound one (tls_client_auth); the page shows both
//! decoded, so the `cnf` difference is visible. Server-rendered HTML, no JavaScript.

use crate::tls_client::ClientCertArgs;
use crate::token_cmd::{obtain, Obtained, TokenArgs};
use anyhow::Context;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Arguments of `certbound demo-client`.
#[derive(Clone, clap::Args)]
pub struct DemoClientArgs {
    /// Address of the web page.
    #[arg(long, default_value = "127.0.0.1:5002")]
    pub listen: SocketAddr,
    /// The authorization server's issuer URL.
    #[arg(long)]
    pub issuer: String,
    /// CA certificate (PEM) trusted for the authorization server.
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
}

#[derive(Default)]
struct Results {
    plain: Option<Result<Obtained, String>>,
    bound: Option<Result<Obtained, String>>,
}

struct DemoState {
    args: DemoClientArgs,
    results: Mutex<Results>,
}

/// Runs the web app until SIGINT/SIGTERM.
pub async fn run(args: DemoClientArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("demo client on http://{}/home", args.listen);
    let server = start(args, listener);
    tokio::select! {
        _ = crate::shutdown_signal() => {}
        _ = server => {}
    }
    Ok(())
}

/// Serves the app on `listener`; the returned task runs the server.
pub fn start(
    args: DemoClientArgs,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let state = Arc::new(DemoState {
        args,
        results: Mutex::new(Results::default()),
    });
    let app = axum::Router::new()
        .route("/", get(|| async { Redirect::to("/home") }))
        .route("/home", get(home))
        .route("/token/plain", post(plain))
        .route("/token/bound", post(bound))
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "demo client stopped");
        }
    })
}

fn tls(args: &DemoClientArgs, with_cert: bool) -> ClientCertArgs {
    ClientCertArgs {
        cert: with_cert.then(|| args.cert.clone()),
        key: with_cert.then(|| args.key.clone()),
        p12: None,
        password: None,
        cacert: args.cacert.clone(),
    }
}

async fn plain(State(state): State<Arc<DemoState>>) -> Response {
    fetch(&state, false).await
}

async fn bound(State(state): State<Arc<DemoState>>) -> Response {
    fetch(&state, true).await
}

/// Gets a token with the secret client (plain) or the certificate client (bound), keeps it for
/// the page, and redirects back to it.
async fn fetch(state: &DemoState, bound: bool) -> Response {
    let a = &state.args;
    let got = obtain(&TokenArgs {
        issuer: a.issuer.clone(),
        client_id: if bound {
            a.mtls_client_id.clone()
        } else {
            a.client_id.clone()
        },
        secret: (!bound).then(|| a.secret.clone()),
        secret_post: false,
        scope: None,
        quiet: true,
        tls: tls(a, bound),
    })
    .await
    .map_err(|e| format!("{e:#}"));
    let mut results = state.results.lock().unwrap_or_else(|p| p.into_inner());
    if bound {
        results.bound = Some(got);
    } else {
        results.plain = Some(got);
    }
    Redirect::to("/home").into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn header_of(jwt: &str) -> String {
    jwt.split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default()
}

fn render(title: &str, result: &Option<Result<Obtained, String>>) -> String {
    let body = match result {
        None => "<p class=\"empty\">No token yet.</p>".to_owned(),
        Some(Err(e)) => format!("<p class=\"error\">Error: {}</p>", escape(e)),
        Some(Ok(got)) => {
            let claims = got.claims.clone().unwrap_or_default();
            let cnf = claims
                .get("cnf")
                .and_then(|c| c.get("x5t#S256"))
                .and_then(|v| v.as_str());
            let binding = match (cnf, &got.cert_thumbprint) {
                (Some(c), Some(t)) if c == t => format!("<p class=\"bound\">Bound: <code>cnf.x5t#S256 = {}</code>, the SHA-256 thumbprint of the certificate used.</p>", escape(c)),
                (Some(c), _) => format!("<p class=\"bound\">Bound to <code>{}</code>.</p>", escape(c)),
                (None, _) => "<p class=\"unbound\">Not bound: no <code>cnf</code> claim. Anyone holding this token can use it.</p>".to_owned(),
            };
            format!(
                "{binding}<h3>Header</h3><pre>{}</pre><h3>Claims</h3><pre>{}</pre><h3>Raw</h3><pre class=\"raw\">{}</pre>",
                escape(&header_of(&got.access_token)),
                escape(&serde_json::to_string_pretty(&claims).unwrap_or_default()),
                escape(&got.access_token)
            )
        }
    };
    format!("<section><h2>{}</h2>{body}</section>", escape(title))
}

async fn home(State(state): State<Arc<DemoState>>) -> Html<String> {
    let results = state.results.lock().unwrap_or_else(|p| p.into_inner());
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>certbound demo client</title>
<style>body{{font-family:sans-serif;margin:2em}} section{{display:inline-block;vertical-align:top;width:45%;margin-right:2%}}
pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap;word-break:break-all}} .bound{{color:#064}} .unbound{{color:#a40}} .error{{color:#b00}}</style></head>
<body><h1>certbound demo client</h1>
<p>Authorization server: <code>{issuer}</code></p>
<form method="post" action="/token/plain" style="display:inline"><button type="submit">Get Access Token</button></form>
<form method="post" action="/token/bound" style="display:inline"><button type="submit">Get Certificate Bound Access Token</button></form>
<div>{plain}{bound}</div>
</body></html>"#,
        issuer = escape(&state.args.issuer),
        plain = render("Access token (client_secret_basic)", &results.plain),
        bound = render(
            "Certificate-bound access token (tls_client_auth)",
            &results.bound
        ),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
