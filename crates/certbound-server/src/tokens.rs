//! Minting access tokens and finding them again (introspection, revocation).
//!
//! JWT access tokens are stateless: introspection verifies the signature with a published key and
//! consults the store only for a revocation record (by `jti`). Opaque tokens are 256 random bits;
//! only their SHA-256 and claims are stored.

use crate::keys::KeyError;
use crate::state::{now_secs, AppState, VerifiedJwt};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::client::TokenFormat;
use certbound_core::token::AccessTokenClaims;
use certbound_core::OAuthError;
use certbound_store::{StoreError, TokenLookup, TokenRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A freshly minted access token.
pub struct Minted {
    /// The token string handed to the client.
    pub access_token: String,
    /// Its claims.
    pub claims: AccessTokenClaims,
}

/// SHA-256 of a token string: the only form in which opaque tokens are stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// A new unique token identifier (128 random bits).
pub fn new_jti() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Maps a store failure to the client-facing error (503 when the store is unreachable).
pub fn store_error(state: &AppState, operation: &'static str, e: StoreError) -> OAuthError {
    tracing::error!(error = %e, operation, "store operation failed");
    certbound_net::metrics::Metrics::count(&state.metrics.store_errors, operation);
    match e {
        StoreError::Unavailable(_) => OAuthError::unavailable(),
        _ => OAuthError::server_error(),
    }
}

fn key_error(e: KeyError) -> OAuthError {
    tracing::error!(error = %e, "signing failed");
    OAuthError::server_error()
}

/// Mints a token with `claims` in the given format (a client's own token: only opaque tokens
/// are recorded).
pub async fn mint(
    state: &AppState,
    claims: AccessTokenClaims,
    format: TokenFormat,
) -> Result<Minted, OAuthError> {
    let access_token = token_string(state, &claims, format)?;
    if format == TokenFormat::Opaque {
        let record = record_of(&access_token, &claims, format)?;
        state
            .store
            .insert_token(&record)
            .await
            .map_err(|e| store_error(state, "mint", e))?;
    }
    Ok(Minted {
        access_token,
        claims,
    })
}

/// Mints a user's access token and its store record. The caller records it under the grant in
/// either format (`Store::insert_token_for_grant`, or the code exchange's transaction), so
/// revoking the grant (a replayed code, a revoked refresh token) revokes it: introspection and
/// userinfo find a JWT's revocation by `jti` and an opaque token by its hash.
pub fn mint_unrecorded(
    state: &AppState,
    claims: AccessTokenClaims,
    format: TokenFormat,
) -> Result<(Minted, TokenRecord), OAuthError> {
    let access_token = token_string(state, &claims, format)?;
    let record = record_of(&access_token, &claims, format)?;
    Ok((
        Minted {
            access_token,
            claims,
        },
        record,
    ))
}

/// The token string: a signed JWT, or 256 random bits.
fn token_string(
    state: &AppState,
    claims: &AccessTokenClaims,
    format: TokenFormat,
) -> Result<String, OAuthError> {
    match format {
        TokenFormat::Jwt => state
            .keys
            .current()
            .active
            .sign_jwt(claims)
            .map_err(key_error),
        TokenFormat::Opaque => {
            let mut b = [0u8; 32];
            aws_lc_rs::rand::fill(&mut b).map_err(|_| OAuthError::server_error())?;
            Ok(URL_SAFE_NO_PAD.encode(b))
        }
    }
}

/// The store record of a freshly minted token (only its hash, never the token itself).
fn record_of(
    access_token: &str,
    claims: &AccessTokenClaims,
    format: TokenFormat,
) -> Result<TokenRecord, OAuthError> {
    Ok(TokenRecord {
        hash: token_hash(access_token),
        jti: claims.jti.clone(),
        client_id: claims.client_id.clone(),
        format: format_name(format).to_owned(),
        claims: serde_json::to_string(claims).map_err(|_| OAuthError::server_error())?,
        issued_at: claims.iat,
        expires_at: claims.exp,
        revoked_at: None,
    })
}

/// A token this server issued, as found by introspection or revocation.
pub struct Found {
    /// Its claims.
    pub claims: AccessTokenClaims,
    /// Its format.
    pub format: TokenFormat,
    /// Whether a revocation is recorded.
    pub revoked: bool,
}

/// Finds a token this server issued. `Ok(None)` for anything else (garbage, foreign signature,
/// unknown reference); expiry is left to the caller.
pub async fn find(state: &AppState, token: &str) -> Result<Option<Found>, OAuthError> {
    if token.len() > 16 * 1024 {
        return Ok(None);
    }
    if token.matches('.').count() == 2 {
        let Some(claims) = verify_jwt(state, token) else {
            return Ok(None);
        };
        let revoked = state
            .store
            .find_token_by_jti(&claims.jti)
            .await
            .map_err(|e| store_error(state, "find", e))?
            .is_some_and(|r| r.revoked_at.is_some());
        return Ok(Some(Found {
            claims,
            format: TokenFormat::Jwt,
            revoked,
        }));
    }
    let Some(record) = state
        .store
        .find_token_by_hash(&token_hash(token))
        .await
        .map_err(|e| store_error(state, "find", e))?
    else {
        return Ok(None);
    };
    let Ok(claims) = serde_json::from_str::<AccessTokenClaims>(&record.claims) else {
        tracing::error!(jti = %record.jti, "stored token claims do not parse");
        return Ok(None);
    };
    Ok(Some(Found {
        claims,
        format: TokenFormat::Opaque,
        revoked: record.revoked_at.is_some(),
    }))
}

/// How many verified JWTs [`verify_jwt`] remembers (a few hundred bytes each).
pub const VERIFIED_JWT_ENTRIES: usize = 4096;
/// The longest a verified JWT is remembered (never past its `exp`).
const VERIFIED_JWT_SECONDS: i64 = 300;

/// Verifies a JWT access token signed by one of this server's published keys. A token verified
/// before is taken from [`crate::state::Inner::verified_jwts`] while its key is still published
/// (a key withdrawn from the ring takes its tokens with it).
fn verify_jwt(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    let cache_key = certbound_net::token_cache::key(token);
    let ring = state.keys.current();
    if let Some(hit) = state.verified_jwts.get(&cache_key) {
        if ring.key(&hit.kid).is_some() {
            return Some(AccessTokenClaims::clone(&hit.claims));
        }
    }
    let (claims, kid) = verify_jwt_signature(state, &ring, token)?;
    let seconds = claims
        .exp
        .saturating_sub(now_secs())
        .min(VERIFIED_JWT_SECONDS);
    if let Ok(seconds @ 1..) = u64::try_from(seconds) {
        state.verified_jwts.insert(
            cache_key,
            VerifiedJwt {
                claims: Arc::new(claims.clone()),
                kid: Arc::from(kid),
            },
            Instant::now() + Duration::from_secs(seconds),
        );
    }
    Some(claims)
}

/// Checks a JWT access token's signature, header and issuer against the key ring: its claims
/// and the `kid` of the key that signed it.
fn verify_jwt_signature(
    state: &AppState,
    ring: &crate::keys::KeyRing,
    token: &str,
) -> Option<(AccessTokenClaims, String)> {
    let (signing_input, sig_b64) = token.rsplit_once('.')?;
    let (header_b64, payload_b64) = signing_input.split_once('.')?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
    let kid = header.get("kid")?.as_str()?;
    let key = ring.key(kid)?;
    if header.get("alg")?.as_str()? != key.alg.as_str() || header.get("typ")?.as_str()? != "at+jwt"
    {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(sig_b64).ok()?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    let claims: AccessTokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
    (claims.iss == *state.issuer).then(|| (claims, kid.to_owned()))
}

/// Records a revocation of `found` on behalf of its owner. Idempotent. The caller writes the
/// `token_revoked` audit line (it knows the request's source address).
pub async fn revoke(state: &AppState, token: &str, found: &Found) -> Result<(), OAuthError> {
    let now = now_secs();
    match found.format {
        TokenFormat::Opaque => {
            state
                .store
                .revoke_token(
                    TokenLookup::Hash(&token_hash(token)),
                    &found.claims.client_id,
                    now,
                )
                .await
                .map_err(|e| store_error(state, "revoke", e))?;
        }
        TokenFormat::Jwt => {
            // A user's JWT is recorded at issuance (under its grant): mark that row. A client's
            // own JWT has no row yet: insert one carrying the revocation.
            let marked = state
                .store
                .revoke_token(
                    TokenLookup::Jti(&found.claims.jti),
                    &found.claims.client_id,
                    now,
                )
                .await
                .map_err(|e| store_error(state, "revoke", e))?;
            if marked {
                state.metrics.tokens_revoked.inc();
                return Ok(());
            }
            let record = TokenRecord {
                hash: token_hash(token),
                jti: found.claims.jti.clone(),
                client_id: found.claims.client_id.clone(),
                format: "jwt".to_owned(),
                claims: serde_json::to_string(&found.claims)
                    .map_err(|_| OAuthError::server_error())?,
                issued_at: found.claims.iat,
                expires_at: found.claims.exp,
                revoked_at: Some(now),
            };
            match state.store.insert_token(&record).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(store_error(state, "revoke", e)),
            }
        }
    }
    state.metrics.tokens_revoked.inc();
    Ok(())
}

/// Whether the token is usable now: issued by us, not revoked, not expired.
pub fn is_active(found: &Found) -> bool {
    !found.revoked && !found.claims.is_expired(now_secs())
}

/// Shorthand for callers that only want the claims of an active token.
pub fn active_claims(found: Option<Found>) -> Option<AccessTokenClaims> {
    found.filter(is_active).map(|f| f.claims)
}

/// The default lookup name for a token kind, for logs.
pub fn format_name(format: TokenFormat) -> &'static str {
    match format {
        TokenFormat::Jwt => "jwt",
        TokenFormat::Opaque => "opaque",
    }
}
