//! `POST /interaction/{id}/login`: the login form post.
//!
//! CSRF token first (400 page when wrong), then the configured [`LoginStep`](super::login_step::LoginStep) verifies the
//! submission (the built-in one: the throttle, 429 page, per address and per username digest,
//! before any password is checked, then the password, argon2id in the store, the same cost for
//! an unknown user). A failure shows one message whatever failed; a success starts a login session (`__Host-cb_s`, single sign-on) and records the login in the
//! interaction. Both answer `303` back to the interaction (never 307: the password is not
//! re-sent).

use super::interaction::{self, SignedIn};
use super::login_step::{LoginOutcome, LOGGED_USERNAME_BYTES};
use super::parse::{checked_form, FormRefusal};
use super::session::{self, SESSION_COOKIE};
use super::templates::{error_page, see_other};
use super::Browser;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use certbound_core::error::presented;
use http::{header, StatusCode};

pub use super::login_step::FAILED_MESSAGE;

/// The form post.
pub async fn submit(
    State(app): State<AppState>,
    Path(id): Path<String>,
    browser: Browser,
    body: Bytes,
) -> Response {
    let mut state = match interaction::load(&app, &browser, &id).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let form = match checked_form(&browser.headers, &body, &state.csrf) {
        Ok(form) => form,
        Err(refusal) => return refused_form(&browser, refusal, "login"),
    };
    let authenticated = match app.login_step.verify(&app, &browser, &state, &form).await {
        LoginOutcome::Authenticated(a) => a,
        LoginOutcome::Respond(page) => return page,
        LoginOutcome::Failed { tried_username } => {
            state.login_failed = true;
            state.tried_username = tried_username;
            if let Err(page) = interaction::save(&app, &id, &state).await {
                return page;
            }
            return see_other(&format!("/interaction/{id}"));
        }
    };
    let now = authenticated.auth_time;
    let ttl = i64::from(app.authorization().session_ttl_seconds);
    // A new sign-in replaces the browser's previous session (no fixation onto an old one).
    if let Some(old) = session::read(&browser.headers, SESSION_COOKIE) {
        if let Err(e) = app.store.end_login_session(old, now).await {
            return interaction::store_failure(&app, "session_end", e);
        }
    }
    let started = match app
        .store
        .create_login_session(&authenticated.user_id, now, now.saturating_add(ttl))
        .await
    {
        Ok(s) => s,
        Err(e) => return interaction::store_failure(&app, "session_create", e),
    };
    tracing::info!(
        target: "certbound::audit",
        event = "login_succeeded",
        source = %browser.origin.source,
        username = %presented(&authenticated.username, LOGGED_USERNAME_BYTES),
        user_id = %authenticated.user_id,
        sid = %started.session.sid,
        client_id = %state.request.client_id,
    );
    state.login = Some(SignedIn {
        user_id: authenticated.user_id,
        sid: started.session.sid.clone(),
        auth_time: started.session.auth_time,
    });
    state.login_failed = false;
    state.tried_username = None;
    if let Err(page) = interaction::save(&app, &id, &state).await {
        return page;
    }
    let mut response = see_other(&format!("/interaction/{id}"));
    if let Some(cookie) = session::set(SESSION_COOKIE, &started.secret, ttl) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The answer to a form post refused by [`checked_form`] (400 either way; a CSRF mismatch is
/// also an audit line). Shared by the login and consent forms.
pub fn refused_form(browser: &Browser, refusal: FormRefusal, form: &'static str) -> Response {
    match refusal {
        FormRefusal::Unreadable => {
            error_page(StatusCode::BAD_REQUEST, "The form could not be read.")
        }
        FormRefusal::Csrf => {
            tracing::warn!(target: "certbound::audit", event = "csrf_refused", source = %browser.origin.source, form);
            error_page(
                StatusCode::BAD_REQUEST,
                "The form has expired or was not sent by this page. Go back and try again.",
            )
        }
    }
}
