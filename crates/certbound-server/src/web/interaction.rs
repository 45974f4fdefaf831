//! The interaction engine (FAPI2.md §4.2): the state of one authorization between `/authorize`
//! and the code, stored in the `interactions` table so any instance can continue it, and the one
//! function ([`advance`]) that decides the next step after every page.
//!
//! `GET /interaction/{id}` loads the interaction (only with the browser-binding cookie), asks
//! [`next_step`] and shows the login page, the consent page, or completes: the code is issued
//! (consuming the pushed request in the same transaction) and the browser is sent to the client
//! with `code`, `state` and `iss`. `prompt=none` never shows a page: it ends in a
//! `login_required`/`consent_required` redirect. When [`decide`] says "issue" already at
//! `/authorize` (a signed-in browser, consent remembered, nothing in `prompt` or `max_age`
//! asking for a page), the code is issued there and no interaction is stored.

use super::session::{self, INTERACTION_COOKIE, SESSION_COOKIE};
use super::templates::{self, error_page, see_other, ConsentPage};
use super::{headers, Browser};
use crate::state::{now_secs, AppState};
use axum::extract::{Path, State};
use axum::response::Response;
use certbound_core::authorize::{
    error_location, next_step, success_location, AuthorizationErrorCode, AuthorizationRequest,
    Interaction, NextStep,
};
use certbound_core::error::printable;
use certbound_store::{NewAuthorizationCode, StoreError};
use http::{header, StatusCode};
use serde::{Deserialize, Serialize};

/// How long an interaction lives (a user who takes longer starts again at the client).
pub const INTERACTION_TTL_SECONDS: i64 = 600;

/// What is shown when an interaction cannot be found for this browser.
const UNKNOWN_INTERACTION: &str = "This sign-in request has expired, was already completed, \
     or was started in another browser. Return to the application and start again.";

/// The stored state of an interaction (a JSON object in the `interactions` row).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InteractionState {
    /// The validated authorization request.
    pub request: AuthorizationRequest,
    /// The pushed request it came from, consumed when the code is issued (RFC 9126 §4). It is
    /// a bearer reference only until then, and this row lives at most
    /// [`INTERACTION_TTL_SECONDS`].
    pub request_uri: Option<String>,
    /// The CSRF token of this interaction's forms.
    pub csrf: String,
    /// The user who signed in on the login page during this interaction.
    #[serde(default)]
    pub login: Option<SignedIn>,
    /// The user who allowed the request on the consent page during this interaction.
    #[serde(default)]
    pub consented_by: Option<String>,
    /// The last login attempt failed: the login page says so once.
    #[serde(default)]
    pub login_failed: bool,
    /// The username of the last attempt, to pre-fill the form.
    #[serde(default)]
    pub tried_username: Option<String>,
}

/// A signed-in user, from a login during this interaction or from the session cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// The user's id.
    pub user_id: String,
    /// The login session's public id (the ID token's `sid`).
    pub sid: String,
    /// When the user authenticated.
    pub auth_time: i64,
}

/// `GET /interaction/{id}`: the next step of the interaction.
pub async fn show(
    State(app): State<AppState>,
    Path(id): Path<String>,
    browser: Browser,
) -> Response {
    match load(&app, &browser, &id).await {
        Ok(state) => advance(&app, &browser, &id, state).await,
        Err(page) => page,
    }
}

/// The interaction `id` of this browser (its binding cookie), or the error page to answer.
pub async fn load(
    app: &AppState,
    browser: &Browser,
    id: &str,
) -> Result<InteractionState, Response> {
    let unknown = || error_page(StatusCode::BAD_REQUEST, UNKNOWN_INTERACTION);
    if id.len() > 64 {
        return Err(unknown());
    }
    let Some(secret) = session::read(&browser.headers, INTERACTION_COOKIE) else {
        return Err(unknown());
    };
    let found = app
        .store
        .interaction(id, secret, now_secs())
        .await
        .map_err(|e| store_failure(app, "interaction_load", e))?;
    let Some(found) = found else {
        return Err(unknown());
    };
    serde_json::from_str(&found.request).map_err(|e| {
        tracing::error!(error = %e, "a stored interaction does not parse");
        error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
    })
}

/// Stores the interaction's new state.
pub async fn save(app: &AppState, id: &str, state: &InteractionState) -> Result<(), Response> {
    let json = serde_json::to_string(state)
        .map_err(|_| error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error."))?;
    match app.store.update_interaction(id, &json).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(error_page(StatusCode::BAD_REQUEST, UNKNOWN_INTERACTION)),
        Err(e) => Err(store_failure(app, "interaction_save", e)),
    }
}

