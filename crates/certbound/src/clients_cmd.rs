//! `certbound clients check`: explains, step by step, whether a certificate would authenticate a
//! client, using exactly the decision the token endpoint uses.

use anyhow::Context;
use certbound_core::auth::{self, PresentedCredentials, TrustAnchors};
use certbound_core::client::{ClientCredential, ClientMetadata, SelfSignedKeys};
use certbound_core::secret::SecretHash;
use certbound_core::{CertificateSource, ClientCertificate};
use certbound_server::config::Config;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::path::PathBuf;
use std::time::Duration;

/// `certbound clients ...`.
#[derive(clap::Subcommand)]
pub enum ClientsCommand {
    /// Explain whether CERT would authenticate CLIENT-ID, and why.
    Check {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The client to check.
        #[arg(long)]
        client_id: String,
        /// The client certificate (PEM; intermediates may follow the leaf, as the client would send them).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Register (or replace) a client at run time, in the store: every running instance picks it
    /// up within `[tokens] key_refresh_seconds`. The metadata is RFC 7591 JSON with the same keys as
    /// a `[[clients]]` table; a `client_secret` is stored only as its argon2 hash.
    Add {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The client's metadata as a JSON file (`-` for standard input).
        #[arg(long)]
        metadata: PathBuf,
    },
    /// Remove a client registered with `clients add`.
    Remove {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The client to remove.
        #[arg(long)]
        client_id: String,
    },
    /// List the registered clients.
    List {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
    },
}

/// Runs the command; the process exits non-zero when the check fails.
pub async fn run(cmd: ClientsCommand) -> anyhow::Result<bool> {
    match cmd {
        ClientsCommand::Add { config, metadata } => {
            let cfg = Config::load(&config)?;
            let text = if metadata.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&metadata)
                    .with_context(|| format!("reading {}", metadata.display()))?
            };
            let mut meta: ClientMetadata = serde_json::from_str(&text)
                .with_context(|| format!("{}: not client metadata JSON", metadata.display()))?;
            if cfg.clients.iter().any(|c| c.client_id == meta.client_id) {
                anyhow::bail!(
                    "client '{}' is declared in {}; change it there",
                    meta.client_id,
                    config.display()
                );
            }
            if let Some(secret) = meta.client_secret.take() {
                meta.client_secret_hash = Some(
                    SecretHash::hash(&secret)
                        .map_err(|e| anyhow::anyhow!("client_secret: {e}"))?
                        .phc()
                        .to_owned(),
                );
            }
            cfg.config
                .register(&meta, &cfg.base)
                .map_err(|(key, message)| {
                    anyhow::anyhow!("{}: {key}: {message}", metadata.display())
                })?;
            let store = certbound_store::Store::connect(&cfg.config.store.url)
                .await
                .context("opening the store")?;
            store
                .upsert_client(
                    &meta.client_id,
                    &serde_json::to_string(&meta)?,
                    certbound_server::state::now_secs(),
                )
                .await?;
            println!(
                "registered client '{}' ({}); running servers pick it up within {} s",
                meta.client_id,
                meta.token_endpoint_auth_method,
                cfg.config.tokens.key_refresh_seconds
            );
            Ok(true)
        }
        ClientsCommand::Remove { config, client_id } => {
            let cfg = Config::load(&config)?;
            let store = certbound_store::Store::connect(&cfg.config.store.url)
                .await
                .context("opening the store")?;
            if store.delete_client(&client_id).await? {
                println!(
                    "removed client '{client_id}'; running servers drop it within {} s",
                    cfg.config.tokens.key_refresh_seconds
                );
                Ok(true)
            } else {
                println!("no client '{client_id}' was registered with `clients add`");
                Ok(false)
            }
        }
        ClientsCommand::List { config } => {
            let cfg = Config::load(&config)?;
            let store = certbound_store::Store::connect(&cfg.config.store.url)
                .await
                .context("opening the store")?;
            let registry = certbound_server::state::ClientRegistry::new(&cfg.clients);
            registry.reload(&store, &cfg).await?;
            for (id, _) in store.clients().await? {
                if let Some(c) = registry.get(&id).filter(|_| !registry.is_configured(&id)) {
                    println!(
                        "{}\t{}\tbound={}\tscope={}\t(store)",
                        c.client_id,
                        c.credential.method(),
                        c.bound_tokens,
                        c.scopes.join(" ")
                    );
                }
            }
            for c in &cfg.clients {
                println!(
                    "{}\t{}\tbound={}\tscope={}",
                    c.client_id,
                    c.credential.method(),
                    c.bound_tokens,
                    c.scopes.join(" ")
                );
            }
            Ok(true)
        }
        ClientsCommand::Check {
            config,
            client_id,
            cert,
        } => {
            let cfg = Config::load(&config)?;
            let pem =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
            let certificate = ClientCertificate::new(chain, CertificateSource::Tls)
                .with_context(|| format!("{}: no certificate", cert.display()))?;
            println!(
                "certificate: {} (x5t#S256 {})",
                cert.display(),
                certificate.thumbprint()
            );
            match certificate.parsed() {
                Ok(p) => {
                    println!("  subject: {}", p.subject);
                    println!("  SANs: {:?}", p.sans);
                }
                Err(e) => println!("  cannot be parsed: {e}"),
            }
            let store = certbound_store::Store::connect(&cfg.config.store.url)
                .await
                .context("opening the store")?;
            let registry = certbound_server::state::ClientRegistry::new(&cfg.clients);
            registry.reload(&store, &cfg).await?;
            let Some(client) = registry.get(&client_id) else {
                println!(
                    "client: '{client_id}' is not registered in {}",
                    config.display()
                );
                println!("result: REFUSED (invalid_client)");
                return Ok(false);
            };
            let mut anchors_der = Vec::new();
            for path in &cfg.config.tls.client_ca {
                anchors_der.extend(certbound_net::load_cert_chain(path)?);
            }
            let anchors = TrustAnchors::from_der(&anchors_der)
                .map_err(|e| anyhow::anyhow!("client_ca: {e:?}"))?;
            let self_signed: Vec<CertificateDer<'static>> = match &client.credential {
                ClientCredential::SelfSigned(SelfSignedKeys::Inline(c)) => c.clone(),
                ClientCredential::SelfSigned(SelfSignedKeys::Uri(url)) => {
                    let http = certbound_server::jwks_http_client(&cfg)?;
                    let cache = certbound_server::jwks_uri::JwksUriCache::new(
                        http,
                        Duration::from_secs(1),
                        Duration::ZERO,
                    );
                    cache.certificates(url, None).await.to_vec()
                }
                _ => Vec::new(),
            };
            let creds = PresentedCredentials {
                client_id: Some(&client_id),
                certificate: Some(&certificate),
                ..Default::default()
            };
            let (ok, trace) = match auth::authenticate(
                &client,
                &creds,
                &anchors,
                &self_signed,
                UnixTime::now(),
            ) {
                Ok(a) => (true, a.trace),
                Err(f) => (false, f.trace),
            };
            for (i, step) in trace.steps.iter().enumerate() {
                println!(
                    "{}. {:<12} {:<6} {}",
                    i + 1,
                    step.check,
                    if step.passed { "ok" } else { "FAILED" },
                    step.detail
                );
            }
            if ok {
                println!(
                    "result: ACCEPTED ({} as '{}'){}",
                    client.credential.method(),
                    client_id,
                    if client.bound_tokens {
                        format!(
                            "; tokens will be bound to x5t#S256 {}",
                            certificate.thumbprint()
                        )
                    } else {
                        String::new()
                    }
                );
            } else {
                println!("result: REFUSED (invalid_client)");
            }
            Ok(ok)
        }
    }
}
