//! `certbound quickstart`: the whole system locally in one command. Generates a development PKI and
//! configurations (one client per authentication method, a web client for the user flow, a gateway
//! with its own client), creates the user `alice` when it serves, starts the authorization server,
//! the sample API, the gateway and the demo client, plays the stolen-token story against them (get
//! a bound token, call the API, replay the token with another partner's certificate and get 401),
//! prints commands that work, and stops everything on Ctrl-C. Running it again reuses what it
//! generated.

use anyhow::Context;
use certbound_pki::{dir as pki, KeyAlgorithm, LeafSpec, SubjectSpec};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Arguments of `certbound quickstart`.
#[derive(clap::Args)]
pub struct QuickstartArgs {
    /// Directory for the PKI, configuration and database.
    #[arg(long, default_value = "certbound-dev")]
    pub dir: PathBuf,
    /// Port of the conventional listener (the mTLS listener uses the next port).
    #[arg(long, default_value_t = 8443, value_parser = clap::value_parser!(u16).range(1..=65534))]
    pub port: u16,
    /// Port of the gateway.
    #[arg(long, default_value_t = 9443, value_parser = clap::value_parser!(u16).range(1..))]
    pub gateway_port: u16,
    /// Port of the sample API (plain HTTP on 127.0.0.1, behind the gateway).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u16).range(1..))]
    pub api_port: u16,
    /// Port of the demo web client.
    #[arg(long, default_value_t = 5002, value_parser = clap::value_parser!(u16).range(1..))]
    pub demo_port: u16,
    /// Port of the authorization server's admin listener (metrics, /livez, /readyz); the
    /// gateway's admin listener uses the next port. 0: no admin listeners.
    #[arg(long, default_value_t = 9100, value_parser = clap::value_parser!(u16).range(0..=65534))]
    pub admin_port: u16,
    /// Generate and print, but do not start anything.
    #[arg(long)]
    pub no_serve: bool,
}

/// The PKCS#12 password of the generated partner certificate (development only).
pub const P12_PASSWORD: &str = "certbound";

/// The user the quickstart creates, who signs in on the demo page's user flow.
pub const DEMO_USER: &str = "alice";

/// The web client of the user flow (authorization code with PAR, partner-a's certificate).
pub const WEB_CLIENT: &str = "partner-web";

impl QuickstartArgs {
    /// Every port the system uses, with the flag that sets it.
    fn ports(&self) -> Vec<(u16, &'static str)> {
        let mut ports = vec![
            (self.port, "--port"),
            (self.port + 1, "--port (+1, the mTLS listener)"),
            (self.gateway_port, "--gateway-port"),
            (self.api_port, "--api-port"),
            (self.demo_port, "--demo-port"),
        ];
        if self.admin_port != 0 {
            ports.push((self.admin_port, "--admin-port"));
            ports.push((
                self.admin_port + 1,
                "--admin-port (+1, the gateway's admin listener)",
            ));
        }
        ports
    }

    /// The `[admin]` table of a generated configuration (none with `--admin-port 0`).
    fn admin_table(&self, port: u16) -> String {
        if self.admin_port == 0 {
            return String::new();
        }
        format!(
            "# Prometheus metrics and health checks (/metrics, /livez, /readyz); keep it off the \
             public network.\n[admin]\nlisten = \"127.0.0.1:{port}\"\n"
        )
    }

    /// Refuses two services on one port before anything is written.
    fn check_ports(&self) -> anyhow::Result<()> {
        let ports = self.ports();
        for (i, (a, flag_a)) in ports.iter().enumerate() {
            if let Some((_, flag_b)) = ports[i + 1..].iter().find(|(b, _)| b == a) {
                anyhow::bail!(
                    "port {a} is given to two services ({flag_a} and {flag_b}): choose distinct ports"
                );
            }
        }
        Ok(())
    }
}

/// Runs the command.
pub async fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    args.check_ports()?;
    let config = args.dir.join("certbound.toml");
    let secret = if config.exists() {
        eprintln!(
            "reusing {} (delete the directory to start over)",
            args.dir.display()
        );
        existing_secret(&config).unwrap_or_else(|| "<see certbound.toml>".to_owned())
    } else {
        generate(&args)?
    };
    if args.no_serve {
        print_instructions(&args, &secret, &UserPassword::NotServed);
        return Ok(());
    }
    let user = ensure_user(&config).await?;
    print_instructions(&args, &secret, &user);
    run_all(&args, &config, &secret).await
}

