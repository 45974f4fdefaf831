//! The `login_sessions` table: a user's sign-in at the authorization server (SSO across clients).
//! The browser holds a 256-bit session secret (the cookie); the store keeps only its SHA-256. Each
//! session also has a public `sid` for the ID token and for logout, which reveals nothing that
//! would let anyone use the session.

use std::fmt;

use crate::db::{DbError, Row};

use crate::{handles, Store, StoreError};

const SESSION_COLUMNS: &str = "sid, user_id, auth_time, expires_at, ended_at";

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Public identifier (128 random bits, hex): the ID token's `sid`.
    pub sid: String,
    /// The signed-in user ([`crate::User::id`]).
    pub user_id: String,
    /// When the user authenticated (the ID token's `auth_time`).
    pub auth_time: i64,
    /// When the session expires.
    pub expires_at: i64,
    /// When the user logged out (or the session was ended), if so.
    pub ended_at: Option<i64>,
}

impl LoginSession {
    /// Whether the session still signs the user in at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && now <= self.expires_at
    }
}

/// A session just created: the cookie value (its only plain-text appearance) and the record.
#[derive(Clone, PartialEq, Eq)]
pub struct NewLoginSession {
    /// The session secret for the cookie. Secret: `Debug` does not print it.
    pub secret: String,
    /// The stored session.
    pub session: LoginSession,
}

impl fmt::Debug for NewLoginSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewLoginSession")
            .field("secret", &"<redacted>")
            .field("session", &self.session)
            .finish()
    }
}

impl Store {
    /// Starts a login session for the user. An unknown user is [`StoreError::Query`] (a
    /// foreign-key violation); `expires_at < auth_time` is [`StoreError::Invalid`].
    pub async fn create_login_session(
        &self,
        user_id: &str,
        auth_time: i64,
        expires_at: i64,
    ) -> Result<NewLoginSession, StoreError> {
        if expires_at < auth_time {
            return Err(StoreError::Invalid(
                "login session expires before it starts".into(),
            ));
        }
        let secret = handles::new_handle()?;
        let session = LoginSession {
            sid: handles::new_id()?,
            user_id: user_id.to_owned(),
            auth_time,
            expires_at,
            ended_at: None,
        };
        crate::db::query(&format!(
            "INSERT INTO login_sessions (session_hash, {SESSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, NULL)"
        ))
        .bind(secret.hash.as_slice())
        .bind(session.sid.as_str())
        .bind(user_id)
        .bind(auth_time)
        .bind(expires_at)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        tracing::debug!(sid = %session.sid, user_id, "login session started");
        Ok(NewLoginSession {
            secret: secret.text,
            session,
        })
    }

    /// The session whose cookie value is `secret`, ended or expired ones included (check with
    /// [`LoginSession::is_active`]).
    pub async fn login_session(&self, secret: &str) -> Result<Option<LoginSession>, StoreError> {
        let row = crate::db::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM login_sessions WHERE session_hash = $1"
        ))
        .bind(handles::sha256(secret).as_slice())
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(session_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Ends the session whose cookie value is `secret` (logout). Returns whether an open
    /// session was ended.
    pub async fn end_login_session(&self, secret: &str, now: i64) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE login_sessions SET ended_at = $1 WHERE session_hash = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(handles::sha256(secret).as_slice())
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends the session with this public `sid` (RP-initiated logout with an ID token hint).
    /// Returns whether an open session was ended.
    pub async fn end_login_session_by_sid(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE login_sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(sid)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }
}

fn session_from_row(row: &Row) -> Result<LoginSession, DbError> {
    Ok(LoginSession {
        sid: row.try_get("sid")?,
        user_id: row.try_get("user_id")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}
