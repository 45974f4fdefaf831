//! The pages (askama templates in `templates/web/`, HTML auto-escaped: every value from a request,
//! a client registration or a user record is escaped) and the one function that turns a page
//! into a response.
//!
//! The pages are plain forms that work without JavaScript and keep stable names for browser
//! automation (FAPI2.md §4.2): `username`, `password`, `#login-submit.login-submit`,
//! `decision=allow #consent-approve` / `decision=deny #consent-deny`. Error pages carry the fixed
//! heading [`ERROR_TITLE`] with the class `error-page`.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// The heading of every error page (a fixed string browser automation can wait for).
pub const ERROR_TITLE: &str = "Authorization error";

/// The login form.
#[derive(Template)]
#[template(path = "web/login.html")]
pub struct LoginPage<'a> {
    /// The interaction the form posts to.
    pub interaction_id: &'a str,
    /// The interaction's CSRF token.
    pub csrf: &'a str,
    /// Who asks (the client id).
    pub client: &'a str,
    /// The username to pre-fill (`login_hint`, or the one just tried).
    pub username: &'a str,
    /// A failure to show; the same words whatever failed.
    pub error: Option<&'a str>,
}

/// The consent form.
#[derive(Template)]
#[template(path = "web/consent.html")]
pub struct ConsentPage<'a> {
    /// The interaction the form posts to.
    pub interaction_id: &'a str,
    /// The interaction's CSRF token.
    pub csrf: &'a str,
    /// Who asks (the client id).
    pub client: &'a str,
    /// The requested scopes.
    pub scopes: &'a [String],
    /// Who is signed in.
    pub username: &'a str,
}

/// A page with a heading and one message: errors, "signed out".
#[derive(Template)]
#[template(path = "web/message.html")]
pub struct MessagePage<'a> {
    /// The heading.
    pub title: &'a str,
    /// The text.
    pub message: &'a str,
    /// `error-page` or `info-page`.
    pub class: &'a str,
}

/// `page` rendered with `status` and, if given, its own Content-Security-Policy (the security
/// middleware adds the rest).
pub fn render(status: StatusCode, page: &impl Template, csp: Option<String>) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, Html(body)).into_response();
    if let Some(value) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The local error page: `status`, the fixed heading and `message` (written by us; it never
/// quotes the request). Used for every failure that must not redirect.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        &MessagePage {
            title: ERROR_TITLE,
            message,
            class: "error-page",
        },
        None,
    )
}

/// A `303 See Other` to `location` (every answer to a POST, and every step of the flow: never
/// 302/307, so a POSTed password is never re-sent, FAPI 2.0 §5.3.2.2-10/11).
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The redirect could not be built.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let scopes = vec!["openid".to_owned(), "<script>".to_owned()];
        let html = ConsentPage {
            interaction_id: "i1",
            csrf: "tok",
            client: "<b>evil</b>",
            scopes: &scopes,
            username: "alice\"",
        }
        .render()
        .unwrap();
        assert!(!html.contains("<b>evil</b>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&#60;b&#62;evil"), "{html}");
        assert!(html.contains(r#"name="decision" value="allow" id="consent-approve""#));
        assert!(html.contains(r#"value="deny" id="consent-deny""#));
        assert!(html.contains(r#"name="remember""#));
        let html = LoginPage {
            interaction_id: "i1",
            csrf: "tok",
            client: "web",
            username: "\"><img>",
            error: Some("Wrong"),
        }
        .render()
        .unwrap();
        assert!(!html.contains("\"><img>"));
        for needle in [
            r#"name="username""#,
            r#"name="password""#,
            r#"name="login" id="login-submit" class="login-submit""#,
            r#"name="csrf" value="tok""#,
            r#"action="/interaction/i1/login""#,
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn redirects_are_303() {
        let r = see_other("https://app.example/cb?code=x");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://app.example/cb?code=x"
        );
    }
}
