//! `POST /introspect` (RFC 7662) with `cnf` for bound tokens (RFC 8705 §3.2), and its signed
//! JWT form (RFC 9701).

use crate::extract::{ClientRequest, IntrospectionEndpoint};
use crate::http_error::{no_store, OAuthResponse};
use crate::state::{now_secs, AppState};
use crate::tokens;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use certbound_core::token::{Introspection, IntrospectionJwtClaims, INTROSPECTION_JWT_MEDIA_TYPE};
use certbound_core::OAuthError;
use http::HeaderMap;

/// The introspection endpoint. Callers authenticate like at the token endpoint; a client sees
/// its own tokens, a `resource_server` client any token. Anything else is `{"active": false}`.
///
/// Signed answers (RFC 9701): a caller that sends `Accept: application/token-introspection+jwt`
/// receives every answer, active or not, as a JWT with `typ: token-introspection+jwt` whose
/// claims are `iss`, `aud` (the caller's client_id), `iat` and `token_introspection` (the RFC 7662
/// object). Phantom-token callers that send `Accept: application/jwt` get the same document with
/// `Content-Type: application/jwt` (and inactive tokens as plain JSON, as before). Never an
/// `at+jwt`: a signed answer must not outlive a revocation as a usable access token.
pub async fn introspect(
    State(state): State<AppState>,
    request: ClientRequest<IntrospectionEndpoint>,
) -> Result<Response, OAuthResponse> {
    let answer = answer(&state, &request)
        .await
        .map_err(|e| state.reject(e))?;
    let content_type = match negotiate(&request.headers) {
        AnswerForm::Json => return Ok(no_store(Json(answer).into_response())),
        AnswerForm::LegacyJwt if !answer.active => {
            return Ok(no_store(Json(answer).into_response()))
        }
        AnswerForm::LegacyJwt => "application/jwt",
        AnswerForm::Jwt => INTROSPECTION_JWT_MEDIA_TYPE,
    };
    let document = IntrospectionJwtClaims {
        iss: state.issuer.to_string(),
        aud: request.client.client.client_id.clone(),
        iat: now_secs(),
        token_introspection: answer,
    };
    match state.keys.current().active.sign_introspection(&document) {
        Ok(jwt) => Ok(no_store(
            ([(http::header::CONTENT_TYPE, content_type)], jwt).into_response(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "signing the introspection answer failed");
            Err(state.reject(OAuthError::server_error()))
        }
    }
}

/// The RFC 7662 answer for the caller: active only for a token it may see.
async fn answer(
    state: &AppState,
    request: &ClientRequest<IntrospectionEndpoint>,
) -> Result<Introspection, OAuthError> {
    let auth = &request.client;
    let token = request
        .form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // token_type_hint is only a hint (RFC 7662 §2.1): every kind is searched.
    let claims = tokens::active_claims(tokens::find(state, token).await?);
    Ok(match claims {
        Some(c) if auth.registration.resource_server || c.client_id == auth.client.client_id => {
            Introspection::active(c)
        }
        _ => Introspection::inactive(),
    })
}

/// The form of the answer the caller asked for with `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnswerForm {
    /// RFC 7662 JSON (the default).
    Json,
    /// `application/token-introspection+jwt` (RFC 9701): every answer signed.
    Jwt,
    /// `application/jwt` (phantom-token callers): active answers signed, inactive ones JSON.
    LegacyJwt,
}

/// Reads `Accept`. A media type with `q=0` is not acceptable (RFC 9110 §12.4.2); the RFC 9701
/// type wins over `application/jwt` when both are acceptable.
fn negotiate(headers: &HeaderMap) -> AnswerForm {
    let mut form = AnswerForm::Json;
    for range in headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        if refused {
            continue;
        }
        if media.eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE) {
            return AnswerForm::Jwt;
        }
        if media.eq_ignore_ascii_case("application/jwt") {
            form = AnswerForm::LegacyJwt;
        }
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> AnswerForm {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::ACCEPT, v.parse().unwrap());
        }
        negotiate(&h)
    }

    #[test]
    fn accept_selects_the_form() {
        assert_eq!(accept(&[]), AnswerForm::Json);
        assert_eq!(accept(&["application/json"]), AnswerForm::Json);
        assert_eq!(accept(&["*/*"]), AnswerForm::Json);
        assert_eq!(accept(&["application/jwt"]), AnswerForm::LegacyJwt);
        assert_eq!(
            accept(&["Application/JWT; charset=x"]),
            AnswerForm::LegacyJwt
        );
        assert_eq!(
            accept(&["application/token-introspection+jwt"]),
            AnswerForm::Jwt
        );
        assert_eq!(
            accept(&["application/jwt, application/token-introspection+jwt;q=0.5"]),
            AnswerForm::Jwt
        );
        assert_eq!(accept(&["application/jwt;q=0"]), AnswerForm::Json);
        assert_eq!(
            accept(&[
                "application/token-introspection+jwt; q=0.0",
                "application/jwt"
            ]),
            AnswerForm::LegacyJwt
        );
    }
}
