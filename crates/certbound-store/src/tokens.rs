//! The `access_tokens` table: issued access tokens (opaque ones only as their SHA-256) and their
//! revocations, for introspection and revocation.

use crate::db::{DbError, Exec, Row};

use crate::group_commit::{values_list, Batched, GroupCommit};
use crate::{check_json_object, Store, StoreError, TokenLookup, TokenRecord, TOKEN_FORMATS};

/// An access token to insert (checked by [`Store::insert_token`] before it is queued).
pub(crate) struct TokenRow {
    record: TokenRecord,
    grant_id: Option<String>,
}

#[cfg(test)]
impl TokenRow {
    /// A row as [`Store::insert_token_row`] queues it, without its checks (tests feed the
    /// batch writer rows the database refuses).
    pub(crate) fn unchecked(record: TokenRecord, grant_id: Option<&str>) -> TokenRow {
        TokenRow {
            record,
            grant_id: grant_id.map(str::to_owned),
        }
    }
}

impl Batched for TokenRow {
    type Answer = ();

    fn batcher(store: &Store) -> &GroupCommit<Self> {
        &store.tokens
    }

    /// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING hash`: a row it does not return
    /// collided with an existing hash or `jti` ([`StoreError::Conflict`], as a single insert
    /// would say). If the statement fails as a whole (a grant deleted meanwhile, say), the rows
    /// are inserted one by one so each caller gets its own answer.
    async fn write(store: &Store, rows: Vec<TokenRow>) -> Vec<Result<(), StoreError>> {
        let sql = format!(
            "INSERT INTO access_tokens ({TOKEN_COLUMNS}, grant_id) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING hash",
            values_list(rows.len(), 9)
        );
        let mut query = crate::db::query(&sql);
        for row in &rows {
            query = bind_row(query, &row.record, row.grant_id.as_deref());
        }
        match query.fetch_all(&store.writes).await {
            Ok(written) => {
                let written: Vec<Vec<u8>> = written
                    .iter()
                    .filter_map(|r| r.try_get::<Vec<u8>, _>(0).ok())
                    .collect();
                rows.iter()
                    .map(|row| {
                        if written.contains(&row.record.hash) {
                            Ok(())
                        } else {
                            Err(StoreError::Conflict(crate::db::DbError::other(format!(
                                "access token {} collides with a stored hash or jti",
                                row.record.jti
                            ))))
                        }
                    })
                    .collect()
            }
            Err(e) => {
                tracing::debug!(error = %e, rows = rows.len(), "batched token insert failed; inserting one by one");
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(store.insert_one_token(row).await);
                }
                out
            }
        }
    }
}

/// The checks every recorded token passes before it is written: a 32-byte hash, a known format,
/// claims that are a JSON object, `expires_at >= issued_at`.
pub(crate) fn check_record(t: &TokenRecord) -> Result<(), StoreError> {
    if t.hash.len() != 32 {
        return Err(StoreError::Invalid(format!(
            "token hash must be a 32-byte SHA-256, got {} bytes",
            t.hash.len()
        )));
    }
    if !TOKEN_FORMATS.contains(&t.format.as_str()) {
        return Err(StoreError::Invalid(format!(
            "token format {:?} is not one of {TOKEN_FORMATS:?}",
            t.format
        )));
    }
    if t.expires_at < t.issued_at {
        return Err(StoreError::Invalid(format!(
            "token {} expires ({}) before it is issued ({})",
            t.jti, t.expires_at, t.issued_at
        )));
    }
    check_json_object("claims", &t.claims)
}

/// One access-token row (checked with [`check_record`]), on the write pool or inside a
/// transaction.
pub(crate) async fn insert_one<'e>(
    on: impl Into<Exec<'e>>,
    t: &TokenRecord,
    grant_id: Option<&str>,
) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO access_tokens ({TOKEN_COLUMNS}, grant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    bind_row(crate::db::query(&sql), t, grant_id)
        .execute(on)
        .await?;
    Ok(())
}

