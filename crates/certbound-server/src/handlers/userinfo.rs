//! `GET`/`POST /userinfo` (OpenID Connect Core §5.3) on both listeners.
//!
//! The access token comes in the `Authorization` header only, with the `Bearer` (RFC 6750 §2.1)
//! or `DPoP` (RFC 9449 §7.1) scheme; a query token is refused, a form token ignored. It must be
//! one of ours and active (the same lookup as introspection), carry `openid`, and be presented
//! with what it is bound to (FAPI 2.0 §5.3.4-5, FAPI2.md §7 trap 7): its certificate, or a DPoP
//! proof for this request (`htm`, `htu` = this endpoint's public URL, `ath`) signed by its key.
//! A DPoP-bound token is never accepted as a bearer token, and a token that is not DPoP-bound is
//! not accepted with the `DPoP` scheme. A stolen bound token is as useless here as at the
//! gateway.

use crate::extract::{verify_dpop, with_fresh_nonce, Origin};
use crate::grants::user_tokens;
use crate::http_error::no_store;
use crate::state::AppState;
use crate::tokens;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certbound_core::binding::Binding;
use certbound_core::error::printable;
use certbound_core::oidc::claims::OPENID;
use certbound_core::oidc::{userinfo as userinfo_claims, USERINFO_PATH};
use certbound_core::presentation::{presented_token, AuthScheme, PresentationError};
use certbound_core::OAuthErrorCode;
use certbound_net::ConnectionInfo;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;

/// Why a userinfo request is refused: each maps to one RFC 6750 §3.1 / RFC 9449 §7.1 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No access token: 401 with a bare challenge for each scheme.
    NoToken,
    /// A malformed request (query token, repeated header, bad token syntax): 400.
    InvalidRequest(&'static str),
    /// Unknown, expired or revoked token, one bound to another certificate, or one presented
    /// with the wrong scheme: 401.
    InvalidToken(&'static str),
    /// The DPoP proof is missing, invalid, replayed or by another key: 401 `invalid_dpop_proof`
    /// (or `use_dpop_nonce`), with the `DPoP` challenge.
    Dpop {
        /// `invalid_dpop_proof` or `use_dpop_nonce`.
        error: &'static str,
        /// A fixed text (never the proof).
        description: String,
        /// With `use_dpop_nonce`: the nonce to use, sent as the `DPoP-Nonce` header.
        nonce: Option<String>,
    },
    /// The token lacks `openid`: 403.
    InsufficientScope,
    /// The store did not answer: 503.
    Unavailable,
}

/// A refusal and the scheme its challenge speaks: `DPoP` when the token was presented with it or
/// is DPoP-bound (RFC 9449 §7.1), `Bearer` otherwise.
#[derive(Debug)]
struct Refused {
    refusal: Refusal,
    dpop: bool,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            refusal,
            dpop: false,
        }
    }
}

/// The access token of the request and its scheme (header only, scheme case-insensitive).
pub fn presented<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<(AuthScheme, &'a str), Refusal> {
    let values = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes);
    match presented_token(values, query) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(Refusal::NoToken),
        Err(e) => Err(Refusal::InvalidRequest(static_text(e))),
    }
}

fn static_text(e: PresentationError) -> &'static str {
    match e {
        PresentationError::WrongMethod => "send the access token in the Authorization header only",
        PresentationError::Repeated => "more than one Authorization header",
        PresentationError::Malformed => "malformed Bearer token",
    }
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
    match answer(
        &state,
        request.method(),
        headers,
        request.uri().query(),
        &origin,
    )
    .await
    {
        Ok(response) => response,
        Err(refused) => {
            tracing::info!(
                target: "certbound::audit",
                event = "userinfo_refused",
                decision = "deny",
                source = %origin.source,
                reason = ?refused.refusal,
            );
            refuse(&state, refused)
        }
    }
}

async fn answer(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    origin: &Origin,
) -> Result<Response, Refused> {
    let (scheme, token) = presented(headers, query).map_err(|refusal| Refused {
        dpop: false,
        refusal,
    })?;
    let in_scheme = |refusal: Refusal| Refused {
        refusal,
        dpop: scheme == AuthScheme::Dpop,
    };
    let unavailable = |_| Refused::from(Refusal::Unavailable);
    let found = tokens::find(state, token).await.map_err(unavailable)?;
    let claims = tokens::active_claims(found).ok_or_else(|| {
        in_scheme(Refusal::InvalidToken(
            "the access token is invalid, expired or revoked",
        ))
    })?;
    check_binding(
        state,
        method,
        headers,
        origin,
        scheme,
        token,
        claims.cnf.as_ref(),
    )
    .await?;
    let scopes = user_tokens::scope_list(claims.scope.as_deref().unwrap_or(""));
    if !scopes.iter().any(|s| s == OPENID) {
        return Err(in_scheme(Refusal::InsufficientScope));
    }
    let user = user_tokens::user_profile(state, &claims.sub)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| in_scheme(Refusal::InvalidToken("the token's user no longer exists")))?;
    tracing::info!(
        target: "certbound::audit",
        event = "userinfo",
        decision = "allow",
        source = %origin.source,
        client_id = %printable(&claims.client_id),
        jti = %claims.jti,
    );
    let response = no_store(Json(userinfo_claims(&user, &scopes)).into_response());
    Ok(with_fresh_nonce(state, headers, response))
}

