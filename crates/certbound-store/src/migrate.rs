//! Versioned schema migrations, one script set per backend, recorded in `schema_version`.
//!
//! The scripts live in `migrations/<backend>/NNNN_name.sql` and are compiled into the binary.
//! Both backends always have the same versions: version N means the same tables on both.

use crate::db::Pool;
use crate::error::classify;
use crate::{Backend, StoreError};

/// One schema change: applying it moves the schema to `version`.
pub(crate) struct Migration {
    /// The schema version after this script.
    pub(crate) version: i64,
    /// Short description, recorded in `schema_version`.
    pub(crate) description: &'static str,
    /// The script; may hold several statements.
    pub(crate) sql: &'static str,
}

/// SQLite scripts, oldest first.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "clients",
        sql: include_str!("../migrations/sqlite/0002_clients.sql"),
    },
    Migration {
        version: 3,
        description: "user flows",
        sql: include_str!("../migrations/sqlite/0003_user_flows.sql"),
    },
    Migration {
        version: 4,
        description: "used jtis",
        sql: include_str!("../migrations/sqlite/0004_used_jtis.sql"),
    },
    Migration {
        version: 5,
        description: "code dpop_jkt",
        sql: include_str!("../migrations/sqlite/0005_code_dpop_jkt.sql"),
    },
];

/// PostgreSQL scripts, oldest first; same versions as [`SQLITE`].
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "clients",
        sql: include_str!("../migrations/postgres/0002_clients.sql"),
    },
    Migration {
        version: 3,
        description: "user flows",
        sql: include_str!("../migrations/postgres/0003_user_flows.sql"),
    },
    Migration {
        version: 4,
        description: "used jtis",
        sql: include_str!("../migrations/postgres/0004_used_jtis.sql"),
    },
    Migration {
        version: 5,
        description: "code dpop_jkt",
        sql: include_str!("../migrations/postgres/0005_code_dpop_jkt.sql"),
    },
];

/// The newest schema version this build knows (the last migration's version).
pub const SCHEMA_VERSION: i64 = 5;

/// Bookkeeping table; identical on both backends. One row per applied migration.
const CREATE_SCHEMA_VERSION: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version     BIGINT NOT NULL PRIMARY KEY,
    description TEXT   NOT NULL,
    applied_at  BIGINT NOT NULL
)";

/// Advisory lock key serialising migrations of several PostgreSQL nodes ("certbnd" in ASCII).
const PG_MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"\0certbnd");

/// The scripts for `backend`.
pub(crate) fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], in one transaction, or refuses a newer schema.
///
/// SQLite takes the write lock up front (`BEGIN IMMEDIATE`) and PostgreSQL an advisory
/// transaction lock, so concurrent starters wait for each other and then find nothing to do.
pub(crate) async fn run(pool: &Pool, backend: Backend) -> Result<(), StoreError> {
    let err = classify;
    let mut tx = pool.begin().await.map_err(err)?;

    if backend == Backend::Postgres {
        crate::db::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut tx)
            .await
            .map_err(err)?;
    }
    tx.execute_script(CREATE_SCHEMA_VERSION)
        .await
        .map_err(err)?;

    let current: Option<i64> = crate::db::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut tx)
        .await
        .map_err(err)?;
    let current = current.unwrap_or(0);
    if current > SCHEMA_VERSION {
        tracing::error!(
            found = current,
            supported = SCHEMA_VERSION,
            "database schema is newer than this binary"
        );
        // Dropping `tx` rolls back; nothing was changed anyway.
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }

    let now = now_epoch();
    for m in migrations(backend).iter().filter(|m| m.version > current) {
        tracing::info!(
            version = m.version,
            description = m.description,
            ?backend,
            "applying database migration"
        );
        tx.execute_script(m.sql)
            .await
            .map_err(|source| StoreError::Migrate {
                version: m.version,
                description: m.description,
                source,
            })?;
        crate::db::query(
            "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(now)
        .execute(&mut tx)
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    tracing::debug!(
        version = SCHEMA_VERSION,
        ?backend,
        "database schema is current"
    );
    Ok(())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
