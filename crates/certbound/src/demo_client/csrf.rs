//! Cross-site request forgery defence for the page's forms: a POST must come from the page's own
//! origin (`Origin`, else `Referer`, when the browser sends them) and carry the session's form
//! token (checked by the caller, `Session::csrf_matches`).

use axum::http::header::{HOST, ORIGIN, REFERER};
use axum::http::HeaderMap;

/// Whether the request's `Origin` (or, without it, `Referer`) is this page's own origin,
/// `http://<Host>`. A request with neither is let through: the form token alone decides then.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let own = format!("http://{host}");
    if let Some(origin) = headers.get(ORIGIN) {
        return origin.as_bytes() == own.as_bytes();
    }
    if let Some(referer) = headers.get(REFERER) {
        let referer = referer.as_bytes();
        return referer == own.as_bytes()
            || (referer.starts_with(own.as_bytes()) && referer.get(own.len()) == Some(&b'/'));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_page_itself_may_post() {
        let host = ("host", "127.0.0.1:5002");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:5002")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("referer", "http://127.0.0.1:5002/home")
        ])));
        assert!(same_origin(&headers(&[host])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://127.0.0.1:5002")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("referer", "http://127.0.0.1:50021/home")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("referer", "http://evil.example/")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:5002"
        )])));
    }
}
