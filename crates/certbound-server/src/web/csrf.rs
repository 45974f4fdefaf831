//! CSRF tokens of the login and consent forms: one random token per interaction, kept in the
//! interaction's stored state and sent in a hidden field, compared in constant time. Together
//! with the `SameSite=Lax` interaction cookie (a cross-site POST does not carry it) this keeps
//! another site from submitting the forms for the user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The name of the hidden field.
pub const FIELD: &str = "csrf";

/// A fresh token: 256 random bits, base64url. `None` only if the system generator fails.
pub fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether the submitted token is the interaction's (constant time; a missing one never is).
pub fn matches(expected: &str, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else {
        return false;
    };
    !expected.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            expected.as_bytes(),
            submitted.as_bytes(),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(matches(&a, Some(&a)));
        assert!(!matches(&a, Some(&b)));
        assert!(!matches(&a, Some(&a[1..])));
        assert!(!matches(&a, None));
        assert!(!matches("", Some("")));
    }
}
