//! What the user grants (authorization_code, refresh_token) issue: an access token for the user
//! under a grant, bound like a client_credentials token, and the OpenID Connect ID token.

use crate::extract::{ClientRequest, TokenEndpoint};
use crate::state::{now_secs, AppState};
use crate::tokens::{self, new_jti, store_error, Minted};
use certbound_core::binding::Binding;
use certbound_core::dpop::VerifiedProof;
use certbound_core::error::printable;
use certbound_core::oidc::{IdTokenClaims, IdTokenInput, UserProfile};
use certbound_core::token::AccessTokenClaims;
use certbound_core::{OAuthError, OAuthErrorCode};
use certbound_store::{TokenRecord, User};
use serde_json::Value;

/// The grant a user token is issued under.
pub struct GrantContext<'a> {
    /// The grant (`grants.grant_id`): revoking it revokes the token.
    pub grant_id: &'a str,
    /// The user: the token's `sub`.
    pub user_id: &'a str,
    /// The scopes of this token (the grant's, or fewer on refresh).
    pub scopes: &'a [String],
    /// The verified DPoP proof of this request, if any: the token is then bound to its key
    /// (unless the client receives certificate-bound tokens).
    pub proof: Option<&'a VerifiedProof>,
    /// Which grant issued it, for the audit line.
    pub grant_type: &'static str,
}

/// Mints the user's access token for the authenticated client (see [`mint_access_token`]),
/// records it under the grant, and announces it ([`announce`]).
pub async fn access_token(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    grant: &GrantContext<'_>,
) -> Result<Minted, OAuthError> {
    let (minted, record) = mint_access_token(state, request, grant)?;
    state
        .store
        .insert_token_for_grant(&record, grant.grant_id)
        .await
        .map_err(|e| store_error(state, "mint", e))?;
    announce(state, request, grant, &minted);
    Ok(minted)
}

/// The user's access token for the authenticated client, and its store record, not yet
/// written: `sub` = the user, `client_id` = the client, bound to the certificate presented with
/// THIS request when the client receives bound tokens (RFC 8705 §3; on refresh that lets a
/// partner roll its certificate). Record it under the grant, then [`announce`] it.
pub fn mint_access_token(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    grant: &GrantContext<'_>,
) -> Result<(Minted, TokenRecord), OAuthError> {
    let client = &request.client.registration;
    let cnf = super::token_binding(client, &request.origin, grant.proof)?;
    let now = now_secs();
    let claims = AccessTokenClaims {
        iss: state.issuer.to_string(),
        sub: grant.user_id.to_owned(),
        aud: state.audience.clone(),
        exp: now + state.ttl_seconds,
        iat: now,
        jti: new_jti(),
        client_id: client.client_id.clone(),
        scope: (!grant.scopes.is_empty()).then(|| grant.scopes.join(" ")),
        cnf,
    };
    tokens::mint_unrecorded(state, claims, client.token_format)
}

/// Counts a recorded token and writes its `token_issued` audit line.
pub fn announce(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    grant: &GrantContext<'_>,
    minted: &Minted,
) {
    let (origin, auth) = (&request.origin, &request.client);
    let client = &auth.registration;
    state
        .metrics
        .tokens_issued
        .get_or_create(&certbound_net::metrics::IssueLabels {
            format: tokens::format_name(client.token_format),
            bound: minted.claims.cnf.is_some(),
        })
        .inc();
    let thumbprint = minted
        .claims
        .cnf
        .as_ref()
        .and_then(Binding::certificate_thumbprint);
    tracing::info!(
        target: "certbound::audit",
        event = "token_issued",
        decision = "allow",
        source = %origin.source,
        client_id = %printable(&client.client_id),
        method = %auth.client.method,
        grant_type = grant.grant_type,
        grant_id = %grant.grant_id,
        format = tokens::format_name(client.token_format),
        bound = minted.claims.cnf.is_some(),
        cert_thumbprint = thumbprint.map(|t| t.as_str()).unwrap_or(""),
        dpop_jkt = minted.claims.cnf.as_ref().and_then(Binding::dpop_jkt).unwrap_or(""),
        jti = %minted.claims.jti,
    );
}

/// What an ID token is issued from, beyond the user and client.
pub struct IdTokenContext<'a> {
    /// When the user authenticated.
    pub auth_time: i64,
    /// The authorization request's `nonce` (none on refresh: OIDC Core §12.2).
    pub nonce: Option<&'a str>,
    /// The login session.
    pub sid: Option<&'a str>,
}

