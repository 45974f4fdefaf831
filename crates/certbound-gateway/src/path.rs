//! The one normalisation step of a request path, before routing and forwarding.
//!
//! The gateway chooses a route (and so the token requirements) from the path, and the upstream
//! chooses a handler from the path it receives. If the two read the path differently, a request
//! checked against one route's requirements is served by another route's handler: `\` is `/` to
//! WHATWG URL parsers, `..;` is `..` to Tomcat and Spring, IIS decodes `%5c`, some servers decode
//! twice (`%252e%252e`) or accept overlong UTF-8 (`%c0%ae`). So [`normalize`] produces one
//! canonical path, and both the route matcher and the forwarded request use it: the upstream
//! receives exactly the bytes the route was chosen on.
//!
//! The rules (in the spirit of Envoy's `normalize_path`, `merge_slashes` and
//! `path_with_escaped_slashes_action: REJECT_REQUEST`):
//!
//! - the path is origin-form (starts with `/`) and holds only RFC 3986 path characters
//!   (unreserved, sub-delims but `;`, `:`, `@`, `/`, `%`); anything else (`\`, spaces, quotes,
//!   control characters, raw non-ASCII) is refused;
//! - `%XX` escapes of unreserved characters are decoded (`%2e` is `.`, `%41` is `A`), other escapes
//!   are kept with upper-case hex; escapes of `/`, `\`, control characters, a `%25` that encodes
//!   another escape (`%252e`), malformed escapes and escaped bytes that are not UTF-8 (overlong
//!   forms such as `%c0%ae` included) are refused;
//! - `.` and `..` segments (also when spelled with escapes) are refused, as is `;` in any form
//!   (path parameters: `..;`, `.;`, `;jsessionid=`), escaped or not;
//! - runs of `/` are merged into one (`//admin` is `/admin`), as upstreams that merge slashes
//!   would see it.
//!
//! Refusing instead of resolving keeps the rules simple: legitimate clients never send these
//! forms, and an attacker gets a 400 rather than a guess.

use std::fmt;

/// Why a path was refused. The [`fmt::Display`] text is the `error_description` of the 400; it
/// never echoes the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (an asterisk-form or empty target).
    NotOriginForm,
    /// A byte that is not allowed in a path (`\`, space, quote, control, raw non-ASCII ...).
    InvalidCharacter,
    /// `%` not followed by two hex digits.
    MalformedEscape,
    /// `%2F` or `%5C`: an escaped slash or backslash.
    EscapedSlash,
    /// An escaped control character (`%00`, `%0a`, `%7f` ...).
    EscapedControl,
    /// `%25` followed by two hex digits: an escape encoded twice.
    DoubleEncoding,
    /// Escaped bytes that are not valid UTF-8 (including overlong forms).
    InvalidUtf8,
    /// A `.` or `..` segment.
    DotSegment,
    /// `;` (path parameters), escaped or not.
    Semicolon,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotOriginForm => "the request path must start with '/'",
            PathError::InvalidCharacter => {
                "the request path contains a character that must be percent-encoded or is not allowed (such as '\\')"
            }
            PathError::MalformedEscape => "the request path contains a malformed percent-escape",
            PathError::EscapedSlash => {
                "encoded slashes and backslashes (%2F, %5C) are not allowed in the path"
            }
            PathError::EscapedControl => "encoded control characters are not allowed in the path",
            PathError::DoubleEncoding => "double percent-encoding is not allowed in the path",
            PathError::InvalidUtf8 => "the request path does not decode to UTF-8",
            PathError::DotSegment => "dot segments are not allowed in the path",
            PathError::Semicolon => "path parameters (';') are not allowed in the path",
        })
    }
}

impl std::error::Error for PathError {}

/// The canonical form of `path` (the path of the request target, without the query), or why it
/// is refused. See the module documentation for the rules.
pub fn normalize(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    let mut out = String::with_capacity(path.len());
    // Escaped non-ASCII bytes of the current run, checked as UTF-8 when the run ends.
    let mut pending: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) => (hex(h), hex(l)),
                _ => (None, None),
            };
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::MalformedEscape);
            };
            let decoded = (hi << 4) | lo;
            i += 3;
            if decoded >= 0x80 {
                pending.push(decoded);
                continue;
            }
            flush_utf8(&mut pending, &mut out)?;
            match decoded {
                b'/' | b'\\' => return Err(PathError::EscapedSlash),
                b';' => return Err(PathError::Semicolon),
                0..=0x1f | 0x7f => return Err(PathError::EscapedControl),
                b'%' => out.push_str("%25"),
                c if is_unreserved(c) => out.push(char::from(c)),
                c => push_escape(&mut out, c),
            }
            continue;
        }
        flush_utf8(&mut pending, &mut out)?;
        match b {
            b';' => return Err(PathError::Semicolon),
            b'/' if out.ends_with('/') => {}
            c if is_unreserved(c) || is_allowed_delimiter(c) => out.push(char::from(c)),
            _ => return Err(PathError::InvalidCharacter),
        }
        i += 1;
    }
    flush_utf8(&mut pending, &mut out)?;
    // Checked on the output, so `%25%32%65` (which decodes to `%252e`) is caught too.
    let escapes_an_escape = out
        .as_bytes()
        .windows(5)
        .any(|w| w[..3] == *b"%25" && hex(w[3]).is_some() && hex(w[4]).is_some());
    if escapes_an_escape {
        return Err(PathError::DoubleEncoding);
    }
    if out
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(PathError::DotSegment);
    }
    Ok(out)
}