/// The signed-in user: the one who logged in during this interaction, else the browser's
/// active login session.
pub async fn current_user(
    app: &AppState,
    browser: &Browser,
    state: &InteractionState,
) -> Result<Option<SignedIn>, Response> {
    if let Some(login) = &state.login {
        return Ok(Some(login.clone()));
    }
    let Some(secret) = session::read(&browser.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = app
        .store
        .login_session(secret)
        .await
        .map_err(|e| store_failure(app, "session_load", e))?;
    Ok(session
        .filter(|s| s.is_active(now_secs()))
        .map(|s| SignedIn {
            user_id: s.user_id,
            sid: s.sid,
            auth_time: s.auth_time,
        }))
}

/// Decides and answers the next step: a page, the completion, or an error redirect.
pub async fn advance(
    app: &AppState,
    browser: &Browser,
    id: &str,
    mut state: InteractionState,
) -> Response {
    let (step, user) = match decide(app, browser, &state).await {
        Ok(decided) => decided,
        Err(page) => return page,
    };
    match (step, user) {
        (NextStep::Login, _) => login_page(app, id, &mut state).await,
        (NextStep::Consent, Some(user)) => consent_page(app, id, &state, &user).await,
        (NextStep::Issue, Some(user)) => complete(app, browser, Some(id), &state, &user).await,
        (NextStep::Error(code), _) => {
            let description = match code {
                AuthorizationErrorCode::LoginRequired => "the user is not signed in",
                AuthorizationErrorCode::ConsentRequired => "the user has not consented",
                _ => "the request cannot be completed without interaction",
            };
            end_with_error(app, id, &state, code, description).await
        }
        // Consent or issue without a user cannot be decided; `next_step` asks for a login first.
        (_, None) => login_page(app, id, &mut state).await,
    }
}

/// The next step of an interaction in `state` for this browser, and its signed-in user: the
/// one decision ([`next_step`]) over the session, the remembered consent and the request's
/// `prompt` and `max_age`. Reads the store only for a browser with a session cookie.
pub async fn decide(
    app: &AppState,
    browser: &Browser,
    state: &InteractionState,
) -> Result<(NextStep, Option<SignedIn>), Response> {
    let user = current_user(app, browser, state).await?;
    let request = &state.request;
    let consent_remembered = match &user {
        Some(u) => match app.store.consent(&u.user_id, &request.client_id).await {
            Ok(c) => c.is_some_and(|c| covers(&c.scope, &request.scopes)),
            Err(e) => return Err(store_failure(app, "consent_load", e)),
        },
        None => false,
    };
    let step = next_step(
        &request.prompt,
        request.max_age,
        &Interaction {
            session_auth_time: user.as_ref().map(|u| u.auth_time),
            logged_in_now: state.login.is_some(),
            consent_remembered,
            consented_now: user
                .as_ref()
                .is_some_and(|u| state.consented_by.as_deref() == Some(u.user_id.as_str())),
            now: now_secs(),
        },
    );
    Ok((step, user))
}

/// Whether a remembered `scope` (space-separated) includes every requested scope.
fn covers(remembered: &str, requested: &[String]) -> bool {
    let granted: Vec<&str> = remembered.split(' ').collect();
    requested.iter().all(|s| granted.contains(&s.as_str()))
}

/// The login page of the configured login step (with the one failure message if the last
/// attempt failed).
async fn login_page(app: &AppState, id: &str, state: &mut InteractionState) -> Response {
    let failed = state.login_failed;
    if failed {
        state.login_failed = false;
        if let Err(page) = save(app, id, state).await {
            return page;
        }
    }
    app.login_step.page(app, id, state, failed)
}

/// The consent page.
async fn consent_page(
    app: &AppState,
    id: &str,
    state: &InteractionState,
    user: &SignedIn,
) -> Response {
    let username = match app.store.user_by_id(&user.user_id).await {
        Ok(u) => u.map(|u| u.username).unwrap_or_default(),
        Err(e) => return store_failure(app, "user_load", e),
    };
    // The registered `client_name` when there is one (the client may have been removed since
    // the interaction started: then its id).
    let client_name = app
        .clients
        .get(&state.request.client_id)
        .and_then(|c| c.client_name.clone())
        .unwrap_or_else(|| state.request.client_id.clone());
    templates::render(
        StatusCode::OK,
        &ConsentPage {
            interaction_id: id,
            csrf: &state.csrf,
            client: &client_name,
            scopes: &state.request.scopes,
            username: &username,
        },
        Some(csp_for(&state.request)),
    )
}

/// The pages' policy: forms post to us, and the redirect that ends the flow goes to the
/// client's validated redirect URI.
pub(crate) fn csp_for(request: &AuthorizationRequest) -> String {
    headers::page_csp(headers::origin_of(&request.redirect_uri).as_deref())
}

/// Issues the code and sends the browser to the client. A stored interaction (`id`) ends
/// first (exactly one caller gets past it: a form posted twice completes once); `None` when
/// `/authorize` completes at once, with no interaction stored. The pushed request is consumed in
/// the code's own transaction, so a pushed request yields one code either way.
pub async fn complete(
    app: &AppState,
    browser: &Browser,
    id: Option<&str>,
    state: &InteractionState,
    user: &SignedIn,
) -> Response {
    if let Some(id) = id {
        match app.store.finish_interaction(id).await {
            Ok(true) => {}
            Ok(false) => return error_page(StatusCode::BAD_REQUEST, UNKNOWN_INTERACTION),
            Err(e) => return store_failure(app, "interaction_finish", e),
        }
    }
    let request = &state.request;
    let now = now_secs();
    let ttl = i64::from(app.authorization().code_ttl_seconds);
    let new = NewAuthorizationCode {
        client_id: request.client_id.clone(),
        user_id: user.user_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope_string(),
        code_challenge: request.code_challenge.as_str().to_owned(),
        code_challenge_method: request.code_challenge.method().to_owned(),
        nonce: request.nonce.clone(),
        auth_time: user.auth_time,
        sid: Some(user.sid.clone()),
        x5t_s256: None,
        dpop_jkt: request.dpop_jkt.clone(),
        expires_at: now.saturating_add(ttl),
    };
    let issued = app
        .store
        .issue_authorization_code(&new, state.request_uri.as_deref(), now)
        .await;
    let issued = match issued {
        Ok(issued) => issued,
        Err(StoreError::NotFound(_)) => {
            tracing::warn!(
                target: "certbound::audit",
                event = "authorization_refused",
                source = %browser.origin.source,
                client_id = %printable(&request.client_id),
                reason = "the pushed request was already used or expired",
            );
            return error_page(
                StatusCode::BAD_REQUEST,
                "This authorization request was already used or has expired. Return to the \
                 application and start again.",
            );
        }
        Err(e) => {
            let _ = store_failure(app, "code_issue", e);
            let location = error_location(
                &request.redirect_uri,
                AuthorizationErrorCode::ServerError,
                Some("the authorization code could not be issued"),
                request.state.as_deref(),
                &app.issuer,
            );
            return see_other(&location);
        }
    };
    tracing::info!(
        target: "certbound::audit",
        event = "code_issued",
        source = %browser.origin.source,
        client_id = %printable(&request.client_id),
        user_id = %user.user_id,
        sid = %user.sid,
        grant_id = %issued.grant_id,
        scope = %printable(&new.scope),
        par = state.request_uri.is_some(),
    );
    let location = success_location(
        &request.redirect_uri,
        &issued.code,
        request.state.as_deref(),
        &app.issuer,
    );
    match id {
        Some(_) => with_interaction_cookie_cleared(see_other(&location)),
        None => see_other(&location),
    }
}

/// Ends the interaction with an error sent to the client (`prompt=none`, denied consent): the
/// interaction and its pushed request are used up, and the redirect carries `state` and `iss`.
pub async fn end_with_error(
    app: &AppState,
    id: &str,
    state: &InteractionState,
    code: AuthorizationErrorCode,
    description: &'static str,
) -> Response {
    if let Err(e) = app.store.finish_interaction(id).await {
        return store_failure(app, "interaction_finish", e);
    }
    if let Some(uri) = &state.request_uri {
        if let Err(e) = app
            .store
            .consume_par_request(uri, &state.request.client_id, now_secs())
            .await
        {
            return store_failure(app, "par_consume", e);
        }
    }
    let location = error_location(
        &state.request.redirect_uri,
        code,
        Some(description),
        state.request.state.as_deref(),
        &app.issuer,
    );
    with_interaction_cookie_cleared(see_other(&location))
}

/// Removes the binding cookie of a finished interaction.
fn with_interaction_cookie_cleared(mut response: Response) -> Response {
    if let Some(value) = session::clear(INTERACTION_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A store failure on a browser route: logged and counted, answered with an error page (503
/// when the store is unreachable).
pub fn store_failure(app: &AppState, operation: &'static str, e: StoreError) -> Response {
    let unavailable = matches!(e, StoreError::Unavailable(_));
    let _ = crate::tokens::store_error(app, operation, e);
    if unavailable {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Try again shortly.",
        )
    } else {
        error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_consent_must_cover_every_scope() {
        let req = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(covers("openid profile", &req(&["profile", "openid"])));
        assert!(covers("openid profile", &req(&["openid"])));
        assert!(!covers("openid", &req(&["openid", "email"])));
        assert!(!covers("", &req(&["openid"])));
    }
}
