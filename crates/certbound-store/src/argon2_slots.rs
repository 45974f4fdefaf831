//! The process's argon2 slots: every argon2 computation on a request path (a user's password at
//! sign-in, a client secret at the token, introspection and revocation endpoints) waits for one
//! of a fixed number of slots, one per core this process may run on.
//!
//! Each argon2id computation holds 19 MiB for tens of milliseconds. Unbounded, parallel sign-ins
//! multiplied that: a benchmark of 8 concurrent sign-ins took the authorization server to 322 MB
//! of RSS (bench/README.md), and a flood of wrong passwords could take any amount of memory and
//! every blocking thread. With the slots, memory for password hashing stays at
//! `cores × 19 MiB`, the hashing runs at the machine's speed, and requests queue (in arrival
//! order) instead of thrashing. The work never runs on an async worker's own turn: either on
//! the blocking pool, or on the current worker after tokio has moved its other tasks elsewhere.

use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// One slot per core this process may use (its CPU affinity), at least one.
fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(capacity()))
}

/// How many argon2 computations may run at once.
pub fn capacity() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` (an argon2 hash or verification) on the blocking pool once a slot is free. `None`
/// if the work panicked.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    // The semaphore is never closed, so acquiring only waits.
    let _slot = slots().acquire().await.ok();
    tokio::task::spawn_blocking(work).await.ok()
}

/// Runs `work`, which borrows from the caller (a client-authentication decision that may verify
/// a secret), once a slot is free. On a multi-threaded runtime it runs in place after tokio has
/// handed this worker's other tasks to another thread (`block_in_place`); on a current-thread
/// runtime (in-process tests) it simply runs.
pub async fn run_in_place<T>(work: impl FnOnce() -> T) -> T {
    let _slot = slots().acquire().await.ok();
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// However many callers arrive at once, no more than `capacity()` run together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_than_capacity_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                tokio::spawn(async move {
                    let work = move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    };
                    if i % 2 == 0 {
                        run(work).await.unwrap()
                    } else {
                        run_in_place(work).await
                    }
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        assert_eq!(done, (0..16).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=capacity()).contains(&peak),
            "{peak} ran at once, capacity {}",
            capacity()
        );
    }

    #[tokio::test]
    async fn runs_in_place_on_a_current_thread_runtime() {
        let borrowed = String::from("secret");
        assert_eq!(run_in_place(|| borrowed.len()).await, 6);
    }
}
