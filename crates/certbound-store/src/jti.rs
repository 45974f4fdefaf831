//! The `used_jtis` table: replay protection for JWTs a client may present only once, a
//! `private_key_jwt` client assertion (RFC 7523 §3, FAPI2.md §2.9 step 7) or a DPoP proof
//! (RFC 9449 §11.1). The check lives in the shared store, not in process memory, so a JWT
//! replayed to another instance is refused too.
//!
//! A row is keyed by (kind, client, SHA-256 of the `jti`) and kept until the JWT's `exp`; after
//! that the JWT itself is refused as expired, so [`Store::purge_expired`] deletes the row.

use crate::group_commit::{copy_for_caller, values_list, Batched, GroupCommit};
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

/// One `jti` to record.
pub(crate) struct JtiRow {
    kind: JtiKind,
    owner: String,
    hash: Vec<u8>,
    now: i64,
    expires_at: i64,
}

impl Store {
    /// Records that `owner` (the client) used `jti` for a JWT of `kind` that expires at
    /// `expires_at`. Returns `true` the first time and `false` for a replay: of concurrent
    /// callers with the same key, on any instance, exactly one gets `true` (one atomic insert
    /// on the primary key). A row whose JWT has expired (not yet purged) no longer blocks the
    /// `jti`: the old JWT is refused as expired before it gets here. Concurrent calls are
    /// written together ([`GroupCommit`]).
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
        let row = JtiRow {
            kind,
            owner: owner.to_owned(),
            hash: handles::sha256(jti),
            now,
            expires_at,
        };
        let first = GroupCommit::submit(self, row).await?;
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

impl Batched for JtiRow {
    /// Whether this use is the first.
    type Answer = bool;

    fn batcher(store: &Store) -> &GroupCommit<Self> {
        &store.jtis
    }

    /// One multi-row `INSERT … ON CONFLICT … RETURNING`: the rows it returns were inserted (or
    /// revived an expired row) and are first uses. Of several rows with the same key in one
    /// batch, the first goes to the database; the others are replays by definition.
    async fn write(store: &Store, rows: Vec<JtiRow>) -> Vec<Result<bool, StoreError>> {
        let same =
            |a: &JtiRow, b: &JtiRow| a.kind == b.kind && a.owner == b.owner && a.hash == b.hash;
        let firsts: Vec<bool> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| !rows[..i].iter().any(|earlier| same(earlier, r)))
            .collect();
        let unique: Vec<&JtiRow> = rows
            .iter()
            .zip(&firsts)
            .filter(|(_, f)| **f)
            .map(|(r, _)| r)
            .collect();
        let sql = format!(
            "INSERT INTO used_jtis (kind, client_id, jti_hash, created_at, expires_at) VALUES {} \
             ON CONFLICT (kind, client_id, jti_hash) DO UPDATE \
             SET created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE used_jtis.expires_at < excluded.created_at \
             RETURNING kind, client_id, jti_hash",
            values_list(unique.len(), 5)
        );
        let mut query = crate::db::query(&sql);
        for r in &unique {
            query = query
                .bind(r.kind.as_str())
                .bind(r.owner.as_str())
                .bind(r.hash.as_slice())
                .bind(r.now)
                .bind(r.expires_at);
        }
        let written = match query.fetch_all(&store.writes).await {
            Ok(written) => written,
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "recording used jtis failed");
                let classified = store.err(e);
                return rows
                    .iter()
                    .map(|_| Err(copy_for_caller(&classified)))
                    .collect();
            }
        };
        let written: Vec<(String, String, Vec<u8>)> = written
            .iter()
            .filter_map(|row| {
                Some((
                    row.try_get::<String, _>(0).ok()?,
                    row.try_get::<String, _>(1).ok()?,
                    row.try_get::<Vec<u8>, _>(2).ok()?,
                ))
            })
            .collect();
        rows.iter()
            .zip(firsts)
            .map(|(r, first)| {
                Ok(first
                    && written
                        .iter()
                        .any(|(k, o, h)| k == r.kind.as_str() && *o == r.owner && *h == r.hash))
            })
            .collect()
    }
}
