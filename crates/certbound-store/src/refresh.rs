//! The `refresh_tokens` table: refresh tokens are 256 random bits, stored only as SHA-256, and
//! belong to a grant. Without rotation (the FAPI default) a token is used as is until it expires
//! or its grant is revoked; with rotation, [`Store::rotate_refresh_token`] replaces it atomically
//! and reports a reuse of a replaced token after the grace window, so the caller revokes the
//! grant (RFC 9700 §4.14.2).

use std::fmt;
use std::sync::LazyLock;

use crate::db::{DbError, Row};

use crate::users::{qualified, USER_COLUMNS};
use crate::{grants, handles, Store, StoreError, User};

/// The columns of a refresh token's record, joined with its grant (user, scope); a revoked grant
/// revokes the token.
const RT_SELECT_FIELDS: &str = "SELECT r.grant_id, r.client_id, g.user_id, g.scope, r.x5t_s256, \
     r.issued_at, r.expires_at, r.rotated_at, COALESCE(r.revoked_at, g.revoked_at) AS revoked_at";
/// The tables of a refresh token's record: the token and its grant.
const RT_FROM: &str = "FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id";
/// A refresh token's record and its grant's user, by the token's hash (built once; the user's
/// columns are qualified: `grants` has a `created_at` too).
static TOKEN_AND_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{RT_SELECT_FIELDS}, {} {RT_FROM} LEFT JOIN users u ON u.id = g.user_id \
         WHERE r.token_hash = $1",
        qualified("u", USER_COLUMNS)
    )
});

/// A new refresh token, for [`Store::issue_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// The grant it is issued under (must be active).
    pub grant_id: String,
    /// The client it is issued to; only it may use it.
    pub client_id: String,
    /// For public clients: `x5t#S256` of the certificate it is bound to (RFC 8705 §4).
    /// Confidential clients' tokens are bound to the client instead, and stay usable after a
    /// certificate rollover.
    pub x5t_s256: Option<String>,
    /// When it expires (seconds since the Unix epoch).
    pub expires_at: i64,
}

/// A stored refresh token, with its grant's user and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The grant it belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The grant's user ([`crate::User::id`]).
    pub user_id: String,
    /// The grant's scope: a refresh may only narrow it.
    pub scope: String,
    /// The certificate it is bound to (public clients), if any.
    pub x5t_s256: Option<String>,
    /// When it was issued.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
    /// When it was replaced by a rotation, if it was.
    pub rotated_at: Option<i64>,
    /// When it (or its grant) was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl RefreshTokenRecord {
    /// Whether `client_id` may use it at `now` (ignoring rotation and the certificate binding,
    /// which the caller checks): its own, unexpired, not revoked.
    pub fn is_active_for(&self, client_id: &str, now: i64) -> bool {
        self.client_id == client_id && self.revoked_at.is_none() && now <= self.expires_at
    }
}

/// What [`Store::rotate_refresh_token`] did.
#[derive(Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The token was replaced; hand out `token` (its only plain-text appearance).
    Rotated {
        /// The successor refresh token. Secret: `Debug` does not print it.
        token: String,
    },
    /// The token had already been replaced, longer ago than the grace window: a stolen copy
    /// may be in use. Refuse with `invalid_grant` and revoke the grant.
    Reused(RefreshTokenRecord),
    /// Unknown, expired or revoked: refuse with `invalid_grant`.
    Unusable,
}

impl fmt::Debug for RefreshRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshRotation::Rotated { .. } => f.write_str("Rotated { token: <redacted> }"),
            RefreshRotation::Reused(r) => f.debug_tuple("Reused").field(r).finish(),
            RefreshRotation::Unusable => f.write_str("Unusable"),
        }
    }
}

impl Store {
    /// Issues a refresh token under an active grant and returns it (the only time it exists in
    /// plain text). An unknown or revoked grant, or a `client_id` that is not the grant's, is
    /// [`StoreError::NotFound`]; `expires_at < now` is [`StoreError::Invalid`].
    pub async fn issue_refresh_token(
        &self,
        new: &NewRefreshToken,
        now: i64,
    ) -> Result<String, StoreError> {
        check_expiry(new, now)?;
        let token = handles::new_handle()?;
        // One statement: the row is written only if the grant is active and the client's, so
        // no transaction (and its extra round trips) is needed.
        let inserted = insert_under_active_grant(&self.writes, &token.hash, new, now)
            .await
            .map_err(|e| self.err(e))?;
        if !inserted {
            return Err(no_active_grant(new));
        }
        Ok(token.text)
    }

