//! The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, FAPI 2.0): the client trades
//! a code for the user's tokens.
//!
//! Every check that can fail runs on the stored code *before* it is consumed (FAPI2.md §7 trap
//! 4): a wrong client, `redirect_uri` or PKCE verifier never burns a good code. Consumption is
//! one atomic store update; a code redeemed twice revokes its grant and everything issued
//! under it (RFC 6749 §4.1.2).

use super::user_tokens::{self, invalid_grant, scope_list, GrantContext, IdTokenContext};
use super::TokenResponse;
use crate::extract::{ClientRequest, TokenEndpoint};
use crate::state::{now_secs, AppState};
use crate::tokens::store_error;
use certbound_core::dpop::VerifiedProof;
use certbound_core::error::printable;
use certbound_core::grant::GrantType;
use certbound_core::oidc::claims::OPENID;
use certbound_core::pkce::{self, CodeChallenge};
use certbound_core::OAuthError;
use certbound_store::{AuthorizationCode, CodeRedemption, ExchangeRecords, NewRefreshToken};

/// The longest code accepted in a request; codes are 43 characters.
const MAX_CODE_LEN: usize = 512;

/// The checks of a token request against the stored code, pure so they run before consumption.
/// Every failure is `invalid_grant` (RFC 6749 §5.2). The token request must repeat the
/// authorization request's `redirect_uri` exactly: FAPI 2.0 requires it in every pushed request,
/// and the store keeps the one the code was issued for. A code bound to a DPoP key (RFC 9449
/// §10) needs a proof by that key (`proof_jkt`, the thumbprint of the request's verified proof).
pub fn check_exchange(
    code: &AuthorizationCode,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    proof_jkt: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if code.client_id != client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    match redirect_uri {
        None => return Err(invalid_grant("redirect_uri is required")),
        Some(uri) if uri != code.redirect_uri => {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ))
        }
        Some(_) => {}
    }
    // Codes are only issued with an S256 challenge; anything else stored is refused outright.
    let challenge = (code.code_challenge_method == pkce::S256)
        .then(|| CodeChallenge::parse(&code.code_challenge).ok())
        .flatten()
        .ok_or_else(|| invalid_grant("the authorization code has no usable PKCE challenge"))?;
    pkce::check_token_request(Some(&challenge), code_verifier)?;
    if let Some(bound) = code.dpop_jkt.as_deref() {
        match proof_jkt {
            None => {
                return Err(invalid_grant(
                    "the authorization code is bound to a DPoP key: send a DPoP proof by that key",
                ))
            }
            Some(jkt) if jkt != bound => return Err(invalid_grant(
                "the DPoP proof is signed by another key than the authorization code is bound to",
            )),
            Some(_) => {}
        }
    }
    if now > code.expires_at {
        return Err(invalid_grant("the authorization code has expired"));
    }
    Ok(())
}

/// Exchanges a code: checks, consumes, then issues the access token, a refresh token when the
/// client has the refresh_token grant, and an ID token when `openid` was granted.
pub async fn issue(
    state: &AppState,
    request: &ClientRequest<TokenEndpoint>,
    proof: Option<&VerifiedProof>,
) -> Result<TokenResponse, OAuthError> {
    let (form, origin) = (&request.form, &request.origin);
    let client = &request.client.registration;
    let presented = user_tokens::presented_credential(
        request,
        "code",
        MAX_CODE_LEN,
        "unknown authorization code",
    )?;
    // The code and its user in one read; the user is checked only once the code is redeemed.
    let (code, user) = state
        .store
        .authorization_code_and_user(presented)
        .await
        .map_err(|e| store_error(state, "code", e))?
        .ok_or_else(|| invalid_grant("unknown authorization code"))?;
    let now = now_secs();
    if let Err(e) = check_exchange(
        &code,
        &client.client_id,
        form.get("redirect_uri"),
        form.get("code_verifier"),
        proof.map(|p| p.jkt.as_str()),
        now,
    ) {
        refused(origin, &client.client_id, &code, "code_refused", &e);
        return Err(e);
    }
    // A code whose user has been removed is refused, and its grant (with the code) revoked.
    let Some(user) = user_tokens::enabled_profile(user) else {
        let _ = state.store.revoke_grant(&code.grant_id, now).await;
        return Err(invalid_grant("the user of this grant no longer exists"));
    };
    // The tokens are minted from the code read above, then recorded in the transaction that
    // redeems it: the code is used up only if they are recorded, and they only if it is.
    // Everything that can fail happens before that commit.
    let scopes = scope_list(&code.scope);
    let grant = GrantContext {
        grant_id: &code.grant_id,
        user_id: &code.user_id,
        scopes: &scopes,
        proof,
        grant_type: GrantType::AuthorizationCode.as_str(),
    };
    let (minted, record) = user_tokens::mint_access_token(state, request, &grant)?;
    let new_refresh = client
        .grant_types
        .allows(GrantType::RefreshToken)
        .then(|| NewRefreshToken {
            grant_id: code.grant_id.clone(),
            // Confidential clients' refresh tokens are bound to the client (RFC 8705 §4), so
            // they survive a certificate rollover; only a public client's would carry the
            // thumbprint.
            client_id: client.client_id.clone(),
            x5t_s256: None,
            expires_at: now
                .saturating_add(i64::from(state.authorization().refresh_token_ttl_seconds)),
        });
    let id_token = if scopes.iter().any(|s| s == OPENID) {
        Some(user_tokens::id_token(
            state,
            &client.client_id,
            &user,
            &scopes,
            &IdTokenContext {
                auth_time: code.auth_time,
                nonce: code.nonce.as_deref(),
                sid: code.sid.as_deref(),
            },
        )?)
    } else {
        None
    };
    let exchange = state
        .store
        .exchange_authorization_code(
            presented,
            now,
            &ExchangeRecords {
                access_token: Some(&record),
                refresh_token: new_refresh.as_ref(),
            },
        )
        .await
        .map_err(|e| store_error(state, "exchange", e))?;
    match exchange.redemption {
        CodeRedemption::Redeemed(_) => {}
        CodeRedemption::Replayed(code) => {
            let revoked = state
                .store
                .revoke_grant(&code.grant_id, now)
                .await
                .map_err(|e| store_error(state, "revoke_grant", e))?;
            tracing::warn!(
                target: "certbound::audit",
                event = "code_replayed",
                decision = "deny",
                source = %origin.source,
                client_id = %printable(&client.client_id),
                grant_id = %code.grant_id,
                grant_revoked = revoked,
            );
            return Err(invalid_grant("the authorization code was already used"));
        }
        CodeRedemption::Expired(_) => {
            return Err(invalid_grant("the authorization code has expired"))
        }
        CodeRedemption::Unknown => return Err(invalid_grant("unknown authorization code")),
    }
    user_tokens::announce(state, request, &grant, &minted);
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: super::token_type(minted.claims.cnf.as_ref()),
        expires_in: state.ttl_seconds,
        scope: minted.claims.scope,
        refresh_token: exchange.refresh_token,
        id_token,
    })
}

