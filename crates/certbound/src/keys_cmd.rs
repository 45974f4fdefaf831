//! `certbound keys ...`: signing-key management on the shared store.

use anyhow::Context;
use certbound_server::config::Config;
use certbound_server::keys::{rotate_in_store, SigningAlg};
use std::path::PathBuf;

/// `certbound keys ...`.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Add a new active signing key; the previous one stays published until its tokens expire.
    /// Running servers pick it up within `[tokens] key_refresh_seconds`.
    Rotate {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
    },
    /// List the signing keys in the store.
    List {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
    },
}

/// Runs the command.
pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Rotate { config } => {
            let cfg = Config::load(&config)?;
            let store = cfg
                .config
                .store
                .connect()
                .await
                .context("opening the store")?;
            let alg =
                SigningAlg::parse(&cfg.config.tokens.signing_alg).unwrap_or(SigningAlg::Es256);
            let now = certbound_server::state::now_secs();
            // Keep the old key published for a token lifetime plus the refresh interval and a minute of clock skew.
            let keep = i64::from(cfg.config.tokens.access_token_ttl_seconds)
                + i64::from(cfg.config.tokens.key_refresh_seconds)
                + 60;
            let kid = rotate_in_store(&store, alg, now, keep).await?;
            println!(
                "new active {} key: kid {kid}; previous keys stay published for {keep} s",
                alg.as_str()
            );
        }
        KeysCommand::List { config } => {
            let cfg = Config::load(&config)?;
            let store = cfg
                .config
                .store
                .connect()
                .await
                .context("opening the store")?;
            for k in store.signing_keys().await? {
                println!(
                    "{}\t{}\tcreated {}\t{}",
                    k.kid,
                    k.alg,
                    k.created_at,
                    match (k.retired_at, k.publish_until) {
                        (None, _) => "active".to_owned(),
                        (Some(r), Some(p)) => format!("retired {r}, published until {p}"),
                        (Some(r), None) => format!("retired {r}"),
                    }
                );
            }
        }
    }
    Ok(())
}
