//! `POST /interaction/{id}/login`: the built-in login form.
//!
//! CSRF token first (400 page when wrong), then the throttle (429 page: per address and per
//! username digest, before any password is checked), then the password (argon2id in the store,
//! the same cost for an unknown user). A failure shows one message whatever failed; a success
//! starts a login session (`__Host-cb_s`, single sign-on) and records the login in the
//! interaction. Both answer `303` back to the interaction (never 307: the password is not
//! re-sent).

use super::interaction::{self, SignedIn};
use super::session::{self, SESSION_COOKIE};
use super::templates::{error_page, see_other};
use super::{csrf, Browser};
use crate::extract::read_form;
use crate::state::{now_secs, AppState};
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use certbound_core::error::presented;
use http::{header, HeaderValue, StatusCode};

/// The one failure message: the same for an unknown user, a wrong password and a disabled user.
pub const FAILED_MESSAGE: &str = "The username or password is incorrect.";

/// The longest username or password read; longer ones fail like a wrong password.
const MAX_FIELD_BYTES: usize = 1024;

/// How much of a username an audit line shows.
const LOGGED_USERNAME_BYTES: usize = 64;

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
    let Ok(form) = read_form(&browser.headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf::matches(&state.csrf, form.get(csrf::FIELD)) {
        tracing::warn!(target: "certbound::audit", event = "csrf_refused", source = %browser.origin.source, form = "login");
        return error_page(
            StatusCode::BAD_REQUEST,
            "The form has expired or was not sent by this page. Go back and try again.",
        );
    }
    let username = form.get("username").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let shown = presented(username, LOGGED_USERNAME_BYTES);
    if let Err((limit, retry)) = app.throttle.admit_login(browser.origin.peer, username) {
        crate::throttle::refused(&app.metrics, limit, &browser.origin.source, None);
        let mut page = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-in attempts. Wait a moment and try again.",
        );
        if let Ok(v) = HeaderValue::from_str(&retry.seconds().to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return page;
    }
    let fits = username.len() <= MAX_FIELD_BYTES && password.len() <= MAX_FIELD_BYTES;
    let user = if fits && !username.is_empty() && !password.is_empty() {
        match app.store.verify_user_password(username, password).await {
            Ok(u) => u,
            Err(e) => return interaction::store_failure(&app, "login_verify", e),
        }
    } else {
        None
    };
    let Some(user) = user else {
        app.throttle.failed_login(browser.origin.peer, username);
        tracing::warn!(
            target: "certbound::audit",
            event = "login_failed",
            source = %browser.origin.source,
            username = %shown,
            client_id = %state.request.client_id,
        );
        state.login_failed = true;
        state.tried_username = (fits && !username.is_empty()).then(|| username.to_owned());
        if let Err(page) = interaction::save(&app, &id, &state).await {
            return page;
        }
        return see_other(&format!("/interaction/{id}"));
    };
    let now = now_secs();
    let ttl = i64::from(app.authorization().session_ttl_seconds);
    // A new sign-in replaces the browser's previous session (no fixation onto an old one).
    if let Some(old) = session::read(&browser.headers, SESSION_COOKIE) {
        if let Err(e) = app.store.end_login_session(old, now).await {
            return interaction::store_failure(&app, "session_end", e);
        }
    }
    let started = match app
        .store
        .create_login_session(&user.id, now, now.saturating_add(ttl))
        .await
    {
        Ok(s) => s,
        Err(e) => return interaction::store_failure(&app, "session_create", e),
    };
    tracing::info!(
        target: "certbound::audit",
        event = "login_succeeded",
        source = %browser.origin.source,
        username = %shown,
        user_id = %user.id,
        sid = %started.session.sid,
        client_id = %state.request.client_id,
    );
    state.login = Some(SignedIn {
        user_id: user.id,
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
