//! The `grants` table: what a user granted a client, one row per issued authorization code.
//! Codes, refresh tokens and access tokens issued from it carry its `grant_id`, so revoking the
//! grant (a replayed code, a reused rotated refresh token, a revoked refresh token, the user
//! removed) revokes all of them at once.

use crate::db::{DbError, Row};

use crate::{Store, StoreError};

const GRANT_COLUMNS: &str = "grant_id, client_id, user_id, scope, created_at, revoked_at";

/// A user's grant to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Random 128-bit identifier (32 hex digits); not a secret.
    pub grant_id: String,
    /// The client it was granted to.
    pub client_id: String,
    /// The user ([`crate::User::id`]) who granted it.
    pub user_id: String,
    /// The granted scope (space-separated); refreshed tokens may only narrow it.
    pub scope: String,
    /// When it was granted (seconds since the Unix epoch).
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl Store {
    /// The grant with this id, revoked ones included.
    pub async fn grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let row = crate::db::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1"
        ))
        .bind(grant_id)
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(grant_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Revokes the grant and everything issued under it, in one transaction: its refresh
    /// tokens and access tokens are marked revoked, its unredeemed codes consumed. Returns
    /// whether the grant was active (`false` for an unknown or already revoked grant; the
    /// first `revoked_at` is kept).
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = revoke_in(&mut tx, grant_id, now)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        if changed {
            tracing::info!(grant_id, "grant revoked with its tokens and codes");
        }
        Ok(changed)
    }
}

/// Inserts a new grant (inside the transaction that issues its first code).
pub(crate) async fn insert(tx: &mut crate::db::Tx, grant: &Grant) -> Result<(), DbError> {
    crate::db::query(&format!(
        "INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(grant.grant_id.as_str())
    .bind(grant.client_id.as_str())
    .bind(grant.user_id.as_str())
    .bind(grant.scope.as_str())
    .bind(grant.created_at)
    .bind(grant.revoked_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// [`Store::revoke_grant`] inside a caller's transaction.
pub(crate) async fn revoke_in(
    tx: &mut crate::db::Tx,
    grant_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = crate::db::query(
        "UPDATE grants SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(grant_id)
    .execute(&mut *tx)
    .await?;
    for sql in [
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
        "UPDATE access_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
        "UPDATE authorization_codes SET consumed_at = $1 \
         WHERE grant_id = $2 AND consumed_at IS NULL",
    ] {
        crate::db::query(sql)
            .bind(now)
            .bind(grant_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(done.rows_affected() > 0)
}

fn grant_from_row(row: &Row) -> Result<Grant, DbError> {
    Ok(Grant {
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