/// What the summary says about the demo user's password.
enum UserPassword {
    /// Created now: the password, printed this once (only its argon2id hash is stored).
    New(String),
    /// Created by an earlier run.
    Existing,
    /// `--no-serve`: the user is created when the quickstart serves.
    NotServed,
}

/// Adds the demo user to the store through the store API, with a random password, unless a
/// user of that name is there already (an earlier run). Runs before the server starts.
async fn ensure_user(config: &Path) -> anyhow::Result<UserPassword> {
    let cfg = certbound_server::config::Config::load(config)?;
    let store = cfg
        .config
        .store
        .connect()
        .await
        .context("opening the store to add the demo user")?;
    if store.user_by_username(DEMO_USER).await?.is_some() {
        return Ok(UserPassword::Existing);
    }
    let password = random_secret()?;
    let hashed = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || certbound_core::secret::hash_password(&password))
            .await
            .context("hashing the demo user's password")?
            .map_err(|e| anyhow::anyhow!("hashing the demo user's password: {e}"))?
    };
    let new = certbound_store::NewUser {
        username: DEMO_USER.to_owned(),
        email: Some("alice@example.com".to_owned()),
        name: Some("Alice Example".to_owned()),
        claims: "{}".to_owned(),
        password_hash: hashed.phc().to_owned(),
    };
    store
        .add_user(&new, now_secs())
        .await
        .context("adding the demo user")?;
    Ok(UserPassword::New(password))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Starts the four services, plays the story, and waits for Ctrl-C.
async fn run_all(args: &QuickstartArgs, config: &Path, secret: &str) -> anyhow::Result<()> {
    let dir = &args.dir;
    let auth = certbound_server::start(certbound_server::config::Config::load(config)?)
        .await
        .context("starting the authorization server")?;
    let issuer = format!("https://localhost:{}", args.port);
    let api_args = crate::sample_api::SampleApiArgs {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.api_port)),
        issuer: issuer.clone(),
        ca: Some(dir.join("pki/ca.pem")),
        audience: None,
        gateway_client_id: Some("gateway".to_owned()),
    };
    let api_listener = tokio::net::TcpListener::bind(api_args.listen)
        .await
        .with_context(|| format!("listening on {}", api_args.listen))?;
    let api = crate::sample_api::start(&api_args, api_listener).await?;
    let gateway_cfg = certbound_gateway::config::GatewayConfig::load(&dir.join("gateway.toml"))?;
    let gateway = certbound_gateway::start(gateway_cfg)
        .await
        .context("starting the gateway")?;
    let demo_args = crate::demo_client::DemoClientArgs {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.demo_port)),
        issuer: issuer.clone(),
        cacert: Some(dir.join("pki/ca.pem")),
        client_id: "partner-secret".to_owned(),
        secret: secret.to_owned(),
        mtls_client_id: "partner-a".to_owned(),
        cert: dir.join("pki/partner-a.pem"),
        key: dir.join("pki/partner-a.key"),
        gateway_url: Some(format!(
            "https://localhost:{}/api/transactions",
            args.gateway_port
        )),
        replay_cert: Some(dir.join("pki/partner-b.pem")),
        replay_key: Some(dir.join("pki/partner-b.key")),
        web_client_id: Some(WEB_CLIENT.to_owned()),
        redirect_uri: Some(redirect_uri(args.demo_port)),
    };
    let demo_listener = tokio::net::TcpListener::bind(demo_args.listen)
        .await
        .with_context(|| format!("listening on {}", demo_args.listen))?;
    let demo = crate::demo_client::start(demo_args, demo_listener)?;

    if let Err(e) = story(args, &issuer).await {
        println!("the story did not play out as expected: {e:#}");
    }
    println!(
        "\nRunning: authorization server https://localhost:{} (mTLS :{}), gateway https://localhost:{}, \
         sample API http://127.0.0.1:{}, demo client http://127.0.0.1:{}/home. Ctrl-C stops everything.",
        args.port,
        args.port + 1,
        args.gateway_port,
        args.api_port,
        args.demo_port
    );
    crate::shutdown_signal().await;
    demo.abort();
    api.abort();
    gateway.shutdown().await;
    auth.shutdown().await;
    Ok(())
}

