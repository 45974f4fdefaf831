//! The `signing_keys` table: the authorization server's JWT signing keys, their retirement and
//! the end of their publication in the JWKS.

use crate::db::{DbError, Row};

use crate::{check_json_object, SigningKeyRecord, Store, StoreError};

const KEY_COLUMNS: &str =
    "kid, alg, private_pkcs8, public_jwk, created_at, retired_at, publish_until";

impl Store {
    /// Stores a new signing key. A duplicate `kid` is [`StoreError::Conflict`]; an empty
    /// `kid` or private key, or a `public_jwk` that is not a JSON object, is
    /// [`StoreError::Invalid`].
    pub async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        if key.kid.is_empty() {
            return Err(StoreError::Invalid("signing key with an empty kid".into()));
        }
        if key.private_pkcs8.is_empty() {
            return Err(StoreError::Invalid(format!(
                "signing key {} has no private key",
                key.kid
            )));
        }
        check_json_object("public_jwk", &key.public_jwk)?;
        crate::db::query(&format!(
            "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(key.kid.as_str())
        .bind(key.alg.as_str())
        .bind(key.private_pkcs8.as_slice())
        .bind(key.public_jwk.as_str())
        .bind(key.created_at)
        .bind(key.retired_at)
        .bind(key.publish_until)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        tracing::info!(kid = %key.kid, alg = %key.alg, "signing key stored");
        Ok(())
    }

    /// All signing keys, oldest (`created_at`) first, including retired ones still stored.
    /// The newest key without `retired_at` is the one to sign with.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = crate::db::query(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, seq"
        ))
        .fetch_all(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Stops a key from signing: sets `retired_at` (kept if the key was already retired) and
    /// `publish_until`, until when the key stays in the JWKS. Unknown `kid` is
    /// [`StoreError::NotFound`]; `publish_until < retired_at` is [`StoreError::Invalid`].
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        retired_at: i64,
        publish_until: i64,
    ) -> Result<(), StoreError> {
        if publish_until < retired_at {
            return Err(StoreError::Invalid(format!(
                "key {kid}: publish_until {publish_until} is before retired_at {retired_at}"
            )));
        }
        let done = crate::db::query(
            "UPDATE signing_keys SET retired_at = COALESCE(retired_at, $2), publish_until = $3 \
             WHERE kid = $1",
        )
        .bind(kid)
        .bind(retired_at)
        .bind(publish_until)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("signing key {kid}")));
        }
        tracing::info!(kid, retired_at, publish_until, "signing key retired");
        Ok(())
    }

    /// Deletes retired keys whose `publish_until` is before `now`; returns how many. Keys
    /// that are not retired are never deleted.
    pub async fn delete_unpublished_keys(&self, now: i64) -> Result<u64, StoreError> {
        let done = crate::db::query(
            "DELETE FROM signing_keys \
             WHERE retired_at IS NOT NULL AND publish_until IS NOT NULL AND publish_until < $1",
        )
        .bind(now)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        if done.rows_affected() > 0 {
            tracing::info!(
                deleted = done.rows_affected(),
                "retired signing keys deleted"
            );
        }
        Ok(done.rows_affected())
    }
}

fn key_from_row(row: &Row) -> Result<SigningKeyRecord, DbError> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        private_pkcs8: row.try_get("private_pkcs8")?,
        public_jwk: row.try_get("public_jwk")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
        publish_until: row.try_get("publish_until")?,
    })
}
