//! Group commit for the store's per-request inserts (used `jti`s, opaque access tokens): calls
//! that arrive while a batch is being written wait and go together into the next one, so a busy
//! server pays one statement (and, on SQLite, one trip to the single writer connection) per
//! batch instead of one per request. Each caller still gets the answer its own row got; the
//! database stays the only authority, across instances.
//!
//! The batch is written by a spawned task, so a caller that goes away (a client disconnecting)
//! never strands the others; if that task itself stops abnormally (a panic, the runtime shutting
//! down), its guard fails the callers still waiting and the next call starts a new writer.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::{Store, StoreError};

/// The most rows one batch carries (a few parameters each: far below SQLite's and PostgreSQL's
/// parameter limits).
pub(crate) const MAX_BATCH: usize = 256;

/// A kind of row written in batches.
pub(crate) trait Batched: Sized + Send + 'static {
    /// What each caller learns about its row.
    type Answer: Send + 'static;
    /// The batcher of this kind of row in `store`.
    fn batcher(store: &Store) -> &GroupCommit<Self>;
    /// Writes `rows` (at most [`MAX_BATCH`]) and answers each, in the same order.
    fn write(
        store: &Store,
        rows: Vec<Self>,
    ) -> impl Future<Output = Vec<Result<Self::Answer, StoreError>>> + Send;
}

type Reply<R> = oneshot::Sender<Result<<R as Batched>::Answer, StoreError>>;

/// The rows waiting for the next batch of one kind.
pub(crate) struct GroupCommit<R: Batched> {
    state: Mutex<State<R>>,
}

struct State<R: Batched> {
    pending: Vec<(R, Reply<R>)>,
    /// Whether a writer task is running (it drains `pending` until it is empty).
    writing: bool,
}

impl<R: Batched> Default for GroupCommit<R> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                pending: Vec::new(),
                writing: false,
            }),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Invalid("the batch writer stopped before answering".into())
}

impl<R: Batched> GroupCommit<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `row` for the next batch and waits for its answer.
    pub(crate) async fn submit(store: &Store, row: R) -> Result<R::Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut state = R::batcher(store).lock();
            state.pending.push((row, reply));
            !std::mem::replace(&mut state.writing, true)
        };
        if start_writer {
            let store = store.clone();
            tokio::spawn(async move { Self::drain(&store).await });
        }
        answer.await.map_err(|_| stopped())?
    }

    /// The writer task: takes the pending rows in batches until none are left.
    async fn drain(store: &Store) {
        /// Armed until the loop returns normally (having cleared the flag itself).
        struct Guard<'a, R: Batched>(&'a GroupCommit<R>, bool);
        impl<R: Batched> Drop for Guard<'_, R> {
            fn drop(&mut self) {
                if !self.1 {
                    return;
                }
                let mut state = self.0.lock();
                state.writing = false;
                for (_, reply) in state.pending.drain(..) {
                    let _ = reply.send(Err(stopped()));
                }
            }
        }
        let batcher = R::batcher(store);
        let mut guard = Guard(batcher, true);
        loop {
            let batch: Vec<(R, Reply<R>)> = {
                let mut state = batcher.lock();
                if state.pending.is_empty() {
                    state.writing = false;
                    guard.1 = false;
                    return;
                }
                let take = state.pending.len().min(MAX_BATCH);
                state.pending.drain(..take).collect()
            };
            let (rows, replies): (Vec<R>, Vec<Reply<R>>) = batch.into_iter().unzip();
            let count = replies.len();
            let mut answers = R::write(store, rows).await.into_iter();
            for reply in replies {
                let _ = reply.send(answers.next().unwrap_or_else(|| Err(stopped())));
            }
            debug_assert!(answers.next().is_none(), "one answer per row of {count}");
        }
    }
}

/// `($1, $2, ..), ($k, ..)`: the VALUES list of `rows` rows of `columns` parameters each.
pub(crate) fn values_list(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i * columns + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// The same failure for each caller of a failed batch (database errors are not `Clone`): same
/// variant, so "unavailable" stays a 503 with `Retry-After` and anything else a 500, with the
/// driver's message as text.
pub(crate) fn copy_for_caller(e: &StoreError) -> StoreError {
    let text = || crate::db::DbError::other(e.to_string());
    match e {
        StoreError::Unavailable(_) => StoreError::Unavailable(text()),
        StoreError::Conflict(_) => StoreError::Conflict(text()),
        _ => StoreError::Query(text()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_lists_number_the_parameters_row_by_row() {
        assert_eq!(super::values_list(1, 2), "($1, $2)");
        assert_eq!(super::values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