/// The stolen-token story, played against the running services and printed.
async fn story(args: &QuickstartArgs, issuer: &str) -> anyhow::Result<()> {
    let pki = args.dir.join("pki");
    let tls = |name: &str| crate::tls_client::ClientCertArgs {
        cert: Some(pki.join(format!("{name}.pem"))),
        key: Some(pki.join(format!("{name}.key"))),
        p12: None,
        password: None,
        cacert: Some(pki.join("ca.pem")),
    };
    let api = format!("https://localhost:{}/api/transactions", args.gateway_port);
    println!("\n== The story: a certificate-bound token is useless to a thief ==");
    let got = crate::token_cmd::obtain(&crate::token_cmd::TokenArgs {
        issuer: issuer.to_owned(),
        client_id: "partner-a".to_owned(),
        secret: None,
        secret_post: false,
        scope: None,
        quiet: true,
        tls: tls("partner-a"),
    })
    .await?;
    let cnf = got
        .claims
        .as_ref()
        .and_then(|c| c.pointer("/cnf/x5t#S256"))
        .and_then(|v| v.as_str())
        .unwrap_or("-")
        .to_owned();
    println!("1. partner-a authenticates with its certificate (tls_client_auth) and gets a token bound to x5t#S256 {cnf}");
    let call = |who: &'static str| {
        let t = tls(who);
        let token = got.access_token.clone();
        let api = api.clone();
        async move {
            let id = t.identity()?;
            let http = t.http_client(id.as_ref())?;
            let r = http
                .post(&api)
                .bearer_auth(token)
                .json(&serde_json::json!({"amount": 100, "currency": "EUR"}))
                .send()
                .await?;
            let status = r.status();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = r.text().await.unwrap_or_default();
            anyhow::Ok((status, challenge, body))
        }
    };
    let (status, _, body) = call("partner-a").await?;
    println!("2. partner-a calls POST {api} through the gateway with the same certificate: {status} {body}");
    let (status, challenge, _) = call("partner-b").await?;
    println!("3. the token is stolen and replayed with partner-b's (valid, CA-issued) certificate: {status}\n   WWW-Authenticate: {challenge}");
    Ok(())
}

