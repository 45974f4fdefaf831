//! The one error type of the store, and the mapping from the engines' errors onto it.

use crate::db::{DbError, Failure};

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

/// Sorts an engine's error into the variant a caller can act on (the error says which engine
/// it came from).
pub(crate) fn classify(err: DbError) -> StoreError {
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
                db.code().is_some_and(|code| postgres_unavailable(&code))
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
            sqlite_unavailable(e.extended_code)
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

/// PostgreSQL SQLSTATEs that mean "not now" rather than "never": class 08 (connection
/// exception), 57P01..03 (admin/crash shutdown, cannot connect now), 53300 (too many
/// connections).
fn postgres_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// SQLite extended result codes that mean "not now": the primary code is the low byte,
/// SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_CANTOPEN (14).
fn sqlite_unavailable(extended_code: i32) -> bool {
    matches!(extended_code & 0xff, 5 | 6 | 10 | 14)
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

#[cfg(test)]
mod classify_tests {
    use super::*;

    fn sqlite_failure(extended_code: i32) -> DbError {
        DbError::sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(extended_code),
            None,
        ))
    }

    #[test]
    fn sqlite_errors_sort_into_what_callers_act_on() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517), SQLITE_LOCKED, SQLITE_IOERR_SHORT_READ (522).
        for code in [5, 517, 6, 522] {
            assert!(
                classify(sqlite_failure(code)).is_unavailable(),
                "code {code}"
            );
        }
        for code in [
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE,
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
        ] {
            assert!(matches!(
                classify(sqlite_failure(code)),
                StoreError::Conflict(_)
            ));
        }
        // A foreign-key or CHECK failure is the caller's bug, not a passing condition.
        for code in [
            rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
            rusqlite::ffi::SQLITE_CONSTRAINT_CHECK,
        ] {
            assert!(matches!(
                classify(sqlite_failure(code)),
                StoreError::Query(_)
            ));
        }
        assert!(classify(DbError::closed()).is_unavailable());
        assert!(matches!(
            classify(DbError::decode("x".into())),
            StoreError::Query(_)
        ));
    }

    #[test]
    fn postgres_states_that_mean_not_now() {
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert!(postgres_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "40001"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
    }
}
