//! The grants of the token endpoint (RFC 6749 §4): `grant_type` parsed into a
//! [`GrantType`] and dispatched to the module that implements it. [`serves`] is the one list of
//! grants this server implements: the dispatch refuses the others and the metadata document
//! publishes only these (`grant_types_supported`), so the two cannot drift apart.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod user_tokens;

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
    /// A refresh token (user grants, when the client has the refresh_token grant; on refresh
    /// only when rotation issued a successor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The OpenID Connect ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Whether the token endpoint serves `grant`.
pub fn serves(grant: GrantType) -> bool {
    matches!(
        grant,
        GrantType::ClientCredentials | GrantType::AuthorizationCode | GrantType::RefreshToken
    )
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
        GrantType::AuthorizationCode => authorization_code::issue(state, request).await,
        GrantType::RefreshToken => refresh_token::issue(state, request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_grant_is_served() {
        assert_eq!(served(), GrantType::ALL.to_vec());
    }
}
