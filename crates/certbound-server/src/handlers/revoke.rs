//! `POST /revoke` (RFC 7009).

use crate::extract::{ClientRequest, RevocationEndpoint};
use crate::http_error::{no_store, OAuthResponse};
use crate::state::{now_secs, AppState};
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

/// Revokes the token when the caller owns it: an access token, or a refresh token, which
/// revokes its whole grant (every access token issued under it). `token_type_hint` only picks
/// which kind is looked up first (RFC 7009 §2.1).
async fn revoke_owned(
    state: &AppState,
    request: &ClientRequest<RevocationEndpoint>,
) -> Result<(), OAuthError> {
    let token = request
        .form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if request.form.get("token_type_hint") == Some("refresh_token")
        && revoke_refresh(state, request, token).await?
    {
        return Ok(());
    }
    if revoke_access(state, request, token).await? {
        return Ok(());
    }
    revoke_refresh(state, request, token).await?;
    Ok(())
}

/// Revokes a refresh token of the caller's with its grant. Whether it was one (of the caller's,
/// with an active grant).
async fn revoke_refresh(
    state: &AppState,
    request: &ClientRequest<RevocationEndpoint>,
    token: &str,
) -> Result<bool, OAuthError> {
    if token.is_empty() || token.len() > 512 || token.matches('.').count() == 2 {
        return Ok(false);
    }
    let caller = &request.client.client;
    let revoked = state
        .store
        .revoke_refresh_token(token, &caller.client_id, now_secs())
        .await
        .map_err(|e| tokens::store_error(state, "revoke_refresh", e))?;
    if revoked {
        tracing::info!(
            target: "certbound::audit",
            event = "refresh_token_revoked",
            source = %request.origin.source,
            client_id = %printable(&caller.client_id),
        );
    }
    Ok(revoked)
}

/// Revokes an access token when the caller owns it; writes the audit line either way. Whether
/// it was an access token this server issued.
async fn revoke_access(
    state: &AppState,
    request: &ClientRequest<RevocationEndpoint>,
    token: &str,
) -> Result<bool, OAuthError> {
    let (origin, caller) = (&request.origin, &request.client.client);
    let Some(found) = tokens::find(state, token).await? else {
        return Ok(false);
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
    Ok(true)
}
