//! Access-token validation for resource servers: RFC 9068 JWTs checked against the
//! authorization server's JWKS ([`Verifier`]), and opaque tokens exchanged for a signed
//! introspection answer (RFC 9701, [`Introspector`], the phantom-token pattern).

mod fetch;
mod introspect;
mod verify;

pub use fetch::{FetchCause, TlsCause};
pub use introspect::{IntrospectionLimits, Introspector};
pub use verify::{
    DiscoveryError, TokenClaims, TokenError, VerifiedToken, Verifier, VerifierConfig,
};

/// SHA-256 of a token: the only form in which tokens are kept in caches.
pub(crate) use certbound_net::token_cache::key as token_hash;

/// The largest response the gateway reads from its authorization server (metadata, JWKS, an
/// introspection answer): the server is configured and trusted, but a misbehaving or
/// impersonated one must not be able to make the gateway buffer without bound.
pub(crate) const MAX_AS_RESPONSE_BYTES: usize = 1 << 20;

/// Reads a response body up to `max` bytes; a larger one is an error, not a truncation.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("response larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("response larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::read_bounded;

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(body))
    }

    #[tokio::test]
    async fn responses_over_the_bound_are_errors_not_truncations() {
        let ok = read_bounded(response(vec![b'a'; 10]), 10).await.unwrap();
        assert_eq!(ok.len(), 10);
        assert!(read_bounded(response(Vec::new()), 10)
            .await
            .unwrap()
            .is_empty());
        assert!(read_bounded(response(vec![b'a'; 11]), 10).await.is_err());
        assert!(read_bounded(response(vec![b'a'; 1 << 21]), 1 << 20)
            .await
            .is_err());
    }
}
