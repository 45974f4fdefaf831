//! `certbound config check`: loads the configuration and the clients registered at run time, and
//! prints every FAPI 2.0 rule they break, with the rule and the fix (the rules the server
//! enforces at start under `profile = "fapi2"`, `certbound_server::profile`).

use anyhow::Context;
use certbound_server::config::Config;
use certbound_server::profile::{fapi2_violations, Profile};
use std::path::PathBuf;

/// `certbound config ...`.
#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration (and the stored clients) against its profile's rules; exit 0
    /// when clean, 1 otherwise.
    Check {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml", env = "CERTBOUND_CONFIG")]
        config: PathBuf,
        /// Check against this profile instead of the configured one (e.g. `--profile fapi2` shows
        /// what would break before switching).
        #[arg(long, value_parser = ["oauth2", "fapi2"])]
        profile: Option<String>,
    },
}

/// Runs the command; `Ok(false)` when a rule is broken.
pub async fn run(cmd: ConfigCommand) -> anyhow::Result<bool> {
    match cmd {
        ConfigCommand::Check { config, profile } => {
            let cfg = Config::load_unenforced(&config)?;
            let profile = match profile.as_deref() {
                Some("fapi2") => Profile::Fapi2,
                Some(_) => Profile::Oauth2,
                None => cfg.config.profile,
            };
            if profile == Profile::Oauth2 {
                println!("profile oauth2: no FAPI rules enforced (`--profile fapi2` shows what would break under fapi2)");
                return Ok(true);
            }
            let store = cfg
                .config
                .store
                .connect()
                .await
                .context("opening the store")?;
            let mut clients = cfg.clients.clone();
            let mut sources: Vec<String> = (0..clients.len())
                .map(|i| format!("{}: clients[{i}].", config.display()))
                .collect();
            for (id, json) in store
                .clients()
                .await
                .context("reading the stored clients")?
            {
                if clients.iter().any(|c| c.client_id == id) {
                    continue;
                }
                let registered = serde_json::from_str(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|meta| {
                        cfg.config
                            .register_unchecked(&meta, &cfg.base)
                            .map_err(|(k, m)| format!("{k}: {m}"))
                    });
                match registered {
                    Ok(c) => {
                        clients.push(c);
                        sources.push(format!("the store (clients add): client '{id}': "));
                    }
                    Err(e) => println!(
                        "note: stored client '{id}' does not validate and is not served: {e}"
                    ),
                }
            }
            let violations = fapi2_violations(&cfg.config, &clients);
            let checked = format!("{} and {} client(s)", config.display(), clients.len());
            if violations.is_empty() {
                println!("profile fapi2: {checked}: no violation");
                return Ok(true);
            }
            println!(
                "profile fapi2: {checked}: {} violation(s)",
                violations.len()
            );
            for v in &violations {
                let at = match &v.client_id {
                    Some(id) => {
                        let i = clients.iter().position(|c| &c.client_id == id).unwrap_or(0);
                        format!("{}{}", sources[i], v.key)
                    }
                    None => format!("{}: {}", config.display(), v.key),
                };
                println!();
                println!("  {at}");
                println!("    rule:    {}", v.rule);
                println!("    problem: {}", v.problem);
                println!("    fix:     {}", v.fix);
            }
            Ok(false)
        }
    }
}
