//! `POST /par` (RFC 9126): pushed authorization requests, on both listeners.
//!
//! The client authenticates exactly as at the token endpoint ([`ClientRequest`]); the body is
//! validated as an authorization request by the core ([`par::validate_pushed`]: `request_uri`
//! refused, PKCE S256, registered `redirect_uri` required, scopes); the validated request is
//! stored under a fresh `request_uri` bound to the client, which `/authorize` reads without
//! consuming and the code issuance consumes.
//!
//! DPoP (RFC 9449 §10): a `DPoP` proof on the pushed request (for `POST` to this endpoint's
//! public URL) and the `dpop_jkt` parameter both bind the code to a key; when both are sent
//! they must name the same key. The token request must then carry a proof by that key.

use crate::extract::{verify_dpop, with_fresh_nonce, ClientRequest, ParEndpoint};
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
    let response = no_store((StatusCode::CREATED, Json(answer)).into_response());
    Ok(with_fresh_nonce(&state, &request.headers, response))
}

/// Validates and stores the pushed request; writes the audit line.
async fn push(
    state: &AppState,
    request: &ClientRequest<ParEndpoint>,
) -> Result<par::ParResponse, OAuthError> {
    let client = &request.client.registration;
    let mut validated = validate(request)?;
    let proof = verify_dpop(state, &request.headers, "POST", &request.origin.url, None).await?;
    validated.dpop_jkt = code_binding(validated.dpop_jkt.take(), proof.map(|p| p.jkt))?;
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

/// The DPoP key the code will be bound to: the `dpop_jkt` parameter, the pushed request's proof
/// key, or both when they agree (RFC 9449 §10.1); a disagreement is `invalid_request`.
pub fn code_binding(
    dpop_jkt: Option<String>,
    proof_jkt: Option<String>,
) -> Result<Option<String>, OAuthError> {
    match (dpop_jkt, proof_jkt) {
        (Some(param), Some(proof)) if param != proof => Err(OAuthError::invalid_request(
            "dpop_jkt does not match the key of the DPoP proof",
        )),
        (param, proof) => Ok(param.or(proof)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_and_the_proof_must_agree() {
        let (a, b) = (Some("a".to_owned()), Some("b".to_owned()));
        assert_eq!(code_binding(None, None).unwrap(), None);
        assert_eq!(code_binding(a.clone(), None).unwrap(), a);
        assert_eq!(code_binding(None, b.clone()).unwrap(), b);
        assert_eq!(code_binding(a.clone(), a.clone()).unwrap(), a);
        let e = code_binding(a, b).unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
    }
}
