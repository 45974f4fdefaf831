//! The `users` table: the people who sign in at the authorization endpoint, with their argon2id
//! password hashes and OIDC claims, and the password check that does not reveal whether a
//! username exists.

use std::fmt;

use crate::db::{DbError, Row};
use certbound_core::secret::SecretHash;

use crate::{check_json_object, handles, Store, StoreError};

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, name, password_hash, claims, disabled, \
                            created_at, password_changed_at";

/// A user who can sign in. `Debug` never prints the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Random 128-bit identifier (32 hex digits), never reassigned: the `sub` of the user's
    /// tokens. Usernames may change hands; this does not.
    pub id: String,
    /// The login name, unique, `[A-Za-z0-9._@-]{1,64}` (see [`valid_username`]).
    pub username: String,
    /// E-mail address (the OIDC `email` claim), if known.
    pub email: Option<String>,
    /// Display name (the OIDC `name` claim), if known.
    pub name: Option<String>,
    /// argon2id PHC string. Secret-like: never logged.
    pub password_hash: String,
    /// Further OIDC claims, as a JSON object text (`{}` when none).
    pub claims: String,
    /// A disabled user cannot sign in ([`Store::verify_user_password`] answers `None`).
    pub disabled: bool,
    /// When the user was added (seconds since the Unix epoch).
    pub created_at: i64,
    /// When the password was last set.
    pub password_changed_at: i64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("claims", &self.claims)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

/// What [`Store::add_user`] needs; the store picks the id.
#[derive(Clone)]
pub struct NewUser {
    /// The login name; see [`valid_username`].
    pub username: String,
    /// E-mail address, if any.
    pub email: Option<String>,
    /// Display name, if any.
    pub name: Option<String>,
    /// Further claims as a JSON object text (`{}` when none).
    pub claims: String,
    /// argon2id PHC string, from [`certbound_core::secret::hash_password`].
    pub password_hash: String,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Whether `username` is acceptable: 1 to 64 characters of `A-Z a-z 0-9 . _ @ -`. The narrow
/// alphabet keeps names unambiguous (no Unicode look-alikes, no spaces) and safe in logs.
pub fn valid_username(username: &str) -> bool {
    (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// An argon2id hash (m=19 MiB, t=2, p=1, like [`certbound_core::secret::hash_password`]) of a
/// password nobody knows: checked when the username is unknown, so that answer takes as long
/// as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$DyDM1u7MXUWONAN8YqHw0w$PV2t3jIwYInprjMT+x7BgnJCtuiU/boGWozzRzpyFaE";

impl Store {
    /// Adds a user with a fresh random id and returns it. A taken username is
    /// [`StoreError::Conflict`]; a bad username, a hash that is not a PHC string or claims
    /// that are not a JSON object are [`StoreError::Invalid`].
    pub async fn add_user(&self, new: &NewUser, now: i64) -> Result<User, StoreError> {
        if !valid_username(&new.username) {
            return Err(StoreError::Invalid(
                "usernames are 1 to 64 characters of A-Z a-z 0-9 . _ @ -".into(),
            ));
        }
        if SecretHash::from_phc(&new.password_hash).is_err() {
            return Err(StoreError::Invalid(
                "password_hash is not an argon2 PHC string".into(),
            ));
        }
        check_json_object("claims", &new.claims)?;
        let user = User {
            id: handles::new_id()?,
            username: new.username.clone(),
            email: new.email.clone(),
            name: new.name.clone(),
            password_hash: new.password_hash.clone(),
            claims: new.claims.clone(),
            disabled: false,
            created_at: now,
            password_changed_at: now,
        };
        crate::db::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(user.id.as_str())
        .bind(user.username.as_str())
        .bind(user.email.as_deref())
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_str())
        .bind(user.claims.as_str())
        .bind(i64::from(user.disabled))
        .bind(user.created_at)
        .bind(user.password_changed_at)
        .execute(&self.writes)
        .await
        .map_err(|e| self.err(e))?;
        tracing::info!(user_id = %user.id, username = %user.username, "user added");
        Ok(user)
    }

    /// The user with this username, if any.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_user("username", username).await
    }

    /// The user with this id (the tokens' `sub`), if any.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.find_user("id", id).await
    }

