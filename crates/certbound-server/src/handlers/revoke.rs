//! `POST /revoke` (RFC 7009).

use super::{read_form, Origin};
use crate::client_auth::authenticate_request;
use crate::http_error::{no_store, OAuthResponse};
use crate::state::AppState;
use crate::tokens;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use certbound_core::error::printable;
use certbound_core::OAuthError;
use certbound_net::ConnectionInfo;
use http::{HeaderMap, StatusCode};

/// The revocation endpoint. Answers 200 whether or not the token existed or belonged to the
/// caller (RFC 7009 §2.2), so it cannot be used to probe for tokens; only the owner's request
/// actually revokes.
pub async fn revoke(
    State(state): State<AppState>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = Origin::of(&state, &conn, &headers, "revoke");
    let result: Result<(), OAuthError> = async {
        let form = read_form(&headers, &body)?;
        let auth = authenticate_request(&state, "revoke", &headers, &form, &origin).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some(found) = tokens::find(&state, token).await? {
            if found.claims.client_id == auth.client.client_id {
                tokens::revoke(&state, token, &found).await?;
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
                    client_id = %printable(&auth.client.client_id),
                    owner = %printable(&found.claims.client_id),
                );
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => OAuthResponse {
            error,
            realm: state.issuer.clone(),
        }
        .into_response(),
    }
}
