//! `POST /par` (RFC 9126): pushed authorization requests, on both listeners.
//!
//! The client authenticates exactly as at the token endpoint ([`ClientRequest`]); the body is
//! validated as an authorization request by the core ([`par::validate_pushed`]: `request_uri`
//! refused, PKCE S256, registered `redirect_uri` required, scopes); the validated request is
//! stored under a fresh `request_uri` bound to the client, which `/authorize` reads without
//! consuming and the code issuance consumes.

use crate::extract::{ClientRequest, ParEndpoint};
use crate::http_error::{no_store, OAuthResponse};
use crate::state::{now_secs, AppState};
use crate::tokens::store_error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use certbound_core::authorize::{par, AuthorizationRequest, ClientPolicy, Params};
use certbound_core::error::printable;
use certbound_core::grant::GrantType;
use certbound_core::{OAuthError, OAuthErrorCode};
use http::StatusCode;

/// The PAR endpoint: `201 Created` with `request_uri` and `expires_in`, `Cache-Control:
/// no-store`; every failure is the token endpoint's JSON error (RFC 9126 §2.3).
pub async fn par(
    State(state): State<AppState>,
    request: ClientRequest<ParEndpoint>,
) -> Result<Response, OAuthResponse> {
    let answer = push(&state, &request).await.map_err(|e| state.reject(e))?;
    Ok(no_store(
        (StatusCode::CREATED, Json(answer)).into_response(),
    ))
}

/// Validates and stores the pushed request; writes the audit line.
async fn push(
    state: &AppState,
    request: &ClientRequest<ParEndpoint>,
) -> Result<par::ParResponse, OAuthError> {
    let client = &request.client.registration;
    let validated = validate(request)?;
    let ttl = par::par_ttl(state.authorization().par_ttl_seconds.into());
    let now = now_secs();
    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(60));
    let params = serde_json::to_string(&validated).map_err(|_| OAuthError::server_error())?;
    let request_uri = state
        .store
        .push_authorization_request(&client.client_id, &params, now, expires_at)
        .await
        .map_err(|e| store_error(state, "par_store", e))?;
    tracing::info!(
        target: "certbound::audit",
        event = "par_stored",
        source = %request.origin.source,
        client_id = %printable(&client.client_id),
        scope = %printable(&validated.scope_string()),
        expires_in = ttl,
    );
    Ok(par::ParResponse {
        request_uri,
        expires_in: ttl,
    })
}

/// The client's policy and the body's rules: the client must be registered for the
/// authorization code grant; the pushed request must name a registered `redirect_uri` (FAPI 2.0
/// §5.3.2.2-6).
fn validate(request: &ClientRequest<ParEndpoint>) -> Result<AuthorizationRequest, OAuthError> {
    let client = &request.client.registration;
    if !client.grant_types.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the client is not registered for the authorization_code grant",
        ));
    }
    let policy = ClientPolicy {
        client_id: &client.client_id,
        redirect_uris: &client.redirect_uris,
        scopes: &client.scopes,
        require_par: true,
        require_redirect_uri: true,
    };
    let params = Params::from_pairs(request.form.pairs())
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    par::validate_pushed(&params, &policy)
}
