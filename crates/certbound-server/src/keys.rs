//! Access-token signing keys: generated on first start, persisted in the store, published in the
//! JWKS by `kid`, rotated with `certbound keys rotate`, and reloaded periodically by every instance.
//!
//! Signing uses aws-lc-rs key pairs parsed once when the key ring is loaded; a JWS is assembled from
//! a pre-encoded header, so minting a token costs one signature and one JSON serialisation.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use certbound_core::oidc::id_token::ID_TOKEN_JWT_TYPE;
use certbound_core::token::INTROSPECTION_JWT_TYPE;
use certbound_store::{SigningKeyRecord, Store, StoreError};
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};

/// The JWS algorithms the AS signs with (DESIGN.md T1: never RS256, never `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    /// ECDSA P-256 SHA-256 (default).
    Es256,
    /// RSASSA-PSS SHA-256, 2048-bit keys.
    Ps256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// Parses the JOSE name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(SigningAlg::Es256),
            "PS256" => Some(SigningAlg::Ps256),
            "EdDSA" => Some(SigningAlg::EdDsa),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }
}

/// Why keys could not be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored key could not be parsed.
    #[error("signing key {kid}: {reason}")]
    BadKey {
        /// Key id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// Generation or signing failed in the crypto library.
    #[error("crypto: {0}")]
    Crypto(String),
}

enum Signer {
    Es256(EcdsaKeyPair),
    Ps256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// One parsed signing key.
pub struct SigningKey {
    /// Key id, published in the JWKS and in every token header.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    signer: Signer,
    /// base64url of the JWS header `{"alg","typ":"at+jwt","kid"}`.
    header_b64: String,
    /// base64url of the JWS header `{"alg","typ":"token-introspection+jwt","kid"}` (RFC 9701).
    introspection_header_b64: String,
    /// base64url of the JWS header `{"alg","typ":"JWT","kid"}` (OpenID Connect ID tokens).
    id_token_header_b64: String,
    /// The public JWK.
    pub public_jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.as_str())
    }
}

