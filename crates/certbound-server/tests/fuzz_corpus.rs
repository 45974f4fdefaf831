//! Fuzz harnesses of certbound-server, and their corpus replay: `server_config`
//! (`Config::from_toml`, the authorization server's `certbound.toml`), `login_form` (the login
//! and consent form posts as the browser handlers read them) and `cookies` (the `Cookie` header
//! parsing of the user flows).
//!
//! This one file is both an integration test (`cargo test -p certbound-server --test
//! fuzz_corpus`, replaying `fuzz/corpus/NAME/` and `fuzz/artifacts/NAME/`) and the body of the
//! cargo-fuzz targets, which include it with `#[path]`. See docs/fuzzing.md.
#![allow(dead_code)]

use certbound_server::config::Config;
use certbound_server::web::login_step::MAX_FIELD_BYTES;
use certbound_server::web::parse::{
    checked_form, consent_decision, ConsentDecision, Credentials, FormRefusal,
};
use certbound_server::web::session::{self, INTERACTION_COOKIE, SESSION_COOKIE};
use http::{header, HeaderMap, HeaderValue};
use std::path::PathBuf;

/// A CA certificate for `pki/ca.pem`, so seeds with `tls_client_auth_ca` reach client
/// registration (test material: its key was thrown away).
const CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBvDCCAWOgAwIBAgIUbjefcWV/eZtvEVcJVEtrZ4zZBSwwCgYIKoZIzj0EAwIw
KzEXMBUGA1UECgwOY2VydGJvdW5kIGZ1enoxEDAOBgNVBAMMB2Z1enogQ0EwIBcN
MjYxMjAxMjIyMjU1WhgPMjEyNjExMDcyMjIyNTVaMCsxFzAVBgNVBAoMDmNlcnRi
b3VuZCBmdXp6MRAwDgYDVQQDDAdmdXp6IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE1l8lNwpED0hDhHpUfPuAjPWT8EPxbFWH/Blfda/h/az5DmRb/aogUpxB
z/XKm2AtzexA0jKXmtr+CobLEX/XjaNjMGEwHQYDVR0OBBYEFFHcGJZmr2STH2pG
8RXRRdWwxCTEMB8GA1UdIwQYMBaAFFHcGJZmr2STH2pG8RXRRdWwxCTEMA8GA1Ud
EwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMCA0cAMEQCIHJ5
On3pA9tR4FaQZtyqD+3GLCJ1xCkaRpl7Cv0izEALAiBazHIr3ZPeXBdEtBPHk+hX
DCyreQQaw3xKMc+rb1EMGw==
-----END CERTIFICATE-----
";

/// Writes `path` atomically (a temporary file renamed over it), so concurrent processes never
/// see a partial file.
fn put(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A directory with the files the seed configurations name, made once per process. Only the
/// CA's contents are read at load; the others are empty placeholders whose existence is checked.
fn config_base() -> &'static PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        // The test target's tmp folder under `cargo test`, the system's when fuzzing: one fixed
        // folder, refreshed by atomic renames, so runs leave nothing new behind.
        let root = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = root.join("certbound-fuzz-server");
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for f in [
            "pki/server.pem",
            "pki/server.key",
            "server.pem",
            "server.key",
        ] {
            put(&dir.join(f), "x");
        }
        for f in ["pki/ca.pem", "ca.pem"] {
            put(&dir.join(f), CA_PEM);
        }
        dir
    })
}

/// Input: a `certbound.toml` (inputs that are not UTF-8 are skipped, and so are inputs that could
/// name a device or a FIFO, e.g. `/dev/zero`, as a CA file: loading reads CA files whole, which is
/// right for a trusted configuration and would only hang the fuzzer). No environment overrides.
///
/// Properties: never a panic; an accepted configuration has an https issuer and one registration
/// per `[[clients]]` table, with unique client ids.
pub fn server_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["dev", "proc", "sys", "run", "\\u", "\\U"]
        .iter()
        .any(|s| text.contains(s))
    {
        return;
    }
    let Ok(v) = Config::from_toml(text, "certbound.toml", config_base(), |_| None) else {
        return;
    };
    let issuer = url::Url::parse(&v.config.issuer).expect("an accepted issuer is a URL");
    assert_eq!(issuer.scheme(), "https");
    assert_eq!(v.clients.len(), v.config.clients.len());
    for (i, c) in v.clients.iter().enumerate() {
        assert!(
            v.clients[..i].iter().all(|o| o.client_id != c.client_id),
            "client_id twice"
        );
    }
    assert!(!v.config.audience().is_empty());
}

