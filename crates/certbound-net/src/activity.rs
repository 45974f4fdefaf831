//! Which connections of a listener have a request in flight, which are idle and since when.
//!
//! Every connection registers an [`Activity`] with its listener's [`Connections`]. The service
//! wrapper of the accept loop marks each request in flight until its response body is written
//! ([`Activity::begin`]); the connection's watchdog ([`Activity::deadline`]) says when it has
//! waited too long for a request; and the accept loop, when every connection slot is taken, asks
//! the connection idle the longest to close ([`Connections::evict_longest_idle`]) rather than
//! leaving new clients in the accept queue behind connections that send nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why the watchdog ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No request arrived within the header timeout of the handshake.
    NoFirstRequest,
    /// No request in flight for the idle timeout since the last one ended.
    Idle,
    /// The accept loop needs its slot for a new connection.
    Evicted,
}

/// The open connections of one listener.
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    idle: Arc<IdleSignal>,
}

/// Wakes the accept loop, while it waits for room, when some connection becomes idle.
#[derive(Default)]
struct IdleSignal {
    notify: Notify,
    waiting: AtomicBool,
}

impl Connections {
    /// Registers a connection accepted now; it leaves the set when the guard is dropped.
    pub(crate) fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                requests: 0,
                evicted: false,
            }),
            changed: Notify::new(),
            idle: self.idle.clone(),
        });
        lock(&self.open).insert(id, activity.clone());
        Registration {
            id,
            connections: self.clone(),
            activity,
        }
    }

    /// Asks the connection with no request in flight for the longest time to close (connections
    /// still in their TLS handshake or waiting for a first request count as idle since they were
    /// accepted). `None` when every connection is busy or already asked.
    pub(crate) fn evict_longest_idle(&self) -> Option<Weak<Activity>> {
        let open = lock(&self.open);
        let (_, victim) = open
            .values()
            .filter_map(|a| {
                let s = lock(&a.state);
                (s.in_flight == 0 && !s.evicted).then_some((s.idle_since, a))
            })
            .min_by_key(|(since, _)| *since)?;
        victim.evict();
        Some(Arc::downgrade(victim))
    }

    /// Waits until a connection may have become idle (or `give_up` passes). Arm it before
    /// looking for an idle connection, so none is missed in between.
    pub(crate) fn idle_signal(&self) -> IdleWait<'_> {
        self.idle.waiting.store(true, Ordering::SeqCst);
        IdleWait { idle: &self.idle }
    }

    /// How many connections are registered (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.open).len()
    }
}

/// An armed wait for "some connection became idle"; see [`Connections::idle_signal`].
pub(crate) struct IdleWait<'a> {
    idle: &'a IdleSignal,
}

impl IdleWait<'_> {
    /// The notification future (create it, then look, then await it).
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.idle.notify.notified()
    }
}

impl Drop for IdleWait<'_> {
    fn drop(&mut self) {
        self.idle.waiting.store(false, Ordering::SeqCst);
    }
}

/// A connection's place in [`Connections`]; dropping it removes the connection.
pub(crate) struct Registration {
    id: u64,
    connections: Arc<Connections>,
    activity: Arc<Activity>,
}

impl Registration {
    /// The connection's activity.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.connections.open).remove(&self.id);
    }
}

/// What one connection is doing.
pub(crate) struct Activity {
    state: Mutex<State>,
    /// Wakes the connection's watchdog on every idle/busy transition and on eviction.
    changed: Notify,
    idle: Arc<IdleSignal>,
}

struct State {
    in_flight: usize,
    /// When the last request ended, or the connection was accepted or finished its handshake.
    idle_since: Instant,
    /// Requests begun on this connection.
    requests: u64,
    /// Asked to close to make room.
    evicted: bool,
}

impl Activity {
    /// The TLS handshake is over: the first request's time starts now.
    pub(crate) fn handshake_done(&self) {
        lock(&self.state).idle_since = Instant::now();
    }

