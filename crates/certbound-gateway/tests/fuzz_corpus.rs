//! Fuzz harnesses for the gateway's parsers of hostile input (bearer tokens, JWT access tokens,
//! `gateway.toml`, request paths), and their corpus replay.
//!
//! This one file is both an integration test (`cargo test -p certbound-gateway --test
//! fuzz_corpus`, replaying `fuzz/corpus/{jwt,gateway_config}/` and the matching
//! `fuzz/artifacts/` folders) and the body of the cargo-fuzz targets `jwt` and `gateway_config`,
//! which include it with `#[path]`. See docs/fuzzing.md.
#![allow(dead_code)]

use certbound_gateway::bearer::bearer_token;
use certbound_gateway::config::GatewayConfig;
use certbound_gateway::tokens::{TokenError, VerifiedToken, Verifier, VerifierConfig};
use http::{HeaderMap, HeaderValue};
use std::future::Future;
use std::path::PathBuf;
use std::task::{Context, Poll, Waker};

// ---------------------------------------------------------------------------------------------
// jwt: bearer tokens and RFC 9068 JWT validation against a fixed ES256 JWK Set.
// ---------------------------------------------------------------------------------------------

/// The issuer (and so the audience) of the fuzz verifier.
pub const ISS: &str = "https://as.example";
/// The key id of the fixed key.
pub const KID: &str = "fuzz-es256";

/// The fixed P-256 public key. Its private key is derived from a public string by
/// `fuzz/seeds/generate.py` (it signs the seed tokens): it is a test key, never trust it.
fn jwks() -> serde_json::Value {
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
        "x": "EyQHkLtOcAr5EYzyolwRUwdKwBKgWnc2qh7ZS9pO97s",
        "y": "_fgVrhufuuAVEM8IzDh_HcomCNvxxuLxAprsz2R28w4",
    }]})
}

/// `Verifier::verify` polled once: a verifier with a static key set never fetches, so it must
/// finish without waiting.
fn verify_now(verifier: &Verifier, token: &str) -> Result<VerifiedToken, TokenError> {
    let mut fut = std::pin::pin!(verifier.verify(token));
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("a static-JWKS verifier waited"),
    }
}

fn check_verified(token: &str, v: &VerifiedToken) {
    assert_eq!(&*v.raw, token);
    // Only an access token's type: never a signed introspection answer or any other JWT.
    let typ = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| {
            h.get("typ")
                .and_then(|t| t.as_str())
                .map(str::to_ascii_lowercase)
        });
    assert!(
        matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")),
        "accepted a JWT typed {typ:?}"
    );
    assert_eq!(v.claims.iss, ISS, "accepted another issuer");
    assert!(
        v.claims.aud.iter().any(|a| a == ISS),
        "accepted another audience"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(v.claims.exp + 30 >= now, "accepted an expired token");
    assert!(
        v.claims.nbf.is_none_or(|nbf| nbf - 30 <= now),
        "accepted a token before nbf"
    );
}

