//! The resource side's audit line: one `gateway_refused` event (target `certbound::audit`) per
//! refused request, from the gateway and from [`crate::layer::BoundTokenLayer`] alike.
//!
//! Fields: `reason` (a [`crate::refusal::RefusalReason`] label), `status`, `error` (the RFC 6750
//! code, empty for a missing token), `client_id` and `jti` (only from a token whose signature
//! verified, i.e. binding and scope refusals: claims of a token that did not verify are the
//! sender's words, not facts), `cert_thumbprint` (`x5t#S256` of the certificate presented on
//! the connection, the field name the authorization server's `token_issued` uses),
//! `token_thumbprint` (the `cnf.x5t#S256` the token is bound to, when known: with
//! `cert_thumbprint` it tells whose token was replayed with which certificate), `token_jkt` (the
//! `cnf.jkt` of a DPoP-bound token, when known), `source` (the
//! TCP peer's IP address, as in the authorization server's lines) and `path` (the request's,
//! cut to its first [`PATH_KEPT_CHARS`] characters and its length when longer than
//! [`MAX_LOGGED_PATH_BYTES`]: a refused request costs a bounded number of log bytes). Never the
//! token itself. Control and format characters are escaped by the log formatter
//! (`certbound_net::log_format`).

use crate::bearer::Rejection;
use certbound_core::error::cut;
use certbound_core::ClientCertificate;
use std::net::SocketAddr;

/// The longest request path an audit line carries in full, in bytes.
pub const MAX_LOGGED_PATH_BYTES: usize = 1024;
/// How many characters of a longer path are kept.
pub const PATH_KEPT_CHARS: usize = 256;

/// Logs one refusal.
pub fn refused(
    rejection: &Rejection,
    certificate: Option<&ClientCertificate>,
    source: Option<SocketAddr>,
    path: &str,
) {
    let claims = rejection.claims();
    tracing::info!(
        target: "certbound::audit",
        event = "gateway_refused",
        reason = rejection.reason().label(),
        status = rejection.status().as_u16(),
        error = rejection.error_code().unwrap_or(""),
        client_id = claims.and_then(|c| c.client_id.as_deref()).unwrap_or(""),
        jti = claims.and_then(|c| c.jti.as_deref()).unwrap_or(""),
        cert_thumbprint = certificate.map(|c| c.thumbprint().as_str()).unwrap_or(""),
        token_thumbprint = claims
            .and_then(|c| c.x5t_s256.as_ref())
            .map(|t| t.as_str())
            .unwrap_or(""),
        token_jkt = claims.and_then(|c| c.jkt.as_deref()).unwrap_or(""),
        source = %source.map(|s| s.ip().to_string()).unwrap_or_default(),
        path = &*cut(path, MAX_LOGGED_PATH_BYTES, PATH_KEPT_CHARS),
    );
}
