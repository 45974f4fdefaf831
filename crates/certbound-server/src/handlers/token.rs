//! `POST /token` (RFC 6749 §3.2): the grants are in [`crate::grants`].

use crate::extract::{ClientRequest, TokenEndpoint};
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
    Ok(no_store(Json(issued).into_response()))
}
