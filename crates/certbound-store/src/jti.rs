//! The `used_jtis` table: replay protection for JWTs a client may present only once, a
//! `private_key_jwt` client assertion (RFC 7523 §3, FAPI2.md §2.9 step 7) or a DPoP proof
//! (RFC 9449 §11.1). The check lives in the shared store, not in process memory, so a JWT
//! replayed to another instance is refused too.
//!
//! A row is keyed by (kind, client, SHA-256 of the `jti`) and kept until the JWT's `exp`; after
//! that the JWT itself is refused as expired, so [`Store::purge_expired`] deletes the row.

use crate::{handles, Store, StoreError};

/// The longest `client_id` (or DPoP key thumbprint) a row may carry, in bytes.
const MAX_OWNER_BYTES: usize = 1024;

/// Which kind of single-use JWT a `jti` belongs to: the same `jti` in a client assertion and in
/// a DPoP proof are different uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JtiKind {
    /// A `private_key_jwt` client assertion; the owner is the `client_id`.
    ClientAssertion,
    /// A DPoP proof; the owner is the client (or the proof key's thumbprint).
    Dpop,
}

impl JtiKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JtiKind::ClientAssertion => "client_assertion",
            JtiKind::Dpop => "dpop",
        }
    }
}

impl Store {
    /// Records that `owner` (the client) used `jti` for a JWT of `kind` that expires at
    /// `expires_at`. Returns `true` the first time and `false` for a replay: of concurrent
    /// callers with the same key, on any instance, exactly one gets `true` (one atomic insert
    /// on the primary key). A row whose JWT has expired (not yet purged) no longer blocks the
    /// `jti`: the old JWT is refused as expired before it gets here.
    ///
    /// An empty owner or `jti`, an owner over 1024 bytes, or `expires_at < now` is
    /// [`StoreError::Invalid`] (the caller checks the JWT before recording it).
    pub async fn record_jti(
        &self,
        kind: JtiKind,
        owner: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        if owner.is_empty() || owner.len() > MAX_OWNER_BYTES {
            return Err(StoreError::Invalid(
                "a jti owner must be 1 to 1024 bytes".into(),
            ));
        }
        if jti.is_empty() {
            return Err(StoreError::Invalid("a jti must not be empty".into()));
        }
        if expires_at < now {
            return Err(StoreError::Invalid("the JWT has already expired".into()));
        }
        let hash = handles::sha256(jti);
        let done = sqlx::query(
            "INSERT INTO used_jtis (kind, client_id, jti_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, client_id, jti_hash) DO UPDATE \
             SET created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE used_jtis.expires_at < $4",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(hash.as_slice())
        .bind(now)
        .bind(expires_at)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        let first = done.rows_affected() == 1;
        if !first {
            tracing::info!(
                kind = kind.as_str(),
                client_id = owner,
                "jti replay refused"
            );
        }
        Ok(first)
    }
}