/// Binds one row's nine values, in [`TOKEN_COLUMNS`] order, then `grant_id`.
fn bind_row<'q>(
    query: crate::db::Query<'q>,
    t: &'q TokenRecord,
    grant_id: Option<&'q str>,
) -> crate::db::Query<'q> {
    query
        .bind(t.hash.as_slice())
        .bind(t.jti.as_str())
        .bind(t.client_id.as_str())
        .bind(t.format.as_str())
        .bind(t.claims.as_str())
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .bind(grant_id)
}

const TOKEN_COLUMNS: &str =
    "hash, jti, client_id, format, claims, issued_at, expires_at, revoked_at";

impl Store {
    /// Records an issued token. A duplicate hash or `jti` is [`StoreError::Conflict`]; a hash
    /// that is not 32 bytes, an unknown format, claims that are not a JSON object or
    /// `expires_at < issued_at` is [`StoreError::Invalid`].
    pub async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.insert_token_row(t, None).await
    }

    /// [`Store::insert_token`] for a token issued under a user's grant: revoking the grant
    /// ([`Store::revoke_grant`]) revokes the token too.
    pub async fn insert_token_for_grant(
        &self,
        t: &TokenRecord,
        grant_id: &str,
    ) -> Result<(), StoreError> {
        self.insert_token_row(t, Some(grant_id)).await
    }

    async fn insert_token_row(
        &self,
        t: &TokenRecord,
        grant_id: Option<&str>,
    ) -> Result<(), StoreError> {
        check_record(t)?;
        let row = TokenRow {
            record: t.clone(),
            grant_id: grant_id.map(str::to_owned),
        };
        GroupCommit::submit(self, row).await
    }

    /// One token row on its own (a batch whose statement failed is retried row by row, so each
    /// caller gets its own row's error).
    async fn insert_one_token(&self, row: &TokenRow) -> Result<(), StoreError> {
        insert_one(&self.writes, &row.record, row.grant_id.as_deref())
            .await
            .map_err(|e| self.err(e))
    }

    /// The token whose SHA-256 is `hash`, revoked or expired ones included (the caller
    /// decides what is active).
    pub async fn find_token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        self.find_token(TokenLookup::Hash(hash)).await
    }

    /// The token with this `jti`, revoked or expired ones included.
    pub async fn find_token_by_jti(&self, jti: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.find_token(TokenLookup::Jti(jti)).await
    }

    async fn find_token(&self, lookup: TokenLookup<'_>) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE {} = $1",
            lookup_column(lookup)
        );
        let row = bind_lookup(crate::db::query(&sql), lookup)
            .fetch_optional(&self.reads)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(token_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Marks the token revoked at `now`, only if it belongs to `client_id` (RFC 7009 §2.1)
    /// and is not revoked yet. Returns whether a row changed: `false` for an unknown token,
    /// another client's token, or one already revoked (whose `revoked_at` is kept).
    pub async fn revoke_token(
        &self,
        lookup: TokenLookup<'_>,
        client_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE access_tokens SET revoked_at = $1 \
             WHERE {} = $2 AND client_id = $3 AND revoked_at IS NULL",
            lookup_column(lookup)
        );
        let done = bind_lookup(crate::db::query(&sql).bind(now), lookup)
            .bind(client_id)
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        let changed = done.rows_affected() > 0;
        tracing::debug!(?lookup, client_id, changed, "token revocation");
        Ok(changed)
    }
}

/// The column a [`TokenLookup`] searches (a fixed identifier, never user input).
fn lookup_column(lookup: TokenLookup<'_>) -> &'static str {
    match lookup {
        TokenLookup::Hash(_) => "hash",
        TokenLookup::Jti(_) => "jti",
    }
}

/// Binds the value a [`TokenLookup`] searches for.
fn bind_lookup<'q>(query: crate::db::Query<'q>, lookup: TokenLookup<'q>) -> crate::db::Query<'q> {
    match lookup {
        TokenLookup::Hash(hash) => query.bind(hash),
        TokenLookup::Jti(jti) => query.bind(jti),
    }
}

fn token_from_row(row: &Row) -> Result<TokenRecord, DbError> {
    Ok(TokenRecord {
        hash: row.try_get("hash")?,
        jti: row.try_get("jti")?,
        client_id: row.try_get("client_id")?,
        format: row.try_get("format")?,
        claims: row.try_get("claims")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
