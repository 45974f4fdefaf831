//! The one error type of the store, and the mapping from the engines' errors onto it.

use crate::db::{DbError, Failure};
use crate::Backend;

/// Why a store operation failed.
///
/// The variants are what a caller acts on: [`StoreError::Unavailable`] is temporary (the server
/// answers 503 and the client may retry), [`StoreError::Conflict`] and [`StoreError::NotFound`]
/// are about the request, everything else is an operator's problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is malformed or names a backend this build does not support.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The first connection to the database could not be opened.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: DbError,
    },

    /// The SQLite database file (or its directory) cannot be opened for reading and writing by
    /// this process: checked before the driver tries, so the message names the path and the fix.
    #[error("SQLite database {path}: {reason}")]
    SqliteFile {
        /// The database file.
        path: std::path::PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },

    /// The SQLite database file (or its `-wal` or `-shm` file) can be read or written by users
    /// other than its owner. It holds the signing private keys, so the store refuses to open it
    /// (as OpenSSH refuses a private key others can read), unless
    /// [`StoreOptions::allow_readable_file`](crate::StoreOptions::allow_readable_file) says so.
    #[error(
        "SQLite database {path} has mode {mode:04o}: other users can read it, but it holds the \
         signing private keys, and anyone who can read it can mint access tokens for any client. \
         Fix: chmod 600 {fix} (or, to accept the risk, set [store] allow_readable_file = true)"
    )]
    ReadableByOthers {
        /// The first file found too open (the database, or its `-wal` or `-shm` file).
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The files to `chmod 600`, separated by spaces.
        fix: String,
    },

    /// A migration script failed; the whole migration was rolled back.
    #[error("database migration {version} ({description}) failed: {source}")]
    Migrate {
        /// The schema version the failing script would have produced.
        version: i64,
        /// The script's short description.
        description: &'static str,
        /// The driver's error.
        #[source]
        source: DbError,
    },

    /// The database was migrated by a newer certbound; this binary refuses to touch it.
    #[error(
        "the database schema is at version {found}, but this certbound release only knows \
         versions up to {supported}; upgrade certbound (or point it at another database)"
    )]
    SchemaTooNew {
        /// The schema version recorded in the database.
        found: i64,
        /// The newest schema version this binary knows.
        supported: i64,
    },

    /// The database cannot be reached right now (connection lost or refused, pool exhausted
    /// for longer than the acquire timeout, SQLite busy or locked). Temporary: map it to 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbError),

    /// A unique constraint was violated (duplicate `kid`, token hash or `jti`).
    #[error("conflicts with an existing record: {0}")]
    Conflict(#[source] DbError),

    /// The record to change does not exist (e.g. retiring an unknown `kid`).
    #[error("not found: {0}")]
    NotFound(String),

    /// The record was refused before reaching the database (e.g. a token hash that is not
    /// 32 bytes, claims that are not JSON).
    #[error("invalid record: {0}")]
    Invalid(String),

    /// The system random number generator failed (no handle or identifier could be made).
    #[error("the system random number generator failed")]
    Random,

    /// Any other database error: a bug or a broken schema rather than a passing condition.
    #[error("database query failed: {0}")]
    Query(#[source] DbError),
}

impl StoreError {
    /// Whether the failure is temporary and the operation may succeed if retried later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Sorts an engine's error into the variant a caller can act on.
pub(crate) fn classify(backend: Backend, err: DbError) -> StoreError {
    let unavailable = match &err.0 {
        Failure::Closed => true,
        Failure::Postgres(e) => match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict(err);
                }
                db.code()
                    .is_some_and(|code| unavailable_code(backend, code.as_ref()))
            }
            _ => false,
        },
        Failure::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
            if matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) {
                return StoreError::Conflict(err);
            }
            unavailable_code(backend, &e.extended_code.to_string())
        }
        Failure::Sqlite(_) | Failure::Decode(_) | Failure::Other(_) => false,
    };
    if unavailable {
        tracing::warn!(error = %err, "database unavailable");
        StoreError::Unavailable(err)
    } else {
        StoreError::Query(err)
    }
}

/// Database error codes that mean "not now" rather than "never".
fn unavailable_code(backend: Backend, code: &str) -> bool {
    match backend {
        // SQLSTATE class 08 (connection exception), 57P01..03 (admin/crash shutdown,
        // cannot connect now), 53300 (too many connections).
        Backend::Postgres => {
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        // Extended result codes; the primary code is the low byte: SQLITE_BUSY (5),
        // SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_CANTOPEN (14).
        Backend::Sqlite => code
            .parse::<i64>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 14)),
    }
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`, so URLs can
/// be logged and put in error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let url = redact_userinfo(url);
    // libpq-style `?password=...` query parameter.
    match url.find("password=") {
        Some(start) => {
            let value_start = start + "password=".len();
            let value_end = url[value_start..]
                .find(['&', '#'])
                .map_or(url.len(), |i| value_start + i);
            format!("{}***{}", &url[..value_start], &url[value_end..])
        }
        None => url,
    }
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}
