//! Security headers of every browser-facing response (pages and redirects alike): FAPI 2.0
//! §5.2.3 (HSTS), §5.2.3-3 (no CORS: none of these routes ever sets `Access-Control-*`), framing
//! and caching.
//!
//! `form-action` governs where a page's forms may submit **and**, in Chromium, where the
//! redirects that follow a submission may go. The login and consent pages end in a redirect to
//! the client's validated `redirect_uri`, so those pages add its origin ([`page_csp`]); every
//! other response gets [`DEFAULT_CSP`].

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue};

/// The Content-Security-Policy of every response that does not set its own.
pub const DEFAULT_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// HSTS: two years, subdomains included (FAPI2.md N8 asks for at least one year).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// The policy of a page whose form may end in a redirect to `redirect_origin` (the origin of
/// the validated `redirect_uri`, `scheme://host[:port]`).
pub fn page_csp(redirect_origin: Option<&str>) -> String {
    match redirect_origin {
        Some(o) => format!(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self' {o}; base-uri 'none'"
        ),
        None => DEFAULT_CSP.to_owned(),
    }
}

/// The origin of an absolute URI, for [`page_csp`]; `None` if it has none usable in a CSP
/// source expression.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => {
            let o = url.origin().ascii_serialization();
            // A CSP source expression: no quotes, spaces, semicolons or commas.
            (!o.contains(['\'', ' ', ';', ','])).then_some(o)
        }
        url::Origin::Opaque(_) => None,
    }
}

/// Middleware: adds the headers to every response of the browser routes (a handler's own
/// `Content-Security-Policy` is kept).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    apply(response.headers_mut());
    response
}

/// Sets the security headers on `headers`, keeping a `Content-Security-Policy` already set.
pub fn apply(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No CORS on the browser endpoints (FAPI 2.0 §5.2.3-3), whatever a layer added.
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_ALLOW_METHODS,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_adds_only_the_redirect_origin() {
        assert_eq!(
            origin_of("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000/cb").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin_of("not a uri"), None);
        assert_eq!(origin_of("data:text/html,x"), None);
        let csp = page_csp(Some("https://app.example"));
        assert!(csp.contains("form-action 'self' https://app.example;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(page_csp(None), DEFAULT_CSP);
    }

    #[test]
    fn headers_are_set_and_cors_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        apply(&mut h);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], DEFAULT_CSP);
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        let mut own = HeaderMap::new();
        own.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
        apply(&mut own);
        assert_eq!(own[header::CONTENT_SECURITY_POLICY], "default-src 'none'");
    }
}
