//! `certbound clients ...`: register, remove, list and check clients. `add` is in
//! [`add`], `check` (why a certificate would or would not authenticate a client) in [`check`].

use anyhow::Context;
use certbound_core::client::{AssertionKeys, ClientCredential, RegisteredClient, SelfSignedKeys};
use certbound_server::config::Config;
use std::path::PathBuf;

mod add;
mod check;

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
    /// up within `[tokens] key_refresh_seconds`. Describe it with --metadata (RFC 7591 JSON with
    /// the keys of a `[[clients]]` table; see docs/examples/) or with the flags below; a secret
    /// is stored only as its argon2 hash.
    ///
    /// Examples:
    ///   certbound clients add --client-id partner-c --method tls_client_auth --subject-dn "CN=partner-c,O=Example" --scope "transactions read"
    ///   printf %s "$SECRET" | certbound clients add --client-id batch --method client_secret_basic --secret-stdin
    #[command(verbatim_doc_comment)]
    Add {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The client's metadata as a JSON file (`-` for standard input), instead of the flags.
        #[arg(long, value_name = "FILE")]
        metadata: Option<PathBuf>,
        /// The client, described with flags.
        #[command(flatten)]
        flags: Box<add::ClientFlags>,
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

/// Runs the command; `Ok(false)` (a non-zero exit) when a check fails or nothing was removed.
pub async fn run(cmd: ClientsCommand) -> anyhow::Result<bool> {
    match cmd {
        ClientsCommand::Add {
            config,
            metadata,
            flags,
        } => add::run(&config, metadata.as_deref(), &flags).await,
        ClientsCommand::Remove { config, client_id } => {
            let cfg = Config::load(&config)?;
            let store = cfg
                .config
                .store
                .connect()
                .await
                .context("opening the store")?;
            if store.delete_client(&client_id).await? {
                println!(
                    "Removed client '{client_id}'; running servers drop it within {} s.",
                    cfg.config.tokens.key_refresh_seconds
                );
                Ok(true)
            } else if cfg.clients.iter().any(|c| c.client_id == client_id) {
                println!(
                    "Client '{client_id}' is declared in {}, not in the store: remove its [[clients]] table there.",
                    config.display()
                );
                Ok(false)
            } else {
                println!("No client '{client_id}' was registered with `clients add`.");
                Ok(false)
            }
        }
        ClientsCommand::List { config } => {
            let cfg = Config::load(&config)?;
            let store = cfg
                .config
                .store
                .connect()
                .await
                .context("opening the store")?;
            let registry = certbound_server::state::ClientRegistry::new(&cfg.clients);
            registry.reload(&store, &cfg).await?;
            let mut rows = vec![[
                "CLIENT ID".to_owned(),
                "METHOD".to_owned(),
                "AUTHENTICATES WITH".to_owned(),
                "TOKENS".to_owned(),
                "SCOPE".to_owned(),
                "REGISTERED IN".to_owned(),
            ]];
            for c in &cfg.clients {
                rows.push(row(c, &config.display().to_string()));
            }
            for (id, _) in store.clients().await? {
                if let Some(c) = registry.get(&id).filter(|_| !registry.is_configured(&id)) {
                    rows.push(row(&c, "store (clients add)"));
                }
            }
            print_table(&rows);
            Ok(true)
        }
        ClientsCommand::Check {
            config,
            client_id,
            cert,
        } => check::run(&config, &client_id, &cert).await,
    }
}

/// One line of `clients list`.
fn row(c: &RegisteredClient, from: &str) -> [String; 6] {
    let with = match &c.credential {
        ClientCredential::TlsClientAuth(subject) => subject.to_string(),
        ClientCredential::SelfSigned(SelfSignedKeys::Inline(certs)) => {
            format!("{} registered certificate(s)", certs.len())
        }
        ClientCredential::SelfSigned(SelfSignedKeys::Uri(u)) => format!("certificates from {u}"),
        ClientCredential::Secret { .. } => "a secret (stored hashed)".to_owned(),
        ClientCredential::PrivateKeyJwt { keys, .. } => match keys {
            AssertionKeys::Inline(_) => "signed assertions (inline jwks)".to_owned(),
            AssertionKeys::Uri(u) => format!("signed assertions (keys from {u})"),
        },
    };
    let format = match c.token_format {
        certbound_core::client::TokenFormat::Jwt => "JWT",
        certbound_core::client::TokenFormat::Opaque => "opaque",
    };
    let binding = if c.bound_tokens {
        "certificate-bound"
    } else if c.dpop_bound {
        "DPoP-bound"
    } else {
        "unbound"
    };
    let tokens = format!("{format}, {binding}");
    let scope = if c.scopes.is_empty() {
        "-".to_owned()
    } else {
        c.scopes.join(" ")
    };
    [
        certbound_core::error::printable(&c.client_id).into_owned(),
        c.credential.method().to_string(),
        with,
        tokens,
        scope,
        from.to_owned(),
    ]
}

/// Prints rows as aligned columns (two spaces apart), the first row being the header.
fn print_table(rows: &[[String; 6]]) {
    let mut widths = [0usize; 6];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
}
