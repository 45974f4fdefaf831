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

/// The most rows one batched insert carries (5 parameters each: far below SQLite's and
/// PostgreSQL's parameter limits).
const MAX_BATCH: usize = 256;

/// One `jti` waiting to be recorded, and where its answer goes.
struct Pending {
    kind: JtiKind,
    owner: String,
    hash: Vec<u8>,
    now: i64,
    expires_at: i64,
    reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

/// Group commit for [`Store::record_jti`]: requests that arrive while a batch is being written
/// wait and go together into the next one, one multi-row `INSERT … ON CONFLICT … RETURNING` in
/// one statement, so a busy server pays one statement (and, on SQLite, one trip to the single
/// writer connection) per batch instead of per JWT. The database stays the only authority: the
/// answer for each row is whether the statement inserted (or revived an expired) row, exactly as
/// for a single insert, across instances. The batch is written by a spawned task, so a caller
/// that goes away (a client disconnecting) never strands the others.
#[derive(Default)]
pub(crate) struct JtiBatcher {
    state: std::sync::Mutex<BatchState>,
}

#[derive(Default)]
struct BatchState {
    pending: Vec<Pending>,
    /// Whether a writer task is running (it drains `pending` until it is empty).
    writing: bool,
}

impl JtiBatcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, BatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store {
    /// Records that `owner` (the client) used `jti` for a JWT of `kind` that expires at
    /// `expires_at`. Returns `true` the first time and `false` for a replay: of concurrent
    /// callers with the same key, on any instance, exactly one gets `true` (one atomic insert
    /// on the primary key). A row whose JWT has expired (not yet purged) no longer blocks the
    /// `jti`: the old JWT is refused as expired before it gets here. Concurrent calls are
    /// written together ([`JtiBatcher`]).
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start_writer = {
            let mut state = self.jtis.lock();
            state.pending.push(Pending {
                kind,
                owner: owner.to_owned(),
                hash: handles::sha256(jti),
                now,
                expires_at,
                reply,
            });
            !std::mem::replace(&mut state.writing, true)
        };
        if start_writer {
            let store = self.clone();
            tokio::spawn(async move { store.write_jti_batches().await });
        }
        let first = answer
            .await
            .map_err(|_| StoreError::Invalid("the jti writer stopped before answering".into()))??;
        if !first {
            tracing::info!(
                kind = kind.as_str(),
                client_id = owner,
                "jti replay refused"
            );
        }
        Ok(first)
    }

    /// The writer task: takes the pending rows in batches until none are left. If the task ends
    /// any other way (a panic, or the runtime shutting down and dropping it), its guard clears
    /// the flag and fails the rows still waiting, so no caller waits forever and the next call
    /// starts a new writer.
    async fn write_jti_batches(&self) {
        /// Armed until the loop returns normally (having cleared the flag itself).
        struct Guard<'a>(&'a JtiBatcher, bool);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    return;
                }
                let mut state = self.0.lock();
                state.writing = false;
                for p in state.pending.drain(..) {
                    let _ = p.reply.send(Err(StoreError::Invalid(
                        "the jti writer stopped before answering".into(),
                    )));
                }
            }
        }
        let mut guard = Guard(&self.jtis, true);
        loop {
            let batch: Vec<Pending> = {
                let mut state = self.jtis.lock();
                if state.pending.is_empty() {
                    state.writing = false;
                    guard.1 = false;
                    return;
                }
                let take = state.pending.len().min(MAX_BATCH);
                state.pending.drain(..take).collect()
            };
            self.write_jti_batch(batch).await;
        }
    }

    /// Writes one batch and answers each caller. The first of several rows with the same key in
    /// one batch goes to the database; the others are replays by definition.
    async fn write_jti_batch(&self, batch: Vec<Pending>) {
        let mut rows: Vec<Pending> = Vec::with_capacity(batch.len());
        let mut repeats: Vec<Pending> = Vec::new();
        for p in batch {
            let same = |r: &Pending| r.kind == p.kind && r.owner == p.owner && r.hash == p.hash;
            if rows.iter().any(same) {
                repeats.push(p);
            } else {
                rows.push(p);
            }
        }
        let mut sql = String::from(
            "INSERT INTO used_jtis (kind, client_id, jti_hash, created_at, expires_at) VALUES ",
        );
        for i in 0..rows.len() {
            let b = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
        }
        sql.push_str(
            " ON CONFLICT (kind, client_id, jti_hash) DO UPDATE \
             SET created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE used_jtis.expires_at < excluded.created_at \
             RETURNING kind, client_id, jti_hash",
        );
        let mut query = sqlx::query(&sql);
        for r in &rows {
            query = query
                .bind(r.kind.as_str())
                .bind(r.owner.as_str())
                .bind(r.hash.as_slice())
                .bind(r.now)
                .bind(r.expires_at);
        }
        match query.fetch_all(&self.writes).await {
            Ok(written) => {
                let written: Vec<(String, String, Vec<u8>)> = written
                    .iter()
                    .filter_map(|row| {
                        use sqlx::Row;
                        Some((
                            row.try_get::<String, _>(0).ok()?,
                            row.try_get::<String, _>(1).ok()?,
                            row.try_get::<Vec<u8>, _>(2).ok()?,
                        ))
                    })
                    .collect();
                for r in rows {
                    let first = written.iter().any(|(k, o, h)| {
                        k == r.kind.as_str() && *o == r.owner && h.as_slice() == r.hash
                    });
                    let _ = r.reply.send(Ok(first));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "recording used jtis failed");
                let classified = self.err(e);
                for r in rows {
                    let _ = r.reply.send(Err(copy_for_caller(&classified)));
                }
            }
        }
        for r in repeats {
            let _ = r.reply.send(Ok(false));
        }
    }
}

/// The same failure for each caller of a failed batch (database errors are not `Clone`): same
/// variant, so "unavailable" stays a 503 with `Retry-After` and anything else a 500, with the
/// driver's message as text.
fn copy_for_caller(e: &StoreError) -> StoreError {
    let text = || sqlx::Error::Protocol(e.to_string());
    match e {
        StoreError::Unavailable(_) => StoreError::Unavailable(text()),
        _ => StoreError::Query(text()),
    }
}