impl SigningKey {
    fn from_record(rec: &SigningKeyRecord) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::BadKey {
            kid: rec.kid.clone(),
            reason,
        };
        let alg =
            SigningAlg::parse(&rec.alg).ok_or_else(|| bad(format!("unknown alg {}", rec.alg)))?;
        let der = rec.private_pkcs8.as_slice();
        let (signer, public_jwk) = match alg {
            SigningAlg::Es256 => {
                let kp = EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                )
                .map_err(|e| bad(e.to_string()))?;
                let point = kp.public_key().as_ref();
                if point.len() != 65 {
                    return Err(bad("unexpected P-256 public key encoding".into()));
                }
                let jwk = json!({"kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
                (Signer::Es256(kp), jwk)
            }
            SigningAlg::EdDsa => {
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(kp.public_key().as_ref())});
                (Signer::EdDsa(kp), jwk)
            }
            SigningAlg::Ps256 => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
                let jwk = rsa_public_jwk(kp.public_key().as_ref())
                    .ok_or_else(|| bad("RSA public key".into()))?;
                (Signer::Ps256(kp), jwk)
            }
        };
        let mut public_jwk = public_jwk;
        if let Some(obj) = public_jwk.as_object_mut() {
            obj.insert("kid".into(), json!(rec.kid));
            obj.insert("use".into(), json!("sig"));
            obj.insert("alg".into(), json!(alg.as_str()));
        }
        let header = |typ: &str| {
            URL_SAFE_NO_PAD
                .encode(json!({"alg": alg.as_str(), "typ": typ, "kid": rec.kid}).to_string())
        };
        Ok(SigningKey {
            kid: rec.kid.clone(),
            alg,
            signer,
            header_b64: header("at+jwt"),
            introspection_header_b64: header(INTROSPECTION_JWT_TYPE),
            id_token_header_b64: header(ID_TOKEN_JWT_TYPE),
            public_jwk,
        })
    }

    /// Signs `claims` as a JWT access token (`typ: at+jwt`, RFC 9068).
    pub fn sign_jwt(&self, claims: &impl serde::Serialize) -> Result<String, KeyError> {
        self.sign_with_header(&self.header_b64, claims)
    }

    /// Signs an introspection answer (`typ: token-introspection+jwt`, RFC 9701). Its type is what
    /// keeps it from ever passing as an access token: every verifier of certbound's (the AS's own
    /// introspection and revocation, the gateway, the tower layer) accepts only `at+jwt` there.
    pub fn sign_introspection(
        &self,
        claims: &certbound_core::token::IntrospectionJwtClaims,
    ) -> Result<String, KeyError> {
        self.sign_with_header(&self.introspection_header_b64, claims)
    }

    /// Signs an OpenID Connect ID token (`typ: JWT`, same `alg` and `kid` as access tokens). Its
    /// type keeps it from passing as an access token anywhere certbound verifies one (`at+jwt`
    /// only), so a client cannot present its ID token as a bearer token.
    pub fn sign_id_token(
        &self,
        claims: &certbound_core::oidc::IdTokenClaims,
    ) -> Result<String, KeyError> {
        self.sign_with_header(&self.id_token_header_b64, claims)
    }

    /// Signs `claims` as a compact JWS with the pre-encoded header `header_b64`.
    fn sign_with_header(
        &self,
        header_b64: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 100);
        out.push_str(header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match &self.signer {
            Signer::Es256(kp) => kp
                .sign(&rng, out.as_bytes())
                .map_err(|e| KeyError::Crypto(e.to_string()))?
                .as_ref()
                .to_vec(),
            Signer::EdDsa(kp) => kp.sign(out.as_bytes()).as_ref().to_vec(),
            Signer::Ps256(kp) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(
                    &aws_lc_rs::signature::RSA_PSS_SHA256,
                    &rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
                sig
            }
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }

    /// Verifies a compact JWS's signature with this key (used by introspection and revocation of
    /// JWT access tokens this server issued).
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{
            UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PSS_2048_8192_SHA256,
        };
        match &self.signer {
            Signer::Es256(kp) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, kp.public_key().as_ref())
                    .verify(signing_input, signature)
                    .is_ok()
            }
            Signer::EdDsa(kp) => UnparsedPublicKey::new(&ED25519, kp.public_key().as_ref())
                .verify(signing_input, signature)
                .is_ok(),
            Signer::Ps256(kp) => {
                UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, kp.public_key().as_ref())
                    .verify(signing_input, signature)
                    .is_ok()
            }
        }
    }
}

/// Extracts (n, e) from a PKCS#1 RSAPublicKey DER and renders the JWK.
fn rsa_public_jwk(pkcs1: &[u8]) -> Option<Value> {
    use der::{asn1::UintRef, Decode, Reader, SliceReader};
    let mut reader = SliceReader::new(pkcs1).ok()?;
    let (n, e) = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let e = UintRef::decode(r)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .ok()?;
    Some(json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)}))
}

/// Generates a new private key for `alg` as PKCS#8 v1 DER.
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    use aws_lc_rs::encoding::AsDer;
    let rng = SystemRandom::new();
    let crypto = |e: aws_lc_rs::error::Unspecified| KeyError::Crypto(e.to_string());
    Ok(match alg {
        SigningAlg::Es256 => EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(crypto)?
        .as_ref()
        .to_vec(),
        SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(crypto)?
            .as_ref()
            .to_vec(),
        SigningAlg::Ps256 => {
            let kp = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(crypto)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = kp.as_der().map_err(crypto)?;
            der.as_ref().to_vec()
        }
    })
}

