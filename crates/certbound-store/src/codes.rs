//! The `authorization_codes` table: codes are 256 random bits, stored only as SHA-256, short-lived
//! and single use. Issuing a code creates its grant and consumes the pushed request it came from
//! in one transaction; redeeming is one atomic update, so of two concurrent redemptions exactly
//! one wins and the other learns it was a replay (and should revoke the grant).

use std::fmt;
use std::sync::LazyLock;

use crate::db::{DbError, Row};

use crate::grants::{self, Grant};
use crate::par::{self, request_uri_hash};
use crate::refresh::{self, NewRefreshToken};
use crate::users::{qualified, USER_COLUMNS};
use crate::{handles, Store, StoreError, TokenRecord, User};

const CODE_COLUMNS: &str = "grant_id, client_id, user_id, redirect_uri, scope, code_challenge, \
                            code_challenge_method, nonce, auth_time, sid, x5t_s256, dpop_jkt, \
                            issued_at, expires_at, consumed_at";

/// A code and its user, by the code's hash (built once).
static CODE_AND_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, {} FROM authorization_codes c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.code_hash = $1",
        qualified("c", CODE_COLUMNS),
        qualified("u", USER_COLUMNS)
    )
});

/// A code by its hash, redeemed or not (built once).
static CODE_BY_HASH: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1")
});

/// The redeeming update: succeeds only for an unredeemed code unexpired at `$1` (built once).
static REDEEM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE authorization_codes SET consumed_at = $1 \
         WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at >= $1 \
         RETURNING {CODE_COLUMNS}"
    )
});

/// What a code is bound to, given to [`Store::issue_authorization_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthorizationCode {
    /// The client the code is for.
    pub client_id: String,
    /// The user ([`crate::User::id`]) who signed in and consented.
    pub user_id: String,
    /// The `redirect_uri` of the authorization request (compared exactly at the token endpoint).
    pub redirect_uri: String,
    /// The granted scope.
    pub scope: String,
    /// PKCE `code_challenge` (RFC 7636); always present, PKCE is required.
    pub code_challenge: String,
    /// PKCE `code_challenge_method` (`S256`).
    pub code_challenge_method: String,
    /// OIDC `nonce`, echoed into the ID token.
    pub nonce: Option<String>,
    /// When the user authenticated (the ID token's `auth_time`).
    pub auth_time: i64,
    /// The login session's public `sid` (the ID token's `sid`), if any.
    pub sid: Option<String>,
    /// `x5t#S256` of the client certificate presented at PAR, if any.
    pub x5t_s256: Option<String>,
    /// The RFC 7638 thumbprint of the DPoP key the code is bound to (RFC 9449 §10), if any.
    pub dpop_jkt: Option<String>,
    /// When the code expires (seconds since the Unix epoch; at most 60 s away under FAPI).
    pub expires_at: i64,
}

/// A stored authorization code (without the code itself, which is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The grant created with the code; revoke it when the code is replayed.
    pub grant_id: String,
    /// See [`NewAuthorizationCode`].
    pub client_id: String,
    /// See [`NewAuthorizationCode`].
    pub user_id: String,
    /// See [`NewAuthorizationCode`].
    pub redirect_uri: String,
    /// See [`NewAuthorizationCode`].
    pub scope: String,
    /// See [`NewAuthorizationCode`].
    pub code_challenge: String,
    /// See [`NewAuthorizationCode`].
    pub code_challenge_method: String,
    /// See [`NewAuthorizationCode`].
    pub nonce: Option<String>,
    /// See [`NewAuthorizationCode`].
    pub auth_time: i64,
    /// See [`NewAuthorizationCode`].
    pub sid: Option<String>,
    /// See [`NewAuthorizationCode`].
    pub x5t_s256: Option<String>,
    /// See [`NewAuthorizationCode`].
    pub dpop_jkt: Option<String>,
    /// When the code was issued.
    pub issued_at: i64,
    /// When the code expires.
    pub expires_at: i64,
    /// When the code was redeemed (or its grant revoked), if it was.
    pub consumed_at: Option<i64>,
}

/// A code just issued: the code text (the only time it exists in plain text) and its grant.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The code for the redirect. Secret: `Debug` does not print it.
    pub code: String,
    /// The grant created with it.
    pub grant_id: String,
}

impl fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCode")
            .field("code", &"<redacted>")
            .field("grant_id", &self.grant_id)
            .finish()
    }
}

/// What [`Store::redeem_authorization_code`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// This call redeemed the code: issue the tokens.
    Redeemed(AuthorizationCode),
    /// The code was already redeemed (or its grant revoked): refuse with `invalid_grant` and
    /// revoke the grant ([`Store::revoke_grant`]) — whoever holds it is replaying it.
    Replayed(AuthorizationCode),
    /// The code expired unredeemed: refuse with `invalid_grant`.
    Expired(AuthorizationCode),
    /// No such code: refuse with `invalid_grant`.
    Unknown,
}

