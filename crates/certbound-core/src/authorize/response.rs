//! The authorization response redirect (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2).
//!
//! Responses always go in the query of the validated redirect URI (response mode `query`; never
//! a fragment), keeping the URI's own query parameters (RFC 6749 §3.1.2), with every value
//! `application/x-www-form-urlencoded`. Every response, success and error, carries `iss`, so the
//! client can detect mix-up attacks. Callers pass only redirect URIs that validation produced.

use super::AuthorizationErrorCode;
use url::form_urlencoded::byte_serialize;

/// The `Location` of a successful response: `code`, `state` (only if the request had one) and
/// `iss`.
pub fn success_location(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut params: Vec<(&str, &str)> = vec![("code", code)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    append_query(redirect_uri, &params)
}

/// The `Location` of an error response: `error`, `error_description` (restricted to the
/// characters RFC 6749 §4.1.2.1 allows), `state` (only if the request had one) and `iss`.
pub fn error_location(
    redirect_uri: &str,
    code: AuthorizationErrorCode,
    description: Option<&str>,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let description = description.map(description_safe);
    let mut params: Vec<(&str, &str)> = vec![("error", code.as_str())];
    if let Some(d) = description.as_deref() {
        params.push(("error_description", d));
    }
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    append_query(redirect_uri, &params)
}

/// `error_description` limited to `%x20-21 / %x23-5B / %x5D-7E` (RFC 6749 §4.1.2.1): anything
/// else becomes `?`.
pub fn description_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Appends form-encoded parameters to the query of `uri`, before any fragment (a validated redirect
/// URI has none; if one slipped through it stays a fragment and carries no response parameter).
fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = match uri.find('#') {
        Some(i) => (&uri[..i], Some(&uri[i..])),
        None => (uri, None),
    };
    let mut out = String::with_capacity(base.len() + 64);
    out.push_str(base);
    match base.find('?') {
        None => out.push('?'),
        Some(i) if i + 1 == base.len() || base.ends_with('&') => {}
        Some(_) => out.push('&'),
    }
    for (n, (name, value)) in params.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        out.extend(byte_serialize(name.as_bytes()));
        out.push('=');
        out.extend(byte_serialize(value.as_bytes()));
    }
    if let Some(fragment) = fragment {
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://as.example";

    fn query_of(location: &str) -> Vec<(String, String)> {
        let url = url::Url::parse(location).unwrap();
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn success_carries_code_state_and_iss() {
        let l = success_location("https://app.example/cb", "c0de", Some("s t&=é"), ISS);
        assert_eq!(
            l,
            "https://app.example/cb?code=c0de&state=s+t%26%3D%C3%A9&iss=https%3A%2F%2Fas.example"
        );
        assert_eq!(
            query_of(&l),
            [("code", "c0de"), ("state", "s t&=é"), ("iss", ISS)]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn no_state_is_returned_when_none_was_sent() {
        let l = success_location("https://app.example/cb", "c", None, ISS);
        assert!(!l.contains("state"));
        assert!(l.ends_with("iss=https%3A%2F%2Fas.example"));
    }

    #[test]
    fn existing_query_is_kept() {
        let cases = [
            (
                "https://app.example/cb?x=1",
                "https://app.example/cb?x=1&code=c&iss=",
            ),
            (
                "https://app.example/cb?",
                "https://app.example/cb?code=c&iss=",
            ),
            (
                "https://app.example/cb?x=1&",
                "https://app.example/cb?x=1&code=c&iss=",
            ),
            (
                "http://127.0.0.1:8080/cb",
                "http://127.0.0.1:8080/cb?code=c&iss=",
            ),
        ];
        for (uri, prefix) in cases {
            let l = success_location(uri, "c", None, ISS);
            assert!(l.starts_with(prefix), "{l}");
        }
    }

    #[test]
    fn a_fragment_never_carries_response_parameters() {
        let l = success_location("https://app.example/cb#f", "c", None, ISS);
        assert!(l.starts_with("https://app.example/cb?code=c&iss="));
        assert!(l.ends_with("#f"));
    }

    #[test]
    fn error_carries_error_description_state_and_iss() {
        let l = error_location(
            "https://app.example/cb?x=1",
            AuthorizationErrorCode::AccessDenied,
            Some("the user said \"no\"\n"),
            Some("st"),
            ISS,
        );
        let q = query_of(&l);
        let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x"), Some("1"));
        assert_eq!(get("error"), Some("access_denied"));
        assert_eq!(get("error_description"), Some("the user said ?no??"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("iss"), Some(ISS));
        let l = error_location(
            "https://app.example/cb",
            AuthorizationErrorCode::LoginRequired,
            None,
            None,
            ISS,
        );
        assert_eq!(
            l,
            "https://app.example/cb?error=login_required&iss=https%3A%2F%2Fas.example"
        );
    }
}
