//! Verification of one DPoP proof JWT (RFC 9449 §4.3).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::htu::NormalisedHtu;
use super::nonce::NonceScheme;
use super::thumbprint::jwk_thumbprint;
use super::{DpopAlg, DpopError};

/// The largest proof accepted, in bytes (a PS256 proof with a 4096-bit key is about 2 KiB).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// The longest `jti` accepted, in bytes (it becomes a key in the replay store).
pub const MAX_JTI_BYTES: usize = 128;

/// The smallest RSA modulus accepted, in bytes (FAPI 2.0 §5.4.1: 2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the endpoint expects of a proof.
#[derive(Clone, Copy, Debug)]
pub struct ProofExpectations<'a> {
    /// The HTTP method of the request (`POST` at the token endpoint), compared exactly.
    pub htm: &'a str,
    /// The public URL of the endpoint (from the configured issuer or mTLS URL, never from the
    /// `Host` header); only scheme, host, port and path count.
    pub htu: &'a str,
    /// At a resource: the access token presented with the proof. Then `ath` is required and
    /// must be base64url(SHA-256(token)) (RFC 9449 §4.3 step 12).
    pub access_token: Option<&'a str>,
    /// The server's nonce scheme, when it requires nonces (RFC 9449 §8, §9): the proof's
    /// `nonce` claim must be one the scheme accepts at `now`, else [`DpopError::UseNonce`].
    pub nonce: Option<&'a NonceScheme>,
    /// The algorithms this endpoint accepts (normally [`DpopAlg::ALL`]).
    pub allowed_algs: &'a [DpopAlg],
    /// How old `iat` may be, in seconds.
    pub max_age_seconds: i64,
    /// How far in the future `iat` may be (clock skew), in seconds.
    pub max_future_seconds: i64,
}

/// A proof that passed every check [`DpopProof::verify`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof key: the `cnf.jkt` of a token issued on this
    /// request, or the value to compare with the `cnf.jkt` of the token presented.
    pub jkt: String,
    /// The `jti`, for the caller's replay check.
    pub jti: String,
    /// The `iat`; a replay entry need not outlive `iat + max_age_seconds`.
    pub iat: i64,
    /// The normalised `htu` (scheme, host, port, path), to key replay entries on normalised
    /// values rather than raw ones.
    pub htu: String,
}

/// The DPoP proof rules (RFC 9449 §4.3).
#[derive(Debug)]
pub struct DpopProof;

impl DpopProof {
    /// Verifies one `DPoP` header value at `now` (seconds since the epoch).
    ///
    /// Checks, in order: size; one compact JWS; header `typ` = `dpop+jwt`, `alg` allowed, no
    /// `crit`, a public `jwk` whose type matches `alg`; the signature with that key; the claims
    /// `jti`, `htm`, `htu`, `iat`, `ath` (when an access token is expected) and `nonce` (when the
    /// server requires one: accepted by its [`NonceScheme`]). Unknown header members and claims, `nbf` and `exp` included, are ignored.
    /// The nonce is checked last, so [`DpopError::UseNonce`] means the proof is otherwise good.
    pub fn verify(
        proof: &str,
        expect: &ProofExpectations<'_>,
        now: i64,
    ) -> Result<VerifiedProof, DpopError> {
        if proof.len() > MAX_PROOF_BYTES {
            return Err(DpopError::TooLarge);
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed);
        };
        if signature_b64.is_empty() {
            return Err(DpopError::Malformed);
        }
        let header = json_object(header_b64)?;
        let claims = json_object(claims_b64)?;

        if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
            return Err(DpopError::WrongType);
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(DpopAlg::from_name)
            .filter(|a| expect.allowed_algs.contains(a))
            .ok_or(DpopError::UnsupportedAlg)?;
        if header.contains_key("crit") {
            return Err(DpopError::CriticalHeader);
        }
        let jwk = header.get("jwk").ok_or(DpopError::MissingKey)?;
        let key = public_key(jwk, alg)?;
        let signing_input = &proof[..header_b64.len() + 1 + claims_b64.len()];
        let valid = jsonwebtoken::crypto::verify(
            signature_b64,
            signing_input.as_bytes(),
            &key,
            alg.jsonwebtoken(),
        )
        .map_err(|_| DpopError::BadSignature)?;
        if !valid {
            return Err(DpopError::BadSignature);
        }
        let jkt = jwk_thumbprint(jwk)?;

