//! `GET /authorize` (and the `POST` form of OIDC Core §3.1.2.1): validate, then either issue the
//! code at once (a signed-in browser whose consent is remembered, nothing asking for a page) or
//! start an interaction and send the browser to it.
//!
//! Until `client_id` and `redirect_uri` are validated every failure is the local error page
//! (HTML 400, never a redirect: FAPI 2.0 §5.3.2.1-7); after, a `303` to the validated
//! `redirect_uri` with `error`, `state` and `iss`. A PAR `request_uri` is read, never consumed
//! here (FAPI 2.0 Note 3: a reload before login still works); the code issuance consumes it.

use super::interaction::{InteractionState, INTERACTION_TTL_SECONDS};
use super::session::{self, INTERACTION_COOKIE};
use super::templates::{error_page, see_other};
use super::{csrf, Browser};
use crate::state::{now_secs, AppState};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use certbound_core::authorize::par::{resolve_pushed, PushedRequest};
use certbound_core::authorize::{
    AuthorizationErrorCode, AuthorizationRequest, AuthorizeEntry, AuthorizeError, ClientPolicy,
    LocalError, NextStep, Origin, Params, RedirectError,
};
use certbound_core::error::printable;
use certbound_core::grant::GrantType;
use http::{header, StatusCode};

/// `GET /authorize?…`.
pub async fn get(State(app): State<AppState>, browser: Browser, RawQuery(q): RawQuery) -> Response {
    start(&app, &browser, q.as_deref().unwrap_or("").as_bytes()).await
}

/// `POST /authorize` with a form body (OIDC Core §3.1.2.1).
pub async fn post(State(app): State<AppState>, browser: Browser, body: Bytes) -> Response {
    let form_type = browser
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return local_error(&browser, LocalError::Malformed);
    }
    start(&app, &browser, &body).await
}

/// Validates the request and starts the interaction.
async fn start(app: &AppState, browser: &Browser, raw: &[u8]) -> Response {
    let validated = match validate(app, raw).await {
        Ok(v) => v,
        Err(Refusal::Local(e)) => return local_error(browser, e),
        Err(Refusal::Redirect(e)) => {
            tracing::info!(
                target: "certbound::audit",
                event = "authorization_refused",
                source = %browser.origin.source,
                error = e.code.as_str(),
                reason = e.description,
            );
            return see_other(&e.location(&app.issuer));
        }
        Err(Refusal::Page(page)) => return page,
    };
    let (request, request_uri) = validated;
    let Some(token) = csrf::new_token() else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
    };
    let state = InteractionState {
        request,
        request_uri,
        csrf: token,
        login: None,
        consented_by: None,
        login_failed: false,
        tried_username: None,
    };
    tracing::info!(
        target: "certbound::audit",
        event = "authorization_started",
        source = %browser.origin.source,
        client_id = %printable(&state.request.client_id),
        scope = %printable(&state.request.scope_string()),
        par = state.request_uri.is_some(),
        prompt_none = state.request.prompt.none,
    );
    // Nothing to show (signed in, consent remembered, no `prompt` or `max_age` asking for a
    // page): the code now, with no interaction stored and no extra round trip for the browser.
    match super::interaction::decide(app, browser, &state).await {
        Err(page) => return page,
        Ok((NextStep::Issue, Some(user))) => {
            return super::interaction::complete(app, browser, None, &state, &user).await
        }
        Ok(_) => {}
    }
    let Ok(json) = serde_json::to_string(&state) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
    };
    let now = now_secs();
    let started = match app
        .store
        .create_interaction(&json, now, now + INTERACTION_TTL_SECONDS)
        .await
    {
        Ok(s) => s,
        Err(e) => return super::interaction::store_failure(app, "interaction_create", e),
    };
    let mut response = see_other(&format!("/interaction/{}", started.id));
    if let Some(cookie) = session::set(
        INTERACTION_COOKIE,
        &started.browser_secret,
        INTERACTION_TTL_SECONDS,
    ) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Why `/authorize` refused.
enum Refusal {
    /// Local error page.
    Local(LocalError),
    /// Redirect to the validated URI.
    Redirect(RedirectError),
    /// An error page already built (store failure).
    Page(Response),
}

impl From<AuthorizeError> for Refusal {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::Local(e) => Refusal::Local(e),
            AuthorizeError::Redirect(e) => Refusal::Redirect(e),
        }
    }
}

impl From<LocalError> for Refusal {
    fn from(e: LocalError) -> Self {
        Refusal::Local(e)
    }
}

/// The validated request and, for a pushed one, its `request_uri`.
async fn validate(
    app: &AppState,
    raw: &[u8],
) -> Result<(AuthorizationRequest, Option<String>), Refusal> {
    let params = Params::parse(raw)?;
    let entry = AuthorizeEntry::classify(&params)?;
    let client_id = match &entry {
        AuthorizeEntry::Pushed { client_id, .. } | AuthorizeEntry::FrontChannel { client_id } => {
            *client_id
        }
    };
    let client = app
        .clients
        .get(client_id)
        .ok_or(Refusal::Local(LocalError::UnknownClient))?;
    let (request, request_uri) = match entry {
        AuthorizeEntry::Pushed { request_uri, .. } => {
            let stored = app
                .store
                .par_request(request_uri.as_str())
                .await
                .map_err(|e| {
                    Refusal::Page(super::interaction::store_failure(app, "par_load", e))
                })?;
            // A used request is as unknown as a missing one (its redirect URI is not to be used).
            let pushed = stored.filter(|p| p.consumed_at.is_none()).and_then(|p| {
                let request = serde_json::from_str(&p.params).ok()?;
                Some(PushedRequest {
                    request,
                    expires_at: p.expires_at,
                })
            });
            let request = resolve_pushed(&client.client_id, pushed.as_ref(), now_secs())?;
            (request, Some(request_uri.as_str().to_owned()))
        }
        AuthorizeEntry::FrontChannel { .. } => {
            let policy = ClientPolicy {
                client_id: &client.client_id,
                redirect_uris: &client.redirect_uris,
                scopes: &client.scopes,
                require_par: client.require_pushed_authorization_requests
                    || app.authorization().require_pushed_authorization_requests,
                require_redirect_uri: false,
            };
            let request = AuthorizationRequest::validate(&params, &policy, Origin::FrontChannel)?;
            (request, None)
        }
    };
    if !client.grant_types.allows(GrantType::AuthorizationCode) {
        return Err(Refusal::Redirect(RedirectError {
            code: AuthorizationErrorCode::UnauthorizedClient,
            description: "the client is not registered for the authorization_code grant",
            redirect_uri: request.redirect_uri,
            state: request.state,
        }));
    }
    Ok((request, request_uri))
}

/// The local error page for a request that cannot be redirected, with an audit line.
fn local_error(browser: &Browser, e: LocalError) -> Response {
    tracing::info!(
        target: "certbound::audit",
        event = "authorization_refused",
        source = %browser.origin.source,
        reason = %e,
    );
    error_page(
        StatusCode::BAD_REQUEST,
        &format!("The application sent an invalid authorization request: {e}."),
    )
}
