//! Persistent state of the certbound authorization server: JWT signing keys, issued access
//! tokens (for introspection and revocation), clients registered at run time, and the state of
//! user flows (users, pushed authorization requests, codes, grants, refresh tokens, login
//! sessions, consents, interactions), on SQLite (the embedded default) or PostgreSQL (several
//! server nodes sharing one database, so a flow started on one completes on another).
//!
//! One module per table: `keys`, `clients`, `tokens`, `users`, `par`, `codes`, `grants`,
//! `refresh`, `sessions`, `consents`, `interactions`; `purge` deletes what expired in all of
//! them. Every secret-like value the user flows hand out (codes, refresh tokens, session ids,
//! `request_uri` handles, interaction ids) is 256 random bits, returned once in plain text at
//! creation and stored only as its SHA-256. Single-use steps (consuming a pushed request,
//! redeeming a code, rotating a refresh token, finishing an interaction) are one conditional
//! write each, so exactly one of concurrent callers wins, on any number of instances.
//!
//! There is one SQL code path: every query is written once, with `$n` placeholders, and runs
//! through the store's `db` module: in place on SQLite (rusqlite; a statement is microseconds
//! of work, so it runs on the calling thread rather than being handed to a driver thread), and
//! through sqlx's pool on PostgreSQL. Only the migration scripts differ per backend (in
//! `migrations/sqlite/` and `migrations/postgres/`, compiled in, versioned in a
//! `schema_version` table). Times are `i64` seconds since the Unix epoch, binary values are
//! `BLOB`/`BYTEA`, and no column is boolean (one set of value types serves both backends):
//! "revoked" is `revoked_at IS NOT NULL`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), certbound_store::StoreError> {
//! let store = certbound_store::Store::connect("sqlite://certbound.db").await?;
//! let keys = store.signing_keys().await?;
//! # Ok(()) }
//! ```
//!
//! Operational behaviour:
//! - **SQLite** files are created if missing, with mode 0600 (SQLite gives the `-wal` and `-shm`
//!   files the database's mode), and an existing file that other users can read is refused
//!   ([`StoreError::ReadableByOthers`]): it holds the signing private keys. Files are switched
//!   to WAL mode; every connection sets
//!   `foreign_keys`, `busy_timeout` and `synchronous = NORMAL`. Reads run in place on a small
//!   pool of reader connections; writes go to the one writer connection's thread, so writers
//!   queue in the process instead of fighting over SQLite's lock, and a commit that fsyncs
//!   (a WAL restart or checkpoint) never blocks an async worker. `sqlite::memory:` uses exactly
//!   one connection for everything (each SQLite connection would otherwise get its own empty
//!   in-memory database).
//! - **PostgreSQL**: when the server goes away, operations fail within the acquire timeout
//!   (3 s by default) with [`StoreError::Unavailable`], and the pool reconnects by itself
//!   when the server is back. Migrations of several nodes starting at once are serialised
//!   with an advisory lock.
//! - A database whose schema is newer than this binary knows is refused
//!   ([`StoreError::SchemaTooNew`]) rather than written to.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod argon2_slots;
mod clients;
mod codes;
mod consents;
mod db;
mod error;
mod grants;
mod group_commit;
mod handles;
mod interactions;
mod jti;
mod keys;
mod migrate;
mod par;
mod purge;
mod records;
mod refresh;
mod sessions;
mod tokens;
mod users;

use std::fmt;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use db::{Engine, Pool, SqliteDb};

pub use codes::{
    AuthorizationCode, CodeExchange, CodeRedemption, ExchangeRecords, IssuedCode,
    NewAuthorizationCode,
};
pub use consents::Consent;
pub use db::DbError;
pub use error::StoreError;
pub use grants::Grant;
pub use interactions::{Interaction, NewInteraction};
pub use jti::JtiKind;
pub use migrate::SCHEMA_VERSION;
pub use par::{ParRequest, REQUEST_URI_PREFIX};
pub use records::{SigningKeyRecord, TokenLookup, TokenRecord, TOKEN_FORMATS};
pub use refresh::{NewRefreshToken, RefreshRotation, RefreshTokenRecord};
pub use sessions::{LoginSession, NewLoginSession};
pub use users::{valid_username, NewUser, User};

use error::{classify, redact_url};

/// The database product behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite: a file (or memory), one server node.
    Sqlite,
    /// PostgreSQL: shared by several server nodes.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Tuning for [`Store::connect_with`]; [`Default`] is what [`Store::connect`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    max_connections: Option<u32>,
    acquire_timeout: Duration,
    allow_readable_file: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(3),
            allow_readable_file: false,
        }
    }
}

