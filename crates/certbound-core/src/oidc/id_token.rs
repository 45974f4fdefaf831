//! The ID token's claims (OIDC Core §2, §3.1.3.6). Signing is the server's job (with the AS key,
//! ES256 by default; PS256/EdDSA allowed: FAPI 2.0 §5.4.1-1); this module decides the content.
//! ID tokens come only from the token endpoint (no front-channel `id_token`, so no `c_hash` or
//! `s_hash`), with `aud` = the one client, so no `azp`.

use super::claims::{scoped_claims, ScopedClaims, UserProfile};
use serde::{Deserialize, Serialize};

/// The JWS `typ` of an ID token header: plain `JWT` (OIDC Core uses no explicit type), which
/// resource servers that demand `at+jwt` will never accept as an access token.
pub const ID_TOKEN_JWT_TYPE: &str = "JWT";

/// The claims of an ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer identifier, byte-exact as in the metadata and the `iss` response parameter.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client the token is for.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated (always present; required with `max_age`, harmless otherwise).
    pub auth_time: i64,
    /// The request's `nonce`, byte for byte; omitted when none was sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce: Option<String>,
    /// The login session's identifier, for logout.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// User claims granted by scope.
    #[serde(flatten)]
    pub claims: ScopedClaims,
}

/// What an ID token is built from (the authorization code's bound values plus the user).
#[derive(Clone, Copy, Debug)]
pub struct IdTokenInput<'a> {
    /// The issuer identifier.
    pub issuer: &'a str,
    /// The client (`aud`).
    pub client_id: &'a str,
    /// The user.
    pub user: &'a UserProfile,
    /// The granted scopes (select the user claims).
    pub scopes: &'a [String],
    /// The login session's `auth_time`.
    pub auth_time: i64,
    /// The authorization request's `nonce`.
    pub nonce: Option<&'a str>,
    /// The login session identifier.
    pub sid: Option<&'a str>,
    /// Now, seconds since the epoch.
    pub now: i64,
    /// Lifetime in seconds.
    pub ttl_seconds: i64,
}

impl IdTokenClaims {
    /// The claims for `input`.
    pub fn new(input: &IdTokenInput<'_>) -> IdTokenClaims {
        IdTokenClaims {
            iss: input.issuer.to_owned(),
            sub: input.user.sub.clone(),
            aud: input.client_id.to_owned(),
            exp: input.now.saturating_add(input.ttl_seconds.max(1)),
            iat: input.now,
            auth_time: input.auth_time,
            nonce: input.nonce.map(str::to_owned),
            sid: input.sid.map(str::to_owned),
            claims: scoped_claims(input.user, input.scopes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_and_optional_members() {
        let user = UserProfile {
            sub: "u-1".into(),
            name: Some("Alice".into()),
            email: Some("a@example.com".into()),
            email_verified: Some(true),
            ..UserProfile::default()
        };
        let scopes: Vec<String> = ["openid", "email"].map(String::from).to_vec();
        let nonce = format!("{}é\u{0}+", "n".repeat(64));
        let mut input = IdTokenInput {
            issuer: "https://as.example",
            client_id: "web",
            user: &user,
            scopes: &scopes,
            auth_time: 990,
            nonce: Some(&nonce),
            sid: Some("sess-1"),
            now: 1000,
            ttl_seconds: 300,
        };
        let v = serde_json::to_value(IdTokenClaims::new(&input)).unwrap();
        assert_eq!(
            v,
            json!({"iss": "https://as.example", "sub": "u-1", "aud": "web", "exp": 1300,
                   "iat": 1000, "auth_time": 990, "nonce": nonce, "sid": "sess-1",
                   "email": "a@example.com", "email_verified": true})
        );
        input.nonce = None;
        input.sid = None;
        let v = serde_json::to_value(IdTokenClaims::new(&input)).unwrap();
        assert!(v.get("nonce").is_none() && v.get("sid").is_none());
        assert!(v.get("name").is_none(), "profile was not granted");
        let back: IdTokenClaims = serde_json::from_value(v).unwrap();
        assert_eq!(back, IdTokenClaims::new(&input));
    }
}
