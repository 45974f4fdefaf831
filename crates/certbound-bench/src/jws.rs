//! What the load generator signs for each request: RFC 9449 DPoP proofs and RFC 7523 client
//! assertions (`private_key_jwt`), ES256 with aws-lc-rs. The constant parts (the protected header,
//! the target URL, the access-token hash) are encoded once; each request costs one ECDSA signature,
//! a random `jti` and a small JSON object, so the server's proof check and replay store see a
//! fresh, unique JWT every time.

use anyhow::Context;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lifetime of a client assertion (`exp - iat`), in seconds: short, as RFC 7523 §3 advises, and
/// well inside what servers accept.
const ASSERTION_LIFETIME_SECONDS: u64 = 60;

/// A P-256 key that signs ES256 JWS.
pub struct Es256Key {
    pair: EcdsaKeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl Es256Key {
    /// A fresh key (a DPoP key lives as long as the run).
    pub fn generate() -> anyhow::Result<Self> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| anyhow::anyhow!("generating a P-256 key failed"))?;
        Ok(Self::new(pair))
    }

    /// A P-256 private key from a PEM file (PKCS#8 `PRIVATE KEY`, as `openssl genpkey` writes,
    /// or SEC1 `EC PRIVATE KEY`).
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let der = PrivateKeyDer::from_pem_file(path)
            .with_context(|| format!("reading a private key from {}", path.display()))?;
        let pair =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der())
                .map_err(|e| {
                    anyhow::anyhow!("{}: not a P-256 private key ({e})", path.display())
                })?;
        Ok(Self::new(pair))
    }

    fn new(pair: EcdsaKeyPair) -> Self {
        Self {
            pair,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        }
    }

    /// The key as PKCS#8 PEM (`PRIVATE KEY`), for a key generated here and handed to a server's
    /// registration.
    pub fn to_pkcs8_pem(&self) -> anyhow::Result<String> {
        let doc = self
            .pair
            .to_pkcs8v1()
            .map_err(|_| anyhow::anyhow!("exporting the key failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`): RFC 7518 §6.2.1.
    pub fn public_jwk(&self) -> serde_json::Value {
        // The public key is the uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = self.pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// A JWK Set holding the public key with `kid`, `alg ES256` and `use sig`: what a server
    /// registers as the client's `jwks`.
    pub fn public_jwks(&self, kid: &str) -> serde_json::Value {
        let mut jwk = self.public_jwk();
        jwk["kid"] = kid.into();
        jwk["alg"] = "ES256".into();
        jwk["use"] = "sig".into();
        serde_json::json!({ "keys": [jwk] })
    }

    /// `header_b64.claims_b64.signature_b64`, the claims being `claims` (JSON).
    fn sign_compact(&self, header_b64: &str, claims: &[u8]) -> anyhow::Result<String> {
        let mut jws = String::with_capacity(header_b64.len() + claims.len() * 4 / 3 + 90);
        jws.push_str(header_b64);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
        let signature = self
            .pair
            .sign(&self.rng, jws.as_bytes())
            .map_err(|_| anyhow::anyhow!("ES256 signing failed"))?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
        Ok(jws)
    }

    /// 128 random bits, base64url: a `jti` no server has seen.
    fn jti(&self) -> anyhow::Result<String> {
        let mut bytes = [0u8; 16];
        self.rng
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

fn b64_json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs DPoP proofs (RFC 9449 §4.2) for one method and URL, optionally for one access token.
#[derive(Clone)]
pub struct DpopSigner {
    key: Arc<Es256Key>,
    header_b64: Arc<str>,
    htm: &'static str,
    htu: Arc<str>,
    ath: Option<Arc<str>>,
}

impl DpopSigner {
    /// Proofs for `htm` requests to `htu` with `key` (its public JWK goes into every header).
    pub fn new(key: Arc<Es256Key>, htm: &'static str, htu: &str) -> Self {
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": key.public_jwk(),
        });
        Self {
            header_b64: b64_json(&header).into(),
            key,
            htm,
            htu: htu.into(),
            ath: None,
        }
    }

    /// The same key, for another URL (the gateway, after the token endpoint).
    pub fn for_url(&self, htu: &str) -> Self {
        Self {
            htu: htu.into(),
            ..self.clone()
        }
    }

    /// Proofs that also carry `ath`, the SHA-256 of `access_token` (RFC 9449 §4.2): for calls to
    /// a resource with a DPoP-bound token.
    pub fn with_access_token(&self, access_token: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
        Self {
            ath: Some(URL_SAFE_NO_PAD.encode(digest.as_ref()).into()),
            ..self.clone()
        }
    }

    /// The URL the proofs are for.
    pub fn htu(&self) -> &str {
        &self.htu
    }

    /// A new proof: fresh `jti`, `iat` now.
    pub fn proof(&self) -> anyhow::Result<String> {
        let mut claims = serde_json::json!({
            "jti": self.key.jti()?,
            "htm": self.htm,
            "htu": &*self.htu,
            "iat": now_secs(),
        });
        if let Some(ath) = &self.ath {
            claims["ath"] = (&**ath).into();
        }
        self.key
            .sign_compact(&self.header_b64, claims.to_string().as_bytes())
    }
}

/// Signs `private_key_jwt` client assertions (RFC 7523 §3, OpenID Connect Core §9).
pub struct AssertionSigner {
    key: Es256Key,
    header_b64: String,
    client_id: String,
    audience: String,
}

impl AssertionSigner {
    /// Assertions by `client_id` for `audience` (the issuer), signed with `key` named `kid`.
    pub fn new(key: Es256Key, kid: &str, client_id: &str, audience: &str) -> Self {
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
        Self {
            header_b64: b64_json(&header),
            key,
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// A new assertion: `iss` = `sub` = client_id, `aud`, fresh `jti`, `iat` now, `exp` a minute
    /// later.
    pub fn assertion(&self) -> anyhow::Result<String> {
        let iat = now_secs();
        let claims = serde_json::json!({
            "iss": &self.client_id,
            "sub": &self.client_id,
            "aud": &self.audience,
            "jti": self.key.jti()?,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECONDS,
        });
        self.key
            .sign_compact(&self.header_b64, claims.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    fn decode(segment: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    /// Checks the signature with the public key and returns (header, claims).
    fn verify(jws: &str, key: &Es256Key) -> (serde_json::Value, serde_json::Value) {
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3, "{jws}");
        let input = &jws[..parts[0].len() + 1 + parts[1].len()];
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.pair.public_key().as_ref())
            .verify(input.as_bytes(), &sig)
            .expect("a valid ES256 signature");
        (decode(parts[0]), decode(parts[1]))
    }

    #[test]
    fn dpop_proofs_are_signed_unique_and_carry_the_request() {
        let key = Arc::new(Es256Key::generate().unwrap());
        let signer = DpopSigner::new(key.clone(), "POST", "https://localhost:8444/token");
        let (h, c) = verify(&signer.proof().unwrap(), &key);
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["jwk"], key.public_jwk());
        assert!(h["jwk"].get("d").is_none(), "no private member");
        assert_eq!(c["htm"], "POST");
        assert_eq!(c["htu"], "https://localhost:8444/token");
        assert!(c.get("ath").is_none());
        let now = now_secs();
        assert!(c["iat"].as_u64().unwrap().abs_diff(now) <= 1);
        let (_, c2) = verify(&signer.proof().unwrap(), &key);
        assert_ne!(c["jti"], c2["jti"], "a fresh jti each time");
        assert_eq!(c["jti"].as_str().unwrap().len(), 22);

        let api = signer
            .for_url("https://localhost:9443/api/transactions")
            .with_access_token("token-value");
        let (_, c) = verify(&api.proof().unwrap(), &key);
        assert_eq!(c["htu"], "https://localhost:9443/api/transactions");
        // RFC 9449 §4.2: base64url(SHA-256(ASCII(access token))).
        let want = URL_SAFE_NO_PAD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"token-value").as_ref());
        assert_eq!(c["ath"], want.as_str());
    }

    #[test]
    fn client_assertions_name_the_client_and_the_audience() {
        let key = Es256Key::generate().unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, &pem).unwrap();
        let reloaded = Es256Key::from_pem_file(&path).unwrap();
        assert_eq!(reloaded.public_jwk(), key.public_jwk(), "PEM round trip");
        let jwks = reloaded.public_jwks("k1");
        assert_eq!(jwks["keys"][0]["kid"], "k1");
        assert_eq!(jwks["keys"][0]["alg"], "ES256");

        let signer = AssertionSigner::new(reloaded, "k1", "partner-jwt", "https://localhost:8443");
        let a = signer.assertion().unwrap();
        let (h, c) = verify(&a, &signer.key);
        assert_eq!(h["kid"], "k1");
        assert_eq!(h["alg"], "ES256");
        assert_eq!(c["iss"], "partner-jwt");
        assert_eq!(c["sub"], "partner-jwt");
        assert_eq!(c["aud"], "https://localhost:8443");
        let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
        assert_eq!(exp - iat, ASSERTION_LIFETIME_SECONDS);
        let (_, c2) = verify(&signer.assertion().unwrap(), &signer.key);
        assert_ne!(c["jti"], c2["jti"]);
    }

    #[test]
    fn a_key_that_is_not_p256_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(Es256Key::from_pem_file(&path).is_err());
    }
}
