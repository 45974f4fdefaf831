//! `GET`/`POST /logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, the
//! `end_session_endpoint`). Ends the browser's login session in the store (every instance sees
//! it), clears the cookie and shows a "signed out" page.
//!
//! Not done yet: `id_token_hint`, `post_logout_redirect_uri` (only to a registered URI) and a
//! confirmation step; without a redirect there is nothing an attacker gains from a forged logout
//! but the user's inconvenience.

use super::session::{self, SESSION_COOKIE};
use super::templates::{self, MessagePage};
use super::Browser;
use crate::state::{now_secs, AppState};
use axum::extract::State;
use axum::response::Response;
use http::{header, StatusCode};

/// Ends the session (if any) and answers the page.
pub async fn logout(State(app): State<AppState>, browser: Browser) -> Response {
    if let Some(secret) = session::read(&browser.headers, SESSION_COOKIE) {
        let now = now_secs();
        let sid = match app.store.login_session(secret).await {
            Ok(s) => s.map(|s| s.sid),
            Err(e) => return super::interaction::store_failure(&app, "session_load", e),
        };
        match app.store.end_login_session(secret, now).await {
            Ok(true) => tracing::info!(
                target: "certbound::audit",
                event = "logout",
                source = %browser.origin.source,
                sid = %sid.unwrap_or_default(),
            ),
            Ok(false) => {}
            Err(e) => return super::interaction::store_failure(&app, "session_end", e),
        }
    }
    let mut response = templates::render(
        StatusCode::OK,
        &MessagePage {
            title: "Signed out",
            message: "You are signed out. You can close this window.",
            class: "info-page",
        },
        None,
    );
    if let Some(cookie) = session::clear(SESSION_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
