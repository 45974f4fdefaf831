//! `POST /introspect` (RFC 7662) with `cnf` for bound tokens (RFC 8705 §3.2).

use super::{read_form, Origin};
use crate::client_auth::authenticate_request;
use crate::http_error::{no_store, OAuthResponse};
use crate::state::AppState;
use crate::tokens;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use certbound_core::token::Introspection;
use certbound_core::OAuthError;
use certbound_net::ConnectionInfo;
use http::HeaderMap;

/// The introspection endpoint. Callers authenticate like at the token endpoint; a client sees
/// its own tokens, a `resource_server` client any token. Anything else is `{"active": false}`.
///
/// Phantom tokens: a caller that sends `Accept: application/jwt` receives an active token's claims
/// as a JWT signed like an access token (`typ: at+jwt`, `Content-Type: application/jwt`), so a
/// gateway can swap an opaque token for a JWT its upstream can verify. Inactive tokens are still
/// answered with `{"active": false}` as JSON.
pub async fn introspect(
    State(state): State<AppState>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = Origin::of(&state, &conn, &headers, "introspect");
    let wants_jwt = accepts_jwt(&headers);
    let result: Result<Introspection, OAuthError> = async {
        let form = read_form(&headers, &body)?;
        let auth = authenticate_request(&state, "introspect", &headers, &form, &origin).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        // token_type_hint is only a hint (RFC 7662 §2.1): every kind is searched.
        let claims = tokens::active_claims(tokens::find(&state, token).await?);
        Ok(match claims {
            Some(c)
                if auth.registration.resource_server || c.client_id == auth.client.client_id =>
            {
                Introspection::active(c)
            }
            _ => Introspection::inactive(),
        })
    }
    .await;
    match result {
        Ok(Introspection {
            active: true,
            claims: Some(c),
        }) if wants_jwt => match state.keys.current().active.sign_jwt(&c.claims) {
            Ok(jwt) => {
                no_store(([(http::header::CONTENT_TYPE, "application/jwt")], jwt).into_response())
            }
            Err(e) => {
                tracing::error!(error = %e, "signing the introspection JWT failed");
                OAuthResponse {
                    error: OAuthError::server_error(),
                    realm: state.issuer.clone(),
                }
                .into_response()
            }
        },
        Ok(body) => no_store(Json(body).into_response()),
        Err(error) => OAuthResponse {
            error,
            realm: state.issuer.clone(),
        }
        .into_response(),
    }
}

/// Whether the caller asked for the phantom-token JWT (`Accept: application/jwt`).
fn accepts_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/jwt")
        })
}