    /// `column` is a fixed identifier, never input.
    async fn find_user(&self, column: &str, value: &str) -> Result<Option<User>, StoreError> {
        let row = crate::db::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = crate::db::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.reads)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Replaces a user's password hash and ends the user's login sessions (whoever signed in
    /// with the old password is signed out). Returns whether the user exists.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        if SecretHash::from_phc(password_hash).is_err() {
            return Err(StoreError::Invalid(
                "password_hash is not an argon2 PHC string".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let done = crate::db::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE username = $3",
        )
        .bind(password_hash)
        .bind(now)
        .bind(username)
        .execute(&mut tx)
        .await
        .map_err(|e| self.err(e))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        end_sessions_of(&mut tx, username, now)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        tracing::info!(username, "user password changed; login sessions ended");
        Ok(true)
    }

    /// Disables (or enables again) a user; disabling also ends the user's login sessions.
    /// Tokens already issued stay valid until they expire or their grant is revoked. Returns
    /// whether the user exists.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = crate::db::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(i64::from(disabled))
            .bind(username)
            .execute(&mut tx)
            .await
            .map_err(|e| self.err(e))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if disabled {
            end_sessions_of(&mut tx, username, now)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        tracing::info!(username, disabled, "user status changed");
        Ok(true)
    }

    /// Removes a user: revokes every access token issued under the user's grants (their
    /// revocation records stay until the tokens expire), then deletes the user with the
    /// grants, codes, refresh tokens, login sessions and consents. Returns whether the user
    /// existed.
    pub async fn remove_user(&self, username: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        crate::db::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN \
             (SELECT g.grant_id FROM grants g JOIN users u ON u.id = g.user_id \
              WHERE u.username = $2)",
        )
        .bind(now)
        .bind(username)
        .execute(&mut tx)
        .await
        .map_err(|e| self.err(e))?;
        let done = crate::db::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        let removed = done.rows_affected() > 0;
        if removed {
            tracing::info!(username, "user removed; its grants and tokens revoked");
        }
        Ok(removed)
    }

    /// The user, if `password` is theirs and they are not disabled. An unknown username costs
    /// the same argon2 verification (against a fixed dummy hash) as a wrong password, so the
    /// answer time does not tell which usernames exist. The hashing runs on the blocking pool,
    /// not on the async executor, in one of the process's argon2 slots ([`crate::argon2_slots`]).
    pub async fn verify_user_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let user = self.user_by_username(username).await?;
        let phc = user
            .as_ref()
            .map_or(DUMMY_HASH, |u| u.password_hash.as_str())
            .to_owned();
        let password = password.to_owned();
        let verified = crate::argon2_slots::run(move || verify_phc(&phc, &password))
            .await
            .unwrap_or(false);
        Ok(user.filter(|u| verified && !u.disabled))
    }
}

/// Whether `password` matches `phc`; an unparseable stored hash still costs a verification.
fn verify_phc(phc: &str, password: &str) -> bool {
    match SecretHash::from_phc(phc) {
        Ok(hash) => hash.verify(password),
        Err(_) => {
            tracing::error!("a stored password hash is not a PHC string; the login is refused");
            // Spend the time all the same.
            let _ = SecretHash::from_phc(DUMMY_HASH).map(|h| h.verify(password));
            false
        }
    }
}

/// Ends the open login sessions of the user named `username`.
async fn end_sessions_of(tx: &mut crate::db::Tx, username: &str, now: i64) -> Result<(), DbError> {
    crate::db::query(
        "UPDATE login_sessions SET ended_at = $1 WHERE ended_at IS NULL AND user_id IN \
         (SELECT id FROM users WHERE username = $2)",
    )
    .bind(now)
    .bind(username)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// `columns` (a comma-separated list of column names) qualified by the table alias `alias`, for
/// queries that join tables with column names in common.
pub(crate) fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// A record and its user in one query: `sql` selects the record's columns (read by
    /// `record`) and [`USER_COLUMNS`] of `users u` LEFT JOINed to it, with `$1` the SHA-256 of
    /// `secret` (a code or a refresh token). `Some((record, None))` when the user is gone.
    pub(crate) async fn fetch_with_user<T>(
        &self,
        sql: &'static str,
        secret: &str,
        record: fn(&Row) -> Result<T, DbError>,
    ) -> Result<Option<(T, Option<User>)>, StoreError> {
        let row = crate::db::query(sql)
            .bind(handles::sha256(secret).as_slice())
            .fetch_optional(&self.reads)
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let joined = || -> Result<_, DbError> {
            // The user's columns are NULL when the LEFT JOIN found no user.
            let user = match row.try_get::<Option<String>, _>("id")? {
                Some(_) => Some(user_from_row(&row)?),
                None => None,
            };
            Ok((record(&row)?, user))
        };
        joined().map(Some).map_err(|e| self.err(e))
    }
}

fn user_from_row(row: &Row) -> Result<User, DbError> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        claims: row.try_get("claims")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn qualified_columns() {
        assert_eq!(
            qualified("u", "id, name,\n   claims"),
            "u.id, u.name, u.claims"
        );
        assert_eq!(
            qualified("u", USER_COLUMNS).matches("u.").count(),
            USER_COLUMNS.split(',').count()
        );
    }

    #[test]
    fn usernames() {
        for ok in [
            "alice",
            "a",
            "alice.smith@example.com",
            "A_b-9",
            &"x".repeat(64),
        ] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in [
            "",
            " alice",
            "alice bob",
            "ålice",
            "a/b",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_costs() {
        let real = certbound_core::secret::hash_password("some password").unwrap();
        let params = |phc: &str| phc.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY_HASH), params(real.phc()));
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$"));
        assert!(SecretHash::from_phc(DUMMY_HASH).is_ok());
        assert!(!verify_phc(DUMMY_HASH, "some password"));
        assert!(!verify_phc("not a hash", "some password"));
    }
}