        let jti = string_claim(&claims, "jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
            return Err(DpopError::BadJti);
        }
        if string_claim(&claims, "htm")? != expect.htm {
            return Err(DpopError::MethodMismatch);
        }
        let htu =
            NormalisedHtu::parse(string_claim(&claims, "htu")?).ok_or(DpopError::UrlMismatch)?;
        if Some(&htu) != NormalisedHtu::parse(expect.htu).as_ref() {
            return Err(DpopError::UrlMismatch);
        }
        let iat = numeric_date(claims.get("iat")).ok_or(DpopError::MissingClaim("iat"))?;
        if iat < now.saturating_sub(expect.max_age_seconds) {
            return Err(DpopError::Stale);
        }
        if iat > now.saturating_add(expect.max_future_seconds) {
            return Err(DpopError::Future);
        }
        if let Some(token) = expect.access_token {
            let ath = string_claim(&claims, "ath")?;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
            let want = URL_SAFE_NO_PAD.encode(digest.as_ref());
            if !bool::from(ath.as_bytes().ct_eq(want.as_bytes())) {
                return Err(DpopError::AccessTokenHash);
            }
        }
        if let Some(scheme) = expect.nonce {
            let sent = claims.get("nonce").and_then(Value::as_str);
            if !sent.is_some_and(|n| scheme.accepts(n, now)) {
                return Err(DpopError::UseNonce);
            }
        }
        Ok(VerifiedProof {
            jkt,
            jti: jti.to_owned(),
            iat,
            htu: htu.into_string(),
        })
    }
}

/// Decodes one base64url (unpadded) segment holding a JSON object.
fn json_object(segment: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| DpopError::Malformed)?;
    // Duplicate member names are refused (RFC 7515 §5.2 allows it; certbound requires it).
    crate::jose_json::parse_object(&bytes).ok_or(DpopError::Malformed)
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<&'c str, DpopError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(DpopError::MissingClaim(name))
}

/// A JSON NumericDate (RFC 7519 §2): an integer, or a finite number truncated to seconds.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let f = value.as_f64().filter(|f| f.is_finite())?;
    // Out-of-range values saturate; the window check then refuses them.
    Some(f as i64)
}

/// Checks that `jwk` is a public key of the type `alg` needs and builds the verification key.
fn public_key(jwk: &Value, alg: DpopAlg) -> Result<DecodingKey, DpopError> {
    let jwk = jwk.as_object().ok_or(DpopError::MissingKey)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or(DpopError::BadKey)
    };
    let decoded_len = |name: &str| -> Result<usize, DpopError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(member(name)?)
            .map_err(|_| DpopError::BadKey)?;
        Ok(bytes.len())
    };
    let kty = member("kty")?;
    match alg {
        DpopAlg::Es256 => {
            if kty != "EC" || member("crv")? != "P-256" {
                return Err(DpopError::BadKey);
            }
            if decoded_len("x")? != 32 || decoded_len("y")? != 32 {
                return Err(DpopError::BadKey);
            }
            DecodingKey::from_ec_components(member("x")?, member("y")?)
        }
        DpopAlg::EdDsa => {
            if kty != "OKP" || member("crv")? != "Ed25519" || decoded_len("x")? != 32 {
                return Err(DpopError::BadKey);
            }
            DecodingKey::from_ed_components(member("x")?)
        }
        DpopAlg::Ps256 => {
            if kty != "RSA" {
                return Err(DpopError::BadKey);
            }
            let n = URL_SAFE_NO_PAD
                .decode(member("n")?)
                .map_err(|_| DpopError::BadKey)?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES || decoded_len("e")? == 0 {
                return Err(DpopError::BadKey);
            }
            DecodingKey::from_rsa_components(member("n")?, member("e")?)
        }
    }
    .map_err(|_| DpopError::BadKey)
}