    /// The refresh token's record, expired, rotated or revoked ones included (a revoked grant
    /// shows as `revoked_at`). Does not use it up.
    pub async fn refresh_token(
        &self,
        token: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = crate::db::query(&format!(
            "{RT_SELECT_FIELDS} {RT_FROM} WHERE r.token_hash = $1"
        ))
        .bind(handles::sha256(token).as_slice())
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(refresh_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// [`Store::refresh_token`] and the grant's user in one query (the refresh grant needs both,
    /// and each statement is a round trip to the database): `Some((record, None))` when the user
    /// has been removed since.
    pub async fn refresh_token_and_user(
        &self,
        token: &str,
    ) -> Result<Option<(RefreshTokenRecord, Option<User>)>, StoreError> {
        self.fetch_with_user(TOKEN_AND_USER.as_str(), token, refresh_from_row)
            .await
    }

    /// Replaces the token with a new one expiring at `expires_at` (same grant, client and
    /// certificate binding), atomically: of concurrent rotations of one token, one gets the
    /// successor. A token replaced less than `grace_seconds` ago is replaced again (a client
    /// that lost the answer may retry; 0 means no grace); one replaced earlier is reported as
    /// [`RefreshRotation::Reused`]. Check the client and binding on
    /// [`Store::refresh_token`] first.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        now: i64,
        expires_at: i64,
        grace_seconds: i64,
    ) -> Result<RefreshRotation, StoreError> {
        let hash = handles::sha256(token);
        let successor = handles::new_handle()?;
        let mut tx = self.begin_write().await?;
        let first = crate::db::query(
            "UPDATE refresh_tokens SET rotated_at = $1, replaced_by = $2 \
             WHERE token_hash = $3 AND rotated_at IS NULL AND revoked_at IS NULL \
             AND expires_at >= $1 \
             AND grant_id IN (SELECT grant_id FROM grants WHERE revoked_at IS NULL)",
        )
        .bind(now)
        .bind(successor.hash.as_slice())
        .bind(hash.as_slice())
        .execute(&mut tx)
        .await
        .map_err(|e| self.err(e))?;
        let record = crate::db::query(&format!(
            "{RT_SELECT_FIELDS} {RT_FROM} WHERE r.token_hash = $1"
        ))
        .bind(hash.as_slice())
        .fetch_optional(&mut tx)
        .await
        .map_err(|e| self.err(e))?
        .as_ref()
        .map(refresh_from_row)
        .transpose()
        .map_err(|e| self.err(e))?;
        let Some(record) = record else {
            return Ok(RefreshRotation::Unusable);
        };
        if first.rows_affected() == 0 {
            if record.revoked_at.is_some() || now > record.expires_at {
                return Ok(RefreshRotation::Unusable);
            }
            match record.rotated_at {
                Some(at) if now.saturating_sub(at) < grace_seconds => {
                    crate::db::query(
                        "UPDATE refresh_tokens SET replaced_by = $1 WHERE token_hash = $2",
                    )
                    .bind(successor.hash.as_slice())
                    .bind(hash.as_slice())
                    .execute(&mut tx)
                    .await
                    .map_err(|e| self.err(e))?;
                }
                Some(_) => {
                    tracing::warn!(client_id = %record.client_id, grant_id = %record.grant_id, "rotated refresh token reused");
                    return Ok(RefreshRotation::Reused(record));
                }
                None => return Ok(RefreshRotation::Unusable),
            }
        }
        let new = NewRefreshToken {
            grant_id: record.grant_id.clone(),
            client_id: record.client_id.clone(),
            x5t_s256: record.x5t_s256.clone(),
            expires_at,
        };
        insert(&mut tx, &successor.hash, &new, now)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(RefreshRotation::Rotated {
            token: successor.text,
        })
    }

    /// Revokes the refresh token's grant (and with it every token issued under it), only if
    /// the token belongs to `client_id` (RFC 7009 §2.1). Returns whether a grant was revoked.
    pub async fn revoke_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let grant: Option<String> = crate::db::query_scalar(
            "SELECT grant_id FROM refresh_tokens WHERE token_hash = $1 AND client_id = $2",
        )
        .bind(handles::sha256(token).as_slice())
        .bind(client_id)
        .fetch_optional(&mut tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(grant_id) = grant else {
            return Ok(false);
        };
        let changed = grants::revoke_in(&mut tx, &grant_id, now)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        if changed {
            tracing::info!(client_id, %grant_id, "refresh token revoked with its grant");
        }
        Ok(changed)
    }
}

/// Writes the refresh token `hash` for `new` only if its grant is active and `new.client_id`'s;
/// `false` if not. On the write pool or inside a transaction.
pub(crate) async fn insert_under_active_grant<'e>(
    on: impl Into<crate::db::Exec<'e>>,
    hash: &[u8],
    new: &NewRefreshToken,
    now: i64,
) -> Result<bool, DbError> {
    let inserted = crate::db::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, x5t_s256, issued_at, \
         expires_at, rotated_at, replaced_by, revoked_at) \
         SELECT $1, g.grant_id, g.client_id, $4, $5, $6, NULL, NULL, NULL FROM grants g \
         WHERE g.grant_id = $2 AND g.client_id = $3 AND g.revoked_at IS NULL",
    )
    .bind(hash)
    .bind(new.grant_id.as_str())
    .bind(new.client_id.as_str())
    .bind(new.x5t_s256.as_deref())
    .bind(now)
    .bind(new.expires_at)
    .execute(on)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A new refresh token must not expire before it is issued at `now`.
pub(crate) fn check_expiry(new: &NewRefreshToken, now: i64) -> Result<(), StoreError> {
    if new.expires_at < now {
        return Err(StoreError::Invalid(
            "refresh token expires before it is issued".into(),
        ));
    }
    Ok(())
}

/// The answer when a refresh token's grant is unknown, revoked or another client's.
pub(crate) fn no_active_grant(new: &NewRefreshToken) -> StoreError {
    StoreError::NotFound(format!(
        "active grant {} of client {}",
        new.grant_id, new.client_id
    ))
}

async fn insert(
    tx: &mut crate::db::Tx,
    hash: &[u8],
    new: &NewRefreshToken,
    now: i64,
) -> Result<(), DbError> {
    crate::db::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, x5t_s256, issued_at, \
         expires_at, rotated_at, replaced_by, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL)",
    )
    .bind(hash)
    .bind(new.grant_id.as_str())
    .bind(new.client_id.as_str())
    .bind(new.x5t_s256.as_deref())
    .bind(now)
    .bind(new.expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn refresh_from_row(row: &Row) -> Result<RefreshTokenRecord, DbError> {
    Ok(RefreshTokenRecord {
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: row.try_get("scope")?,
        x5t_s256: row.try_get("x5t_s256")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        rotated_at: row.try_get("rotated_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
