//! `POST /revoke` (RFC 7009).

use crate::extract::{ClientRequest, RevocationEndpoint};
use crate::http_error::{no_store, OAuthResponse};
use crate::state::AppState;
use crate::tokens;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use certbound_core::error::printable;
use certbound_core::OAuthError;
use http::StatusCode;

/// The revocation endpoint. Answers 200 whether or not the token existed or belonged to the
/// caller (RFC 7009 §2.2), so it cannot be used to probe for tokens; only the owner's request
/// actually revokes.
pub async fn revoke(
    State(state): State<AppState>,
    request: ClientRequest<RevocationEndpoint>,
) -> Result<Response, OAuthResponse> {
    revoke_owned(&state, &request)
        .await
        .map_err(|e| state.reject(e))?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// Revokes the token when the caller owns it; writes the audit line either way.
async fn revoke_owned(
    state: &AppState,
    request: &ClientRequest<RevocationEndpoint>,
) -> Result<(), OAuthError> {
    let (origin, caller) = (&request.origin, &request.client.client);
    let token = request
        .form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let Some(found) = tokens::find(state, token).await? else {
        return Ok(());
    };
    if found.claims.client_id == caller.client_id {
        tokens::revoke(state, token, &found).await?;
        tracing::info!(
            target: "certbound::audit",
            event = "token_revoked",
            source = %origin.source,
            client_id = %printable(&found.claims.client_id),
            jti = %found.claims.jti,
        );
    } else {
        tracing::warn!(
            target: "certbound::audit",
            event = "revocation_refused",
            source = %origin.source,
            client_id = %printable(&caller.client_id),
            owner = %printable(&found.claims.client_id),
        );
    }
    Ok(())
}