/// Checks that the request holds what the token is bound to, and that the scheme fits the
/// binding: a DPoP-bound token needs the `DPoP` scheme and a proof for this request by its key
/// (recorded against replay in the shared store); any other token needs the `Bearer` scheme,
/// and a certificate-bound one the same certificate.
async fn check_binding(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    origin: &Origin,
    scheme: AuthScheme,
    token: &str,
    cnf: Option<&Binding>,
) -> Result<(), Refused> {
    let dpop = |refusal| Refused {
        refusal,
        dpop: true,
    };
    match (cnf, scheme) {
        (Some(Binding::Dpop { .. }), AuthScheme::Bearer) => Err(dpop(Refusal::InvalidToken(
            "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
        ))),
        (Some(binding @ Binding::Dpop { .. }), AuthScheme::Dpop) => {
            let proof = verify_dpop(state, headers, method.as_str(), &origin.url, Some(token))
                .await
                .map_err(|e| match e.code {
                    OAuthErrorCode::InvalidDpopProof | OAuthErrorCode::UseDpopNonce => {
                        dpop(Refusal::Dpop {
                            error: e.code.as_str(),
                            description: e.description,
                            nonce: e.dpop_nonce,
                        })
                    }
                    _ => Refused::from(Refusal::Unavailable),
                })?
                .ok_or_else(|| {
                    dpop(Refusal::Dpop {
                        error: "invalid_dpop_proof",
                        description: "a DPoP proof is required with a DPoP-bound access token"
                            .into(),
                        nonce: None,
                    })
                })?;
            binding.check_with_proof(None, Some(&proof)).map_err(|_| {
                dpop(Refusal::Dpop {
                    error: "invalid_dpop_proof",
                    description:
                        "the DPoP proof is signed by another key than the token is bound to".into(),
                    nonce: None,
                })
            })
        }
        (Some(binding), AuthScheme::Bearer) => {
            binding.check(origin.certificate.as_ref()).map_err(|_| {
                Refusal::InvalidToken("the access token is bound to another certificate").into()
            })
        }
        (_, AuthScheme::Dpop) => Err(dpop(Refusal::InvalidToken(
            "the access token is not DPoP-bound: present it with the Bearer scheme",
        ))),
        (None, AuthScheme::Bearer) => Ok(()),
    }
}
/// The RFC 6750 §3 / RFC 9449 §7.1 answer to `refused`: status, `WWW-Authenticate` challenge
/// (`Bearer` with the issuer as realm, or `DPoP` with its `algs`; both, bare, when no token was
/// sent) and the same error as JSON.
fn refuse(state: &AppState, refused: Refused) -> Response {
    let Refused { refusal, dpop } = refused;
    let (status, error, description): (StatusCode, Option<&str>, Option<String>) = match &refusal {
        Refusal::NoToken => (StatusCode::UNAUTHORIZED, None, None),
        Refusal::InvalidRequest(d) => (
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
            Some((*d).to_owned()),
        ),
        Refusal::InvalidToken(d) => (
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            Some((*d).to_owned()),
        ),
        Refusal::Dpop {
            error, description, ..
        } => (
            StatusCode::UNAUTHORIZED,
            Some(*error),
            Some(description.clone()),
        ),
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
            Some("the access token does not carry the openid scope".to_owned()),
        ),
    };
    let realm = certbound_core::error::header_safe(&state.issuer);
    let algs = state
        .dpop_algs
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut params = String::new();
    if let Some(e) = error {
        params.push_str(&format!(", error=\"{e}\""));
    }
    if let Some(d) = &description {
        let d = certbound_core::error::header_safe(d);
        params.push_str(&format!(", error_description=\"{d}\""));
    }
    if refusal == Refusal::InsufficientScope {
        params.push_str(&format!(", scope=\"{OPENID}\""));
    }
    let bearer = format!("Bearer realm=\"{realm}\"");
    let dpop_challenge = format!("DPoP algs=\"{algs}\"");
    let challenges = match (&refusal, dpop) {
        (Refusal::NoToken, _) => vec![bearer, dpop_challenge],
        (_, true) => vec![format!("{dpop_challenge}{params}")],
        (_, false) => vec![format!("{bearer}{params}")],
    };
    let body = match error {
        Some(e) => json!({"error": e, "error_description": description}),
        None => json!({}),
    };
    let mut response = no_store((status, Json(body)).into_response());
    if let Refusal::Dpop {
        nonce: Some(nonce), ..
    } = &refusal
    {
        if let Ok(v) = HeaderValue::from_str(nonce) {
            response.headers_mut().insert("dpop-nonce", v);
        }
    }
    for c in challenges {
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
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
        assert_eq!(
            presented(&auth("Bearer abc.def"), None),
            Ok((AuthScheme::Bearer, "abc.def"))
        );
        assert_eq!(
            presented(&auth("dPoP abc="), None),
            Ok((AuthScheme::Dpop, "abc="))
        );
        assert_eq!(presented(&HeaderMap::new(), None), Err(Refusal::NoToken));
        assert_eq!(presented(&auth("Basic abc"), None), Err(Refusal::NoToken));
        assert!(matches!(
            presented(&auth("Bearer abc"), Some("x=1&access_token=abc")),
            Err(Refusal::InvalidRequest(_))
        ));
        for bad in ["Bearer a b", "Bearer ", "DPoP a\"b", "Bearer ==="] {
            assert!(
                matches!(presented(&auth(bad), None), Err(Refusal::InvalidRequest(_))),
                "{bad}"
            );
        }
    }
}
