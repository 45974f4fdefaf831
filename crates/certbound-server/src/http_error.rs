//! The one mapping from certbound's errors to HTTP responses.

use axum::response::{IntoResponse, Response};
use certbound_core::OAuthError;
use http::{HeaderName, HeaderValue, StatusCode};

/// An OAuth error bound to the realm used in its `WWW-Authenticate` challenge.
pub struct OAuthResponse {
    /// The error.
    pub error: OAuthError,
    /// The realm (the issuer).
    pub realm: std::sync::Arc<str>,
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, axum::Json(self.error.body())).into_response();
        let headers = response.headers_mut();
        for (name, value) in self.error.headers(&self.realm) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1) to a successful
/// response carrying tokens or token information.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