    /// Marks a request in flight until the guard is dropped (with the response body, once
    /// written).
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        let mut s = lock(&self.state);
        s.in_flight += 1;
        s.requests += 1;
        if s.in_flight == 1 {
            self.changed.notify_waiters();
        }
        Busy(self.clone())
    }

    /// Whether no request is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        lock(&self.state).in_flight == 0
    }

    fn evict(&self) {
        lock(&self.state).evicted = true;
        self.changed.notify_waiters();
    }

    /// Resolves when the accept loop asked this connection to make room.
    pub(crate) async fn evicted(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.state).evicted {
                return;
            }
            notified.await;
        }
    }

    /// Resolves when no request is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_idle() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves when the connection should close: no first request within `first` of the
    /// handshake, no request in flight for `idle` after the last one, or evicted. Never while a
    /// request is in flight (except eviction, which is graceful).
    pub(crate) async fn deadline(&self, first: Duration, idle: Duration) -> Expiry {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let due = {
                let s = lock(&self.state);
                if s.evicted {
                    return Expiry::Evicted;
                }
                match (s.in_flight, s.requests) {
                    (0, 0) => Some((s.idle_since + first, Expiry::NoFirstRequest)),
                    (0, _) => Some((s.idle_since + idle, Expiry::Idle)),
                    _ => None,
                }
            };
            match due {
                None => notified.await,
                Some((at, expiry)) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => return expiry,
                    }
                }
            }
        }
    }
}

/// A request in flight on a connection; see [`Activity::begin`].
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let mut s = lock(&activity.state);
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            drop(s);
            activity.changed.notify_waiters();
            if activity.idle.waiting.load(Ordering::SeqCst) {
                activity.idle.notify.notify_waiters();
            }
        }
    }
}

/// Locks `m`, ignoring poisoning: the state stays consistent (every update is one assignment).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal to the millisecond the timer wheel rounds to.
    fn about(elapsed: Duration, expected: Duration) -> bool {
        elapsed >= expected && elapsed <= expected + Duration::from_millis(5)
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_connection_is_evicted_and_busy_ones_never() {
        let connections = Arc::new(Connections::default());
        let first = connections.register();
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = connections.register();
        tokio::time::advance(Duration::from_secs(1)).await;
        let third = connections.register();
        let busy = first.activity().begin();
        // The first is busy: the second has been idle longest.
        let victim = connections.evict_longest_idle().unwrap();
        assert!(Arc::ptr_eq(&victim.upgrade().unwrap(), second.activity()));
        // Asked once only; then the third; then nobody (the first is busy).
        let victim = connections.evict_longest_idle().unwrap();
        assert!(Arc::ptr_eq(&victim.upgrade().unwrap(), third.activity()));
        assert!(connections.evict_longest_idle().is_none());
        drop(busy);
        assert!(connections.evict_longest_idle().is_some());
        drop((first, second, third));
        assert_eq!(connections.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_handshake_then_from_the_last_request() {
        let connections = Arc::new(Connections::default());
        let conn = connections.register();
        let a = conn.activity().clone();
        let first = Duration::from_secs(2);
        let idle = Duration::from_secs(5);
        let started = Instant::now();
        assert_eq!(a.deadline(first, idle).await, Expiry::NoFirstRequest);
        assert!(about(started.elapsed(), first), "{:?}", started.elapsed());

        // A request in flight holds the deadline however long it takes.
        let busy = a.begin();
        let watch = tokio::spawn({
            let a = a.clone();
            async move { a.deadline(first, idle).await }
        });
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(!watch.is_finished());
        let ended = Instant::now();
        drop(busy);
        assert_eq!(watch.await.unwrap(), Expiry::Idle);
        assert!(about(ended.elapsed(), idle), "{:?}", ended.elapsed());

        connections.evict_longest_idle().unwrap();
        assert_eq!(a.deadline(first, idle).await, Expiry::Evicted);
    }
}
