//! `POST /token`: the client_credentials grant with certificate-bound tokens.

use super::{read_form, Origin};
use crate::client_auth::authenticate_request;
use crate::http_error::{no_store, OAuthResponse};
use crate::state::{now_secs, AppState};
use crate::tokens::{self, new_jti};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use certbound_core::binding::Binding;
use certbound_core::error::printable;
use certbound_core::grant::GrantType;
use certbound_core::token::{grant_scope, AccessTokenClaims};
use certbound_core::{OAuthError, OAuthErrorCode};
use certbound_net::ConnectionInfo;
use http::HeaderMap;
use serde::Serialize;

/// The successful token response (RFC 6749 §5.1).
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = Origin::of(&state, &conn, &headers, "token");
    match issue(&state, &headers, &body, &origin).await {
        Ok(r) => no_store(Json(r).into_response()),
        Err(error) => OAuthResponse {
            error,
            realm: state.issuer.clone(),
        }
        .into_response(),
    }
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    origin: &Origin<'_>,
) -> Result<TokenResponse, OAuthError> {
    let form = read_form(headers, body)?;
    let auth = authenticate_request(state, "token", headers, &form, origin).await?;
    let certificate = origin.certificate;
    let used_basic = headers.contains_key(http::header::AUTHORIZATION);
    let client = &auth.registration;
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant_type '{other}' is not supported"),
            ))
        }
    }
    if !client.grant_types.allows(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }
    let scopes = grant_scope(&client.scopes, form.get("scope"))
        .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e))?;
    let cnf = Binding::for_request(client.bound_tokens, certificate, origin.listener())?;
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
    tracing::info!(
        target: "certbound::audit",
        event = "token_issued",
        decision = "allow",
        source = %origin.source,
        client_id = %printable(&client.client_id),
        method = %auth.client.method,
        format = tokens::format_name(client.token_format),
        bound = minted.claims.cnf.is_some(),
        cert_thumbprint = minted.claims.cnf.as_ref().and_then(Binding::certificate_thumbprint).map(|t| t.as_str()).unwrap_or(""),
        cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
        jti = %minted.claims.jti,
        used_basic,
    );
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: state.ttl_seconds,
        scope: minted.claims.scope,
    })
}
