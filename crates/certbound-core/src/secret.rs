//! Client secrets and user passwords, stored only as argon2id hashes and checked in constant time.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

/// A client secret's argon2id hash (PHC string). The plaintext is never kept.
#[derive(Clone)]
pub struct SecretHash {
    phc: String,
}

/// Why a secret or hash was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The given hash is not an argon2 PHC string.
    #[error("not an argon2 PHC hash string (expected '$argon2id$v=19$...')")]
    BadHash,
    /// The secret is too short to resist guessing.
    #[error("client secrets must be at least {0} characters")]
    TooShort(usize),
    /// The password is too short (user passwords; see [`MIN_PASSWORD_LEN`]).
    #[error("passwords must be at least {0} characters")]
    PasswordTooShort(usize),
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// The shortest secret accepted; RFC 6749 §10.10 asks for secrets that resist guessing.
pub const MIN_SECRET_LEN: usize = 16;

/// The shortest user password accepted (OWASP ASVS 2.1.1 asks for at least 8 characters).
pub const MIN_PASSWORD_LEN: usize = 8;

/// argon2id memory cost for user passwords, in KiB: OWASP's 19 MiB.
pub const PASSWORD_M_COST_KIB: u32 = 19 * 1024;
/// argon2id iterations for user passwords (OWASP: 2).
pub const PASSWORD_T_COST: u32 = 2;
/// argon2id parallelism for user passwords (OWASP: 1).
pub const PASSWORD_P_COST: u32 = 1;

/// The argon2id hasher for user passwords, with OWASP's parameters pinned here rather than
/// taken from the crate's defaults (which may change between releases).
fn password_hasher() -> Result<Argon2<'static>, SecretError> {
    let params = Params::new(PASSWORD_M_COST_KIB, PASSWORD_T_COST, PASSWORD_P_COST, None)
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a user's password: argon2id with m=19 MiB, t=2, p=1 (OWASP Password Storage Cheat
/// Sheet) and a fresh salt. Refuses passwords shorter than [`MIN_PASSWORD_LEN`] characters.
/// Takes tens of milliseconds of CPU on purpose: call it off the async executor.
pub fn hash_password(password: &str) -> Result<SecretHash, SecretError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(SecretError::PasswordTooShort(MIN_PASSWORD_LEN));
    }
    let salt = SaltString::generate(&mut OsRng);
    let phc = password_hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| SecretError::Hash(e.to_string()))?
        .to_string();
    Ok(SecretHash { phc })
}

impl SecretHash {
    /// Hashes a plaintext secret with a fresh salt.
    pub fn hash(secret: &str) -> Result<Self, SecretError> {
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort(MIN_SECRET_LEN));
        }
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| SecretError::Hash(e.to_string()))?
            .to_string();
        Ok(SecretHash { phc })
    }

    /// Accepts an existing PHC hash string (e.g. from configuration).
    pub fn from_phc(phc: &str) -> Result<Self, SecretError> {
        PasswordHash::new(phc).map_err(|_| SecretError::BadHash)?;
        Ok(SecretHash {
            phc: phc.to_owned(),
        })
    }

    /// The PHC string, for storage.
    pub fn phc(&self) -> &str {
        &self.phc
    }

    /// Whether `presented` is the secret. The comparison inside argon2 is constant-time.
    pub fn verify(&self, presented: &str) -> bool {
        match PasswordHash::new(&self.phc) {
            Ok(hash) => Argon2::default()
                .verify_password(presented.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = SecretHash::hash("correct horse battery staple").unwrap();
        assert!(h.verify("correct horse battery staple"));
        assert!(!h.verify("correct horse battery stapl"));
        assert!(!h.verify(""));
        let again = SecretHash::from_phc(h.phc()).unwrap();
        assert!(again.verify("correct horse battery staple"));
    }

    #[test]
    fn short_secrets_and_bad_hashes_are_rejected() {
        assert!(matches!(
            SecretHash::hash("short"),
            Err(SecretError::TooShort(_))
        ));
        assert!(matches!(
            SecretHash::from_phc("plaintext"),
            Err(SecretError::BadHash)
        ));
    }

    #[test]
    fn passwords_use_owasp_argon2id_parameters() {
        let h = hash_password("correct horse").unwrap();
        assert!(
            h.phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.phc()
        );
        assert!(h.verify("correct horse"));
        assert!(!h.verify("correct hors"));
        assert!(matches!(
            hash_password("1234567"),
            Err(SecretError::PasswordTooShort(8))
        ));
        // Eight characters, not eight bytes.
        assert!(hash_password("ääääääää").is_ok());
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let h = SecretHash::hash("0123456789abcdef").unwrap();
        assert_eq!(format!("{h:?}"), "SecretHash(<redacted>)");
    }
}
