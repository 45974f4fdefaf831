//! Brute-force and flood bounds for the token, introspection and revocation endpoints.
//!
//! - **Failed authentications** (on by default): every failure from a source address takes a
//!   token from that address's bucket; every failure of a *secret* for a client id takes one from
//!   that client's bucket. An empty bucket means `429` with `Retry-After` before any credential is
//!   checked. Certificate failures do not lock a client id out (nothing there can be guessed, and a
//!   lockout by client id would let anyone deny service to a certificate client).
//! - **Failed logins** at the login page (on with the failed-authentication limits, at the same
//!   rates): per source address and per username digest, in buckets of their own.
//! - **Requests** (off by default): a rate per source address and per claimed client id.
//!
//! Memory is `max_tracked_keys` × a small constant per limit: addresses are fixed-size, and a
//! client id is tracked by its SHA-256 digest ([`ClientKey`]), never by the presented text, so a
//! 60 kB `client_id` costs what a short one does. (Ids longer than any registered one are refused
//! before they reach here; the digest bounds the rest whatever a caller passes.)

use crate::config::RateLimitConfig;
use certbound_core::client::MAX_CLIENT_ID_LEN;
use certbound_core::error::presented;
use certbound_net::metrics::Metrics;
use certbound_net::rate_limit::{KeyedLimiter, RetryAfter};
use std::net::IpAddr;
use std::time::Instant;

/// The limiters of one server.
pub struct Throttle {
    failed_by_address: Option<KeyedLimiter<IpAddr>>,
    failed_by_client: Option<KeyedLimiter<ClientKey>>,
    requests_by_address: Option<KeyedLimiter<IpAddr>>,
    requests_by_client: Option<KeyedLimiter<ClientKey>>,
    failed_login_by_address: Option<KeyedLimiter<IpAddr>>,
    failed_login_by_user: Option<KeyedLimiter<ClientKey>>,
}

/// How a client id (or a username, at the login page) is tracked: the SHA-256 digest of the presented id, 32 bytes whatever its
/// length (a collision, which would share a bucket, is not feasible to find).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey([u8; 32]);

impl ClientKey {
    /// The key of a presented client id.
    pub fn of(client_id: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, client_id.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        ClientKey(key)
    }
}

/// Which limit refused a request (a metrics label).
pub type LimitKind = &'static str;

impl Throttle {
    /// Limiters as configured.
    pub fn new(config: &RateLimitConfig) -> Self {
        let max = config.max_tracked_keys;
        Throttle {
            failed_by_address: config
                .failed_auth
                .then(|| KeyedLimiter::new(config.failed_auth_per_address, max)),
            failed_by_client: config
                .failed_auth
                .then(|| KeyedLimiter::new(config.failed_auth_per_client, max)),
            requests_by_address: config
                .requests_per_address
                .map(|r| KeyedLimiter::new(r, max)),
            requests_by_client: config
                .requests_per_client
                .map(|r| KeyedLimiter::new(r, max)),
            failed_login_by_address: config
                .failed_auth
                .then(|| KeyedLimiter::new(config.failed_auth_per_address, max)),
            failed_login_by_user: config
                .failed_auth
                .then(|| KeyedLimiter::new(config.failed_auth_per_client, max)),
        }
    }

    /// Before a password is checked at the login page: refuses when the address or the
    /// username (by digest, whether or not such a user exists, so the answer tells nothing) has
    /// used up its failed logins. The same rates as failed client authentications.
    pub fn admit_login(
        &self,
        address: Option<IpAddr>,
        username: &str,
    ) -> Result<(), (LimitKind, RetryAfter)> {
        let now = Instant::now();
        if let (Some(l), Some(a)) = (&self.failed_login_by_address, address) {
            l.check(&a, now).map_err(|r| ("failed_login_address", r))?;
        }
        if let Some(l) = &self.failed_login_by_user {
            l.check(&ClientKey::of(username), now)
                .map_err(|r| ("failed_login_user", r))?;
        }
        Ok(())
    }

    /// After a failed login: counts it against the address and the username.
    pub fn failed_login(&self, address: Option<IpAddr>, username: &str) {
        let now = Instant::now();
        if let (Some(l), Some(a)) = (&self.failed_login_by_address, address) {
            let _ = l.take(&a, now);
        }
        if let Some(l) = &self.failed_login_by_user {
            let _ = l.take(&ClientKey::of(username), now);
        }
    }

    /// Before credentials are checked: refuses a request whose address or client is over a limit.
    pub fn admit(
        &self,
        address: Option<IpAddr>,
        client_id: Option<&str>,
        presents_secret: bool,
    ) -> Result<(), (LimitKind, RetryAfter)> {
        let now = Instant::now();
        let client = client_id.map(ClientKey::of);
        if let (Some(l), Some(a)) = (&self.requests_by_address, address) {
            l.take(&a, now).map_err(|r| ("requests_address", r))?;
        }
        if let (Some(l), Some(c)) = (&self.requests_by_client, &client) {
            l.take(c, now).map_err(|r| ("requests_client", r))?;
        }
        if let (Some(l), Some(a)) = (&self.failed_by_address, address) {
            l.check(&a, now).map_err(|r| ("failed_auth_address", r))?;
        }
        if presents_secret {
            if let (Some(l), Some(c)) = (&self.failed_by_client, &client) {
                l.check(c, now).map_err(|r| ("failed_auth_client", r))?;
            }
        }
        Ok(())
    }