impl StoreOptions {
    /// The defaults: backend-specific pool size, 3 s acquire timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maximum connections of the pool (PostgreSQL; default 10) or idle reader connections kept
    /// (SQLite file; default 4: a read runs in place, so there are rarely more at once than
    /// threads running the store). Ignored for `sqlite::memory:`, which always uses one
    /// connection.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// How long an operation waits for a PostgreSQL connection before failing with
    /// [`StoreError::Unavailable`]; this bounds how long callers hang when the database is
    /// down. Default 3 s. (SQLite never waits for a connection; a statement waits at most its
    /// 5 s busy timeout for another process's lock.)
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Open a SQLite file (or its `-wal`/`-shm` files) that users other than its owner can read
    /// or write, with a warning, instead of refusing with [`StoreError::ReadableByOthers`].
    /// Default `false`: the file holds the signing private keys. Unix only; PostgreSQL and
    /// in-memory databases are unaffected.
    pub fn allow_readable_file(mut self, allow: bool) -> Self {
        self.allow_readable_file = allow;
        self
    }
}

/// Handle to the database; cheap to clone and shareable between tasks.
#[derive(Clone)]
pub struct Store {
    /// Where reads go (on SQLite, the reader connections; on PostgreSQL, the one pool).
    reads: Pool,
    /// Where writes go: the single writer connection on SQLite, so writers queue here instead
    /// of spinning on SQLite's busy handler.
    writes: Pool,
    backend: Backend,
    /// Group commit of used `jti`s (see [`Store::record_jti`]).
    jtis: std::sync::Arc<group_commit::GroupCommit<jti::JtiRow>>,
    /// Group commit of issued access tokens (see [`Store::insert_token`]).
    tokens: std::sync::Arc<group_commit::GroupCommit<tokens::TokenRow>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("read_connections", &self.reads.size())
            .field("write_connections", &self.writes.size())
            .finish()
    }
}

/// A database URL, understood.
struct Target {
    backend: Backend,
    /// The URL handed to the engine (for SQLite files, with `mode=rwc` added).
    url: String,
    /// SQLite in-memory database: must live on exactly one connection.
    memory: bool,
}

/// Checks that this process can open (or create) the SQLite file read-write, so a wrong path or
/// permission is reported once, with the path and the fix, instead of as SQLite's "unable to open
/// database file" (code 14); a new file is created with mode 0600. Then checks that no other
/// user can read the file or its `-wal`/`-shm` files ([`check_private_mode`]). Read-only URLs
/// (`mode=ro`) skip the first check, not the second: the keys are in the file all the same.
fn check_sqlite_file(url: &str, allow_readable_file: bool) -> Result<(), StoreError> {
    let rest = url.strip_prefix("sqlite://").unwrap_or(url);
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let path = std::path::PathBuf::from(path);
    if !params.split('&').any(|p| p == "mode=ro") {
        check_sqlite_open(&path)?;
    }
    check_private_mode(&path, allow_readable_file)
}

/// Opens (or creates, mode 0600) the SQLite file read-write, and explains a failure.
fn check_sqlite_open(path: &std::path::Path) -> Result<(), StoreError> {
    let path = path.to_owned();
    let fail = |reason: String| StoreError::SqliteFile {
        path: path.clone(),
        reason,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(fail(format!(
                "{} is not a directory: change [store] url (or CERTBOUND_STORE_URL)",
                dir.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "the directory {} does not exist: create it (mkdir -p {}) or change [store] url \
                 (or CERTBOUND_STORE_URL)",
                dir.display(),
                dir.display()
            )))
        }
        Err(e) => {
            return Err(fail(format!(
                "cannot read the directory {}: {e}",
                dir.display()
            )))
        }
    }
    let existed = path.exists();
    let mut open = std::fs::OpenOptions::new();
    open.read(true).write(true).create(true).truncate(false);
    // Only the owner may read the keys; SQLite creates -wal and -shm with the database's mode.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(fail(if existed {
            "permission denied: this user cannot read and write the file; certbound needs read \
             and write access to it and to its directory (for SQLite's -wal and -shm files): fix \
             its owner or mode"
                .to_owned()
        } else {
            format!(
                "permission denied: this user cannot create files in {}; fix the directory's \
                 owner or mode, or change [store] url (or CERTBOUND_STORE_URL)",
                dir.display()
            )
        })),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            Err(fail("is a directory: the URL must name a file".to_owned()))
        }
        Err(e) => Err(fail(format!(
            "cannot be opened for reading and writing: {e}"
        ))),
    }
}

