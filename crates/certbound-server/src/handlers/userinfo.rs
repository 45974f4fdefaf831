//! `GET`/`POST /userinfo` (OpenID Connect Core §5.3) on both listeners.
//!
//! The access token comes in the `Authorization: Bearer` header only (RFC 6750 §2.1; a query
//! token is refused, a form token ignored). It must be one of ours and active (the same lookup
//! as introspection), carry `openid`, and, when it is certificate-bound, arrive with that
//! certificate (RFC 8705 §3, FAPI2.md §7 trap 7): a stolen bound token is as useless here as at
//! the gateway.

use crate::extract::Origin;
use crate::grants::user_tokens;
use crate::http_error::no_store;
use crate::state::AppState;
use crate::tokens;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certbound_core::error::printable;
use certbound_core::oidc::claims::OPENID;
use certbound_core::oidc::{userinfo as userinfo_claims, USERINFO_PATH};
use certbound_net::ConnectionInfo;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

/// Why a userinfo request is refused: each maps to one RFC 6750 §3.1 answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token: 401 with a bare challenge.
    NoToken,
    /// A malformed request (query token, repeated header, bad token syntax): 400.
    InvalidRequest(&'static str),
    /// Unknown, expired or revoked token, or one bound to another certificate: 401.
    InvalidToken(&'static str),
    /// The token lacks `openid`: 403.
    InsufficientScope,
    /// The store did not answer: 503.
    Unavailable,
}

/// The RFC 6750 `b64token` syntax.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The bearer token of the request: header only, scheme case-insensitive.
pub fn bearer_token<'a>(headers: &'a HeaderMap, query: Option<&str>) -> Result<&'a str, Refusal> {
    if query.is_some_and(|q| {
        q.split('&')
            .any(|p| p == "access_token" || p.starts_with("access_token="))
    }) {
        return Err(Refusal::InvalidRequest(
            "send the access token in the Authorization header only",
        ));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Refusal::InvalidRequest("malformed Bearer token"))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(Refusal::NoToken);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::NoToken);
    }
    let token = token.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(Refusal::InvalidRequest("malformed Bearer token"));
    }
    Ok(token)
}

/// The userinfo endpoint.
pub async fn userinfo(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers();
    let origin = Origin::of(
        &state,
        request.extensions().get::<ConnectionInfo>(),
        headers,
        USERINFO_PATH,
    );
    match answer(&state, headers, request.uri().query(), &origin).await {
        Ok(response) => response,
        Err(refusal) => {
            tracing::info!(
                target: "certbound::audit",
                event = "userinfo_refused",
                decision = "deny",
                source = %origin.source,
                reason = ?refusal,
            );
            refuse(&state, refusal)
        }
    }
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    origin: &Origin,
) -> Result<Response, Refusal> {
    let token = bearer_token(headers, query)?;
    let unavailable = |_| Refusal::Unavailable;
    let found = tokens::find(state, token).await.map_err(unavailable)?;
    let claims = tokens::active_claims(found).ok_or(Refusal::InvalidToken(
        "the access token is invalid, expired or revoked",
    ))?;
    if let Some(binding) = &claims.cnf {
        binding.check(origin.certificate.as_ref()).map_err(|_| {
            Refusal::InvalidToken("the access token is bound to another certificate")
        })?;
    }
    let scopes = user_tokens::scope_list(claims.scope.as_deref().unwrap_or(""));
    if !scopes.iter().any(|s| s == OPENID) {
        return Err(Refusal::InsufficientScope);
    }
    let user = user_tokens::user_profile(state, &claims.sub)
        .await
        .map_err(unavailable)?
        .ok_or(Refusal::InvalidToken("the token's user no longer exists"))?;
    tracing::info!(
        target: "certbound::audit",
        event = "userinfo",
        decision = "allow",
        source = %origin.source,
        client_id = %printable(&claims.client_id),
        jti = %claims.jti,
    );
    Ok(no_store(
        Json(userinfo_claims(&user, &scopes)).into_response(),
    ))
}

/// The RFC 6750 §3 answer to `refusal`: status, `WWW-Authenticate: Bearer` challenge (with the
/// issuer as realm) and the same error as JSON.
fn refuse(state: &AppState, refusal: Refusal) -> Response {
    let (status, error, description) = match refusal {
        Refusal::NoToken => (StatusCode::UNAUTHORIZED, None, None),
        Refusal::InvalidRequest(d) => (StatusCode::BAD_REQUEST, Some("invalid_request"), Some(d)),
        Refusal::InvalidToken(d) => (StatusCode::UNAUTHORIZED, Some("invalid_token"), Some(d)),
        Refusal::Unavailable => {
            let mut r = no_store(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "temporarily_unavailable"})),
                )
                    .into_response(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
        Refusal::InsufficientScope => (
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            Some("the access token does not carry the openid scope"),
        ),
    };
    let realm = certbound_core::error::header_safe(&state.issuer);
    let mut challenge = format!("Bearer realm=\"{realm}\"");
    if let Some(e) = error {
        challenge.push_str(&format!(", error=\"{e}\""));
    }
    if let Some(d) = description {
        challenge.push_str(&format!(", error_description=\"{d}\""));
    }
    if refusal == Refusal::InsufficientScope {
        challenge.push_str(&format!(", scope=\"{OPENID}\""));
    }
    let body = match error {
        Some(e) => json!({"error": e, "error_description": description}),
        None => json!({}),
    };
    let mut response = no_store((status, Json(body)).into_response());
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn the_token_comes_from_the_header_only() {
        assert_eq!(bearer_token(&auth("Bearer abc.def"), None), Ok("abc.def"));
        assert_eq!(bearer_token(&auth("bEARER abc="), None), Ok("abc="));
        assert_eq!(bearer_token(&HeaderMap::new(), None), Err(Refusal::NoToken));
        assert_eq!(
            bearer_token(&auth("Basic abc"), None),
            Err(Refusal::NoToken)
        );
        assert!(matches!(
            bearer_token(&auth("Bearer abc"), Some("x=1&access_token=abc")),
            Err(Refusal::InvalidRequest(_))
        ));
        assert!(matches!(
            bearer_token(&HeaderMap::new(), Some("access_token=abc")),
            Err(Refusal::InvalidRequest(_))
        ));
        for bad in ["Bearer a b", "Bearer ", "Bearer a\"b", "Bearer ==="] {
            assert!(
                matches!(
                    bearer_token(&auth(bad), None),
                    Err(Refusal::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        let mut two = auth("Bearer a");
        two.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert!(matches!(
            bearer_token(&two, None),
            Err(Refusal::InvalidRequest(_))
        ));
    }
}
