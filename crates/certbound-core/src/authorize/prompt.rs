//! What happens next in an authorization: show the login page, show the consent page, issue the
//! code, or answer `prompt=none` with an error (OIDC Core §3.1.2.1, §3.1.2.3, §3.1.2.4).
//!
//! The decision is a pure function of the request's `prompt` and `max_age`, the user's login
//! session (if any), whether consent for these scopes is remembered, what the user did during
//! *this* authorization, and the clock. It is asked again after each page, so "already logged in
//! during this authorization" must count, or `prompt=login` would loop forever.

use super::AuthorizationErrorCode;
use serde::{Deserialize, Serialize};

/// The `prompt` parameter: a set of `none`, `login`, `consent`, `select_account`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: never show a page; fail with `login_required` / `consent_required` instead.
    pub none: bool,
    /// `login`: re-authenticate even with a session.
    pub login: bool,
    /// `consent`: ask for consent even when it is remembered.
    pub consent: bool,
    /// `select_account`: let the user choose the account; certbound's login page is the chooser,
    /// so it is treated as `login`.
    pub select_account: bool,
}

impl Prompt {
    /// Parses the space-separated `prompt` value. An unknown value, or `none` with any other
    /// value (OIDC Core §3.1.2.1), is refused (`invalid_request`).
    pub fn parse(value: Option<&str>) -> Result<Prompt, &'static str> {
        let mut p = Prompt::default();
        let Some(value) = value else { return Ok(p) };
        let mut any = false;
        for v in value.split(' ').filter(|v| !v.is_empty()) {
            any = true;
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                _ => return Err("prompt has an unsupported value"),
            }
        }
        if !any {
            return Err("prompt is empty");
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err("prompt=none cannot be combined with other values");
        }
        Ok(p)
    }
}

/// The state of the interaction the decision is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// `auth_time` of the user's login session (seconds since the epoch), or `None` if there is
    /// no valid session.
    pub session_auth_time: Option<i64>,
    /// The user logged in on the login page during this authorization.
    pub logged_in_now: bool,
    /// Consent for this client and all requested scopes is remembered.
    pub consent_remembered: bool,
    /// The user allowed the request on the consent page during this authorization.
    pub consented_now: bool,
    /// The current time, seconds since the epoch.
    pub now: i64,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Show the login page.
    Login,
    /// Show the consent page.
    Consent,
    /// Issue the authorization code (and consume the PAR `request_uri`).
    Issue,
    /// Redirect with this error (`login_required` or `consent_required`), from `prompt=none`.
    Error(AuthorizationErrorCode),
}

/// Whether a session that authenticated at `auth_time` is too old for `max_age` at `now`.
/// `max_age=0` always requires a fresh login (OIDC Core: equivalent to `prompt=login`); an
/// `auth_time` in the future (clock skew) counts as zero seconds old.
pub fn max_age_exceeded(max_age: Option<u64>, auth_time: i64, now: i64) -> bool {
    match max_age {
        None => false,
        Some(0) => true,
        Some(max) => {
            let elapsed = u64::try_from(now.saturating_sub(auth_time)).unwrap_or(0);
            elapsed > max
        }
    }
}

