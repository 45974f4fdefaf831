//! Keyed token buckets: bounds how fast one key (a source address, a client id) may do something.
//!
//! Two uses in the authorization server: **failed authentications** (on by default: each failure
//! takes a token; a key with an empty bucket is refused with `429` until one refills, which bounds
//! secret and certificate guessing without slowing honest traffic), and **requests** (off by
//! default: every request takes a token). Memory is bounded: at most `max_keys` keys are tracked;
//! idle keys (full buckets) are swept when the table fills, and if every tracked key is active a new
//! key is refused rather than tracked without bound. Keys must be fixed-size values (an address, a
//! digest): a key that holds request text (a presented client id) would make each tracked key as
//! large as the request, so callers track a digest of such text (`certbound_server::throttle`
//! uses the SHA-256 of the client id), and memory stays `max_keys` × a small constant.
//!
//! The logic takes `now` as an argument so it is tested without sleeping.

use serde::Deserialize;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One bucket's shape: `burst` tokens, refilled at `per_second`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size: how many actions may happen at once after a quiet period.
    pub burst: u32,
}

impl Rate {
    /// `n` per minute with a burst of `n`.
    pub fn per_minute(n: u32) -> Self {
        Rate {
            per_second: f64::from(n) / 60.0,
            burst: n,
        }
    }

    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) || self.burst == 0 {
            return Err("per_second and burst must be positive".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, rate: &Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.updated = now;
    }

    fn wait_for_one(&self, rate: &Rate) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / rate.per_second)
    }
}

/// Refused: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn seconds(&self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

const SHARDS: usize = 16;

/// Token buckets keyed by `K`, sharded so concurrent requests rarely share a lock.
pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys_per_shard: usize,
    shards: Vec<Mutex<HashMap<K, Bucket>>>,
    hasher: RandomState,
    tracked: AtomicUsize,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter tracking at most about `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        KeyedLimiter {
            rate,
            max_keys_per_shard: (max_keys / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            tracked: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, Bucket>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        &self.shards[i]
    }

    /// Whether `key` has a token left, without taking it. Cheap when nothing is tracked.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        match shard.get_mut(key) {
            None => Ok(()),
            Some(b) => {
                b.refill(&self.rate, now);
                if b.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(RetryAfter(b.wait_for_one(&self.rate)))
                }
            }
        }
    }

    /// Takes a token for `key`; refused (nothing taken) if none is left.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        if !shard.contains_key(key) {
            if shard.len() >= self.max_keys_per_shard {
                let before = shard.len();
                let rate = self.rate;
                shard.retain(|_, b| {
                    b.refill(&rate, now);
                    b.tokens < f64::from(rate.burst)
                });
                self.tracked
                    .fetch_sub(before - shard.len(), Ordering::Relaxed);
                if shard.len() >= self.max_keys_per_shard {
                    // Every tracked key is active: refuse rather than grow without bound.
                    return Err(RetryAfter(Duration::from_secs(1)));
                }
            }
            shard.insert(
                key.clone(),
                Bucket {
                    tokens: f64::from(self.rate.burst),
                    updated: now,
                },
            );
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
        let Some(b) = shard.get_mut(key) else {
            return Ok(());
        };
        b.refill(&self.rate, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(b.wait_for_one(&self.rate)))
        }
    }

    /// Keys currently tracked (for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let l = KeyedLimiter::new(
            Rate {
                per_second: 1.0,
                burst: 3,
            },
            100,
        );
        let t0 = Instant::now();
        let k = "10.0.0.1".to_owned();
        assert_eq!(l.check(&k, t0), Ok(()));
        for _ in 0..3 {
            assert_eq!(l.take(&k, t0), Ok(()));
        }
        let refused = l.take(&k, t0).unwrap_err();
        assert_eq!(refused.seconds(), 1);
        assert!(l.check(&k, t0).is_err());
        // Other keys are unaffected.
        assert_eq!(l.check(&"10.0.0.2".to_owned(), t0), Ok(()));
        // Half a second: still refused, and told to wait the other half.
        let r = l.check(&k, t0 + Duration::from_millis(500)).unwrap_err();
        assert!(
            r.0 <= Duration::from_millis(500) && r.0 > Duration::from_millis(400),
            "{r:?}"
        );
        assert_eq!(l.take(&k, t0 + Duration::from_secs(1)), Ok(()));
        assert!(l.take(&k, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn per_minute_rates_refill_slowly() {
        let l = KeyedLimiter::new(Rate::per_minute(10), 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            l.take(&1u32, t0).unwrap();
        }
        let r = l.take(&1u32, t0).unwrap_err();
        assert_eq!(r.seconds(), 6);
        assert!(l.take(&1u32, t0 + Duration::from_secs(6)).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_idle_keys_are_swept() {
        // Eight keys per shard: ten new keys later cannot fill one shard (9 would have to collide).
        let bound = SHARDS * 8;
        let l = KeyedLimiter::new(
            Rate {
                per_second: 1.0,
                burst: 2,
            },
            bound,
        );
        let t0 = Instant::now();
        // Fill far more keys than the bound; each takes one token (so it is "active").
        let mut refused = 0;
        for k in 0..1000u32 {
            if l.take(&k, t0).is_err() {
                refused += 1;
            }
        }
        assert!(l.tracked() <= bound, "{}", l.tracked());
        assert!(refused > 0);
        // Later every bucket has refilled: new keys sweep the idle ones and are tracked.
        let later = t0 + Duration::from_secs(10);
        for k in 1000..1010u32 {
            assert_eq!(l.take(&k, later), Ok(()), "key {k}");
        }
        assert!(l.tracked() <= bound);
    }

    #[test]
    fn rates_must_be_positive() {
        assert!(Rate {
            per_second: 0.0,
            burst: 1
        }
        .validate()
        .is_err());
        assert!(Rate {
            per_second: f64::NAN,
            burst: 1
        }
        .validate()
        .is_err());
        assert!(Rate {
            per_second: 1.0,
            burst: 0
        }
        .validate()
        .is_err());
        assert!(Rate::per_minute(10).validate().is_ok());
    }
}
