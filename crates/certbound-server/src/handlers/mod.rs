//! Thin HTTP handlers: extract, call one function, map the result.

pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;

use certbound_core::form::Form;
use certbound_core::{ClientCertificate, OAuthError};
use certbound_net::ConnectionInfo;
use http::HeaderMap;

/// Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2: required for the token,
/// introspection and revocation endpoints).
pub fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    Form::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

/// The client certificate of the request's connection, if any.
pub fn connection_certificate(
    conn: &Option<axum::Extension<ConnectionInfo>>,
) -> Option<&ClientCertificate> {
    conn.as_ref().and_then(|c| c.client_certificate.as_ref())
}

/// The TCP peer's address of the request's connection (a proxy's, behind one).
pub fn connection_peer(conn: &Option<axum::Extension<ConnectionInfo>>) -> Option<std::net::IpAddr> {
    conn.as_ref().map(|c| c.peer_addr.ip())
}
