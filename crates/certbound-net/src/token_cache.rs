//! A small bounded cache keyed by token hash (SHA-256), with per-entry expiry: what a verified
//! or introspected token resolved to, so a token presented again skips its signature check (the
//! gateway's verifier and introspection client, the authorization server's /userinfo and
//! /introspect). Revocation is never cached here: each user of the cache checks it as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The key of `token` in a [`BoundedCache`]: its SHA-256, the only form in which tokens are kept
/// in caches.
pub fn key(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Entries expire at their own deadline; when full, expired entries are dropped first and, if
/// none are, the new entry is simply not cached (the cache is an optimisation, never a
/// requirement, and must not grow without bound under a flood of distinct tokens).
pub struct BoundedCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], (V, Instant)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone> BoundedCache<V> {
    /// A cache of at most `capacity` entries (0: nothing is cached).
    pub fn new(capacity: usize) -> Self {
        BoundedCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The live entry under `key`, if any (an expired one is dropped).
    pub fn get(&self, key: &[u8; 32]) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = match entries.get(key) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Lookups since start: (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Caches `value` under `key` until `until`, unless the cache is full of live entries.
    pub fn insert(&self, key: [u8; 32], value: V, until: Instant) {
        if self.capacity == 0 || until <= Instant::now() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(key, (value, until));
    }

    /// Entries held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expires_and_stays_bounded() {
        let c = BoundedCache::new(2);
        let soon = Instant::now() + Duration::from_millis(30);
        let later = Instant::now() + Duration::from_secs(60);
        c.insert([1; 32], "a", soon);
        c.insert([2; 32], "b", later);
        c.insert([3; 32], "c", later); // full, nothing expired yet: not cached
        assert_eq!(c.get(&[1; 32]), Some("a"));
        assert_eq!(c.get(&[3; 32]), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&[1; 32]), None, "expired");
        c.insert([3; 32], "c", later);
        assert_eq!(c.get(&[3; 32]), Some("c"));
        assert!(c.len() <= 2);
    }
}