/// A new random key id.
fn new_kid() -> String {
    let mut bytes = [0u8; 12];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The keys of this server: the one that signs and every one still published.
pub struct KeyRing {
    /// Signs new tokens.
    pub active: Arc<SigningKey>,
    /// Every published key (including the active one), for verification and the JWKS.
    pub published: Vec<Arc<SigningKey>>,
    /// The JWKS document, serialised once.
    pub jwks: Bytes,
}

impl KeyRing {
    /// A published key by id.
    pub fn key(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.published.iter().find(|k| k.kid == kid)
    }
}

/// The shared, periodically reloaded key ring.
#[derive(Clone)]
pub struct Keys {
    ring: Arc<RwLock<Arc<KeyRing>>>,
}

impl Keys {
    /// The current key ring (a cheap `Arc` clone; the lock is held only for the clone).
    pub fn current(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads the keys from the store, generating the first key of `alg` if there is none.
    pub async fn load_or_init(store: &Store, alg: SigningAlg, now: i64) -> Result<Keys, KeyError> {
        let ring = load_ring(store, alg, now, true).await?;
        Ok(Keys {
            ring: Arc::new(RwLock::new(Arc::new(ring))),
        })
    }

    /// Re-reads the store (after a rotation by any instance).
    pub async fn reload(&self, store: &Store, alg: SigningAlg, now: i64) -> Result<(), KeyError> {
        let ring = load_ring(store, alg, now, false).await?;
        match self.ring.write() {
            Ok(mut g) => *g = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        Ok(())
    }
}

async fn load_ring(
    store: &Store,
    alg: SigningAlg,
    now: i64,
    may_create: bool,
) -> Result<KeyRing, KeyError> {
    let mut records = store.signing_keys().await?;
    let has_active = records
        .iter()
        .any(|r| r.retired_at.is_none() && r.alg == alg.as_str());
    if !has_active {
        if !may_create {
            return Err(KeyError::BadKey {
                kid: "-".into(),
                reason: format!("no active {} key in the store", alg.as_str()),
            });
        }
        // First start, or the configured algorithm changed: add a key of that algorithm.
        rotate_in_store(store, alg, now, 0).await?;
        records = store.signing_keys().await?;
    }
    let mut published = Vec::new();
    let mut active = None;
    for rec in records
        .iter()
        .filter(|r| r.publish_until.is_none_or(|t| t > now))
    {
        let key = Arc::new(SigningKey::from_record(rec)?);
        if rec.retired_at.is_none() && rec.alg == alg.as_str() {
            active = Some(key.clone()); // records are oldest first: the newest wins
        }
        published.push(key);
    }
    let active = active.ok_or_else(|| KeyError::BadKey {
        kid: "-".into(),
        reason: "no active key".into(),
    })?;
    let jwks = json!({"keys": published.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()});
    Ok(KeyRing {
        active,
        published,
        jwks: Bytes::from(jwks.to_string()),
    })
}

/// Adds a new active key of `alg` and retires every other active key, keeping retired keys
/// published for `keep_published_seconds` (at least the token lifetime, so tokens they signed
/// still verify). Returns the new key id.
pub async fn rotate_in_store(
    store: &Store,
    alg: SigningAlg,
    now: i64,
    keep_published_seconds: i64,
) -> Result<String, KeyError> {
    let pkcs8 = generate_pkcs8(alg)?;
    let kid = new_kid();
    let mut rec = SigningKeyRecord {
        kid: kid.clone(),
        alg: alg.as_str().to_owned(),
        private_pkcs8: pkcs8,
        public_jwk: String::new(),
        created_at: now,
        retired_at: None,
        publish_until: None,
    };
    rec.public_jwk = SigningKey::from_record(&rec)?.public_jwk.to_string();
    let previous: Vec<String> = store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|r| r.retired_at.is_none())
        .map(|r| r.kid)
        .collect();
    store.insert_signing_key(&rec).await?;
    for old in previous {
        store
            .retire_signing_key(&old, now, now + keep_published_seconds)
            .await?;
    }
    Ok(kid)
}