/// The next step of an authorization given its `prompt`, `max_age` and interaction state.
pub fn next_step(prompt: &Prompt, max_age: Option<u64>, i: &Interaction) -> NextStep {
    let session_fresh = match i.session_auth_time {
        None => false,
        Some(t) => !max_age_exceeded(max_age, t, i.now),
    };
    if prompt.none {
        if !session_fresh {
            return NextStep::Error(AuthorizationErrorCode::LoginRequired);
        }
        if !i.consent_remembered {
            return NextStep::Error(AuthorizationErrorCode::ConsentRequired);
        }
        return NextStep::Issue;
    }
    let login_needed = !session_fresh || prompt.login || prompt.select_account;
    if login_needed && !i.logged_in_now {
        return NextStep::Login;
    }
    let consent_needed = !i.consent_remembered || prompt.consent;
    if consent_needed && !i.consented_now {
        return NextStep::Consent;
    }
    NextStep::Issue
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthorizationErrorCode::{ConsentRequired, LoginRequired};

    const NOW: i64 = 1_000_000;

    fn i(session: Option<i64>, logged_now: bool, remembered: bool, consented: bool) -> Interaction {
        Interaction {
            session_auth_time: session,
            logged_in_now: logged_now,
            consent_remembered: remembered,
            consented_now: consented,
            now: NOW,
        }
    }

    #[test]
    fn parse_cases() {
        assert_eq!(Prompt::parse(None), Ok(Prompt::default()));
        let p = Prompt::parse(Some("login  consent")).unwrap();
        assert!(p.login && p.consent && !p.none && !p.select_account);
        assert!(
            Prompt::parse(Some("select_account"))
                .unwrap()
                .select_account
        );
        assert!(Prompt::parse(Some("none")).unwrap().none);
        for bad in [
            "none login",
            "consent none",
            "none select_account",
            "create",
            "NONE",
            " ",
        ] {
            assert!(Prompt::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn decision_table() {
        let none = Prompt::parse(Some("none")).unwrap();
        let login = Prompt::parse(Some("login")).unwrap();
        let consent = Prompt::parse(Some("consent")).unwrap();
        let select = Prompt::parse(Some("select_account")).unwrap();
        let plain = Prompt::default();
        let fresh = Some(NOW - 10);
        let old = Some(NOW - 1000);
        #[rustfmt::skip]
        let cases: &[(&str, Prompt, Option<u64>, Interaction, NextStep)] = &[
            ("no session → login", plain, None, i(None, false, false, false), NextStep::Login),
            ("session, no consent → consent", plain, None, i(fresh, false, false, false), NextStep::Consent),
            ("session + consent → issue", plain, None, i(fresh, false, true, false), NextStep::Issue),
            ("logged in now, consented now → issue", plain, None, i(None, true, false, true), NextStep::Issue),
            ("prompt=login forces login with a session", login, None, i(fresh, false, true, false), NextStep::Login),
            ("prompt=login satisfied by this login", login, None, i(fresh, true, true, false), NextStep::Issue),
            ("select_account behaves as login", select, None, i(fresh, false, true, false), NextStep::Login),
            ("max_age exceeded forces login", plain, Some(60), i(old, false, true, false), NextStep::Login),
            ("max_age within → issue", plain, Some(60), i(fresh, false, true, false), NextStep::Issue),
            ("max_age=0 forces login", plain, Some(0), i(Some(NOW), false, true, false), NextStep::Login),
            ("max_age=0 satisfied by this login", plain, Some(0), i(Some(NOW), true, true, false), NextStep::Issue),
            ("prompt=consent forces consent", consent, None, i(fresh, false, true, false), NextStep::Consent),
            ("prompt=consent satisfied by this consent", consent, None, i(fresh, false, true, true), NextStep::Issue),
            ("prompt=none without session", none, None, i(None, false, true, false), NextStep::Error(LoginRequired)),
            ("prompt=none with too old session", none, Some(60), i(old, false, true, false), NextStep::Error(LoginRequired)),
            ("prompt=none without consent", none, None, i(fresh, false, false, false), NextStep::Error(ConsentRequired)),
            ("prompt=none with both → issue", none, None, i(fresh, false, true, false), NextStep::Issue),
            ("prompt=none max_age=0", none, Some(0), i(Some(NOW), false, true, false), NextStep::Error(LoginRequired)),
        ];
        for (name, prompt, max_age, interaction, want) in cases {
            assert_eq!(next_step(prompt, *max_age, interaction), *want, "{name}");
        }
    }

    #[test]
    fn max_age_edges() {
        assert!(!max_age_exceeded(Some(60), NOW - 60, NOW));
        assert!(max_age_exceeded(Some(60), NOW - 61, NOW));
        assert!(
            !max_age_exceeded(Some(60), NOW + 30, NOW),
            "future auth_time"
        );
        assert!(!max_age_exceeded(None, i64::MIN, NOW));
        assert!(max_age_exceeded(Some(1), i64::MIN, i64::MAX));
    }
}
