//! Metadata (RFC 8414, OpenID Connect Discovery), the JWKS and the health check.

use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

fn json_bytes(body: bytes::Bytes, cache_seconds: u32) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={cache_seconds}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}

/// `/.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(state): State<AppState>) -> Response {
    json_bytes(state.metadata.clone(), 300)
}

/// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0): the RFC 8414 document
/// with the OpenID members, built from the same values at start.
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    json_bytes(state.openid_configuration.clone(), 300)
}

/// `/jwks`: every published signing key. Short cache lifetime so rotations are seen quickly.
pub async fn jwks(State(state): State<AppState>) -> Response {
    json_bytes(state.keys.current().jwks.clone(), 60)
}

/// `/health`: 200 when the store answers, 503 otherwise.
pub async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "store": "down"})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}