    /// After a failed authentication: counts it against the address (and the client id when a
    /// secret was tried).
    pub fn failed(&self, address: Option<IpAddr>, client_id: Option<&str>, presented_secret: bool) {
        let now = Instant::now();
        if let (Some(l), Some(a)) = (&self.failed_by_address, address) {
            let _ = l.take(&a, now);
        }
        if presented_secret {
            if let (Some(l), Some(c)) = (&self.failed_by_client, client_id) {
                let _ = l.take(&ClientKey::of(c), now);
            }
        }
    }
}

/// Records a refusal in the metrics and logs it (audit), with the client's address `source`
/// and the presented client id (cut short if longer than any registered id).
pub fn refused(metrics: &Metrics, kind: LimitKind, source: &str, client_id: Option<&str>) {
    Metrics::count(&metrics.rate_limited, kind);
    tracing::warn!(
        target: "certbound::audit",
        event = "rate_limited",
        limit = kind,
        source,
        client_id = %presented(client_id.unwrap_or(""), MAX_CLIENT_ID_LEN),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use certbound_net::rate_limit::Rate;

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            failed_auth_per_address: Rate::per_minute(3),
            failed_auth_per_client: Rate::per_minute(2),
            ..RateLimitConfig::default()
        }
    }

    #[test]
    fn failures_lock_the_address_out() {
        let t = Throttle::new(&config());
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert!(t.admit(a, Some("x"), false).is_ok());
            t.failed(a, Some("x"), false);
        }
        let (kind, retry) = t.admit(a, Some("x"), false).unwrap_err();
        assert_eq!(kind, "failed_auth_address");
        assert!(retry.seconds() >= 1);
        // Another address is not affected.
        assert!(t
            .admit(Some(IpAddr::from([10, 0, 0, 2])), Some("x"), false)
            .is_ok());
    }

    #[test]
    fn secret_failures_lock_the_client_id_out_but_certificate_failures_do_not() {
        let t = Throttle::new(&config());
        // Certificate failures from many addresses: the client id is never locked.
        for i in 0..10u8 {
            t.failed(
                Some(IpAddr::from([10, 0, 1, i])),
                Some("cert-client"),
                false,
            );
        }
        assert!(t
            .admit(
                Some(IpAddr::from([10, 0, 2, 1])),
                Some("cert-client"),
                false
            )
            .is_ok());
        // Secret guesses from many addresses: the client id is locked for secret attempts.
        for i in 0..2u8 {
            t.failed(
                Some(IpAddr::from([10, 0, 3, i])),
                Some("secret-client"),
                true,
            );
        }
        let (kind, _) = t
            .admit(
                Some(IpAddr::from([10, 0, 4, 1])),
                Some("secret-client"),
                true,
            )
            .unwrap_err();
        assert_eq!(kind, "failed_auth_client");
    }

    #[test]
    fn request_rates_are_off_by_default_and_bound_when_set() {
        let t = Throttle::new(&config());
        let a = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..1000 {
            assert!(t.admit(a, Some("c"), false).is_ok());
        }
        let t = Throttle::new(&RateLimitConfig {
            requests_per_client: Some(Rate {
                per_second: 1.0,
                burst: 5,
            }),
            ..config()
        });
        for _ in 0..5 {
            assert!(t.admit(a, Some("c"), false).is_ok());
        }
        assert_eq!(
            t.admit(a, Some("c"), false).unwrap_err().0,
            "requests_client"
        );
        assert!(t.admit(a, Some("other"), false).is_ok());
    }

    #[test]
    fn client_keys_are_fixed_size_whatever_the_id() {
        assert_eq!(std::mem::size_of::<ClientKey>(), 32);
        let long = "x".repeat(60_000);
        assert_eq!(ClientKey::of(&long), ClientKey::of(&long));
        assert_ne!(ClientKey::of(&long), ClientKey::of(&long[1..]));
        // Long ids are limited like short ones, each by its own bucket.
        let t = Throttle::new(&config());
        let a = Some(IpAddr::from([10, 0, 5, 1]));
        for _ in 0..2 {
            t.failed(a, Some(&long), true);
        }
        assert_eq!(
            t.admit(None, Some(&long), true).unwrap_err().0,
            "failed_auth_client"
        );
        assert!(t.admit(None, Some(&long[1..]), true).is_ok());
    }

    #[test]
    fn failed_logins_lock_the_username_and_the_address_out() {
        let t = Throttle::new(&config());
        // Two failures for one username from different addresses lock that username only.
        for i in 0..2u8 {
            t.failed_login(Some(IpAddr::from([10, 1, 0, i])), "alice");
        }
        let (kind, _) = t
            .admit_login(Some(IpAddr::from([10, 1, 1, 1])), "alice")
            .unwrap_err();
        assert_eq!(kind, "failed_login_user");
        assert!(t
            .admit_login(Some(IpAddr::from([10, 1, 1, 1])), "bob")
            .is_ok());
        // Three failures from one address lock the address for every username.
        let a = Some(IpAddr::from([10, 1, 2, 1]));
        for name in ["u1", "u2", "u3"] {
            t.failed_login(a, name);
        }
        assert_eq!(
            t.admit_login(a, "u4").unwrap_err().0,
            "failed_login_address"
        );
        // Failed logins do not count against client authentication.
        assert!(t.admit(a, Some("x"), true).is_ok());
    }

    #[test]
    fn disabled_failure_limits_never_refuse() {
        let t = Throttle::new(&RateLimitConfig {
            failed_auth: false,
            ..config()
        });
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..100 {
            t.failed(a, Some("x"), true);
        }
        assert!(t.admit(a, Some("x"), true).is_ok());
    }
}
