//! Deleting what has expired, for every table that holds short-lived rows: one call, a bounded
//! number of rows, so the server's maintenance loop covers new tables without changes.

use crate::{Store, StoreError};

/// How long a grant with nothing left under it (no code, refresh token or access token record)
/// is kept after its creation before it is deleted: longer than any code lives, so a grant is
/// never deleted between its code's redemption and the tokens issued for it.
pub(crate) const EMPTY_GRANT_KEEP_SECONDS: i64 = 3_600;

/// Tables with an `expires_at`: (table, key columns, which rows are dead at `$1`).
const EXPIRING: &[(&str, &str, &str)] = &[
    // Revoked tokens are kept until they expire, so a revoked JWT is still known as revoked
    // while it would otherwise verify.
    ("access_tokens", "hash", "expires_at < $1"),
    ("par_requests", "handle_hash", "expires_at < $1"),
    ("authorization_codes", "code_hash", "expires_at < $1"),
    ("refresh_tokens", "token_hash", "expires_at < $1"),
    (
        "login_sessions",
        "session_hash",
        "expires_at < $1 OR ended_at IS NOT NULL",
    ),
    ("interactions", "id_hash", "expires_at < $1"),
    // A used jti is kept until its JWT expires; after that the JWT is refused as expired.
    ("used_jtis", "kind, client_id, jti_hash", "expires_at < $1"),
];

impl Store {
    /// Deletes expired rows, at most `batch` rows in all (oldest first) per call, so a large
    /// backlog never holds the write lock for long; returns rows deleted. Call again while it
    /// returns `batch`. Covers access tokens, pushed requests, codes, refresh tokens, ended
    /// or expired login sessions, interactions, used `jti`s, and grants with nothing left under them.
    /// Access and refresh tokens are kept until they expire even when revoked, so they are
    /// still known as revoked.
    pub async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let mut left = u64::from(batch);
        let mut total = 0;
        for (table, key, dead) in EXPIRING {
            if left == 0 {
                break;
            }
            let sql = format!(
                "DELETE FROM {table} WHERE ({key}) IN \
                 (SELECT {key} FROM {table} WHERE {dead} ORDER BY expires_at LIMIT $2)"
            );
            let done = crate::db::query(&sql)
                .bind(now)
                .bind(i64::try_from(left).unwrap_or(i64::MAX))
                .execute(&self.writes)
                .await
                .map_err(|e| self.err(e))?;
            if done.rows_affected() > 0 {
                tracing::debug!(table, deleted = done.rows_affected(), "expired rows purged");
            }
            total += done.rows_affected();
            left = left.saturating_sub(done.rows_affected());
        }
        if left > 0 {
            let done = crate::db::query(
                "DELETE FROM grants WHERE grant_id IN (SELECT g.grant_id FROM grants g \
                 WHERE g.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.grant_id) \
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.grant_id) \
                 AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.grant_id) \
                 ORDER BY g.created_at LIMIT $2)",
            )
            .bind(now.saturating_sub(EMPTY_GRANT_KEEP_SECONDS))
            .bind(i64::try_from(left).unwrap_or(i64::MAX))
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
            total += done.rows_affected();
        }
        Ok(total)
    }
}