/// Refuses (or, when allowed, warns about) a SQLite database whose file, `-wal` or `-shm` file
/// has any group or other permission bit: the database holds the signing private keys, and
/// whoever can read it can mint tokens. The rule is OpenSSH's for private keys. Files that do
/// not exist (yet) are skipped. Unix only.
#[cfg(unix)]
fn check_private_mode(
    database: &std::path::Path,
    allow_readable_file: bool,
) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        if let Ok(meta) = std::fs::metadata(&file) {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                open.push((file, mode));
            }
        }
    }
    let Some((path, mode)) = open.first().cloned() else {
        return Ok(());
    };
    let fix = open
        .iter()
        .map(|(f, _)| shell_word(&f.display().to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    if allow_readable_file {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:04o}"),
            fix = %format!("chmod 600 {fix}"),
            "the SQLite database holding the signing private keys is readable by other users; \
             opened anyway because [store] allow_readable_file = true"
        );
        return Ok(());
    }
    Err(StoreError::ReadableByOthers { path, mode, fix })
}

#[cfg(not(unix))]
fn check_private_mode(_: &std::path::Path, _: bool) -> Result<(), StoreError> {
    Ok(())
}

/// `word` quoted for a POSIX shell when it holds anything but safe characters.
#[cfg(unix)]
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '@')
        })
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            url: url.to_owned(),
            memory: false,
        });
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(invalid(
            "expected sqlite://PATH, sqlite::memory: or postgres://...",
        ));
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = match rest.split_once('?') {
        Some((d, p)) => (d, Some(p)),
        None => (rest, None),
    };
    let params: Vec<&str> = params
        .map(|p| p.split('&').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let memory = database == ":memory:" || params.contains(&"mode=memory");
    if database.is_empty() && !memory {
        return Err(invalid("no SQLite file path"));
    }
    if memory {
        // One spelling for all of them.
        return Ok(Target {
            backend: Backend::Sqlite,
            url: "sqlite::memory:".to_owned(),
            memory: true,
        });
    }
    let mut params: Vec<String> = params.into_iter().map(str::to_owned).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc".to_owned());
    }
    Ok(Target {
        backend: Backend::Sqlite,
        url: format!("sqlite://{database}?{}", params.join("&")),
        memory: false,
    })
}

impl Store {
    /// Opens the database at `url` with default [`StoreOptions`] and migrates it.
    ///
    /// Accepted URLs: `sqlite://PATH` (relative) or `sqlite:///ABS/PATH` (the file is created
    /// if missing; WAL mode, foreign keys, busy timeout), `sqlite::memory:` (one connection,
    /// lost on close), `postgres://user@host:port/db` (also `postgresql://`). Runs the
    /// versioned migrations; refuses a database whose schema version is newer than this
    /// binary knows with [`StoreError::SchemaTooNew`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit pool tuning.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let target = parse_url(url)?;
        let shown = redact_url(url);
        let connect_err = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };

        let engine = match target.backend {
            Backend::Postgres => Engine::Postgres(
                PgPoolOptions::new()
                    .acquire_timeout(options.acquire_timeout)
                    .test_before_acquire(true)
                    .max_connections(options.max_connections.unwrap_or(10))
                    .connect(&target.url)
                    .await
                    .map_err(|e| connect_err(DbError::pg(e)))?,
            ),
            Backend::Sqlite if target.memory => Engine::Sqlite(std::sync::Arc::new(
                SqliteDb::open_memory().map_err(connect_err)?,
            )),
            Backend::Sqlite => {
                check_sqlite_file(&target.url, options.allow_readable_file)?;
                let readers = options.max_connections.unwrap_or(4);
                Engine::Sqlite(std::sync::Arc::new(
                    SqliteDb::open_file(&target.url, readers).map_err(connect_err)?,
                ))
            }
        };

        let store = Store {
            reads: Pool {
                engine: engine.clone(),
                write: false,
            },
            writes: Pool {
                engine,
                write: true,
            },
            backend: target.backend,
            jtis: Default::default(),
            tokens: Default::default(),
        };
        if let Err(e) = migrate::run(&store.writes, store.backend).await {
            store.close().await;
            return Err(e);
        }
        tracing::info!(backend = %store.backend, url = %shown, schema_version = SCHEMA_VERSION, "store connected");
        Ok(store)
    }

    /// Which database product this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes all connections; operations after this fail with [`StoreError::Unavailable`].
    /// Waits for connections in use to be returned.
    pub async fn close(&self) {
        self.writes.close().await;
        self.reads.close().await;
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        db::query("SELECT 1")
            .execute(&self.reads)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn err(&self, e: DbError) -> StoreError {
        classify(e)
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up
    /// front, so another process writing the same file makes this one wait in the busy handler
    /// instead of failing when a read lock would be upgraded.
    async fn begin_write(&self) -> Result<db::Tx, StoreError> {
        self.writes.begin().await.map_err(|e| self.err(e))
    }
}

/// Refuses `text` unless it is a JSON object (claims, metadata, JWKs).
pub(crate) fn check_json_object(field: &str, text: &str) -> Result<(), StoreError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(StoreError::Invalid(format!("{field} is not a JSON object"))),
        Err(e) => Err(StoreError::Invalid(format!("{field} is not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests;
