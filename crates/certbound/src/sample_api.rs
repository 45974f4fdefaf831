//! `certbound sample-api`: the quickstart's example API, a plain-HTTP service behind the gateway that
//! trusts only a verifiable JWT. It checks the token's signature (AS JWKS), issuer and audience,
//! not the certificate binding: it sees no client certificate, the gateway checked that.
//!
//! What it receives in `Authorization: Bearer`: a JWT access token (`at+jwt`) as the client sent
//! it, or, for an opaque token, the authorization server's signed introspection answer
//! (`token-introspection+jwt`, RFC 9701) addressed to the gateway's client_id. The latter is
//! accepted only with `--gateway-client-id`, and only with that audience.

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use certbound_gateway::bearer::{bearer_token, Rejection};
use certbound_gateway::tokens::{Verifier, VerifierConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Arguments of `certbound sample-api`.
#[derive(Clone, clap::Args)]
pub struct SampleApiArgs {
    /// Address to listen on (plain HTTP; keep it on loopback or a private network).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The authorization server's issuer URL (metadata and JWKS are discovered from it).
    #[arg(long)]
    pub issuer: String,
    /// CA certificate (PEM) trusted for the authorization server's TLS; default: system roots.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Required `aud`; default: the issuer.
    #[arg(long)]
    pub audience: Option<String>,
    /// The gateway's client_id: accept the signed introspection answers (RFC 9701) it forwards
    /// for opaque tokens, when addressed to it. Without it only JWT access tokens are accepted.
    #[arg(long)]
    pub gateway_client_id: Option<String>,
}

/// How many transactions the sample API remembers.
const MAX_KEPT: usize = 1000;

struct ApiState {
    verifier: Verifier,
    gateway_client_id: Option<String>,
    transactions: Mutex<Vec<Value>>,
    created: std::sync::atomic::AtomicU64,
}

/// Runs the API until SIGINT/SIGTERM.
pub async fn run(args: SampleApiArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let server = start(&args, listener).await?;
    tracing::info!(addr = %args.listen, "sample API started");
    tokio::select! {
        _ = crate::shutdown_signal() => {}
        _ = server => {}
    }
    Ok(())
}

/// Discovers the AS and serves on `listener`; the returned task runs the server.
pub async fn start(
    args: &SampleApiArgs,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut b = reqwest::Client::builder().use_rustls_tls().https_only(true);
    match &args.ca {
        Some(ca) => {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            b = b
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        None => b = b.tls_built_in_native_certs(true),
    }
    let mut config = VerifierConfig::new(args.issuer.clone());
    config.audience = args.audience.clone();
    let verifier = Verifier::discover(config, b.build()?)
        .await
        .context("discovering the authorization server")?;
    let state = Arc::new(ApiState {
        verifier,
        gateway_client_id: args.gateway_client_id.clone(),
        transactions: Mutex::new(Vec::new()),
        created: std::sync::atomic::AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/api/transactions", post(create).get(list))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(state);
    // certbound-net's accept loop, not `axum::serve`: the same limits and timeouts as every
    // certbound listener (a silent client is closed after the header timeout, idle ones after
    // the idle timeout), so even the sample cannot be held open by connections that send nothing.
    Ok(tokio::spawn(certbound_net::serve_plain(
        listener,
        app,
        certbound_net::ServeOptions::named("sample_api"),
        std::future::pending(),
    )))
}

async fn authorize(state: &ApiState, headers: &HeaderMap, uri: &Uri) -> Result<Value, Response> {
    const REALM: &str = "sample-api";
    let token = match bearer_token(headers, uri.query()) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(Rejection::missing(REALM).into_response()),
        Err(e) => return Err(Rejection::invalid_request(REALM, &e.to_string()).into_response()),
    };
    match state
        .verifier
        .verify_forwarded(token, state.gateway_client_id.as_deref())
        .await
    {
        Ok(t) => Ok(json!({"client_id": t.claims.client_id, "scopes": t.claims.scopes})),
        Err(e) => Err(Rejection::invalid_token(REALM, (&e).into()).into_response()),
    }
}

async fn create(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    uri: Uri,
    body: Option<Json<Value>>,
) -> Response {
    let caller = match authorize(&state, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut tx = match body {
        Some(Json(Value::Object(fields))) => fields,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "the body must be a JSON object"})),
            )
                .into_response()
        }
        None => serde_json::Map::new(),
    };
    let mut list = state.transactions.lock().unwrap_or_else(|p| p.into_inner());
    let n = state
        .created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    tx.insert("id".into(), json!(format!("tx-{n}")));
    tx.insert("client_id".into(), caller["client_id"].clone());
    tx.insert(
        "created_at".into(),
        json!(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)),
    );
    let tx = Value::Object(tx);
    // A demo keeps the most recent transactions only, so a benchmark cannot grow it without bound.
    if list.len() >= MAX_KEPT {
        list.remove(0);
    }
    list.push(tx.clone());
    (StatusCode::CREATED, Json(tx)).into_response()
}

async fn list(State(state): State<Arc<ApiState>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = authorize(&state, &headers, &uri).await {
        return r;
    }
    let list = state
        .transactions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Json(json!({ "transactions": list })).into_response()
}