/// What the token endpoint records when it exchanges a code
/// ([`Store::exchange_authorization_code`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExchangeRecords<'a> {
    /// The access token minted from the code, recorded under the code's grant.
    pub access_token: Option<&'a TokenRecord>,
    /// A refresh token to issue under the code's grant.
    pub refresh_token: Option<&'a NewRefreshToken>,
}

/// What [`Store::exchange_authorization_code`] did.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeExchange {
    /// What became of the code; the records were written only if it is `Redeemed`.
    pub redemption: CodeRedemption,
    /// The refresh token issued with it (the only time it exists in plain text).
    pub refresh_token: Option<String>,
}

impl fmt::Debug for CodeExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeExchange")
            .field("redemption", &self.redemption)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Store {
    /// Issues a code for `new`, creating its grant, in one transaction. With `request_uri`,
    /// the pushed request is consumed in the same transaction (RFC 9126: "consumed when the
    /// code is issued"); if it is not `new.client_id`'s, expired or already used, nothing is
    /// issued and the answer is [`StoreError::NotFound`]. `expires_at < now`, or an empty
    /// client, user, redirect URI or PKCE challenge, is [`StoreError::Invalid`].
    pub async fn issue_authorization_code(
        &self,
        new: &NewAuthorizationCode,
        request_uri: Option<&str>,
        now: i64,
    ) -> Result<IssuedCode, StoreError> {
        for (field, value) in [
            ("client_id", &new.client_id),
            ("user_id", &new.user_id),
            ("redirect_uri", &new.redirect_uri),
            ("code_challenge", &new.code_challenge),
            ("code_challenge_method", &new.code_challenge_method),
        ] {
            if value.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "authorization code with an empty {field}"
                )));
            }
        }
        if new.expires_at < now {
            return Err(StoreError::Invalid(
                "authorization code expires before it is issued".into(),
            ));
        }
        let par_hash = match request_uri {
            Some(uri) => Some(request_uri_hash(uri).ok_or_else(unusable_request)?),
            None => None,
        };
        let code = handles::new_handle()?;
        let grant = Grant {
            grant_id: handles::new_id()?,
            client_id: new.client_id.clone(),
            user_id: new.user_id.clone(),
            scope: new.scope.clone(),
            created_at: now,
            revoked_at: None,
        };

        let mut tx = self.begin_write().await?;
        if let Some(hash) = &par_hash {
            if !par::consume(&mut tx, hash, &new.client_id, now)
                .await
                .map_err(|e| self.err(e))?
            {
                // Dropping `tx` rolls back.
                return Err(unusable_request());
            }
        }
        grants::insert(&mut tx, &grant)
            .await
            .map_err(|e| self.err(e))?;
        crate::db::query(&format!(
            "INSERT INTO authorization_codes (code_hash, {CODE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL)"
        ))
        .bind(code.hash.as_slice())
        .bind(grant.grant_id.as_str())
        .bind(new.client_id.as_str())
        .bind(new.user_id.as_str())
        .bind(new.redirect_uri.as_str())
        .bind(new.scope.as_str())
        .bind(new.code_challenge.as_str())
        .bind(new.code_challenge_method.as_str())
        .bind(new.nonce.as_deref())
        .bind(new.auth_time)
        .bind(new.sid.as_deref())
        .bind(new.x5t_s256.as_deref())
        .bind(new.dpop_jkt.as_deref())
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        tracing::debug!(client_id = %new.client_id, grant_id = %grant.grant_id, "authorization code issued");
        Ok(IssuedCode {
            code: code.text,
            grant_id: grant.grant_id,
        })
    }

    /// The code's record without redeeming it, redeemed or expired ones included: the token
    /// endpoint checks client, `redirect_uri` and PKCE on it *before*
    /// [`Store::redeem_authorization_code`].
    pub async fn authorization_code(
        &self,
        code: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        let row = crate::db::query(&CODE_BY_HASH)
            .bind(handles::sha256(code).as_slice())
            .fetch_optional(&self.reads)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(code_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// [`Store::authorization_code`] and the code's user in one query (the token endpoint needs
    /// both, and each statement is a round trip to the database): `None` when the code is
    /// unknown, `Some((code, None))` when its user has been removed since.
    pub async fn authorization_code_and_user(
        &self,
        code: &str,
    ) -> Result<Option<(AuthorizationCode, Option<User>)>, StoreError> {
        self.fetch_with_user(CODE_AND_USER.as_str(), code, code_from_row)
            .await
    }

    /// Redeems the code: one atomic update that succeeds only if the code is unredeemed and
    /// unexpired at `now`, so exactly one of any number of concurrent calls (on any instance)
    /// gets [`CodeRedemption::Redeemed`]. The others get [`CodeRedemption::Replayed`], with
    /// the grant to revoke.
    pub async fn redeem_authorization_code(
        &self,
        code: &str,
        now: i64,
    ) -> Result<CodeRedemption, StoreError> {
        let hash = handles::sha256(code);
        let row = crate::db::query(&REDEEM)
            .bind(now)
            .bind(hash.as_slice())
            .fetch_optional(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        match row {
            Some(row) => Ok(CodeRedemption::Redeemed(
                code_from_row(&row).map_err(|e| self.err(e))?,
            )),
            None => self.why_not_redeemed(&hash).await,
        }
    }

    /// The token endpoint's exchange: redeems the code as [`Store::redeem_authorization_code`]
    /// does and, in the same transaction, records `records.access_token` under the code's grant
    /// and issues a refresh token for `records.refresh_token` (whose grant must be the code's and
    /// still active). All or nothing: if anything fails, the code stays unredeemed, so the client
    /// may try again. One commit instead of three (each a trip to SQLite's writer, or a
    /// PostgreSQL commit). Records that fail [`Store::insert_token`]'s checks, or a refresh token
    /// for another grant or expiring before `now`, are [`StoreError::Invalid`].
    pub async fn exchange_authorization_code(
        &self,
        code: &str,
        now: i64,
        records: &ExchangeRecords<'_>,
    ) -> Result<CodeExchange, StoreError> {
        if let Some(t) = records.access_token {
            crate::tokens::check_record(t)?;
        }
        let refresh = match records.refresh_token {
            Some(new) => {
                refresh::check_expiry(new, now)?;
                Some((new, handles::new_handle()?))
            }
            None => None,
        };
        let hash = handles::sha256(code);
        let mut tx = self.begin_write().await?;
        let row = crate::db::query(&REDEEM)
            .bind(now)
            .bind(hash.as_slice())
            .fetch_optional(&mut tx)
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            // Nothing written: end the transaction before reading why.
            drop(tx);
            return Ok(CodeExchange {
                redemption: self.why_not_redeemed(&hash).await?,
                refresh_token: None,
            });
        };
        let redeemed = code_from_row(&row).map_err(|e| self.err(e))?;
        if let Some(t) = records.access_token {
            crate::tokens::insert_one(&mut tx, t, Some(&redeemed.grant_id))
                .await
                .map_err(|e| self.err(e))?;
        }
        let refresh_token = match refresh {
            Some((new, _)) if new.grant_id != redeemed.grant_id => {
                return Err(StoreError::Invalid(format!(
                    "a refresh token for grant {} exchanged with a code of grant {}",
                    new.grant_id, redeemed.grant_id
                )))
            }
            Some((new, handle)) => {
                if !refresh::insert_under_active_grant(&mut tx, &handle.hash, new, now)
                    .await
                    .map_err(|e| self.err(e))?
                {
                    return Err(refresh::no_active_grant(new));
                }
                Some(handle.text)
            }
            None => None,
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(CodeExchange {
            redemption: CodeRedemption::Redeemed(redeemed),
            refresh_token,
        })
    }

    /// Why the code with this hash was not redeemed: replayed, expired or unknown. Read through
    /// the write pool: on SQLite it sees the update that beat us.
    async fn why_not_redeemed(&self, hash: &[u8]) -> Result<CodeRedemption, StoreError> {
        let row = crate::db::query(&CODE_BY_HASH)
            .bind(hash)
            .fetch_optional(&self.writes)
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(CodeRedemption::Unknown);
        };
        let found = code_from_row(&row).map_err(|e| self.err(e))?;
        Ok(if found.consumed_at.is_some() {
            tracing::warn!(client_id = %found.client_id, grant_id = %found.grant_id, "authorization code replayed");
            CodeRedemption::Replayed(found)
        } else {
            CodeRedemption::Expired(found)
        })
    }
}

fn unusable_request() -> StoreError {
    StoreError::NotFound(
        "pushed authorization request (unknown, expired, used, or another client's)".into(),
    )
}

fn code_from_row(row: &Row) -> Result<AuthorizationCode, DbError> {
    Ok(AuthorizationCode {
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        code_challenge: row.try_get("code_challenge")?,
        code_challenge_method: row.try_get("code_challenge_method")?,
        nonce: row.try_get("nonce")?,
        auth_time: row.try_get("auth_time")?,
        sid: row.try_get("sid")?,
        x5t_s256: row.try_get("x5t_s256")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}
