//! How a request to a protected resource presents its access token (RFC 6750 §2.1, RFC 9449
//! §7.1): the `Authorization` header with the `Bearer` or `DPoP` scheme, never the query.
//!
//! One parser for every resource certbound serves: the gateway and the tower layer, and the
//! authorization server's own `/userinfo`. It works on the raw header values so it needs no HTTP
//! crate; callers pass `HeaderMap::get_all(AUTHORIZATION)` as bytes.

/// A malformed presentation (`400 invalid_request`, RFC 6750 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PresentationError {
    /// The token was sent in the query string, or with two methods at once (RFC 6750 §2).
    #[error("send the access token in the Authorization header only")]
    WrongMethod,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Repeated,
    /// `Authorization: Bearer` (or `DPoP`) without a token of b64token syntax.
    #[error("malformed Bearer token")]
    Malformed,
}

/// The scheme an access token was presented with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1), with a proof in the `DPoP` header.
    Dpop,
}

/// The characters of RFC 6750 `b64token` before its trailing `=`s, as a table: this runs on
/// every request's token (hundreds of bytes), so one lookup per byte.
const B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    t
};

/// Whether `t` has the RFC 6750 `b64token` syntax.
pub fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)])
}

/// Whether the query string carries `access_token` (refused, never read: FAPI 2.0 §5.3.4-2).
fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|p| p == "access_token" || p.starts_with("access_token="))
    })
}

/// The token of `Authorization: Bearer <token>` or `Authorization: DPoP <token>`, with its
/// scheme (case-insensitive, RFC 9110 §11.1). `authorizations` are the raw values of every
/// `Authorization` header. `Ok(None)` when there is none, or another scheme (`Basic`); a token in
/// the query, two headers, or a token that is not a b64token are refused.
pub fn presented_token<'a, I>(
    authorizations: I,
    query: Option<&str>,
) -> Result<Option<(AuthScheme, &'a str)>, PresentationError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    if query_has_token(query) {
        return Err(PresentationError::WrongMethod);
    }
    let mut values = authorizations.into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(PresentationError::Repeated);
    }
    let value = std::str::from_utf8(value).map_err(|_| PresentationError::Malformed)?;
    let scheme_of = |s: &str| {
        if s.eq_ignore_ascii_case("bearer") {
            Some(AuthScheme::Bearer)
        } else if s.eq_ignore_ascii_case("dpop") {
            Some(AuthScheme::Dpop)
        } else {
            None
        }
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return match scheme_of(value) {
            Some(_) => Err(PresentationError::Malformed),
            None => Ok(None),
        };
    };
    let Some(scheme) = scheme_of(scheme) else {
        return Ok(None);
    };
    let token = token.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(PresentationError::Malformed);
    }
    Ok(Some((scheme, token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        values: &[&'static str],
        query: Option<&str>,
    ) -> Result<Option<(AuthScheme, &'static str)>, PresentationError> {
        presented_token(values.iter().map(|v| v.as_bytes()), query)
    }

    #[test]
    fn reads_only_the_header() {
        use AuthScheme::*;
        use PresentationError::*;
        assert_eq!(
            read(&["Bearer abc.def-_~+/="], None),
            Ok(Some((Bearer, "abc.def-_~+/=")))
        );
        assert_eq!(read(&["bEaReR abc"], None), Ok(Some((Bearer, "abc"))));
        assert_eq!(read(&["dpop abc"], None), Ok(Some((Dpop, "abc"))));
        assert_eq!(read(&["DPoP  abc"], None), Ok(Some((Dpop, "abc"))));
        assert_eq!(read(&[], None), Ok(None));
        assert_eq!(read(&["Basic abc"], None), Ok(None));
        assert_eq!(read(&["Basic"], None), Ok(None));
        for bad in [
            "Bearer a b",
            "Bearer a,b",
            "Bearer ",
            "Bearer",
            "DPoP",
            "Bearer a\"b",
            "Bearer ===",
        ] {
            assert_eq!(read(&[bad], None), Err(Malformed), "{bad}");
        }
        assert_eq!(read(&["Bearer a", "Bearer b"], None), Err(Repeated));
        assert_eq!(read(&[], Some("x=1&access_token=abc")), Err(WrongMethod));
        assert_eq!(read(&["Bearer a"], Some("access_token")), Err(WrongMethod));
        // A parameter that merely starts with the name is someone else's.
        assert_eq!(
            read(&["Bearer a"], Some("access_token_hint=1")),
            Ok(Some((Bearer, "a")))
        );
        assert_eq!(
            presented_token([&[0xff, b' ', b'a'][..]], None),
            Err(Malformed)
        );
    }
}
