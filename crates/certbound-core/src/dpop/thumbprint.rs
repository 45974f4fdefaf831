//! RFC 7638 JWK thumbprints: the `jkt` a DPoP-bound token carries in `cnf` (RFC 9449 §6.1) and
//! the value of `dpop_jkt` (RFC 9449 §10).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::DpopError;

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding.
///
/// Only the required members of the key type take part (EC: `crv`, `kty`, `x`, `y`; OKP: `crv`,
/// `kty`, `x`; RSA: `e`, `kty`, `n`), in lexicographic order, with no whitespace (RFC 7638 §3.2),
/// so extra members such as `kid`, `alg` or `use` never change the thumbprint. A key of another
/// type, or with a required member missing or not a string, is refused.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, DpopError> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let members: &[&str] = match member("kty") {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return Err(DpopError::BadKey),
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = member(name).ok_or(DpopError::BadKey)?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a JSON string with the minimal escaping RFC 7638 §3.3 asks for.
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7638 §3.1.
    #[test]
    fn rfc7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn member_order_and_extra_members_do_not_matter() {
        let a = json!({"kty": "OKP", "crv": "Ed25519", "x": "abc"});
        let b = json!({"x": "abc", "use": "sig", "crv": "Ed25519", "kty": "OKP", "kid": "1"});
        assert_eq!(jwk_thumbprint(&a).unwrap(), jwk_thumbprint(&b).unwrap());
    }

    #[test]
    fn unknown_types_and_missing_members_are_refused() {
        for jwk in [
            json!({"kty": "oct", "k": "abc"}),
            json!({"kty": "EC", "crv": "P-256", "x": "abc"}),
            json!({"kty": "RSA", "n": "abc", "e": 3}),
            json!({"n": "abc", "e": "AQAB"}),
            json!("RSA"),
        ] {
            assert_eq!(jwk_thumbprint(&jwk), Err(DpopError::BadKey), "{jwk}");
        }
    }
}