/// Signs the ID token for `client_id` with the server's current key (`typ: JWT`).
pub fn id_token(
    state: &AppState,
    client_id: &str,
    user: &UserProfile,
    scopes: &[String],
    context: &IdTokenContext<'_>,
) -> Result<String, OAuthError> {
    let claims = IdTokenClaims::new(&IdTokenInput {
        issuer: &state.issuer,
        client_id,
        user,
        scopes,
        auth_time: context.auth_time,
        nonce: context.nonce,
        sid: context.sid,
        now: now_secs(),
        ttl_seconds: state.ttl_seconds,
    });
    state
        .keys
        .current()
        .active
        .sign_id_token(&claims)
        .map_err(|e| {
            tracing::error!(error = %e, "ID token signing failed");
            OAuthError::server_error()
        })
}

/// The profile of an enabled user, or `None` when the user was removed or disabled since the
/// grant (the grant's tokens are then refused: `invalid_grant` at the token endpoint).
pub async fn user_profile(
    state: &AppState,
    user_id: &str,
) -> Result<Option<UserProfile>, OAuthError> {
    let user = state
        .store
        .user_by_id(user_id)
        .await
        .map_err(|e| store_error(state, "user", e))?;
    Ok(enabled_profile(user))
}

/// The profile of `user` if it exists and is enabled (see [`user_profile`]).
pub fn enabled_profile(user: Option<User>) -> Option<UserProfile> {
    user.filter(|u| !u.disabled).map(|u| profile(&u))
}

/// The OIDC view of a stored user: `sub` is the never-reassigned id; `name` and `email` are
/// columns; `given_name`, `family_name` and `email_verified` come from the user's extra claims
/// when they have the right JSON type (anything else there is ignored).
pub fn profile(user: &User) -> UserProfile {
    let extra: Value = serde_json::from_str(&user.claims).unwrap_or(Value::Null);
    let text = |k: &str| extra.get(k).and_then(Value::as_str).map(str::to_owned);
    UserProfile {
        sub: user.id.clone(),
        preferred_username: Some(user.username.clone()),
        name: user.name.clone().or_else(|| text("name")),
        given_name: text("given_name"),
        family_name: text("family_name"),
        email: user.email.clone().or_else(|| text("email")),
        email_verified: extra.get("email_verified").and_then(Value::as_bool),
    }
}

/// The one-time credential a user grant presents in the form (`code`, `refresh_token`): missing
/// is `invalid_request`; empty or longer than `max_len` is `unknown` (`invalid_grant`), refused
/// before any store lookup.
pub fn presented_credential<'f>(
    request: &'f ClientRequest<TokenEndpoint>,
    name: &str,
    max_len: usize,
    unknown: &str,
) -> Result<&'f str, OAuthError> {
    let presented = request
        .form
        .get(name)
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))?;
    if presented.is_empty() || presented.len() > max_len {
        return Err(invalid_grant(unknown));
    }
    Ok(presented)
}

/// `invalid_grant` with `description`.
pub fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// The space-separated scope of a grant, as a list.
pub fn scope_list(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(claims: &str) -> User {
        User {
            id: "0123".into(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            name: None,
            password_hash: String::new(),
            claims: claims.into(),
            disabled: false,
            created_at: 0,
            password_changed_at: 0,
        }
    }

    #[test]
    fn profile_takes_typed_extra_claims_only() {
        let p = profile(&user(
            r#"{"given_name":"Alice","family_name":7,"email_verified":true,"name":"A L"}"#,
        ));
        assert_eq!(p.sub, "0123");
        assert_eq!(p.preferred_username.as_deref(), Some("alice"));
        assert_eq!(p.given_name.as_deref(), Some("Alice"));
        assert_eq!(p.family_name, None, "a number is not a family name");
        assert_eq!(p.email_verified, Some(true));
        assert_eq!(p.name.as_deref(), Some("A L"));
        let garbage = profile(&user("not json"));
        assert_eq!(garbage.email.as_deref(), Some("alice@example.com"));
        assert_eq!(garbage.given_name, None);
    }

    #[test]
    fn scope_lists_skip_empty_parts() {
        assert_eq!(scope_list("openid  profile"), vec!["openid", "profile"]);
        assert!(scope_list("").is_empty());
    }
}