fn generate(args: &QuickstartArgs) -> anyhow::Result<String> {
    let dir = &args.dir;
    let pki_dir = dir.join("pki");
    pki::init(&pki_dir, KeyAlgorithm::EcdsaP256, false).context("creating the CA")?;
    pki::server(
        &pki_dir,
        &["localhost".to_owned()],
        &[IpAddr::V4(Ipv4Addr::LOCALHOST), "::1".parse()?],
        KeyAlgorithm::EcdsaP256,
    )
    .context("issuing the server certificate")?;
    let partner_a = pki::client(
        &pki_dir,
        &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")),
        Some(P12_PASSWORD),
        false,
    )
    .context("issuing partner-a's certificate")?;
    pki::client(
        &pki_dir,
        &LeafSpec::client(SubjectSpec::cn_o("partner-b", "Example")),
        None,
        false,
    )
    .context("issuing partner-b's certificate")?;
    let gateway = pki::client(
        &pki_dir,
        &LeafSpec::client(SubjectSpec::cn_o("gateway", "Example")),
        None,
        false,
    )
    .context("issuing the gateway's certificate")?;
    let jwks_path = dir.join("partner-s.jwks.json");
    pki::self_signed(
        &pki_dir,
        &LeafSpec::client(SubjectSpec::cn("partner-s")),
        &jwks_path,
    )
    .context("creating partner-s's self-signed certificate")?;
    let jwks: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&jwks_path)?)?;

    let secret = random_secret()?;
    let clients = serde_json::json!([
        {
            "client_id": "partner-a",
            "client_name": "CA-issued certificate (tls_client_auth)",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": partner_a.subject,
            "tls_client_certificate_bound_access_tokens": true,
            "grant_types": ["client_credentials"],
            "scope": "transactions read",
        },
        {
            "client_id": "partner-s",
            "client_name": "self-signed certificate (self_signed_tls_client_auth)",
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks": jwks,
            "tls_client_certificate_bound_access_tokens": true,
            "scope": "transactions",
        },
        {
            "client_id": "partner-a-opaque",
            "client_name": "partner-a's certificate with opaque tokens (the phantom-token path through the gateway)",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": partner_a.subject,
            "tls_client_certificate_bound_access_tokens": true,
            "access_token_format": "opaque",
            "scope": "transactions read",
        },
        {
            "client_id": "partner-b",
            "client_name": "another partner, for the stolen-token demonstration",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=partner-b,O=Example",
            "tls_client_certificate_bound_access_tokens": true,
            "scope": "transactions",
        },
        {
            "client_id": "gateway",
            "client_name": "the certbound gateway (introspects opaque tokens)",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": gateway.subject,
            "resource_server": true,
            "grant_types": [],
        },
        {
            "client_id": WEB_CLIENT,
            "client_name": "partner-a's web application: users sign in (authorization code, PAR, PKCE)",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": partner_a.subject,
            "tls_client_certificate_bound_access_tokens": true,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [redirect_uri(args.demo_port)],
            "require_pushed_authorization_requests": true,
            "scope": "openid profile email transactions",
        },
        {
            "client_id": "partner-secret",
            "client_name": "client secret (client_secret_basic), unbound bearer tokens",
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": secret,
            "scope": "read",
        },
    ]);
    // Serialised as one document so nested tables come out as [[clients.jwks.keys]].
    let clients_toml = toml::to_string(&toml::Value::try_from(
        serde_json::json!({ "clients": clients }),
    )?)?;
    let https = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let mtls = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port + 1));
    let config = format!(
        r#"# Generated by `certbound quickstart` for local development. See docs/configuration.md.
issuer = "https://localhost:{https_port}"

[listen]
https = "{https}"
mtls = "{mtls}"
mtls_url = "https://localhost:{mtls_port}"

[tls]
cert = "pki/server.pem"
key = "pki/server.key"
client_ca = ["pki/ca.pem"]

[store]
url = "sqlite://certbound.db"

[tokens]
signing_alg = "ES256"
access_token_ttl_seconds = 300

{admin}
{clients_toml}"#,
        https_port = args.port,
        mtls_port = args.port + 1,
        admin = args.admin_table(args.admin_port),
    );
    write_config(&dir.join("certbound.toml"), &config)?;
    let gateway_toml = format!(
        r#"# Generated by `certbound quickstart`. See docs/gateway.md.
[listen]
https = "127.0.0.1:{gateway_port}"

[tls]
cert = "pki/server.pem"
key = "pki/server.key"

{admin}
[authorization_server]
issuer = "https://localhost:{https_port}"
ca = "pki/ca.pem"
client_id = "gateway"
client_cert = "pki/gateway.pem"
client_key = "pki/gateway.key"

[[routes]]
path_prefix = "/api/"
upstream = "http://127.0.0.1:{api_port}"
require_bound_token = true
scopes = ["transactions"]
"#,
        gateway_port = args.gateway_port,
        https_port = args.port,
        api_port = args.api_port,
        admin = args.admin_table(args.admin_port.saturating_add(1)),
    );
    write_config(&dir.join("gateway.toml"), &gateway_toml)?;
    Ok(secret)
}

/// The demo client's callback, registered for the web client (loopback `http` is allowed).
fn redirect_uri(demo_port: u16) -> String {
    format!("http://127.0.0.1:{demo_port}/callback")
}

/// Writes a generated configuration with mode 0600 (whatever the umask, replacing any file
/// there): certbound.toml holds the `client_secret` of partner-secret in clear.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    pki::write_private_file(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// 192 random bits, base64url. Never starting with `-`, so a generated secret or password can be
/// pasted after a command-line option (`--secret X`) without being read as another option. A
/// failing random generator is an error, never a predictable secret.
fn random_secret() -> anyhow::Result<String> {
    use base64::Engine;
    loop {
        let mut bytes = [0u8; 24];
        aws_lc_rs_fill(&mut bytes)
            .map_err(|()| anyhow::anyhow!("the system random generator failed"))?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !secret.starts_with('-') {
            return Ok(secret);
        }
    }
}

fn aws_lc_rs_fill(bytes: &mut [u8]) -> Result<(), ()> {
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(bytes)
        .map_err(|_| ())
}

