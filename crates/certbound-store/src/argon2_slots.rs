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
//!
//! **Giving the memory back.** An allocator keeps freed blocks for reuse, so without more the
//! 19 MiB of the last computation would stay resident for the life of the process (a server
//! that signed in one user an hour ago sat at 64 MB instead of 45). The binary registers a
//! release function ([`on_idle`], its allocator's "return free memory to the OS"); it runs once
//! the slots have stayed idle for [`IDLE_GRACE`], so a burst of sign-ins keeps its warm memory
//! and a quiet server returns it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long the slots stay idle before the release function runs.
pub const IDLE_GRACE: Duration = Duration::from_secs(1);

/// One slot per core this process may use (its CPU affinity), at least one.
fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(capacity()))
}

/// How many argon2 computations may run at once.
pub fn capacity() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Registers the function that returns freed memory to the operating system, run on the
/// blocking pool after the slots have been idle for [`IDLE_GRACE`]. The first registration
/// wins; without one nothing runs.
pub fn on_idle(release: fn()) {
    let _ = ACTIVITY.release.set(release);
}

/// The slots' activity: computations queued or running, and when they last went idle.
static ACTIVITY: Activity = Activity::new();

/// Counts the computations queued or running and runs `release` once they have all ended and
/// none has started for [`IDLE_GRACE`].
struct Activity {
    release: OnceLock<fn()>,
    pending: AtomicUsize,
    /// Counts starts, so a release scheduled before a newer burst can tell it is stale.
    starts: AtomicU64,
}

impl Activity {
    const fn new() -> Activity {
        Activity {
            release: OnceLock::new(),
            pending: AtomicUsize::new(0),
            starts: AtomicU64::new(0),
        }
    }

    fn enter(&'static self) -> Pending {
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.pending.fetch_add(1, Ordering::SeqCst);
        Pending(self)
    }

    /// The last computation just ended: release memory after [`IDLE_GRACE`] unless another
    /// started since.
    fn went_idle(&'static self) {
        let Some(release) = self.release.get().copied() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let seen = self.starts.load(Ordering::SeqCst);
        runtime.spawn(async move {
            tokio::time::sleep(IDLE_GRACE).await;
            if self.starts.load(Ordering::SeqCst) == seen
                && self.pending.load(Ordering::SeqCst) == 0
            {
                let _ = tokio::task::spawn_blocking(release).await;
            }
        });
    }
}

/// One computation, queued or running, from [`Activity::enter`] to its drop (a panic in the
/// work or a cancelled caller included).
struct Pending(&'static Activity);

impl Drop for Pending {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.went_idle();
        }
    }
}

/// Runs `work` (an argon2 hash or verification) on the blocking pool once a slot is free. `None`
/// if the work panicked.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _pending = ACTIVITY.enter();
    // The semaphore is never closed, so acquiring only waits.
    let _slot = slots().acquire().await.ok();
    tokio::task::spawn_blocking(work).await.ok()
}

/// Runs `work`, which borrows from the caller (a client-authentication decision that may verify
/// a secret), once a slot is free. On a multi-threaded runtime it runs in place after tokio has
/// handed this worker's other tasks to another thread (`block_in_place`); on a current-thread
/// runtime (in-process tests) it simply runs.
pub async fn run_in_place<T>(work: impl FnOnce() -> T) -> T {
    let _pending = ACTIVITY.enter();
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

    static RELEASED: AtomicUsize = AtomicUsize::new(0);
    static TESTED: Activity = Activity::new();

    fn count_release() {
        RELEASED.fetch_add(1, Ordering::SeqCst);
    }

    fn released() -> usize {
        RELEASED.load(Ordering::SeqCst)
    }

    /// Memory is released once the slots have stayed idle for the grace period: not while
    /// work is pending, and not when a new burst started within the grace period (that burst's
    /// own end schedules the release).
    #[tokio::test]
    async fn releases_memory_once_the_slots_have_stayed_idle() {
        let _ = TESTED.release.set(count_release);
        let grace_and_some = IDLE_GRACE + IDLE_GRACE / 2;

        let busy = TESTED.enter();
        tokio::time::sleep(grace_and_some).await;
        assert_eq!(released(), 0, "released while work was pending");

        drop(busy); // idle: a release is scheduled...
        let again = TESTED.enter(); // ...but a new burst starts within the grace period
        drop(again); // idle again: a second release is scheduled
        tokio::time::sleep(grace_and_some).await;
        assert_eq!(
            released(),
            1,
            "the stale release is skipped, the last one runs"
        );
    }

    /// Work through the process's slots schedules a release too (whether it runs depends on
    /// what else this test process runs at the same time, so only the scheduling is checked).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slot_work_counts_as_pending() {
        let before = ACTIVITY.starts.load(Ordering::SeqCst);
        run(|| ()).await.unwrap();
        run_in_place(|| ()).await;
        assert!(ACTIVITY.starts.load(Ordering::SeqCst) >= before + 2);
    }

    #[tokio::test]
    async fn runs_in_place_on_a_current_thread_runtime() {
        let borrowed = String::from("secret");
        assert_eq!(run_in_place(|| borrowed.len()).await, 6);
    }
}
