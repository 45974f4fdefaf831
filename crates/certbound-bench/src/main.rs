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
//!   a DPoP-bound token sent as `Authorization: DPoP` with a fresh proof per request;
//! - `code-flow`: whole authorization-code flows of a web client (PAR + PKCE over mTLS, the
//!   user's browser through login and consent, the token request), signed in once per worker
//!   or, with `--login-each-flow`, signing in every flow; reports flows per second;
//! - `refresh`: refresh_token grants over mTLS (the refresh token from one code flow per worker);
//! - `userinfo`: `GET /userinfo` over mTLS with a certificate-bound access token.
//!
//! `jwks --key KEY --kid KID` prints the public JWK Set of a P-256 key, for registering a
//! `private_key_jwt` client.
#![forbid(unsafe_code)]

use anyhow::Context;
use certbound_bench::browser::Credentials;
use certbound_bench::flow::{self, Flow, FlowSetup};
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

/// The options of every scenario.
#[derive(Clone, clap::Args)]
struct Base {
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
    /// PID of the server process, to report its resident memory (current and peak).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with an error if any request failed.
    #[arg(long)]
    fail_on_error: bool,
    /// Pace the load at this many requests (or flows) per second in total (default: as fast
    /// as possible).
    #[arg(long)]
    rate: Option<f64>,
}

/// The options of the request scenarios.
#[derive(Clone, clap::Args)]
struct Common {
    #[command(flatten)]
    base: Base,
    /// A new TCP + TLS connection for every request (instead of keep-alive).
    #[arg(long)]
    new_connection: bool,
    /// With --new-connection: disable TLS session resumption (a full handshake each time).
    #[arg(long)]
    no_resumption: bool,
    /// An extra token-request parameter, `name=value` (repeatable), e.g. `resource=https://api`
    /// for a peer server that issues JWT access tokens only for a resource indicator.
    #[arg(long = "token-param", value_parser = parse_param)]
    token_params: Vec<(String, String)>,
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

/// The options of the user-flow scenarios: the web client (`--client-id`, its certificate) and
/// its user.
#[derive(Clone, clap::Args)]
struct FlowArgs {
    #[command(flatten)]
    base: Base,
    /// The user who signs in.
    #[arg(long)]
    username: String,
    /// Their password.
    #[arg(
        long,
        required_unless_present = "password_file",
        conflicts_with = "password_file"
    )]
    password: Option<String>,
    /// A file whose first line is the password.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The client's registered redirect URI (never fetched: the bench reads `Location`).
    #[arg(long)]
    redirect_uri: String,
    /// The scope of every authorization request.
    #[arg(long, default_value = "openid")]
    scope: String,
}

impl FlowArgs {
    fn setup(&self) -> anyhow::Result<FlowSetup> {
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            (None, None) => anyhow::bail!("--password or --password-file"),
        };
        let b = &self.base;
        Ok(FlowSetup {
            issuer: b.issuer.clone(),
            client_id: b.client_id.clone(),
            cert: b.cert.clone(),
            key: b.key.clone(),
            cacert: b.cacert.clone(),
            rate: b.rate,
            credentials: Credentials {
                username: self.username.clone(),
                password,
            },
            redirect_uri: self.redirect_uri.clone(),
            scope: self.scope.clone(),
        })
    }
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
    /// Whole authorization-code flows: PAR + PKCE over mTLS, the browser through the
    /// authorization endpoint (login and consent pages as needed), the token request.
    CodeFlow {
        #[command(flatten)]
        args: FlowArgs,
        /// A fresh browser (empty cookie jar) every flow: the login form and the consent page
        /// each time (`prompt=consent`). Without: each worker signs in once before the clock.
        #[arg(long)]
        login_each_flow: bool,
    },
    /// refresh_token grants over mTLS (a refresh token from one code flow per worker).
    Refresh(FlowArgs),
    /// `GET /userinfo` over mTLS with a bound access token (from one code flow per worker).
    Userinfo(FlowArgs),
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
        Scenario::CodeFlow {
            args,
            login_each_flow,
        } => return run_flow(args, Flow::CodeFlow { login_each_flow }),
        Scenario::Refresh(args) => return run_flow(args, Flow::Refresh),
        Scenario::Userinfo(args) => return run_flow(args, Flow::Userinfo),
        Scenario::Jwks { key, kid } => {
            let key = certbound_bench::jws::Es256Key::from_pem_file(&key)?;
            println!("{}", key.public_jwks(&kid));
            return Ok(());
        }
    };
    let base = common.base.clone();
    runtime()?.block_on(async move {
        let setup = load::Setup {
            issuer: base.issuer.clone(),
            client_id: base.client_id.clone(),
            cert: base.cert.clone(),
            key: base.key.clone(),
            cacert: base.cacert.clone(),
            new_connection: common.new_connection,
            resumption: !common.no_resumption,
            token_params: common.token_params.clone(),
            rate: base.rate,
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
            base.concurrency,
            Duration::from_secs_f64(base.duration),
            base.server_pid,
        )
        .await?;
        if base.json {
            println!("{}", report.to_json(name, &setup, base.concurrency));
        } else {
            report.print(name, &setup, base.concurrency);
        }
        anyhow::ensure!(
            !base.fail_on_error || report.errors_total() == 0,
            "{} requests failed",
            report.errors_total()
        );
        Ok(())
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")
}

/// Runs a user-flow scenario.
fn run_flow(args: FlowArgs, scenario: Flow) -> anyhow::Result<()> {
    let setup = args.setup()?;
    let base = args.base;
    runtime()?.block_on(async move {
        let report = flow::run(
            &setup,
            scenario,
            base.concurrency,
            Duration::from_secs_f64(base.duration),
            base.server_pid,
        )
        .await?;
        if base.json {
            println!("{}", report.flow_json(scenario, base.concurrency));
        } else {
            report.print_flow(scenario, base.concurrency);
        }
        anyhow::ensure!(
            !base.fail_on_error || report.errors_total() == 0,
            "{} {}s failed",
            report.errors_total(),
            scenario.unit()
        );
        Ok(())
    })
}
