//! Which user claims a client gets, by scope (OIDC Core §5.4): `profile` → `name`,
//! `given_name`, `family_name`, `preferred_username`; `email` → `email`, `email_verified`.
//! `sub` is always returned (by the ID token and userinfo themselves). One selection function
//! serves both the ID token and `/userinfo`, so they cannot disagree.

use serde::{Deserialize, Serialize};

/// The scope that makes a request an OpenID Connect request.
pub const OPENID: &str = "openid";
/// The scope for the profile claims.
pub const PROFILE: &str = "profile";
/// The scope for the email claims.
pub const EMAIL: &str = "email";

/// Every claim certbound can return (`claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 14] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
];

/// What certbound knows about a user, as plain values from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// The stable subject identifier (never reassigned, ≤ 255 ASCII characters).
    pub sub: String,
    /// The login name.
    pub preferred_username: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Whether the email address was verified; `false` when unknown.
    pub email_verified: Option<bool>,
}

/// The user claims selected by scope; absent members are omitted from JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedClaims {
    /// `name` (`profile`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// `given_name` (`profile`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub given_name: Option<String>,
    /// `family_name` (`profile`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family_name: Option<String>,
    /// `preferred_username` (`profile`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preferred_username: Option<String>,
    /// `email` (`email`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// `email_verified` (`email`), present whenever `email` is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
}

/// The claims of `user` that `scopes` grant.
pub fn scoped_claims(user: &UserProfile, scopes: &[String]) -> ScopedClaims {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = ScopedClaims::default();
    if has(PROFILE) {
        out.name.clone_from(&user.name);
        out.given_name.clone_from(&user.given_name);
        out.family_name.clone_from(&user.family_name);
        out.preferred_username.clone_from(&user.preferred_username);
    }
    if has(EMAIL) {
        if let Some(email) = &user.email {
            out.email = Some(email.clone());
            out.email_verified = Some(user.email_verified.unwrap_or(false));
        }
    }
    out
}

/// The `/userinfo` response body (OIDC Core §5.3.2): `sub` always, the rest by scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The subject; equal to the ID token's `sub`.
    pub sub: String,
    /// The claims the token's scopes grant.
    #[serde(flatten)]
    pub claims: ScopedClaims,
}

/// The userinfo answer for `user` and the access token's `scopes`.
pub fn userinfo(user: &UserProfile, scopes: &[String]) -> UserInfo {
    UserInfo {
        sub: user.sub.clone(),
        claims: scoped_claims(user, scopes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> UserProfile {
        UserProfile {
            sub: "u-1".into(),
            preferred_username: Some("alice".into()),
            name: Some("Alice Liddell".into()),
            given_name: Some("Alice".into()),
            family_name: None,
            email: Some("alice@example.com".into()),
            email_verified: None,
        }
    }

    fn scopes(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn claims_by_scope() {
        let cases = [
            ("openid", json!({"sub": "u-1"})),
            (
                "openid profile",
                json!({"sub": "u-1", "name": "Alice Liddell", "given_name": "Alice",
                       "preferred_username": "alice"}),
            ),
            (
                "openid email",
                json!({"sub": "u-1", "email": "alice@example.com", "email_verified": false}),
            ),
            (
                "openid profile email",
                json!({"sub": "u-1", "name": "Alice Liddell", "given_name": "Alice",
                       "preferred_username": "alice", "email": "alice@example.com",
                       "email_verified": false}),
            ),
            ("accounts", json!({"sub": "u-1"})),
        ];
        for (scope, want) in cases {
            let got = serde_json::to_value(userinfo(&alice(), &scopes(scope))).unwrap();
            assert_eq!(got, want, "{scope}");
        }
    }

    #[test]
    fn no_email_means_no_email_verified() {
        let mut u = alice();
        u.email = None;
        u.email_verified = Some(true);
        let c = scoped_claims(&u, &scopes("openid email"));
        assert_eq!(c, ScopedClaims::default());
    }

    #[test]
    fn every_selected_claim_is_advertised() {
        let u = UserProfile {
            family_name: Some("L".into()),
            email_verified: Some(true),
            ..alice()
        };
        let v = serde_json::to_value(userinfo(&u, &scopes("openid profile email"))).unwrap();
        for k in v.as_object().unwrap().keys() {
            assert!(CLAIMS_SUPPORTED.contains(&k.as_str()), "{k}");
        }
    }
}
