//! DPoP proofs (RFC 9449) as a client makes them, for the black-box tests: an ES256 proof key,
//! its RFC 7638 thumbprint computed here independently of the server, and signed proofs with
//! fresh `jti`s (and `ath` / `nonce` when asked).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_pki::{jwk_for_certificate, self_signed, KeyAlgorithm, LeafSpec, SubjectSpec};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// A proof key: the private key PEM and its public JWK.
#[derive(Clone)]
pub struct ProofKey {
    /// PKCS#8 PEM of the P-256 private key.
    pub pem: String,
    /// The public JWK (`kty`, `crv`, `x`, `y` only).
    pub jwk: Value,
}

impl ProofKey {
    /// A fresh P-256 key.
    pub fn new() -> ProofKey {
        let c = self_signed(
            &LeafSpec::client(SubjectSpec::cn("dpop-key")).with_key(KeyAlgorithm::EcdsaP256),
        )
        .expect("a P-256 key");
        let full = jwk_for_certificate(&c.cert_der).expect("its JWK");
        ProofKey {
            pem: c.key_pem.clone(),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": full["x"], "y": full["y"]}),
        }
    }

    /// RFC 7638 SHA-256 thumbprint (`jkt`), computed here independently of the server.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            self.jwk["x"].as_str().expect("x"),
            self.jwk["y"].as_str().expect("y")
        );
        let d = aws_lc_rs_digest(canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(d)
    }

    /// A proof with exactly `claims`, signed with `header` members merged over the usual
    /// `typ: dpop+jwt`, `alg: ES256` and `jwk`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("a JWK"));
        encode(
            &header,
            claims,
            &EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("the key"),
        )
        .expect("a signed proof")
    }

    /// A fresh proof for `htm` `htu` (no `ath`, no `nonce`).
    pub fn proof(&self, htm: &str, htu: &str) -> String {
        self.sign(&claims(htm, htu, None, None))
    }

    /// A fresh proof for a resource request with `access_token` (`ath`), and `nonce` if given.
    pub fn proof_for(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.sign(&claims(htm, htu, access_token, nonce))
    }
}

impl Default for ProofKey {
    fn default() -> Self {
        ProofKey::new()
    }
}

/// The claims of a fresh proof: a unique `jti`, `iat` now, `ath` and `nonce` when given.
pub fn claims(htm: &str, htu: &str, access_token: Option<&str>, nonce: Option<&str>) -> Value {
    let mut c = json!({"jti": fresh_jti(), "htm": htm, "htu": htu, "iat": now()});
    if let Some(t) = access_token {
        c["ath"] = json!(ath(t));
    }
    if let Some(n) = nonce {
        c["nonce"] = json!(n);
    }
    c
}

/// `ath`: base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs_digest(access_token.as_bytes()))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A `jti` never used before in this process.
pub fn fresh_jti() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("dpop-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

/// SHA-256 through the one crypto provider.
fn aws_lc_rs_digest(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}
