//! The `par_requests` table: pushed authorization requests (RFC 9126). The `request_uri` is
//! `urn:ietf:params:oauth:request_uri:<256 random bits>`; only the SHA-256 of the random part is
//! stored. A request is bound to the client that pushed it, expires, and is used once: it is
//! consumed when the code is issued ([`Store::issue_authorization_code`]), not when the
//! authorization page loads.

use crate::db::{DbError, Row};

use crate::{check_json_object, handles, Store, StoreError};

/// The prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

const PAR_COLUMNS: &str = "client_id, params, created_at, expires_at, consumed_at";

/// A pushed authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParRequest {
    /// The client that pushed it; only it may use the `request_uri`.
    pub client_id: String,
    /// The validated authorization request parameters, as a JSON object text.
    pub params: String,
    /// When it was pushed (seconds since the Unix epoch).
    pub created_at: i64,
    /// When the `request_uri` stops working.
    pub expires_at: i64,
    /// When it was used (a code was issued from it), if it was.
    pub consumed_at: Option<i64>,
}

impl ParRequest {
    /// Whether `client_id` may still use it at `now`: its own, unexpired, unused.
    pub fn is_usable_by(&self, client_id: &str, now: i64) -> bool {
        self.client_id == client_id && self.consumed_at.is_none() && now <= self.expires_at
    }
}

/// The stored hash of a `request_uri`, or `None` when it does not have our form.
pub(crate) fn request_uri_hash(request_uri: &str) -> Option<Vec<u8>> {
    request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|handle| !handle.is_empty())
        .map(handles::sha256)
}

impl Store {
    /// Stores a pushed authorization request and returns its `request_uri` (the only time the
    /// handle exists in plain text). `params` must be a JSON object; `expires_at < now` is
    /// [`StoreError::Invalid`].
    pub async fn push_authorization_request(
        &self,
        client_id: &str,
        params: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<String, StoreError> {
        if client_id.is_empty() {
            return Err(StoreError::Invalid("client_id must not be empty".into()));
        }
        if expires_at < now {
            return Err(StoreError::Invalid(
                "pushed request expires before it is pushed".into(),
            ));
        }
        check_json_object("params", params)?;
        let handle = handles::new_handle()?;
        crate::db::query(&format!(
            "INSERT INTO par_requests (handle_hash, {PAR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL)"
        ))
        .bind(handle.hash.as_slice())
        .bind(client_id)
        .bind(params)
        .bind(now)
        .bind(expires_at)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        tracing::debug!(client_id, expires_at, "authorization request pushed");
        Ok(format!("{REQUEST_URI_PREFIX}{}", handle.text))
    }

    /// The pushed request behind `request_uri`, used or expired ones included (check with
    /// [`ParRequest::is_usable_by`]). Does not consume it: for validating `/authorize`.
    pub async fn par_request(&self, request_uri: &str) -> Result<Option<ParRequest>, StoreError> {
        let Some(hash) = request_uri_hash(request_uri) else {
            return Ok(None);
        };
        let row = crate::db::query(&format!(
            "SELECT {PAR_COLUMNS} FROM par_requests WHERE handle_hash = $1"
        ))
        .bind(hash.as_slice())
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(par_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Uses the request once: succeeds (returns `true`) for exactly one caller, and only if the
    /// request belongs to `client_id`, is unexpired at `now` and unused. Atomic, also across
    /// server instances. [`Store::issue_authorization_code`] does this itself, in the same
    /// transaction as the code; this is for flows that end without a code (denied consent).
    pub async fn consume_par_request(
        &self,
        request_uri: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(hash) = request_uri_hash(request_uri) else {
            return Ok(false);
        };
        let mut tx = self.begin_write().await?;
        let used = consume(&mut tx, &hash, client_id, now)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(used)
    }
}

/// The single-use step: marks the request consumed if it is `client_id`'s, unexpired and
/// unused; `true` if this call did it.
pub(crate) async fn consume(
    tx: &mut crate::db::Tx,
    hash: &[u8],
    client_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = crate::db::query(
        "UPDATE par_requests SET consumed_at = $1 WHERE handle_hash = $2 AND client_id = $3 \
         AND consumed_at IS NULL AND expires_at >= $1",
    )
    .bind(now)
    .bind(hash)
    .bind(client_id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn par_from_row(row: &Row) -> Result<ParRequest, DbError> {
    Ok(ParRequest {
        client_id: row.try_get("client_id")?,
        params: row.try_get("params")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}
