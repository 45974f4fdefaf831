//! The browser side of the user flows, on the conventional listener only (never aliased, no
//! certificate requested: FAPI2.md §0 item 5, RFC 8705 §5):
//!
//! - [`authorize`]: `GET`/`POST /authorize` validates the request (PAR `request_uri` or front
//!   channel), starts an interaction and sends the browser to it;
//! - [`interaction`]: `GET /interaction/{id}`, the engine deciding login, consent or the code;
//! - [`login`], [`consent`]: the form posts (`303` after every POST); the login itself is a
//!   [`login_step::LoginStep`] (the built-in username/password form today);
//! - [`logout`]: RP-initiated logout, ending the login session.
//!
//! Every response carries the security headers of [`headers`]; cookies are in [`session`], CSRF
//! tokens in [`csrf`], pages in [`templates`].

pub mod authorize;
pub mod consent;
pub mod csrf;
pub mod headers;
pub mod interaction;
pub mod login;
pub mod login_step;
pub mod logout;
pub mod parse;
pub mod session;
pub mod templates;

use crate::extract::Origin;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::routing::{get, post};
use axum::Router;
use certbound_net::ConnectionInfo;
use http::request::Parts;
use http::HeaderMap;
use std::convert::Infallible;

/// The browser routes (merged into the conventional listener's router only).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/interaction/{id}", get(interaction::show))
        .route("/interaction/{id}/login", post(login::submit))
        .route("/interaction/{id}/consent", post(consent::submit))
        .route("/logout", get(logout::logout).post(logout::logout))
        .layer(axum::middleware::from_fn(headers::security_headers))
        // The body is buffered (and bounded) by `limits::buffer_body` in front of the routes.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Who is calling a browser route: the request headers (cookies) and where it came from (for
/// the login throttle and the audit lines).
pub struct Browser {
    /// The request headers.
    pub headers: HeaderMap,
    /// The client address, as the token endpoint computes it (a trusted proxy's forwarded one).
    pub origin: Origin,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let headers = parts.headers.clone();
        let origin = Origin::of(
            state,
            parts.extensions.get::<ConnectionInfo>(),
            &headers,
            parts.uri.path(),
        );
        Ok(Browser { headers, origin })
    }
}
