//! The refresh_token grant (RFC 6749 §6, RFC 8705 §4, FAPI2.md §2.3).
//!
//! A refresh token belongs to the client it was issued to (confidential clients are bound
//! through their authentication, so the token survives a certificate rollover); the new access
//! token is bound to the certificate presented with the refresh request. No rotation by default
//! (FAPI 2.0); with `[authorization] refresh_token_rotation`, each use replaces the token and a
//! reuse after the grace window revokes the grant (RFC 9700 §4.14.2).

use super::user_tokens::{self, invalid_grant, scope_list, GrantContext, IdTokenContext};
use super::TokenResponse;
use crate::extract::{ClientRequest, TokenEndpoint};
use crate::state::{now_secs, AppState};
use crate::tokens::store_error;
use certbound_core::dpop::VerifiedProof;
use certbound_core::error::printable;
use certbound_core::grant::GrantType;
use certbound_core::oidc::claims::OPENID;
use certbound_core::token::grant_scope;
use certbound_core::{ClientCertificate, OAuthError, OAuthErrorCode, Thumbprint};
use certbound_store::{RefreshRotation, RefreshTokenRecord};

/// The longest refresh token accepted in a request; ours are 43 characters.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

/// Whether `record` may be used by `client_id` with `certificate` at `now`: the client's own,
/// active (unexpired, neither it nor its grant revoked), and, when it carries a thumbprint (a
/// public client's), presented with that certificate. Each failure is `invalid_grant`.
pub fn check_usable(
    record: &RefreshTokenRecord,
    client_id: &str,
    certificate: Option<&ClientCertificate>,
    now: i64,
) -> Result<(), OAuthError> {
    if record.client_id != client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if !record.is_active_for(client_id, now) {
        return Err(invalid_grant("the refresh token is expired or revoked"));
    }
    if let Some(bound) = &record.x5t_s256 {
        let matches =
            certificate.is_some_and(|c| Thumbprint::from_claim(bound).ct_eq(c.thumbprint()));
        if !matches {
            return Err(invalid_grant(
                "the refresh token is bound to another certificate",
            ));
        }
    }
    Ok(())
}

/// Uses a refresh token: checks it, optionally rotates it, and issues a new access token (and
/// an ID token when `openid` is in the resulting scope).
pub async fn issue(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    proof: Option<&VerifiedProof>,
) -> Result<TokenResponse, OAuthError> {
    let (form, origin) = (&request.form, &request.origin);
    let client = &request.client.registration;
    let presented = user_tokens::presented_credential(
        request,
        "refresh_token",
        MAX_REFRESH_TOKEN_LEN,
        "unknown refresh token",
    )?;
    // The token and its user in one read; the user is checked once the token is found usable.
    let (record, user) = state
        .store
        .refresh_token_and_user(presented)
        .await
        .map_err(|e| store_error(state, "refresh_read", e))?
        .ok_or_else(|| invalid_grant("unknown refresh token"))?;
    let now = now_secs();
    if let Err(e) = check_usable(&record, &client.client_id, origin.certificate.as_ref(), now) {
        tracing::warn!(
            target: "certbound::audit",
            event = "refresh_refused",
            decision = "deny",
            source = %origin.source,
            client_id = %printable(&client.client_id),
            grant_id = %record.grant_id,
            reason = %e.description,
        );
        return Err(e);
    }
    let granted = scope_list(&record.scope);
    let scopes = grant_scope(&granted, form.get("scope")).map_err(|_| {
        OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "the requested scope exceeds the scope of the grant",
        )
    })?;
    let Some(user) = user_tokens::enabled_profile(user) else {
        let _ = state.store.revoke_grant(&record.grant_id, now).await;
        return Err(invalid_grant("the user of this grant no longer exists"));
    };
    let config = state.authorization();
    let refresh_token = if config.refresh_token_rotation {
        let expires_at = now.saturating_add(i64::from(config.refresh_token_ttl_seconds));
        let grace = i64::from(config.refresh_token_reuse_grace_seconds);
        match state
            .store
            .rotate_refresh_token(presented, now, expires_at, grace)
            .await
            .map_err(|e| store_error(state, "refresh_rotate", e))?
        {
            RefreshRotation::Rotated { token } => Some(token),
            RefreshRotation::Reused(reused) => {
                let revoked = state
                    .store
                    .revoke_grant(&reused.grant_id, now)
                    .await
                    .map_err(|e| store_error(state, "revoke_grant", e))?;
                tracing::warn!(
                    target: "certbound::audit",
                    event = "refresh_token_reused",
                    decision = "deny",
                    source = %origin.source,
                    client_id = %printable(&client.client_id),
                    grant_id = %reused.grant_id,
                    grant_revoked = revoked,
                );
                return Err(invalid_grant("the refresh token was already used"));
            }
            RefreshRotation::Unusable => {
                return Err(invalid_grant("the refresh token is expired or revoked"))
            }
        }
    } else {
        None
    };
    let minted = user_tokens::access_token(
        state,
        request,
        &GrantContext {
            grant_id: &record.grant_id,
            user_id: &record.user_id,
            scopes: &scopes,
            proof,
            grant_type: GrantType::RefreshToken.as_str(),
        },
    )
    .await?;
    // OIDC Core §12.2: an ID token may accompany a refresh, without a nonce. The store keeps
    // no `auth_time` per grant, so the grant's creation (the login's code) stands in for it.
    let id_token = if scopes.iter().any(|s| s == OPENID) {
        let auth_time = state
            .store
            .grant(&record.grant_id)
            .await
            .map_err(|e| store_error(state, "grant", e))?
            .map_or(record.issued_at, |g| g.created_at);
        Some(user_tokens::id_token(
            state,
            &client.client_id,
            &user,
            &scopes,
            &IdTokenContext {
                auth_time,
                nonce: None,
                sid: None,
            },
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: super::token_type(minted.claims.cnf.as_ref()),
        expires_in: state.ttl_seconds,
        scope: minted.claims.scope,
        refresh_token,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RefreshTokenRecord {
        RefreshTokenRecord {
            grant_id: "g".into(),
            client_id: "web".into(),
            user_id: "u".into(),
            scope: "openid".into(),
            x5t_s256: None,
            issued_at: 100,
            expires_at: 200,
            rotated_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn only_the_owner_uses_an_active_token() {
        let r = record();
        assert!(check_usable(&r, "web", None, 200).is_ok());
        for (client, now) in [("other", 150), ("web", 201)] {
            let e = check_usable(&r, client, None, now).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
        }
        let revoked = RefreshTokenRecord {
            revoked_at: Some(150),
            ..record()
        };
        assert!(check_usable(&revoked, "web", None, 160).is_err());
    }

    #[test]
    fn a_bound_token_needs_its_certificate() {
        let bound = RefreshTokenRecord {
            x5t_s256: Some("abc".into()),
            ..record()
        };
        assert!(check_usable(&bound, "web", None, 150).is_err());
    }
}
