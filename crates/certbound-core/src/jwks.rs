//! Client JWK Sets (RFC 7517, as registered with RFC 7591 `jwks`/`jwks_uri`), reduced to what
//! `self_signed_tls_client_auth` needs: the certificate at `x5c[0]` of each key (RFC 8705 §2.2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

/// Why a JWK Set was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    /// Not a JSON object with a `keys` array.
    #[error("a JWK Set must be a JSON object with a \"keys\" array")]
    NotAJwks,
    /// More keys than a client needs.
    #[error("a JWK Set may hold at most {0} keys")]
    TooManyKeys(usize),
    /// A key's `x5c` is not an array of base64 (not base64url) DER certificates.
    #[error("key {0}: \"x5c\" must be an array of standard base64 DER certificates")]
    BadX5c(usize),
    /// No key carries a certificate, so no certificate could ever match.
    #[error("no key in the JWK Set has an \"x5c\" certificate")]
    NoCertificates,
}

/// The most keys accepted in one client JWK Set.
pub const MAX_KEYS: usize = 32;

/// The registered certificates of a self-signed client: `x5c[0]` of every key that has one.
///
/// Only the first certificate of each `x5c` counts (RFC 7517 §4.7: it holds the key); further
/// entries are chain certificates and never authenticate the client.
pub fn registered_certificates(jwks: &Value) -> Result<Vec<CertificateDer<'static>>, JwksError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NotAJwks)?;
    if keys.len() > MAX_KEYS {
        return Err(JwksError::TooManyKeys(MAX_KEYS));
    }
    let mut certs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if !key.is_object() {
            return Err(JwksError::NotAJwks);
        }
        let Some(x5c) = key.get("x5c") else { continue };
        let first = x5c
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .ok_or(JwksError::BadX5c(i))?;
        let der = STANDARD.decode(first).map_err(|_| JwksError::BadX5c(i))?;
        certs.push(CertificateDer::from(der));
    }
    if certs.is_empty() {
        return Err(JwksError::NoCertificates);
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_only_the_first_certificate_of_each_key() {
        let jwks = json!({"keys": [
            {"kty": "EC", "x5c": [STANDARD.encode(b"leaf1"), STANDARD.encode(b"ca1")]},
            {"kty": "EC"},
            {"kty": "EC", "x5c": [STANDARD.encode(b"leaf2")]}
        ]});
        let certs = registered_certificates(&jwks).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].as_ref(), b"leaf1");
        assert_eq!(certs[1].as_ref(), b"leaf2");
    }

    #[test]
    fn rejects_malformed_sets() {
        assert_eq!(
            registered_certificates(&json!([])),
            Err(JwksError::NotAJwks)
        );
        assert_eq!(
            registered_certificates(&json!({"keys": [1]})),
            Err(JwksError::NotAJwks)
        );
        assert_eq!(
            registered_certificates(&json!({"keys": [{"x5c": ["-_-_"]}]})),
            Err(JwksError::BadX5c(0))
        );
        assert_eq!(
            registered_certificates(&json!({"keys": [{"x5c": []}]})),
            Err(JwksError::BadX5c(0))
        );
        assert_eq!(
            registered_certificates(&json!({"keys": [{"kty": "EC"}]})),
            Err(JwksError::NoCertificates)
        );
        let many: Vec<Value> = (0..40).map(|_| json!({"x5c": ["AA=="]})).collect();
        assert_eq!(
            registered_certificates(&json!({ "keys": many })),
            Err(JwksError::TooManyKeys(MAX_KEYS))
        );
    }
}
