//! The `interactions` table: the state of one authorization request between `/authorize` and the
//! login and consent steps (the validated request, and later who signed in). The interaction id
//! (in the URL) and the browser binding (in a cookie, also the CSRF token) are 256-bit secrets,
//! stored only as SHA-256: an interaction can be continued only by the browser that started it.

use std::fmt;

use crate::db::{DbError, Row};

use crate::{check_json_object, handles, Store, StoreError};

/// An interaction in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The interaction's state, a JSON object text (the authorization request, then the steps
    /// done).
    pub request: String,
    /// When it was started (seconds since the Unix epoch).
    pub created_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

/// An interaction just started: its id and browser binding (their only plain-text appearance).
#[derive(Clone, PartialEq, Eq)]
pub struct NewInteraction {
    /// The id, for the interaction URL. Secret: `Debug` does not print it.
    pub id: String,
    /// The browser binding, for the cookie and the CSRF token. Secret.
    pub browser_secret: String,
}

impl fmt::Debug for NewInteraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewInteraction { id: <redacted>, browser_secret: <redacted> }")
    }
}

impl Store {
    /// Starts an interaction holding `request` (a JSON object). `expires_at < now` is
    /// [`StoreError::Invalid`].
    pub async fn create_interaction(
        &self,
        request: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<NewInteraction, StoreError> {
        check_json_object("request", request)?;
        if expires_at < now {
            return Err(StoreError::Invalid(
                "interaction expires before it starts".into(),
            ));
        }
        let id = handles::new_handle()?;
        let browser = handles::new_handle()?;
        crate::db::query(
            "INSERT INTO interactions (id_hash, browser_hash, request, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.hash.as_slice())
        .bind(browser.hash.as_slice())
        .bind(request)
        .bind(now)
        .bind(expires_at)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        Ok(NewInteraction {
            id: id.text,
            browser_secret: browser.text,
        })
    }

    /// The interaction `id`, only if `browser_secret` is its binding (compared in constant
    /// time) and it has not expired at `now`.
    pub async fn interaction(
        &self,
        id: &str,
        browser_secret: &str,
        now: i64,
    ) -> Result<Option<Interaction>, StoreError> {
        let row = crate::db::query(
            "SELECT browser_hash, request, created_at, expires_at FROM interactions \
             WHERE id_hash = $1",
        )
        .bind(handles::sha256(id).as_slice())
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: Vec<u8> = row.try_get("browser_hash").map_err(|e| self.err(e))?;
        if !handles::hashes_equal(&stored, &handles::sha256(browser_secret)) {
            tracing::warn!("interaction continued from another browser: refused");
            return Ok(None);
        }
        let found = interaction_from_row(&row).map_err(|e| self.err(e))?;
        Ok((now <= found.expires_at).then_some(found))
    }

    /// Replaces the interaction's state (e.g. after the login step). Returns whether it still
    /// exists; the caller has checked the browser binding with [`Store::interaction`].
    pub async fn update_interaction(&self, id: &str, request: &str) -> Result<bool, StoreError> {
        check_json_object("request", request)?;
        let done = crate::db::query("UPDATE interactions SET request = $1 WHERE id_hash = $2")
            .bind(request)
            .bind(handles::sha256(id).as_slice())
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends the interaction (done or cancelled). Single use: returns `true` for exactly one
    /// caller, so a form posted twice completes once.
    pub async fn finish_interaction(&self, id: &str) -> Result<bool, StoreError> {
        let done = crate::db::query("DELETE FROM interactions WHERE id_hash = $1")
            .bind(handles::sha256(id).as_slice())
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }
}

fn interaction_from_row(row: &Row) -> Result<Interaction, DbError> {
    Ok(Interaction {
        request: row.try_get("request")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