/// Checks a run of escaped non-ASCII bytes as UTF-8 (Rust's decoder refuses overlong forms and
/// surrogates) and writes it back escaped, upper-case.
fn flush_utf8(pending: &mut Vec<u8>, out: &mut String) -> Result<(), PathError> {
    if pending.is_empty() {
        return Ok(());
    }
    if std::str::from_utf8(pending).is_err() {
        return Err(PathError::InvalidUtf8);
    }
    for &b in pending.iter() {
        push_escape(out, b);
    }
    pending.clear();
    Ok(())
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The other characters allowed unescaped in a path: sub-delims but `;` (refused above), `:`,
/// `@` and `/`.
fn is_allowed_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' | b'/'
    )
}

#[cfg(test)]
mod tests {
    use super::{normalize, PathError};
    use PathError::*;

    #[test]
    fn canonical_paths_pass_unchanged() {
        for p in [
            "/",
            "/api/transactions",
            "/api/transactions/1.json",
            "/api/",
            "/api/..hidden",
            "/api/.../x",
            "/api/a-b_c~d",
            "/api/x:y@z!$&'()*+,=",
            "/api/%20space",
            "/api/%3F%23%25",
            "/api/caf%C3%A9",
            "/api/%F0%9F%94%92",
        ] {
            assert_eq!(normalize(p).as_deref(), Ok(p), "{p}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_hex_is_upper_cased() {
        for (p, want) in [
            ("/%61pi/x", "/api/x"),
            ("/api/%7Euser", "/api/~user"),
            ("/api/%2e%2e%2e", "/api/..."),
            ("/api/1%2Ejson", "/api/1.json"),
            ("/api/%3f", "/api/%3F"),
            ("/api/caf%c3%a9", "/api/caf%C3%A9"),
            ("/api/100%25", "/api/100%25"),
            ("/api/%25zz", "/api/%25zz"),
            ("//api//x", "/api/x"),
            ("/api///", "/api/"),
        ] {
            assert_eq!(normalize(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (p, why) in [
            // RFC 3986 dot segments, plain and escaped.
            ("/api/../admin", DotSegment),
            ("/api/./x", DotSegment),
            ("/api/..", DotSegment),
            ("/api/%2e", DotSegment),
            ("/api/%2e%2e/admin", DotSegment),
            ("/api/%2E%2e/admin", DotSegment),
            ("/api/.%2E/x", DotSegment),
            ("/%2e%2e/admin", DotSegment),
            // Backslashes: WHATWG parsers read `\` as `/`, IIS decodes %5c.
            ("/api/public/..\\admin", InvalidCharacter),
            ("/api\\admin", InvalidCharacter),
            ("/api/%5c../admin", EscapedSlash),
            ("/api/%5C", EscapedSlash),
            // Encoded slashes.
            ("/api%2Fadmin", EscapedSlash),
            ("/api%2fadmin", EscapedSlash),
            ("/open/x%2F..%2Fapi/transactions", EscapedSlash),
            // Path parameters: Tomcat and Spring read `..;` as `..`.
            ("/api/..;/admin", Semicolon),
            ("/api/.;/admin", Semicolon),
            ("/api;jsessionid=1/x", Semicolon),
            ("/api/%3b/x", Semicolon),
            ("/api/..%3B/admin", Semicolon),
            // Double encoding.
            ("/api/%252e%252e/admin", DoubleEncoding),
            ("/api/%252F", DoubleEncoding),
            ("/api/%255c", DoubleEncoding),
            ("/api/%25%32%65", DoubleEncoding),
            // Overlong UTF-8 and other invalid escaped UTF-8.
            ("/api/%c0%ae%c0%ae/admin", InvalidUtf8),
            ("/api/%c0%af", InvalidUtf8),
            ("/api/%e0%80%ae", InvalidUtf8),
            ("/api/%ff", InvalidUtf8),
            ("/api/%C3", InvalidUtf8),
            ("/api/%C3/x", InvalidUtf8),
            ("/api/%ed%a0%80", InvalidUtf8),
            // Control characters, escaped or raw.
            ("/api/%00", EscapedControl),
            ("/api/x%00.json", EscapedControl),
            ("/api/%0d%0aX-Injected:1", EscapedControl),
            ("/api/%7f", EscapedControl),
            ("/api/\u{0}", InvalidCharacter),
            ("/api/\t", InvalidCharacter),
            ("/api/\u{7f}", InvalidCharacter),
            // Raw non-ASCII, spaces, quotes and other characters that must be escaped.
            ("/api/café", InvalidCharacter),
            ("/api/x y", InvalidCharacter),
            ("/api/\"x\"", InvalidCharacter),
            ("/api/{x}", InvalidCharacter),
            ("/api/x|y", InvalidCharacter),
            ("/api/x^y", InvalidCharacter),
            ("/api/`x`", InvalidCharacter),
            ("/api/<x>", InvalidCharacter),
            ("/api/x?y", InvalidCharacter),
            ("/api/x#y", InvalidCharacter),
            // Malformed escapes.
            ("/api/%", MalformedEscape),
            ("/api/%2", MalformedEscape),
            ("/api/%zz", MalformedEscape),
            ("/api/%%32%65", MalformedEscape),
            // Not origin-form.
            ("", NotOriginForm),
            ("*", NotOriginForm),
            ("api/x", NotOriginForm),
        ] {
            assert_eq!(normalize(p), Err(why), "{p:?}");
        }
    }

    #[test]
    fn the_output_is_a_fixed_point() {
        for p in ["/%61pi//x/%3f", "/api/caf%c3%a9/%25", "//a/b/"] {
            let once = normalize(p).unwrap();
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{p}");
        }
    }
}
