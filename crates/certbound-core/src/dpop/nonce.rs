//! Stateless DPoP server nonces (RFC 9449 §8, §9).
//!
//! A nonce names a time window (`floor(now / rotation_seconds)`) and carries a MAC of it:
//! `base64url(window as 8 big-endian bytes || HMAC-SHA256(key, label || window)[..16])`, 32
//! characters. A nonce is accepted while its window is the current or the previous one, so it
//! lives between one and two rotation periods. Nothing is remembered per nonce (FAPI2.md §2.5
//! trap 5: per-nonce state must not grow without bound): every instance holding the same key
//! issues and accepts the same nonces. The nonce is not a replay defence by itself (one nonce
//! serves every client during its window); it bounds how long a proof made in advance stays
//! usable, and with the `jti` check it closes the gap of replay caches local to one instance.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

/// The shortest secret accepted, in bytes (the HMAC-SHA256 output size; RFC 2104 §3).
pub const MIN_NONCE_SECRET_BYTES: usize = 32;

/// The longest rotation period accepted, in seconds (a nonce then lives up to two hours).
pub const MAX_NONCE_ROTATION_SECONDS: u32 = 3600;

/// The length of every nonce this scheme issues, in characters (24 bytes in base64url).
pub const NONCE_CHARS: usize = 32;

/// Bytes of the window counter, then of the truncated MAC.
const WINDOW_BYTES: usize = 8;
const MAC_BYTES: usize = 16;

/// Domain separation: a MAC made with the same key for another purpose never reads as a nonce.
const LABEL: &[u8] = b"certbound dpop nonce v1\0";

/// Why a nonce scheme could not be built from its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceSchemeError {
    /// The secret is shorter than [`MIN_NONCE_SECRET_BYTES`].
    #[error("the nonce secret must be at least {MIN_NONCE_SECRET_BYTES} bytes (for example `openssl rand -base64 48`)")]
    ShortSecret,
    /// The rotation period is 0 or longer than [`MAX_NONCE_ROTATION_SECONDS`].
    #[error(
        "the nonce rotation period must be between 1 and {MAX_NONCE_ROTATION_SECONDS} seconds"
    )]
    Rotation,
}

/// Issues and checks server nonces with one key and one rotation period. Cheap to clone.
#[derive(Clone)]
pub struct NonceScheme {
    key: hmac::Key,
    rotation_seconds: u32,
}

impl std::fmt::Debug for NonceScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceScheme")
            .field("key", &"<redacted>")
            .field("rotation_seconds", &self.rotation_seconds)
            .finish()
    }
}

impl NonceScheme {
    /// A scheme keyed with `secret` (shared by every instance that must accept the others'
    /// nonces) rotating every `rotation_seconds`.
    pub fn new(secret: &[u8], rotation_seconds: u32) -> Result<Self, NonceSchemeError> {
        if secret.len() < MIN_NONCE_SECRET_BYTES {
            return Err(NonceSchemeError::ShortSecret);
        }
        Self::check_rotation(rotation_seconds)?;
        Ok(NonceScheme {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            rotation_seconds,
        })
    }

