//! The grants of the token endpoint (RFC 6749 §4): `grant_type` parsed into a
//! [`GrantType`] and dispatched to the module that implements it. [`serves`] is the one list of
//! grants this server implements: the dispatch refuses the others and the metadata document
//! publishes only these (`grant_types_supported`), so the two cannot drift apart.

pub mod client_credentials;

use crate::extract::{ClientRequest, TokenEndpoint};
use crate::state::AppState;
use certbound_core::grant::GrantType;
use certbound_core::OAuthError;
use serde::Serialize;

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`: a certificate binding is conveyed by `cnf`, not by the type (RFC 8705 §3).
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The granted scope, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Whether the token endpoint serves `grant`.
pub fn serves(grant: GrantType) -> bool {
    matches!(grant, GrantType::ClientCredentials)
}

/// The grants the token endpoint serves, for the metadata document.
pub fn served() -> Vec<GrantType> {
    GrantType::ALL.into_iter().filter(|g| serves(*g)).collect()
}

/// Answers an authenticated token request with its grant. A missing `grant_type` is
/// `invalid_request`; an unknown one, or one this server does not serve, is
/// `unsupported_grant_type` with the same words (RFC 6749 §5.2).
pub async fn dispatch(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
) -> Result<TokenResponse, OAuthError> {
    let grant = match request.form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some(name) => GrantType::parse(name)?,
    };
    if !serves(grant) {
        return Err(grant.not_served());
    }
    match grant {
        GrantType::ClientCredentials => client_credentials::issue(state, request).await,
        // Not served yet (issue 14): the next step adds `authorization_code.rs` (code bound to
        // the client and redirect_uri, PKCE S256, every check before the single-use consumption)
        // and `refresh_token.rs` (bound to the client, new access token bound to the certificate
        // of the refresh request), then turns them on in `serves`.
        GrantType::AuthorizationCode | GrantType::RefreshToken => Err(grant.not_served()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_implemented_grants_are_served() {
        assert_eq!(served(), vec![GrantType::ClientCredentials]);
        assert!(!serves(GrantType::AuthorizationCode));
        assert!(!serves(GrantType::RefreshToken));
    }
}
