//! The pure parsing of the browser requests, shared by the handlers and the fuzz targets
//! (`login_form`, `cookies`; docs/fuzzing.md): the login and consent form bodies and their CSRF
//! check. The cookie parsing is [`super::session::read`]. No I/O here.

use super::csrf;
use super::login_step::MAX_FIELD_BYTES;
use crate::extract::read_form;
use certbound_core::form::Form;
use http::HeaderMap;

/// Why a form post is refused before anything else is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormRefusal {
    /// Not an `application/x-www-form-urlencoded` body, or one that does not parse (a field
    /// twice, bad encoding): 400 "The form could not be read."
    #[error("the form could not be read")]
    Unreadable,
    /// The CSRF token is missing or is not the interaction's (compared in constant time): 400.
    #[error("the form's CSRF token is not this interaction's")]
    Csrf,
}

/// The body of a login or consent form post, read as the handlers read it: the form, then its
/// CSRF token against the interaction's `expected` one.
pub fn checked_form(headers: &HeaderMap, body: &[u8], expected: &str) -> Result<Form, FormRefusal> {
    let form = read_form(headers, body).map_err(|_| FormRefusal::Unreadable)?;
    if csrf::matches(expected, form.get(csrf::FIELD)) {
        Ok(form)
    } else {
        Err(FormRefusal::Csrf)
    }
}

/// The username and password of a login form (missing fields read as empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'f> {
    /// The `username` field.
    pub username: &'f str,
    /// The `password` field.
    pub password: &'f str,
}

impl<'f> Credentials<'f> {
    /// The credentials of `form`.
    pub fn of(form: &'f Form) -> Self {
        Credentials {
            username: form.get("username").unwrap_or(""),
            password: form.get("password").unwrap_or(""),
        }
    }

    /// Whether both fields fit ([`MAX_FIELD_BYTES`]); longer ones fail like a wrong password
    /// without reaching the password hash.
    pub fn fit(&self) -> bool {
        self.username.len() <= MAX_FIELD_BYTES && self.password.len() <= MAX_FIELD_BYTES
    }

    /// Whether the password is worth checking: both fields fit and neither is empty.
    pub fn checkable(&self) -> bool {
        self.fit() && !self.username.is_empty() && !self.password.is_empty()
    }
}

/// The user's decision on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentDecision {
    /// `decision=allow`, remembered for the next authorizations when `remember` is present.
    Allow {
        /// The `remember` field is present.
        remember: bool,
    },
    /// `decision=deny`.
    Deny,
}

/// The decision of a consent form; `None` (400) for anything but `allow` or `deny`.
pub fn consent_decision(form: &Form) -> Option<ConsentDecision> {
    match form.get("decision") {
        Some("allow") => Some(ConsentDecision::Allow {
            remember: form.has("remember"),
        }),
        Some("deny") => Some(ConsentDecision::Deny),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn form_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        h
    }

    #[test]
    fn the_csrf_token_is_checked_after_the_form_is_read() {
        let h = form_headers();
        assert!(checked_form(&h, b"csrf=tok&username=a", "tok").is_ok());
        assert_eq!(
            checked_form(&h, b"csrf=other", "tok").err(),
            Some(FormRefusal::Csrf)
        );
        assert_eq!(
            checked_form(&h, b"a=1", "tok").err(),
            Some(FormRefusal::Csrf)
        );
        assert_eq!(
            checked_form(&HeaderMap::new(), b"csrf=tok", "tok").err(),
            Some(FormRefusal::Unreadable)
        );
    }

    #[test]
    fn over_long_or_empty_credentials_are_not_checked() {
        let h = form_headers();
        let long = format!(
            "csrf=t&username=a&password={}",
            "p".repeat(MAX_FIELD_BYTES + 1)
        );
        let form = checked_form(&h, long.as_bytes(), "t").unwrap();
        assert!(!Credentials::of(&form).checkable());
        let form = checked_form(&h, b"csrf=t&username=a", "t").unwrap();
        assert!(!Credentials::of(&form).checkable());
        let form = checked_form(&h, b"csrf=t&username=a&password=b", "t").unwrap();
        assert!(Credentials::of(&form).checkable());
    }

    #[test]
    fn only_allow_or_deny_is_a_decision() {
        let h = form_headers();
        let d = |body: &[u8]| consent_decision(&checked_form(&h, body, "t").unwrap());
        assert_eq!(
            d(b"csrf=t&decision=allow&remember=on"),
            Some(ConsentDecision::Allow { remember: true })
        );
        assert_eq!(
            d(b"csrf=t&decision=allow"),
            Some(ConsentDecision::Allow { remember: false })
        );
        assert_eq!(d(b"csrf=t&decision=deny"), Some(ConsentDecision::Deny));
        assert_eq!(d(b"csrf=t&decision=maybe"), None);
        assert_eq!(d(b"csrf=t"), None);
    }
}