    /// A scheme with a random key of this process: its nonces are refused by every other
    /// instance and after a restart.
    pub fn random(rotation_seconds: u32) -> Result<Self, NonceSchemeError> {
        Self::check_rotation(rotation_seconds)?;
        let mut secret = [0u8; 32];
        // The system RNG does not fail on the platforms aws-lc-rs supports; if it ever did,
        // an all-zero key would be predictable, so refuse rather than continue.
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| NonceSchemeError::ShortSecret)?;
        Self::new(&secret, rotation_seconds)
    }

    fn check_rotation(rotation_seconds: u32) -> Result<(), NonceSchemeError> {
        if rotation_seconds == 0 || rotation_seconds > MAX_NONCE_ROTATION_SECONDS {
            return Err(NonceSchemeError::Rotation);
        }
        Ok(())
    }

    /// The rotation period, in seconds.
    pub fn rotation_seconds(&self) -> u32 {
        self.rotation_seconds
    }

    /// The window `now` falls in (times before the epoch fall in window 0).
    fn window(&self, now: i64) -> u64 {
        now.max(0).unsigned_abs() / u64::from(self.rotation_seconds)
    }

    fn mac(&self, window: u64) -> [u8; MAC_BYTES] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(LABEL);
        ctx.update(&window.to_be_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
        out
    }

    /// The nonce of the current window: the value for a `DPoP-Nonce` header. Every call in the
    /// same window returns the same value.
    pub fn issue(&self, now: i64) -> String {
        let window = self.window(now);
        let mut raw = [0u8; WINDOW_BYTES + MAC_BYTES];
        raw[..WINDOW_BYTES].copy_from_slice(&window.to_be_bytes());
        raw[WINDOW_BYTES..].copy_from_slice(&self.mac(window));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued by this key for the current or the previous window. The
    /// length is checked before decoding, the MAC compared in constant time.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        if nonce.len() != NONCE_CHARS {
            return false;
        }
        let mut raw = [0u8; WINDOW_BYTES + MAC_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(nonce.as_bytes(), &mut raw) {
            Ok(n) if n == raw.len() => {}
            _ => return false,
        }
        let mut window = [0u8; WINDOW_BYTES];
        window.copy_from_slice(&raw[..WINDOW_BYTES]);
        let window = u64::from_be_bytes(window);
        let current = self.window(now);
        if window != current && Some(window) != current.checked_sub(1) {
            return false;
        }
        bool::from(self.mac(window).ct_eq(&raw[WINDOW_BYTES..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;

    fn scheme(rotation: u32) -> NonceScheme {
        NonceScheme::new(&[7u8; 32], rotation).unwrap()
    }

    #[test]
    fn a_nonce_lives_through_its_window_and_the_next() {
        let s = scheme(300);
        let start = T - T % 300;
        let n = s.issue(start);
        assert_eq!(n.len(), NONCE_CHARS);
        assert_eq!(s.issue(start + 299), n, "one value per window");
        assert!(s.accepts(&n, start));
        assert!(
            s.accepts(&n, start + 599),
            "the previous window is accepted"
        );
        assert!(
            !s.accepts(&n, start + 600),
            "two windows later it is refused"
        );
        assert!(
            !s.accepts(&n, start - 1),
            "a nonce from the future is refused"
        );
        assert_ne!(s.issue(start + 300), n);
    }

    #[test]
    fn another_key_or_a_tampered_nonce_is_refused() {
        let s = scheme(300);
        let n = s.issue(T);
        let other = NonceScheme::new(&[8u8; 32], 300).unwrap();
        assert!(!other.accepts(&n, T));
        assert!(NonceScheme::new(&[7u8; 32], 300).unwrap().accepts(&n, T));
        // Flip each character: the window or the MAC no longer matches.
        for i in 0..n.len() {
            let mut bytes = n.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(bytes).unwrap();
            assert!(!s.accepts(&t, T), "tampered at {i}: {t}");
        }
        // A MAC moved to another window does not verify.
        let mut raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        raw[7] = raw[7].wrapping_sub(1);
        assert!(!s.accepts(&URL_SAFE_NO_PAD.encode(&raw), T));
    }

    #[test]
    fn truncated_padded_or_oversized_nonces_are_refused() {
        let s = scheme(300);
        let n = s.issue(T);
        assert!(!s.accepts(&n[..NONCE_CHARS - 1], T));
        assert!(!s.accepts(&format!("{n}A"), T));
        assert!(!s.accepts(&format!("{}=", &n[..NONCE_CHARS - 1]), T));
        assert!(!s.accepts("", T));
        assert!(!s.accepts(&"A".repeat(100_000), T));
        assert!(!s.accepts(&"*".repeat(NONCE_CHARS), T));
    }

    #[test]
    fn settings_are_bounded() {
        assert_eq!(
            NonceScheme::new(&[1u8; 31], 300).unwrap_err(),
            NonceSchemeError::ShortSecret
        );
        assert_eq!(
            NonceScheme::new(&[1u8; 32], 0).unwrap_err(),
            NonceSchemeError::Rotation
        );
        assert_eq!(
            NonceScheme::random(MAX_NONCE_ROTATION_SECONDS + 1).unwrap_err(),
            NonceSchemeError::Rotation
        );
        let a = NonceScheme::random(60).unwrap();
        let b = NonceScheme::random(60).unwrap();
        assert!(a.accepts(&a.issue(T), T));
        assert!(!b.accepts(&a.issue(T), T), "random keys differ");
        assert!(!format!("{a:?}").contains("7, 7"));
        // Times before the epoch do not panic.
        assert!(a.accepts(&a.issue(-5), -5));
    }
}