/// The interaction's CSRF token in `login_form` (the shape `csrf::new_token` makes).
const EXPECTED_CSRF: &str = "q3T1cXGm0Yf9n5b_Vw-2kRj8sLhA4eZoPuDiC6xN7Ea";

/// Input: the `Content-Type` header value up to the first `\n` (no header when it is not a valid
/// header value), then the body of a login or consent form post.
///
/// Properties: never a panic; a form is accepted only with the interaction's CSRF token exactly
/// (never with an empty expected token, never with another one); accepted credentials are only
/// checked when both fields are non-empty and at most `MAX_FIELD_BYTES`; a consent decision is
/// only `allow` or `deny`, `remember` only with the field present.
pub fn login_form(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // A mismatch is always refused: another token and an empty expected one never match.
    for other in ["", "q3T1cXGm0Yf9n5b_Vw-2kRj8sLhA4eZoPuDiC6xN7Eb"] {
        match checked_form(&headers, body, other) {
            Ok(_) => panic!("a form accepted with the wrong CSRF token {other:?}"),
            Err(FormRefusal::Unreadable | FormRefusal::Csrf) => {}
        }
    }
    let form = match checked_form(&headers, body, EXPECTED_CSRF) {
        Ok(form) => form,
        Err(FormRefusal::Csrf) => {
            let text = std::str::from_utf8(body).unwrap_or("");
            assert!(
                !text
                    .split('&')
                    .any(|p| p == format!("csrf={EXPECTED_CSRF}")),
                "the right token, literally in the body, refused"
            );
            return;
        }
        Err(FormRefusal::Unreadable) => return,
    };
    assert_eq!(form.get("csrf"), Some(EXPECTED_CSRF));
    let credentials = Credentials::of(&form);
    assert_eq!(credentials.username, form.get("username").unwrap_or(""));
    assert_eq!(credentials.password, form.get("password").unwrap_or(""));
    if credentials.checkable() {
        assert!(!credentials.username.is_empty() && credentials.username.len() <= MAX_FIELD_BYTES);
        assert!(!credentials.password.is_empty() && credentials.password.len() <= MAX_FIELD_BYTES);
    }
    if credentials.username.len() > MAX_FIELD_BYTES || credentials.password.len() > MAX_FIELD_BYTES
    {
        assert!(!credentials.fit() && !credentials.checkable());
    }
    match consent_decision(&form) {
        Some(ConsentDecision::Allow { remember }) => {
            assert_eq!(form.get("decision"), Some("allow"));
            assert_eq!(remember, form.has("remember"));
        }
        Some(ConsentDecision::Deny) => assert_eq!(form.get("decision"), Some("deny")),
        None => assert!(!matches!(form.get("decision"), Some("allow" | "deny"))),
    }
}

/// The values of cookie `name` in the headers, read independently of `session::read`: every
/// `name=value` pair of every `Cookie` header that is visible ASCII.
fn cookie_values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect()
}

/// Input: `Cookie` header values separated by `\n` (at most 8; lines that are not valid header
/// values are dropped).
///
/// Properties: never a panic; for both cookies of the user flows (and a look-alike name), a value
/// is read only when the cookie is present exactly once, with 1..=128 characters of
/// `[A-Za-z0-9_-]` (a store handle's shape); a cookie sent twice is never read (documented:
/// ignored rather than guessed at); a cookie of another name is never read as one of ours.
pub fn cookies(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n').take(8) {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, v);
        }
    }
    for name in [INTERACTION_COOKIE, SESSION_COOKIE, "__Host-cb_", "cb_s"] {
        let read = session::read(&headers, name);
        let values = cookie_values(&headers, name);
        let expected = match values.as_slice() {
            [v] if !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(*v)
            }
            _ => None,
        };
        assert_eq!(read, expected, "cookie {name}");
    }
}

// The replay loop every crate's corpus test shares (compiled only under `cargo test`).
#[cfg(test)]
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[cfg(test)]
use replay::replay;

#[test]
fn replay_server_config() {
    replay("server_config", server_config);
}

#[test]
fn replay_login_form() {
    replay("login_form", login_form);
}

#[test]
fn replay_cookies() {
    replay("cookies", cookies);
}
