//! `certbound-bench`: drives a running certbound (authorization server or gateway) with many
//! concurrent mTLS clients and reports requests/s, latency percentiles, errors by kind and the
//! server's memory. Scenarios:
//!
//! - `token`: client_credentials + tls_client_auth at the token endpoint (keep-alive, or a full
//!   handshake per request with `--new-connection`, with or without `--no-resumption`); with
//!   `--dpop` a fresh DPoP proof per request, with `--private-key-jwt KEY --kid KID` a fresh
//!   client assertion per request instead of the certificate;
//! - `introspect`: introspection of one token by its own client;
//! - `gateway`: a bound token (fetched once) sent with the same certificate to an API URL through
//!   the gateway (`--client-id` of an opaque client gives the phantom-token path); with `--dpop`
//!   a DPoP-bound token sent as `Authorization: DPoP` with a fresh proof per request.
//!
//! `jwks --key KEY --kid KID` prints the public JWK Set of a P-256 key, for registering a
//! `private_key_jwt` client.
#![forbid(unsafe_code)]

use anyhow::Context;
use certbound_bench::load;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "certbound-bench", about = "Load generator for certbound")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, clap::Args)]
struct Common {
    /// The issuer (its metadata gives the mTLS token and introspection endpoints).
    #[arg(long)]
    issuer: String,
    /// client_id of a tls_client_auth client.
    #[arg(long)]
    client_id: String,
    /// Client certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Its key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// CA that signed the servers' certificates.
    #[arg(long)]
    cacert: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to run, in seconds (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// A new TCP + TLS connection for every request (instead of keep-alive).
    #[arg(long)]
    new_connection: bool,
    /// With --new-connection: disable TLS session resumption (a full handshake each time).
    #[arg(long)]
    no_resumption: bool,
    /// PID of the server process, to report its resident memory (current and peak).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with an error if any request failed.
    #[arg(long)]
    fail_on_error: bool,
    /// An extra token-request parameter, `name=value` (repeatable), e.g. `resource=https://api`
    /// for a peer server that issues JWT access tokens only for a resource indicator.
    #[arg(long = "token-param", value_parser = parse_param)]
    token_params: Vec<(String, String)>,
    /// Pace the load at this many requests per second in total (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// DPoP (RFC 9449): a fresh ES256 proof with each token request (the client must be
    /// DPoP-bound); for `gateway`, the DPoP-bound token with a fresh proof (`ath`) per call.
    #[arg(long)]
    dpop: bool,
    /// private_key_jwt: authenticate with a fresh ES256 client assertion per request, signed
    /// with this P-256 key (PEM), instead of the client certificate.
    #[arg(long, value_name = "KEY_PEM", requires = "kid")]
    private_key_jwt: Option<PathBuf>,
    /// The `kid` of the --private-key-jwt key in the client's registered JWK Set.
    #[arg(long, requires = "private_key_jwt")]
    kid: Option<String>,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

#[derive(Subcommand)]
enum Scenario {
    /// client_credentials at the mTLS token endpoint.
    Token(Common),
    /// Introspection of a token by its own client.
    Introspect(Common),
    /// A bound token through the gateway to an API.
    Gateway {
        #[command(flatten)]
        common: Common,
        /// The API URL behind the gateway, e.g. https://localhost:9443/api/transactions.
        #[arg(long)]
        url: String,
    },
    /// Prints the public JWK Set (`kid`, `alg ES256`, `use sig`) of a P-256 private key: the
    /// `jwks` to register for a --private-key-jwt client.
    Jwks {
        /// The private key (PEM, PKCS#8 or SEC1).
        #[arg(long)]
        key: PathBuf,
        /// The key's `kid`.
        #[arg(long)]
        kid: String,
    },
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let (name, common, target) = match cli.scenario {
        Scenario::Token(c) => ("token", c, load::Target::Token),
        Scenario::Introspect(c) => ("introspect", c, load::Target::Introspect),
        Scenario::Gateway { common, url } => ("gateway", common, load::Target::Gateway(url)),
        Scenario::Jwks { key, kid } => {
            let key = certbound_bench::jws::Es256Key::from_pem_file(&key)?;
            println!("{}", key.public_jwks(&kid));
            return Ok(());
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    runtime.block_on(async move {
        let setup = load::Setup {
            issuer: common.issuer.clone(),
            client_id: common.client_id.clone(),
            cert: common.cert.clone(),
            key: common.key.clone(),
            cacert: common.cacert.clone(),
            new_connection: common.new_connection,
            resumption: !common.no_resumption,
            token_params: common.token_params.clone(),
            rate: common.rate,
            dpop: common.dpop,
            private_key_jwt: common
                .private_key_jwt
                .clone()
                .zip(common.kid.clone())
                .map(|(key, kid)| load::PrivateKeyJwt { key, kid }),
        };
        let report = load::run(
            &setup,
            target,
            common.concurrency,
            Duration::from_secs_f64(common.duration),
            common.server_pid,
        )
        .await?;
        if common.json {
            println!("{}", report.to_json(name, &setup, common.concurrency));
        } else {
            report.print(name, &setup, common.concurrency);
        }
        anyhow::ensure!(
            !common.fail_on_error || report.errors_total() == 0,
            "{} requests failed",
            report.errors_total()
        );
        Ok(())
    })
}