/// The audit line of a refused exchange (the code itself is never logged).
fn refused(
    origin: &crate::extract::Origin,
    client_id: &str,
    code: &AuthorizationCode,
    event: &'static str,
    error: &OAuthError,
) {
    tracing::warn!(
        target: "certbound::audit",
        event,
        decision = "deny",
        source = %origin.source,
        client_id = %printable(client_id),
        grant_id = %code.grant_id,
        reason = %error.description,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use certbound_core::OAuthErrorCode;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn code() -> AuthorizationCode {
        AuthorizationCode {
            grant_id: "g".into(),
            client_id: "web".into(),
            user_id: "u".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: "openid".into(),
            code_challenge: CodeChallenge::s256_of(VERIFIER).as_str().to_owned(),
            code_challenge_method: "S256".into(),
            nonce: None,
            auth_time: 90,
            sid: None,
            x5t_s256: None,
            dpop_jkt: None,
            issued_at: 100,
            expires_at: 160,
            consumed_at: None,
        }
    }

    fn check(
        c: &AuthorizationCode,
        client: &str,
        uri: Option<&str>,
        v: Option<&str>,
        now: i64,
    ) -> Result<(), String> {
        check_exchange(c, client, uri, v, None, now).map_err(|e| {
            assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
            e.description
        })
    }

    #[test]
    fn a_good_exchange_passes() {
        let uri = Some("https://rp.example/cb");
        assert_eq!(check(&code(), "web", uri, Some(VERIFIER), 160), Ok(()));
    }

    #[test]
    fn every_mismatch_is_invalid_grant() {
        let c = code();
        let uri = Some("https://rp.example/cb");
        let other = "x".repeat(43);
        let cases: [(&str, Option<&str>, Option<&str>, i64); 7] = [
            ("other", uri, Some(VERIFIER), 100),
            ("web", None, Some(VERIFIER), 100),
            ("web", Some("https://rp.example/cb/"), Some(VERIFIER), 100),
            ("web", uri, None, 100),
            ("web", uri, Some(&other), 100),
            ("web", uri, Some("short"), 100),
            ("web", uri, Some(VERIFIER), 161),
        ];
        for (client, uri, v, now) in cases {
            assert!(
                check(&c, client, uri, v, now).is_err(),
                "{client} {uri:?} {v:?} {now}"
            );
        }
    }

    #[test]
    fn a_dpop_bound_code_needs_a_proof_by_its_key() {
        let c = AuthorizationCode {
            dpop_jkt: Some("k".repeat(43)),
            ..code()
        };
        let uri = Some("https://rp.example/cb");
        let run = |jkt: Option<&str>| check_exchange(&c, "web", uri, Some(VERIFIER), jkt, 100);
        assert!(run(Some(&"k".repeat(43))).is_ok());
        let other = "x".repeat(43);
        for jkt in [None, Some(other.as_str())] {
            let e = run(jkt).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::InvalidGrant, "{jkt:?}");
        }
    }

    #[test]
    fn a_stored_plain_challenge_is_refused() {
        let mut c = code();
        c.code_challenge_method = "plain".into();
        c.code_challenge = VERIFIER.into();
        let e = check(
            &c,
            "web",
            Some("https://rp.example/cb"),
            Some(VERIFIER),
            100,
        );
        assert!(e.is_err());
    }
}
