//! `POST /interaction/{id}/consent`: the user's decision on the consent page.
//!
//! CSRF token first (400 page when wrong); the decision needs a signed-in user. `allow` records
//! the consent in the interaction (and, with "remember", in the store for this client and these
//! scopes, so the next authorization skips the page unless `prompt=consent`), then `303` back to
//! the interaction, which issues the code. `deny` ends the interaction with `access_denied`
//! (with `state` and `iss`) and uses up the pushed request.

use super::interaction::{self};
use super::parse::{checked_form, consent_decision, ConsentDecision};
use super::templates::{error_page, see_other};
use super::Browser;
use crate::state::{now_secs, AppState};
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use certbound_core::authorize::AuthorizationErrorCode;
use http::StatusCode;

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
        Err(refusal) => return super::login::refused_form(&browser, refusal, "consent"),
    };
    let user = match interaction::current_user(&app, &browser, &state).await {
        Ok(Some(u)) => u,
        Ok(None) => return see_other(&format!("/interaction/{id}")),
        Err(page) => return page,
    };
    let client_id = state.request.client_id.clone();
    let scope = state.request.scope_string();
    match consent_decision(&form) {
        Some(ConsentDecision::Allow { remember }) => {
            if remember {
                let merged = match app.store.consent(&user.user_id, &client_id).await {
                    Ok(old) => merge_scopes(old.map(|c| c.scope).as_deref(), &state.request.scopes),
                    Err(e) => return interaction::store_failure(&app, "consent_load", e),
                };
                if let Err(e) = app
                    .store
                    .save_consent(&user.user_id, &client_id, &merged, now_secs())
                    .await
                {
                    return interaction::store_failure(&app, "consent_save", e);
                }
            }
            tracing::info!(
                target: "certbound::audit",
                event = "consent_granted",
                source = %browser.origin.source,
                user_id = %user.user_id,
                client_id = %client_id,
                scope = %scope,
                remembered = remember,
            );
            state.consented_by = Some(user.user_id);
            if let Err(page) = interaction::save(&app, &id, &state).await {
                return page;
            }
            see_other(&format!("/interaction/{id}"))
        }
        Some(ConsentDecision::Deny) => {
            tracing::info!(
                target: "certbound::audit",
                event = "consent_denied",
                source = %browser.origin.source,
                user_id = %user.user_id,
                client_id = %client_id,
                scope = %scope,
            );
            interaction::end_with_error(
                &app,
                &id,
                &state,
                AuthorizationErrorCode::AccessDenied,
                "the user denied the request",
            )
            .await
        }
        None => error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
    }
}

/// The remembered scopes after allowing `requested`: the old ones plus the new, each once.
fn merge_scopes(old: Option<&str>, requested: &[String]) -> String {
    let mut all: Vec<&str> = old
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    for s in requested {
        if !all.contains(&s.as_str()) {
            all.push(s);
        }
    }
    all.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_scopes_grow() {
        let req = vec!["openid".to_owned(), "email".to_owned()];
        assert_eq!(merge_scopes(None, &req), "openid email");
        assert_eq!(
            merge_scopes(Some("openid profile"), &req),
            "openid profile email"
        );
    }
}
