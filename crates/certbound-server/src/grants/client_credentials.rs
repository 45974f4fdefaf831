//! The client_credentials grant (RFC 6749 §4.4): a client acting on its own behalf receives a
//! token whose subject is itself, bound to its certificate when it is registered for bound
//! tokens (RFC 8705 §3).

use super::TokenResponse;
use crate::extract::{ClientRequest, TokenEndpoint};
use crate::state::{now_secs, AppState};
use crate::tokens::{self, new_jti};
use certbound_core::binding::Binding;
use certbound_core::dpop::VerifiedProof;
use certbound_core::error::printable;
use certbound_core::token::{grant_scope, AccessTokenClaims};
use certbound_core::{OAuthError, OAuthErrorCode};

/// Issues a client_credentials token: the client must be registered for the grant, the scope
/// within its registration, and a bound client must present its certificate. Writes the
/// `token_issued` audit line and counts the token.
pub async fn issue(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    proof: Option<&VerifiedProof>,
) -> Result<TokenResponse, OAuthError> {
    let (form, origin, auth) = (&request.form, &request.origin, &request.client);
    let certificate = origin.certificate.as_ref();
    let used_basic = request.headers.contains_key(http::header::AUTHORIZATION);
    let client = &auth.registration;
    let scopes = grant_scope(&client.scopes, form.get("scope"))
        .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e))?;
    let cnf = super::token_binding(client, origin, proof)?;
    let now = now_secs();
    let claims = AccessTokenClaims {
        iss: state.issuer.to_string(),
        sub: client.client_id.clone(),
        aud: state.audience.clone(),
        exp: now + state.ttl_seconds,
        iat: now,
        jti: new_jti(),
        client_id: client.client_id.clone(),
        scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        cnf,
    };
    let minted = tokens::mint(state, claims, client.token_format).await?;
    state
        .metrics
        .tokens_issued
        .get_or_create(&certbound_net::metrics::IssueLabels {
            format: tokens::format_name(client.token_format),
            bound: minted.claims.cnf.is_some(),
        })
        .inc();
    let thumbprint = minted
        .claims
        .cnf
        .as_ref()
        .and_then(Binding::certificate_thumbprint);
    tracing::info!(
        target: "certbound::audit",
        event = "token_issued",
        decision = "allow",
        source = %origin.source,
        client_id = %printable(&client.client_id),
        method = %auth.client.method,
        format = tokens::format_name(client.token_format),
        bound = minted.claims.cnf.is_some(),
        cert_thumbprint = thumbprint.map(|t| t.as_str()).unwrap_or(""),
        dpop_jkt = minted.claims.cnf.as_ref().and_then(Binding::dpop_jkt).unwrap_or(""),
        cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
        jti = %minted.claims.jti,
        used_basic,
    );
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: super::token_type(minted.claims.cnf.as_ref()),
        expires_in: state.ttl_seconds,
        scope: minted.claims.scope,
        refresh_token: None,
        id_token: None,
    })
}
