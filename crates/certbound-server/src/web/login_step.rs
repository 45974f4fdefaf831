//! The login step of the interaction engine, behind a trait (issue 14 item 4, FAPI2.md §4.2).
//!
//! The engine ([`super::interaction::advance`]) decides *when* a user must sign in; a
//! [`LoginStep`] decides *how*: it answers the login page of an interaction and verifies a
//! submission into an [`Authenticated`] subject (or a failure). Everything around it stays in
//! the engine and is the same whatever the step: the interaction binding cookie, the CSRF check
//! of the form post, the login session (`__Host-cb_s`, single sign-on) started after a success,
//! the audit line `login_succeeded`, and the `303` back to the interaction.
//!
//! [`BuiltIn`] is the one implementation today: the username/password form, with the login
//! throttle and argon2id password check of the store. An external login app (Hydra-style
//! delegation: the engine redirects to the app with a login challenge and the app accepts it
//! through an admin API) would be a second implementation whose `page` redirects and whose
//! verification reads the accepted challenge; see docs/authorization.md "Login step".

use super::interaction::{self, csp_for, InteractionState};
use super::parse::Credentials;
use super::templates::{self, error_page, LoginPage};
use super::Browser;
use crate::state::AppState;
use axum::response::Response;
use certbound_core::error::presented;
use certbound_core::form::Form;
use http::{header, HeaderValue, StatusCode};
use std::future::Future;
use std::pin::Pin;

/// The future a [`LoginStep`] verification returns (boxed: the trait is used as `dyn`).
pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The one failure message: the same for an unknown user, a wrong password and a disabled user.
pub const FAILED_MESSAGE: &str = "The username or password is incorrect.";

/// The longest username or password read; longer ones fail like a wrong password.
pub const MAX_FIELD_BYTES: usize = 1024;

/// How much of a username an audit line shows.
pub const LOGGED_USERNAME_BYTES: usize = 64;

/// A subject the login step authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The user's id (the `sub` of the tokens).
    pub user_id: String,
    /// The name the user signed in with, for the audit line (shown truncated and escaped).
    pub username: String,
    /// When the user authenticated (seconds since the epoch): the login session's `auth_time`.
    pub auth_time: i64,
    /// How (OpenID Connect `amr` values, RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
}

/// What a verification of the login form decided.
pub enum LoginOutcome {
    /// The user is authenticated: the engine starts the login session.
    Authenticated(Authenticated),
    /// The credentials were refused: the login page shows the one failure message once.
    Failed {
        /// The username to pre-fill the form with (none for an over-long or empty one).
        tried_username: Option<String>,
    },
    /// Answer this response now, leaving the interaction as it is (throttled, store failure).
    Respond(Response),
}

/// The login step of an interaction.
pub trait LoginStep: Send + Sync + 'static {
    /// A short name for logs and docs (`"built-in"`).
    fn name(&self) -> &'static str;

    /// The login page of the interaction `id` (with the failure message when `failed`).
    fn page(&self, app: &AppState, id: &str, state: &InteractionState, failed: bool) -> Response;

    /// Verifies a submission of the login form. The caller has already found the interaction
    /// for this browser and checked the form's CSRF token; it starts the login session and
    /// saves the interaction after this returns.
    fn verify<'a>(
        &'a self,
        app: &'a AppState,
        browser: &'a Browser,
        state: &'a InteractionState,
        form: &'a Form,
    ) -> StepFuture<'a, LoginOutcome>;
}

/// The built-in username/password login: throttle first (per address and per username digest,
/// before any password is checked), then the password (argon2id in the store, the same cost for
/// an unknown user). One failure message whatever failed.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltIn;

impl LoginStep for BuiltIn {
    fn name(&self) -> &'static str {
        "built-in"
    }

    fn page(&self, _app: &AppState, id: &str, state: &InteractionState, failed: bool) -> Response {
        let username = state
            .tried_username
            .as_deref()
            .or(state.request.login_hint.as_deref())
            .unwrap_or("");
        templates::render(
            StatusCode::OK,
            &LoginPage {
                interaction_id: id,
                csrf: &state.csrf,
                client: &state.request.client_id,
                username,
                error: failed.then_some(FAILED_MESSAGE),
            },
            Some(csp_for(&state.request)),
        )
    }

    fn verify<'a>(
        &'a self,
        app: &'a AppState,
        browser: &'a Browser,
        state: &'a InteractionState,
        form: &'a Form,
    ) -> StepFuture<'a, LoginOutcome> {
        Box::pin(verify_password(app, browser, state, form))
    }
}

/// [`BuiltIn`]'s verification.
async fn verify_password(
    app: &AppState,
    browser: &Browser,
    state: &InteractionState,
    form: &Form,
) -> LoginOutcome {
    let credentials = Credentials::of(form);
    let (username, password) = (credentials.username, credentials.password);
    if let Err((limit, retry)) = app.throttle.admit_login(browser.origin.peer, username) {
        crate::throttle::refused(&app.metrics, limit, &browser.origin.source, None);
        let mut page = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-in attempts. Wait a moment and try again.",
        );
        if let Ok(v) = HeaderValue::from_str(&retry.seconds().to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return LoginOutcome::Respond(page);
    }
    let fits = credentials.fit();
    let user = if credentials.checkable() {
        match app.store.verify_user_password(username, password).await {
            Ok(u) => u,
            Err(e) => {
                return LoginOutcome::Respond(interaction::store_failure(app, "login_verify", e))
            }
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
            username = %presented(username, LOGGED_USERNAME_BYTES),
            client_id = %state.request.client_id,
        );
        return LoginOutcome::Failed {
            tried_username: (fits && !username.is_empty()).then(|| username.to_owned()),
        };
    };
    LoginOutcome::Authenticated(Authenticated {
        user_id: user.id,
        username: username.to_owned(),
        auth_time: crate::state::now_secs(),
        amr: vec!["pwd".to_owned()],
    })
}
