//! Secret-like values the store hands out (authorization codes, refresh tokens, session ids,
//! request_uri handles, interaction ids): 256 random bits, base64url, stored only as SHA-256.
//! Also the random, public identifiers of users, grants and sessions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::StoreError;

/// A fresh secret value: the text handed out once, and the hash that is stored.
pub(crate) struct Handle {
    /// The value given to the client or browser; never stored.
    pub(crate) text: String,
    /// Its SHA-256, the only form in the database.
    pub(crate) hash: Vec<u8>,
}

/// `N` bytes from the system's CSPRNG.
fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(bytes)
}

/// A new secret value: 256 random bits, unpadded base64url (43 characters).
pub(crate) fn new_handle() -> Result<Handle, StoreError> {
    let text = URL_SAFE_NO_PAD.encode(random::<32>()?);
    let hash = sha256(&text);
    Ok(Handle { text, hash })
}

/// A new public identifier: 128 random bits, lowercase hex (32 characters).
pub(crate) fn new_id() -> Result<String, StoreError> {
    Ok(hex::encode(random::<16>()?))
}

/// SHA-256 of a handle as presented, for lookups.
pub(crate) fn sha256(text: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

/// Constant-time equality of two hashes (e.g. a browser binding).
pub(crate) fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_random_and_stored_hashed() {
        let a = new_handle().unwrap();
        let b = new_handle().unwrap();
        assert_eq!(a.text.len(), 43);
        assert_ne!(a.text, b.text);
        assert_eq!(a.hash, sha256(&a.text));
        assert_eq!(a.hash.len(), 32);
        let id = new_id().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(hashes_equal(&a.hash, &sha256(&a.text)));
        assert!(!hashes_equal(&a.hash, &b.hash));
        assert!(!hashes_equal(&a.hash, &a.hash[..31]));
    }
}
