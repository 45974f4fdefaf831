//! `POST /token` (RFC 6749 §3.2): the grants are in [`crate::grants`].

use crate::extract::{with_fresh_nonce, ClientRequest, TokenEndpoint};
use crate::grants;
use crate::http_error::{no_store, OAuthResponse};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The token endpoint: an authenticated client's request, answered by its grant.
pub async fn token(
    State(state): State<AppState>,
    request: ClientRequest<TokenEndpoint>,
) -> Result<Response, OAuthResponse> {
    let issued = grants::dispatch(&state, &request)
        .await
        .map_err(|e| state.reject(e))?;
    let response = no_store(Json(issued).into_response());
    Ok(with_fresh_nonce(&state, &request.headers, response))
}
