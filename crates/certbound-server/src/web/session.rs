//! The browser cookies of the user flows. Both are `__Host-` cookies (RFC 6265bis §4.1.3.2:
//! `Secure`, `Path=/`, no `Domain`, so no sibling host can set or read them), `HttpOnly`, and
//! `SameSite=Lax` (sent on the top-level navigation back from a client, never on cross-site
//! subrequests or POSTs).
//!
//! - [`INTERACTION_COOKIE`]: the browser binding of the authorization in progress; the store
//!   finds an interaction only with its id (in the URL) *and* this value.
//! - [`SESSION_COOKIE`]: the login session (single sign-on across clients).
//!
//! The values are store handles (256 random bits, base64url); the store keeps only their hashes.

use http::{header, HeaderMap, HeaderValue};

/// The interaction binding cookie.
pub const INTERACTION_COOKIE: &str = "__Host-cb_i";

/// The login session cookie.
pub const SESSION_COOKIE: &str = "__Host-cb_s";

/// The longest cookie value read: handles are 43 characters; anything longer is not ours.
const MAX_VALUE_LEN: usize = 128;

/// The value of cookie `name` in the request, if present once with a plausible value. A cookie
/// sent twice (e.g. one planted for a parent domain) is ignored rather than guessed at.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found.filter(|v| {
        !v.is_empty()
            && v.len() <= MAX_VALUE_LEN
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A `Set-Cookie` value setting `name` to `value` for `max_age_seconds`.
pub fn set(name: &str, value: &str, max_age_seconds: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age_seconds}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// A `Set-Cookie` value removing `name`.
pub fn clear(name: &str) -> Option<HeaderValue> {
    set(name, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_one_plausible_value() {
        let h = cookies(&["a=1; __Host-cb_s=abc_DEF-9", "__Host-cb_i=xyz"]);
        assert_eq!(read(&h, SESSION_COOKIE), Some("abc_DEF-9"));
        assert_eq!(read(&h, INTERACTION_COOKIE), Some("xyz"));
        assert_eq!(read(&h, "missing"), None);
        assert_eq!(
            read(&cookies(&["__Host-cb_s=a; __Host-cb_s=b"]), SESSION_COOKIE),
            None
        );
        assert_eq!(read(&cookies(&["__Host-cb_s=a\"b"]), SESSION_COOKIE), None);
        assert_eq!(read(&cookies(&["__Host-cb_s="]), SESSION_COOKIE), None);
        let long = format!("__Host-cb_s={}", "a".repeat(200));
        assert_eq!(read(&cookies(&[&long]), SESSION_COOKIE), None);
    }

    #[test]
    fn cookies_have_the_host_prefix_attributes() {
        let c = set(SESSION_COOKIE, "v", 60).unwrap();
        let c = c.to_str().unwrap();
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"));
        assert!(clear(SESSION_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }
}
