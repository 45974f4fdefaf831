//! The four steps of the demo, run with the command-line clients' own functions
//! (`certbound token`'s `obtain`, `certbound call`'s `call_api`): no second client.

use super::DemoClientArgs;
use crate::call_cmd::call_api;
use crate::tls_client::ClientCertArgs;
use crate::token_cmd::{obtain, TokenArgs};
use anyhow::Context;
use serde_json::Value;

/// A button of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// 1. A plain bearer token (client secret).
    PlainToken,
    /// 2. A certificate-bound token (mutual TLS).
    BoundToken,
    /// 3. The bound token through the gateway, with its own certificate.
    Call,
    /// 4. The bound token through the gateway, with another partner's certificate.
    Replay,
}

/// A token the page obtained, as kept for the session.
#[derive(Clone)]
pub(super) struct TokenResult {
    /// When it was obtained (Unix seconds).
    pub at: u64,
    /// The client that asked for it.
    pub client_id: String,
    /// How that client authenticated (an RFC 8705 / RFC 6749 method name).
    pub method: &'static str,
    /// The access token as issued.
    pub access_token: String,
    /// Its claims (the JWT payload, or the introspection answer for opaque tokens).
    pub claims: Value,
    /// The signature check: the key id used, or why it failed; `None` for opaque tokens.
    pub signature: Option<Result<String, String>>,
    /// Thumbprint of the certificate used to get it, if one was.
    pub cert_thumbprint: Option<String>,
}

impl TokenResult {
    /// The token's `cnf.x5t#S256`, when it is bound.
    pub fn cnf(&self) -> Option<&str> {
        self.claims.pointer("/cnf/x5t#S256").and_then(Value::as_str)
    }
}

/// One call through the gateway, as kept for the session.
#[derive(Clone)]
pub(super) struct CallResult {
    /// When it was made (Unix seconds).
    pub at: u64,
    /// The URL called.
    pub url: String,
    /// Subject of the certificate presented on the connection.
    pub presented_subject: String,
    /// Its SHA-256 thumbprint (what the gateway compares with `cnf`).
    pub presented_thumbprint: String,
    /// The token's `cnf.x5t#S256`.
    pub token_cnf: Option<String>,
    /// HTTP status code.
    pub status: u16,
    /// Its reason phrase ("Created", "Unauthorized").
    pub reason: String,
    /// The `WWW-Authenticate` header, verbatim.
    pub www_authenticate: Option<String>,
    /// The answer's body.
    pub body: String,
}

/// The JSON body the page posts to the API.
fn transaction() -> Value {
    serde_json::json!({"amount": 100, "currency": "EUR", "description": "certbound demo page"})
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Trust for the servers and, optionally, a client certificate.
fn tls(
    args: &DemoClientArgs,
    cert: Option<(&std::path::Path, &std::path::Path)>,
) -> ClientCertArgs {
    ClientCertArgs {
        cert: cert.map(|(c, _)| c.to_path_buf()),
        key: cert.map(|(_, k)| k.to_path_buf()),
        p12: None,
        password: None,
        cacert: args.cacert.clone(),
    }
}

/// Step 1 (`bound = false`) or 2 (`bound = true`): a token for the secret client or for the
/// certificate client.
pub(super) async fn token(args: &DemoClientArgs, bound: bool) -> anyhow::Result<TokenResult> {
    let (client_id, method) = if bound {
        (args.mtls_client_id.clone(), "tls_client_auth")
    } else {
        (args.client_id.clone(), "client_secret_basic")
    };
    let got = obtain(&TokenArgs {
        issuer: args.issuer.clone(),
        client_id: client_id.clone(),
        secret: (!bound).then(|| args.secret.clone()),
        secret_post: false,
        scope: None,
        quiet: true,
        tls: tls(
            args,
            bound.then_some((args.cert.as_path(), args.key.as_path())),
        ),
    })
    .await?;
    Ok(TokenResult {
        at: now_secs(),
        client_id,
        method,
        access_token: got.access_token,
        claims: got.claims.unwrap_or(Value::Null),
        signature: got.signature,
        cert_thumbprint: got.cert_thumbprint,
    })
}

/// Step 3 (`replay = false`, the bound client's own certificate) or 4 (`replay = true`, the
/// replay certificate): posts a transaction through the gateway with the bound token.
pub(super) async fn call(
    args: &DemoClientArgs,
    token: Option<&TokenResult>,
    replay: bool,
) -> anyhow::Result<CallResult> {
    let token = token.context("there is no bound token yet: run step 2 first")?;
    let url = args
        .gateway_url
        .as_deref()
        .context("this demo client was started without --gateway-url, so it cannot call the API")?;
    let cert = if replay {
        match (&args.replay_cert, &args.replay_key) {
            (Some(c), Some(k)) => (c.as_path(), k.as_path()),
            _ => anyhow::bail!(
                "this demo client was started without --replay-cert and --replay-key, so it has \
                 no other certificate to replay the token with"
            ),
        }
    } else {
        (args.cert.as_path(), args.key.as_path())
    };
    let tls = tls(args, Some(cert));
    let identity = tls.identity()?.context("no client certificate")?;
    let http = tls.http_client(Some(&identity))?;
    let answer = call_api(&http, url, &token.access_token, &transaction()).await?;
    Ok(CallResult {
        at: now_secs(),
        url: url.to_owned(),
        presented_subject: identity
            .certificate
            .parsed()
            .map(|p| p.subject.to_string())
            .unwrap_or_default(),
        presented_thumbprint: identity.certificate.thumbprint().to_string(),
        token_cnf: token.cnf().map(str::to_owned),
        status: answer.status.as_u16(),
        reason: answer
            .status
            .canonical_reason()
            .unwrap_or_default()
            .to_owned(),
        www_authenticate: answer.www_authenticate,
        body: answer.body,
    })
}
