//! The `consents` table: the scope a user allowed a client, remembered so the consent page is
//! shown again only for more scope (or when `prompt=consent` asks). One row per (user, client).

use crate::{Store, StoreError};

/// A remembered consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user ([`crate::User::id`]).
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The allowed scope (space-separated).
    pub scope: String,
    /// When it was (last) given (seconds since the Unix epoch).
    pub granted_at: i64,
}

impl Store {
    /// Remembers (or replaces) the user's consent to the client for `scope`.
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE \
             SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The user's remembered consent to the client, if any.
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<Consent>, StoreError> {
        let row = crate::db::query(
            "SELECT user_id, client_id, scope, granted_at FROM consents \
             WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        let consent = |row: crate::db::Row| -> Result<Consent, crate::db::DbError> {
            Ok(Consent {
                user_id: row.try_get("user_id")?,
                client_id: row.try_get("client_id")?,
                scope: row.try_get("scope")?,
                granted_at: row.try_get("granted_at")?,
            })
        };
        row.map(consent).transpose().map_err(|e| self.err(e))
    }

    /// Forgets the user's consent to the client (tokens already issued are not revoked: revoke
    /// their grants for that). Returns whether there was one.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let done = crate::db::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }
}
