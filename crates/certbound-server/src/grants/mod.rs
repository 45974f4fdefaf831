//! The grants of the token endpoint (RFC 6749 §4): `grant_type` parsed into a
//! [`GrantType`] and dispatched to the module that implements it. [`serves`] is the one list of
//! grants this server implements: the dispatch refuses the others and the metadata document
//! publishes only these (`grant_types_supported`), so the two cannot drift apart.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod user_tokens;

use crate::extract::{verify_dpop, ClientRequest, Origin, TokenEndpoint};
use crate::state::AppState;
use certbound_core::binding::Binding;
use certbound_core::client::RegisteredClient;
use certbound_core::dpop::VerifiedProof;
use certbound_core::grant::GrantType;
use certbound_core::OAuthError;
use serde::Serialize;

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `DPoP` for a DPoP-bound token (RFC 9449 §5), else `Bearer`: a certificate binding is
    /// conveyed by `cnf`, not by the type (RFC 8705 §3).
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
    // RFC 9449 §5: a proof at the token endpoint names `POST` and this endpoint's public URL,
    // and carries no `ath`.
    let proof = verify_dpop(state, &request.headers, "POST", &request.origin.url, None).await?;
    let proof = proof.as_ref();
    // RFC 6749 §5.2: a grant type the client is not registered for.
    if !request.client.registration.grant_types.allows(grant) {
        return Err(OAuthError::new(
            certbound_core::OAuthErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials::issue(state, request, proof).await,
        GrantType::AuthorizationCode => authorization_code::issue(state, request, proof).await,
        GrantType::RefreshToken => refresh_token::issue(state, request, proof).await,
    }
}

/// The binding of an access token issued to `client` on this request: its certificate when it
/// is registered for certificate-bound tokens (RFC 8705 §3); else the proof's key when the
/// request carried a verified DPoP proof (RFC 9449 §5); else none. One proof-of-possession
/// method per token (FAPI2.md §2.5): a certificate-bound client that also sends a DPoP proof is
/// `invalid_request`, as in node-oidc-provider, rather than silently bound to one of the two. A
/// client registered with `dpop_bound_access_tokens` without a proof is `invalid_dpop_proof`,
/// never an unbound token.
pub fn token_binding(
    client: &RegisteredClient,
    origin: &Origin,
    proof: Option<&VerifiedProof>,
) -> Result<Option<Binding>, OAuthError> {
    if client.bound_tokens {
        if proof.is_some() {
            return Err(OAuthError::invalid_request(
                "this client receives certificate-bound tokens: send no DPoP proof (one proof-of-possession method per token)",
            ));
        }
        return Binding::for_request(true, origin.certificate.as_ref(), origin.listener());
    }
    match proof {
        Some(proof) => Ok(Some(Binding::Dpop {
            jkt: proof.jkt.clone(),
        })),
        None if client.dpop_bound => Err(OAuthError::invalid_dpop_proof(
            "this client receives DPoP-bound tokens: send a DPoP proof",
        )),
        None => Ok(None),
    }
}

/// The `token_type` of a token with binding `cnf`: `DPoP` for a DPoP-bound token (RFC 9449 §5),
/// `Bearer` otherwise.
pub fn token_type(cnf: Option<&Binding>) -> &'static str {
    match cnf {
        Some(Binding::Dpop { .. }) => "DPoP",
        _ => "Bearer",
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