/// Input: arbitrary bytes, used (1) lossily decoded as the token itself and (2) raw as the value
/// of an `Authorization` header, whose Bearer token (if any) is then verified too.
///
/// Properties: never a panic, never a wait; verifying the same token twice (the second time
/// through the cache) gives the same answer; an accepted token is the input, from the fixed
/// issuer, for its audience, unexpired.
pub fn jwt(data: &[u8]) {
    let mut config = VerifierConfig::new(ISS);
    config.cache_capacity = 16;
    let verifier = Verifier::from_jwks(config, jwks());

    let token = String::from_utf8_lossy(data);
    let first = verify_now(&verifier, &token);
    let second = verify_now(&verifier, &token);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            check_verified(&token, a);
            assert_eq!(a.raw, b.raw);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("verifying twice gave {first:?} then {second:?}"),
    }

    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    if let Ok(Some(bearer)) = bearer_token(&headers, None) {
        assert!(!bearer.is_empty() && data.ends_with(bearer.as_bytes()));
        if let Ok(v) = verify_now(&verifier, bearer) {
            check_verified(bearer, &v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gateway_config: GatewayConfig::from_toml on arbitrary UTF-8.
// ---------------------------------------------------------------------------------------------

/// Writes `path` atomically (a temporary file renamed over it), so concurrent processes never
/// see a partial file.
fn put(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A directory with the files the seed configurations name (empty placeholders: only their
/// existence is checked at load), made once per process.
fn config_base() -> &'static PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        // The test target's tmp folder under `cargo test`, the system's when fuzzing: one fixed
        // folder, refreshed by atomic renames, so runs leave nothing new behind.
        let root = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = root.join("certbound-fuzz-gateway");
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for f in [
            "pki/server.pem",
            "pki/server.key",
            "pki/ca.pem",
            "pki/gateway.pem",
            "pki/gateway.key",
            "s.pem",
            "s.key",
        ] {
            put(&dir.join(f), "x");
        }
        dir
    })
}

/// Input: a `gateway.toml` (inputs that are not UTF-8 are skipped). Properties: never a panic;
/// an accepted configuration has an https issuer and at least one route, each with a
/// `/`-prefixed path and an `http` upstream.
pub fn gateway_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = GatewayConfig::from_toml(text, "gateway.toml", config_base()) else {
        return;
    };
    assert!(!c.routes.is_empty());
    for r in &c.routes {
        assert!(r.path_prefix.starts_with('/'));
        let upstream = url::Url::parse(&r.upstream).expect("an accepted upstream is a URL");
        assert_eq!(upstream.scheme(), "http");
    }
    let issuer =
        url::Url::parse(&c.authorization_server.issuer).expect("an accepted issuer is a URL");
    assert_eq!(issuer.scheme(), "https");
}

// ---------------------------------------------------------------------------------------------
// gateway_path: the one normalisation of a request path (certbound_gateway::path).
// ---------------------------------------------------------------------------------------------

/// Input: a request path (lossy UTF-8, as `http` hands it over). Properties: never a panic; an
/// accepted path is canonical: it starts with `/`, normalises to itself, has no empty, `.` or
/// `..` segment, no `;`, `\` or character outside RFC 3986 `pchar`, only upper-case escapes, none of
/// `/`, `\`, a control character or another escape, its escapes decode to UTF-8, and it is a
/// valid request target; a path that is already canonical is returned unchanged.
pub fn gateway_path(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let Ok(p) = certbound_gateway::path::normalize(&input) else {
        return;
    };
    assert!(p.starts_with('/'), "{p:?}");
    assert_eq!(
        certbound_gateway::path::normalize(&p).as_deref(),
        Ok(p.as_str()),
        "not a fixed point"
    );
    assert!(
        !p.contains("//") && !p.contains(';') && !p.contains('\\'),
        "{p:?}"
    );
    assert!(
        !p.split('/').any(|s| s == "." || s == ".."),
        "dot segment in {p:?}"
    );
    let b = p.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = &p[i + 1..i + 3];
            assert!(
                hex.bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)),
                "{p:?}"
            );
            let v = u8::from_str_radix(hex, 16).unwrap();
            assert!(!matches!(v, b'/' | b'\\' | 0..=0x1f | 0x7f), "{p:?}");
            assert!(
                !(v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~')),
                "unreserved left escaped in {p:?}"
            );
            if v == b'%' {
                let next = p.get(i + 3..i + 5).unwrap_or("");
                assert!(
                    next.len() < 2 || !next.bytes().all(|c| c.is_ascii_hexdigit()),
                    "an escaped escape in {p:?}"
                );
            }
            decoded.push(v);
            i += 3;
        } else {
            assert!(
                b[i].is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/".contains(&b[i]),
                "{p:?}"
            );
            decoded.push(b[i]);
            i += 1;
        }
    }
    assert!(std::str::from_utf8(&decoded).is_ok(), "{p:?}");
    assert!(p.parse::<http::uri::PathAndQuery>().is_ok(), "{p:?}");
    if input.starts_with('/')
        && !input.contains("//")
        && input
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/".contains(&c))
    {
        assert_eq!(p, input, "a canonical path was changed");
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus replay (CI).
// ---------------------------------------------------------------------------------------------

// The replay loop every crate's corpus test shares (compiled only under `cargo test`).
#[cfg(test)]
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[cfg(test)]
use replay::replay;

#[test]
fn replay_jwt() {
    replay("jwt", jwt);
}

#[test]
fn replay_gateway_config() {
    replay("gateway_config", gateway_config);
}

#[test]
fn replay_gateway_path() {
    replay("gateway_path", gateway_path);
}

/// The committed seed tokens were signed by the key in [`jwks`]: at least one still verifies
/// (otherwise the corpus no longer reaches the claims checks and must be regenerated).
#[test]
fn a_seed_token_verifies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/jwt");
    let verifier = Verifier::from_jwks(VerifierConfig::new(ISS), jwks());
    let ok = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|t| verify_now(&verifier, t).is_ok())
        .count();
    assert!(ok > 0, "no token in {} verifies", dir.display());
}