fn existing_secret(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    value
        .get("clients")?
        .as_array()?
        .iter()
        .find(|c| c.get("client_id").and_then(|v| v.as_str()) == Some("partner-secret"))?
        .get("client_secret")?
        .as_str()
        .map(str::to_owned)
}

fn print_instructions(args: &QuickstartArgs, secret: &str, user: &UserPassword) {
    let d = args.dir.display();
    let (p, m, g, w) = (args.port, args.port + 1, args.gateway_port, args.demo_port);
    let (a, ga) = (args.admin_port, args.admin_port.saturating_add(1));
    let (admin_line, readyz) = if a == 0 {
        (String::new(), String::new())
    } else {
        (
            format!("\n  metrics, health   http://127.0.0.1:{a}/metrics, /readyz (gateway: http://127.0.0.1:{ga}/metrics)"),
            format!("\n\n# 8. is the authorization server ready (store reachable, keys loaded)?\ncurl http://127.0.0.1:{a}/readyz"),
        )
    };
    let user_line = match user {
        UserPassword::New(password) => format!(
            "{DEMO_USER}, password {password}   (shown only now; only its hash is stored)"
        ),
        UserPassword::Existing => format!(
            "{DEMO_USER}   (password printed when it was created; set a new one with \
             `certbound users passwd --config {d}/certbound.toml --username {DEMO_USER} --password-stdin`)"
        ),
        UserPassword::NotServed => {
            format!("{DEMO_USER}   (created, with its password printed, when the quickstart serves)")
        }
    };
    println!(
        r#"
certbound development setup in {d}/
  issuer            https://localhost:{p}   (metadata: https://localhost:{p}/.well-known/oauth-authorization-server)
  mTLS endpoints    https://localhost:{m}   (token, introspect, revoke)
  gateway           https://localhost:{g}   (/api/ needs a token bound to the caller's certificate){admin_line}
  user              {user_line}

Try it (in another terminal). The `certbound` commands need the binary on your PATH:
  cargo install --path crates/certbound --locked     (from the repository; installs ~/.cargo/bin/certbound)

# 1. partner-a, CA-issued certificate (tls_client_auth): a certificate-bound token
curl --cacert {d}/pki/ca.pem --cert {d}/pki/partner-a.pem --key {d}/pki/partner-a.key \
     -d grant_type=client_credentials -d client_id=partner-a https://localhost:{m}/token

# 1b. the same with the PKCS#12 file
curl --cacert {d}/pki/ca.pem --cert-type P12 --cert {d}/pki/partner-a.p12:{P12_PASSWORD} \
     -d grant_type=client_credentials -d client_id=partner-a https://localhost:{m}/token

# 2. partner-s, self-signed certificate registered in its JWKS (self_signed_tls_client_auth)
curl --cacert {d}/pki/ca.pem --cert {d}/pki/partner-s.pem --key {d}/pki/partner-s.key \
     -d grant_type=client_credentials -d client_id=partner-s https://localhost:{m}/token

# 3. partner-secret, client_secret_basic on the conventional endpoint (an unbound bearer token)
curl --cacert {d}/pki/ca.pem -u partner-secret:{secret} \
     -d grant_type=client_credentials https://localhost:{p}/token

# 4. the same flow with the certbound client, which decodes the token and checks the binding
certbound token --issuer https://localhost:{p} --client-id partner-a \
     --cert {d}/pki/partner-a.pem --key {d}/pki/partner-a.key --cacert {d}/pki/ca.pem

# 5. get a bound token and call the API through the gateway with it (--token T replays a token)
certbound call --issuer https://localhost:{p} --client-id partner-a \
     --cert {d}/pki/partner-a.pem --key {d}/pki/partner-a.key --cacert {d}/pki/ca.pem \
     https://localhost:{g}/api/transactions

# 6. the demo web page, in a browser: the same story, step by step
http://127.0.0.1:{w}/home

# 6b. the user flow on the same page: "Sign in as a user", then sign in as {DEMO_USER} with the
#     password above (the browser visits https://localhost:{p}: trust {d}/pki/ca.pem or accept its warning)
http://127.0.0.1:{w}/home#user

# 7. why would a certificate (not) authenticate a client?
certbound clients check --config {d}/certbound.toml --client-id partner-a --cert {d}/pki/partner-s.pem{readyz}
"#
    );
}
