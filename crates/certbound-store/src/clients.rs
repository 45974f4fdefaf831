//! The `clients` table: clients registered at run time (`certbound clients add`), as validated
//! RFC 7591 metadata JSON.

use crate::{check_json_object, Store, StoreError};

impl Store {
    /// Registers or replaces a client. `metadata` is its validated RFC 7591 metadata as a JSON
    /// object (secrets only as hashes: the caller hashes before storing).
    pub async fn upsert_client(
        &self,
        client_id: &str,
        metadata: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        if client_id.is_empty() {
            return Err(StoreError::Invalid("client_id must not be empty".into()));
        }
        check_json_object("metadata", metadata)?;
        crate::db::query(
            "INSERT INTO clients (client_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at",
        )
        .bind(client_id)
        .bind(metadata)
        .bind(now)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes a client; returns whether it existed.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let r = crate::db::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.rows_affected() > 0)
    }

    /// Every client registered at run time, by `client_id`: (client_id, metadata JSON).
    pub async fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = crate::db::query("SELECT client_id, metadata FROM clients ORDER BY client_id")
            .fetch_all(&self.reads)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0usize)?, row.try_get(1usize)?)))
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }
}
