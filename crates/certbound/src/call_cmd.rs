//! `certbound call`: a partner's client. Gets a certificate-bound token over mTLS and
//! calls an API through the gateway with the same certificate, printing each step. With
//! `--token` it sends a given token instead, to watch a stolen token fail.

use crate::tls_client::ClientCertArgs;
use crate::token_cmd::{obtain, TokenArgs};
use anyhow::{bail, Context};

/// Arguments of `certbound call`.
#[derive(clap::Args)]
pub struct CallArgs {
    /// The authorization server's issuer URL.
    #[arg(long)]
    pub issuer: String,
    /// The client_id to get a token for.
    #[arg(long)]
    pub client_id: String,
    /// The API URL (through the gateway), e.g. https://localhost:9443/api/transactions.
    pub url: String,
    /// JSON body to POST.
    #[arg(
        long,
        default_value = r#"{"amount": 100, "currency": "EUR", "description": "certbound call"}"#
    )]
    pub data: String,
    /// Send this token instead of getting one (e.g. another partner's, to see the binding refuse it).
    #[arg(long)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientCertArgs,
}

/// Runs the command; fails when the API answers with an error.
pub async fn run(args: CallArgs) -> anyhow::Result<()> {
    let identity = args.tls.identity()?;
    if let Some(id) = &identity {
        println!(
            "client certificate: x5t#S256 {}",
            id.certificate.thumbprint()
        );
    }
    let token = match &args.token {
        Some(t) => {
            println!("1. token: using the token given with --token");
            t.clone()
        }
        None => {
            println!(
                "1. token: client_credentials for '{}' at {} (mTLS alias)",
                args.client_id, args.issuer
            );
            let got = obtain(&TokenArgs {
                issuer: args.issuer.clone(),
                client_id: args.client_id.clone(),
                secret: None,
                secret_post: false,
                scope: None,
                quiet: true,
                tls: args.tls.clone(),
            })
            .await?;
            let cnf = got
                .claims
                .as_ref()
                .and_then(|c| c.get("cnf"))
                .and_then(|c| c.get("x5t#S256"))
                .and_then(|v| v.as_str())
                .unwrap_or("(not bound)");
            println!("   got a token bound to x5t#S256 {cnf}");
            got.access_token
        }
    };
    let body: serde_json::Value = serde_json::from_str(&args.data).context("--data is not JSON")?;
    println!(
        "2. POST {} with the token and the same certificate",
        args.url
    );
    let http = args.tls.http_client(identity.as_ref())?;
    let answer = call_api(&http, &args.url, &token, &body).await?;
    let status = answer.status;
    println!("   {status}");
    if let Some(c) = &answer.www_authenticate {
        println!("   WWW-Authenticate: {c}");
    }
    println!("   {}", answer.body);
    if !status.is_success() {
        bail!("the API answered {status}");
    }
    Ok(())
}

/// The most of an API answer's body that is kept (the demo page shows it; a larger answer is cut).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the API answered to one call.
pub(crate) struct ApiAnswer {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The `WWW-Authenticate` header, verbatim, when there is one (a refusal's challenge).
    pub www_authenticate: Option<String>,
    /// The body as text (lossy UTF-8), at most `MAX_ANSWER_BYTES`.
    pub body: String,
}

/// POSTs `body` as JSON to `url` with `token` as the bearer token. `http` decides which client
/// certificate is presented, so the same call shows both the bound owner and a thief.
pub(crate) async fn call_api(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> anyhow::Result<ApiAnswer> {
    let mut r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .context("calling the API")?;
    let status = r.status();
    let www_authenticate = r
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut bytes = Vec::new();
    while let Some(chunk) = r.chunk().await.context("reading the API's answer")? {
        let room = MAX_ANSWER_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(ApiAnswer {
        status,
        www_authenticate,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
