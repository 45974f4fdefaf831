//! `certbound users ...`: add, list, remove users and set their passwords, in the store (so every
//! instance sees them). Passwords are read from standard input only, hashed with argon2id
//! (OWASP parameters), and never printed or logged.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use certbound_server::config::Config;
use certbound_store::{NewUser, Store};
use serde_json::{Map, Value};

/// Claims a user's `--claim` may not set: the server derives them, or they have their own flag.
const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "cnf",
    "client_id",
    "scope",
    "email",
    "name",
];

/// `certbound users ...`.
#[derive(clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user who can sign in at the authorization endpoint. The password is read from
    /// standard input (one line; at least 8 characters) and stored only as its argon2id hash.
    ///
    /// Example:
    ///   printf %s "$PASSWORD" | certbound users add --username alice --password-stdin --email alice@example.com --name "Alice Example" --claim locale=de-CH
    #[command(verbatim_doc_comment)]
    Add {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The login name: 1 to 64 characters of A-Z a-z 0-9 . _ @ -
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords are never arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// E-mail address (the `email` claim).
        #[arg(long)]
        email: Option<String>,
        /// Display name (the `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// A further claim, `key=value` (a string) or `key:=JSON` (e.g. `email_verified:=true`);
        /// repeatable.
        #[arg(long = "claim", value_name = "KEY=VALUE")]
        claims: Vec<String>,
    },
    /// List the users (never their password hashes).
    List {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
    },
    /// Remove a user: their grants, refresh tokens, sessions and consents go with them, and
    /// their access tokens are revoked.
    Remove {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The user to remove.
        #[arg(long)]
        username: String,
    },
    /// Set a user's password (read from standard input); ends the user's login sessions.
    Passwd {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml")]
        config: PathBuf,
        /// The user.
        #[arg(long)]
        username: String,
        /// Read the new password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Runs the command; `Ok(false)` (a non-zero exit) when the user does not exist.
pub async fn run(cmd: UsersCommand) -> anyhow::Result<bool> {
    match cmd {
        UsersCommand::Add {
            config,
            username,
            password_stdin: _,
            email,
            name,
            claims,
        } => {
            check_username(&username)?;
            let claims = claims_json(&claims)?;
            let password_hash = hash(password_from_stdin()?).await?;
            let store = open(&config).await?;
            let new = NewUser {
                username: username.clone(),
                email,
                name,
                claims,
                password_hash,
            };
            let user = match store.add_user(&new, now()).await {
                Err(certbound_store::StoreError::Conflict(_)) => {
                    anyhow::bail!("a user named '{username}' already exists (use `users passwd` to change the password)")
                }
                other => other.context("adding the user")?,
            };
            println!("Added user '{}' (sub {}).", user.username, user.id);
            Ok(true)
        }
        UsersCommand::List { config } => {
            let store = open(&config).await?;
            let mut rows = vec![[
                "USERNAME".to_owned(),
                "ID (sub)".to_owned(),
                "EMAIL".to_owned(),
                "NAME".to_owned(),
                "STATUS".to_owned(),
                "PASSWORD SET".to_owned(),
            ]];
            for u in store.users().await? {
                rows.push([
                    u.username,
                    u.id,
                    printable(u.email.as_deref()),
                    printable(u.name.as_deref()),
                    if u.disabled { "disabled" } else { "active" }.to_owned(),
                    timestamp(u.password_changed_at),
                ]);
            }
            print_table(&rows);
            Ok(true)
        }
        UsersCommand::Remove { config, username } => {
            let store = open(&config).await?;
            if store.remove_user(&username, now()).await? {
                println!("Removed user '{username}'; their tokens are revoked.");
                Ok(true)
            } else {
                println!("No user '{}'.", printable(Some(&username)));
                Ok(false)
            }
        }
        UsersCommand::Passwd {
            config,
            username,
            password_stdin: _,
        } => {
            check_username(&username)?;
            let password_hash = hash(password_from_stdin()?).await?;
            let store = open(&config).await?;
            if store
                .set_user_password(&username, &password_hash, now())
                .await?
            {
                println!("Changed the password of '{username}'; their login sessions are ended.");
                Ok(true)
            } else {
                println!("No user '{username}'.");
                Ok(false)
            }
        }
    }
}

async fn open(config: &Path) -> anyhow::Result<Store> {
    let cfg = Config::load(config)?;
    cfg.config
        .store
        .connect()
        .await
        .context("opening the store")
}

fn check_username(username: &str) -> anyhow::Result<()> {
    if !certbound_store::valid_username(username) {
        anyhow::bail!(
            "--username: 1 to 64 characters of A-Z a-z 0-9 . _ @ - (got {:?})",
            certbound_core::error::printable(username)
        );
    }
    Ok(())
}

/// argon2id (OWASP parameters) on the blocking pool; refuses passwords under 8 characters.
async fn hash(password: String) -> anyhow::Result<String> {
    let hashed =
        tokio::task::spawn_blocking(move || certbound_core::secret::hash_password(&password))
            .await
            .context("hashing the password")?;
    Ok(hashed
        .map_err(|e| anyhow::anyhow!("--password-stdin: {e}"))?
        .phc()
        .to_owned())
}

/// Reads one password line from standard input (without its line ending).
fn password_from_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(4 * 1024)
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        anyhow::bail!("--password-stdin: standard input held no password");
    }
    if password.contains(['\n', '\r']) {
        anyhow::bail!("--password-stdin: the password must be a single line");
    }
    Ok(password.to_owned())
}

/// The `--claim` arguments as a JSON object text.
fn claims_json(args: &[String]) -> anyhow::Result<String> {
    let mut claims = Map::new();
    for arg in args {
        let (key, value) = if let Some((key, json)) = arg.split_once(":=") {
            let value: Value = serde_json::from_str(json)
                .with_context(|| format!("--claim {key}:=...: the value is not JSON"))?;
            (key, value)
        } else if let Some((key, text)) = arg.split_once('=') {
            (key, Value::String(text.to_owned()))
        } else {
            anyhow::bail!("--claim expects key=value or key:=JSON, got {arg:?}");
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!("--claim: {key:?} is not a claim name");
        }
        if RESERVED_CLAIMS.contains(&key) {
            anyhow::bail!("--claim: {key} is set by the server or by its own flag");
        }
        if claims.insert(key.to_owned(), value).is_some() {
            anyhow::bail!("--claim: {key} given twice");
        }
    }
    Ok(Value::Object(claims).to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn printable(value: Option<&str>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |v| certbound_core::error::printable(v).into_owned(),
    )
}

fn timestamp(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| epoch.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_from_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(claims_json(&[]).unwrap(), "{}");
        let json = claims_json(&args(&[
            "locale=de-CH",
            "email_verified:=true",
            "zip=8000",
            "note=a=b",
        ]))
        .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["locale"], "de-CH");
        assert_eq!(v["email_verified"], true);
        assert_eq!(v["zip"], "8000");
        assert_eq!(v["note"], "a=b");
        for bad in [
            &["noequals"][..],
            &["=x"],
            &["sub=alice"],
            &["email=a@b"],
            &["a=1", "a=2"],
            &["x:=not json"],
            &["sp ace=1"],
        ] {
            assert!(claims_json(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
