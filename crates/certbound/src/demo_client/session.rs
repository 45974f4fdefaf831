//! Per-browser state of the demo page. Each browser gets a random session id in an `HttpOnly`,
//! `SameSite=Lax` cookie; what it did is kept in a bounded map that forgets idle sessions, so two
//! browsers never see each other's tokens and the page cannot be used to fill memory.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub(super) const COOKIE_NAME: &str = "certbound_demo";

/// 256 random bits, base64url: session ids and form tokens.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// One browser's session.
pub(super) struct Session<T> {
    /// The token every form of this session must carry (cross-site request forgery defence).
    pub csrf: String,
    /// What the page shows for this browser.
    pub data: T,
    last_seen: Instant,
}

impl<T> Session<T> {
    /// Whether `presented` is this session's form token, compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            self.csrf.as_bytes(),
            presented.as_bytes(),
        )
        .is_ok()
    }
}

/// The sessions of all browsers: at most `capacity`, each forgotten after `idle` without use.
pub(super) struct Sessions<T> {
    map: Mutex<HashMap<String, Session<T>>>,
    capacity: usize,
    idle: Duration,
}

impl<T: Default> Sessions<T> {
    /// An empty store.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            idle,
        }
    }

    /// Runs `f` on the live session `id` (marking it used at `now`), or returns `None` when there
    /// is no such session or it has been idle too long (it is then forgotten).
    pub fn with<R>(
        &self,
        id: &str,
        now: Instant,
        f: impl FnOnce(&mut Session<T>) -> R,
    ) -> Option<R> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let session = map.get_mut(id)?;
        if now.saturating_duration_since(session.last_seen) > self.idle {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(f(session))
    }

    /// Starts a new session at `now` and returns its id. When the store is full, idle sessions
    /// are forgotten first, then the least recently used one.
    pub fn create(&self, now: Instant) -> anyhow::Result<String> {
        let id = random_token()?;
        let session = Session {
            csrf: random_token()?,
            data: T::default(),
            last_seen: now,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            let idle = self.idle;
            map.retain(|_, s| now.saturating_duration_since(s.last_seen) <= idle);
        }
        if map.len() >= self.capacity {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session);
        Ok(id)
    }

    /// How many sessions are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The session id in the request's `Cookie` headers, if any.
pub(super) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value for session `id`. Not `Secure`: the page is served over plain HTTP on
/// the loopback address; `HttpOnly` keeps it from scripts, `SameSite=Lax` off cross-site POSTs.
pub(super) fn set_cookie(id: &str, idle: Duration) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        idle.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(1800);

    #[test]
    fn sessions_are_separate_and_random() {
        let s: Sessions<Vec<u8>> = Sessions::new(10, IDLE);
        let now = Instant::now();
        let a = s.create(now).unwrap();
        let b = s.create(now).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        s.with(&a, now, |x| x.data.push(1));
        assert_eq!(s.with(&b, now, |x| x.data.clone()), Some(vec![]));
        assert_eq!(s.with(&a, now, |x| x.data.clone()), Some(vec![1]));
        let (ca, cb) = (
            s.with(&a, now, |x| x.csrf.clone()).unwrap(),
            s.with(&b, now, |x| x.csrf.clone()).unwrap(),
        );
        assert_ne!(ca, cb);
        assert_eq!(s.with(&a, now, |x| x.csrf_matches(&ca)), Some(true));
        assert_eq!(s.with(&a, now, |x| x.csrf_matches(&cb)), Some(false));
        assert_eq!(s.with(&a, now, |x| x.csrf_matches("")), Some(false));
        assert!(s.with("not-a-session", now, |_| ()).is_none());
    }

    #[test]
    fn idle_sessions_are_forgotten() {
        let s: Sessions<()> = Sessions::new(10, IDLE);
        let t0 = Instant::now();
        let a = s.create(t0).unwrap();
        // Used just before the limit: kept, and the idle time restarts.
        assert!(s.with(&a, t0 + IDLE, |_| ()).is_some());
        assert!(s.with(&a, t0 + IDLE * 2, |_| ()).is_some());
        assert!(s
            .with(&a, t0 + IDLE * 3 + Duration::from_secs(1), |_| ())
            .is_none());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn the_store_is_bounded() {
        let s: Sessions<()> = Sessions::new(3, IDLE);
        let t0 = Instant::now();
        let ids: Vec<String> = (0..3)
            .map(|i| s.create(t0 + Duration::from_secs(i)).unwrap())
            .collect();
        // The first is used again, so the second is the least recently used.
        s.with(&ids[0], t0 + Duration::from_secs(10), |_| ());
        let d = s.create(t0 + Duration::from_secs(11)).unwrap();
        assert_eq!(s.len(), 3);
        assert!(s
            .with(&ids[1], t0 + Duration::from_secs(12), |_| ())
            .is_none());
        for id in [&ids[0], &ids[2], &d] {
            assert!(s.with(id, t0 + Duration::from_secs(12), |_| ()).is_some());
        }
        // Many more: never more than the capacity.
        for i in 0..100 {
            s.create(t0 + Duration::from_secs(20 + i)).unwrap();
        }
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; certbound_demo=abc; b=2".parse().unwrap());
        assert_eq!(session_id(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, "x=1".parse().unwrap());
        h.append(COOKIE, "certbound_demo=def".parse().unwrap());
        assert_eq!(session_id(&h), Some("def"));
        assert_eq!(session_id(&HeaderMap::new()), None);
        let c = set_cookie("abc", IDLE);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    }
}
