//! RFC 9068 JWT access-token validation against the authorization server's JWKS.

use super::fetch::{get_json, FetchCause};
use super::{now_secs, token_hash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::token::{INTROSPECTION_JWT_MEDIA_TYPE, INTROSPECTION_JWT_TYPE};
use certbound_core::Thumbprint;
use certbound_net::token_cache::BoundedCache;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a [`Verifier`] accepts.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The issuer; metadata is discovered from `{issuer}/.well-known/oauth-authorization-server`.
    pub issuer: String,
    /// The required `aud`; `None` means the issuer (certbound's default audience).
    pub audience: Option<String>,
    /// Accepted JWS algorithms. Default ES256, PS256, EdDSA (DESIGN.md T1); `none` and HMAC are
    /// never accepted whatever this says.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The shortest interval between two JWKS fetches triggered by an unknown `kid`.
    pub jwks_min_refresh: Duration,
    /// How many verified tokens are remembered (by hash, until `exp`).
    pub cache_capacity: usize,
}

impl VerifierConfig {
    /// Defaults for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        VerifierConfig {
            issuer: issuer.into(),
            audience: None,
            algorithms: vec![Algorithm::ES256, Algorithm::PS256, Algorithm::EdDSA],
            leeway_seconds: 30,
            jwks_min_refresh: Duration::from_secs(5),
            cache_capacity: 10_000,
        }
    }
}

/// Why a token was refused. Descriptions are safe to show a client (RFC 6750 `error_description`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT (or opaque token) at all.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not on the allow-list (including `none` and HMAC).
    #[error("signing algorithm not allowed")]
    AlgorithmNotAllowed,
    /// `typ` is not `at+jwt`, or a `crit` header is present.
    #[error("not an access token (typ must be at+jwt)")]
    WrongType,
    /// No published key has this `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// `cnf` holds neither `x5t#S256` nor `jkt`, or both (an unknown confirmation method is never read as "unbound").
    #[error("unsupported confirmation method")]
    UnsupportedConfirmation,
    /// The authorization server says the token is not active (or does not know it).
    #[error("token is not active")]
    Inactive,
    /// The authorization server or its JWKS could not be reached.
    #[error("authorization server unavailable")]
    Unavailable(String),
    /// Too many introspection calls for the presenting certificate: retry after this many
    /// seconds (the token itself may well be valid, so this is not `invalid_token`).
    #[error("too many introspection calls")]
    RateLimited(u64),
}

impl TokenError {
    /// A short description for `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed token",
            TokenError::AlgorithmNotAllowed => "signing algorithm not allowed",
            TokenError::WrongType => "not an access token",
            TokenError::UnknownKey => "unknown signing key",
            TokenError::BadSignature => "invalid signature",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::WrongIssuer => "wrong issuer",
            TokenError::WrongAudience => "wrong audience",
            TokenError::UnsupportedConfirmation => "unsupported confirmation method",
            TokenError::Inactive => "token is not active",
            TokenError::Unavailable(_) => "authorization server unavailable",
            TokenError::RateLimited(_) => "too many new tokens; retry later",
        }
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A document could not be fetched.
    #[error("fetching {url}: {cause}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why, in words.
        cause: FetchCause,
    },
    /// The metadata's issuer differs from the configured one (RFC 8414 §3.3).
    #[error("{url}: the metadata's issuer is {}, not the configured {expected} (RFC 8414 §3.3)",
        found.as_deref().map(|f| format!("\"{f}\"")).unwrap_or_else(|| "missing".to_owned()))]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: Option<String>,
    },
    /// The metadata has no `jwks_uri`.
    #[error("{0}: no jwks_uri in the metadata")]
    NoJwksUri(String),
    /// The metadata has no (usable) introspection endpoint, and the gateway introspects.
    #[error("{0}")]
    NoIntrospectionEndpoint(String),
}

impl DiscoveryError {
    /// Whether the failure is a TLS one (then the CAs the gateway trusts are worth naming).
    pub fn is_tls(&self) -> bool {
        matches!(self, DiscoveryError::Fetch { cause, .. } if cause.is_tls())
    }
}

/// The claims of a verified access token.
#[derive(Clone, Debug)]
pub struct TokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: Option<String>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    pub nbf: Option<i64>,
    /// Issued at.
    pub iat: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `cnf.x5t#S256`, when the token is certificate-bound.
    pub x5t_s256: Option<Thumbprint>,
    /// `cnf.jkt` (RFC 9449 §6), when the token is bound to a DPoP key. At most one of
    /// `x5t_s256` and `jkt` is set: a token with both is refused.
    pub jkt: Option<String>,
}

impl TokenClaims {
    /// Whether every scope in `required` was granted.
    pub fn has_scopes(&self, required: &[String]) -> bool {
        required.iter().all(|r| self.scopes.contains(r))
    }
}

/// A token that passed validation.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// The JWT as received (or as returned by introspection): what the upstream is given.
    pub raw: Arc<str>,
    /// Its claims (shared: a cached token is handed to every request that presents it).
    pub claims: Arc<TokenClaims>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    aud: OneOrMany,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    cnf: Option<serde_json::Map<String, Value>>,
}

/// The claims of an introspection answer in JWT form (RFC 9701 §5) that are read here; `iss`
/// and `aud` are required and checked by the JWT library.
#[derive(Deserialize)]
struct RawIntrospection {
    iat: i64,
    token_introspection: serde_json::Map<String, Value>,
}

/// Whether a JWS `typ` names an RFC 9068 access token.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Whether a JWS `typ` names an RFC 9701 introspection answer.
fn is_introspection_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(INTROSPECTION_JWT_TYPE)
        || typ.eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE)
}

/// The `typ` of a compact JWS, unverified (only to choose which verification applies).
fn peek_type(jwt: &str) -> Option<String> {
    let header_b64 = jwt.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
    header.get("typ")?.as_str().map(str::to_owned)
}

fn decode_error(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
            TokenError::BadSignature
        }
        K::ExpiredSignature => TokenError::Expired,
        K::ImmatureSignature => TokenError::NotYetValid,
        K::InvalidIssuer => TokenError::WrongIssuer,
        K::InvalidAudience => TokenError::WrongAudience,
        K::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
        _ => TokenError::Malformed,
    }
}

struct Key {
    key: DecodingKey,
    alg: Option<Algorithm>,
}

struct KeyState {
    keys: HashMap<String, Arc<Key>>,
    last_fetch: Instant,
}

struct Inner {
    config: VerifierConfig,
    audience: String,
    metadata: Value,
    jwks_uri: String,
    /// `None` for a static key set (nothing is ever fetched).
    http: Option<reqwest::Client>,
    keys: Mutex<KeyState>,
    cache: BoundedCache<VerifiedToken>,
}

/// Validates access tokens of one authorization server. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, DiscoveryError> {
    get_json(http, url)
        .await
        .map_err(|cause| DiscoveryError::Fetch {
            url: url.to_owned(),
            cause,
        })
}

fn parse_keys(jwks: Value) -> HashMap<String, Arc<Key>> {
    let set: JwkSet = match serde_json::from_value(jwks) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the JWKS does not parse; no keys loaded");
            return HashMap::new();
        }
    };
    set.keys
        .iter()
        .filter_map(|jwk: &Jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            Some((kid, Arc::new(Key { key, alg })))
        })
        .collect()
}

impl Verifier {
    /// Fetches the issuer's metadata (the issuer must match byte for byte) and its JWKS.
    pub async fn discover(
        config: VerifierConfig,
        http: reqwest::Client,
    ) -> Result<Verifier, DiscoveryError> {
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            config.issuer.trim_end_matches('/')
        );
        let metadata = fetch_json(&http, &url).await?;
        let found = metadata.get("issuer").and_then(Value::as_str);
        if found != Some(config.issuer.as_str()) {
            return Err(DiscoveryError::IssuerMismatch {
                url,
                expected: config.issuer.clone(),
                found: found.map(str::to_owned),
            });
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| DiscoveryError::NoJwksUri(url.clone()))?
            .to_owned();
        let keys = parse_keys(fetch_json(&http, &jwks_uri).await?);
        let audience = config
            .audience
            .clone()
            .unwrap_or_else(|| config.issuer.clone());
        let cache = BoundedCache::new(config.cache_capacity);
        Ok(Verifier {
            inner: Arc::new(Inner {
                config,
                audience,
                metadata,
                jwks_uri,
                http: Some(http),
                keys: Mutex::new(KeyState {
                    keys,
                    last_fetch: Instant::now(),
                }),
                cache,
            }),
        })
    }

    /// A verifier with a fixed JWK Set and no discovery (for APIs configured with static keys,
    /// and for tests). An unknown `kid` is refused; nothing is ever fetched.
    pub fn from_jwks(config: VerifierConfig, jwks: Value) -> Verifier {
        let audience = config
            .audience
            .clone()
            .unwrap_or_else(|| config.issuer.clone());
        let cache = BoundedCache::new(config.cache_capacity);
        Verifier {
            inner: Arc::new(Inner {
                audience,
                metadata: serde_json::json!({ "issuer": config.issuer }),
                jwks_uri: String::new(),
                http: None,
                keys: Mutex::new(KeyState {
                    keys: parse_keys(jwks),
                    last_fetch: Instant::now(),
                }),
                cache,
                config,
            }),
        }
    }

    /// The authorization server's metadata document.
    pub fn metadata(&self) -> &Value {
        &self.inner.metadata
    }

    /// Lookups of the verified-token cache since start: (hits, misses).
    pub fn cache_stats(&self) -> (u64, u64) {
        self.inner.cache.stats()
    }

    /// Validates a JWT access token (see the crate docs for every check). Successful results
    /// are cached by token hash until `exp`; the certificate binding is *not* checked here (it
    /// depends on the connection, see [`crate::binding`]).
    pub async fn verify(&self, jwt: &str) -> Result<VerifiedToken, TokenError> {
        let hash = token_hash(jwt);
        if let Some(hit) = self.inner.cache.get(&hash) {
            if hit.claims.exp + self.inner.config.leeway_seconds as i64 > now_secs() {
                return Ok(hit);
            }
        }
        let verified = self.verify_uncached(jwt).await?;
        let remaining = verified.claims.exp + self.inner.config.leeway_seconds as i64 - now_secs();
        if remaining > 0 {
            self.inner.cache.insert(
                hash,
                verified.clone(),
                Instant::now() + Duration::from_secs(remaining as u64),
            );
        }
        Ok(verified)
    }

    /// Verifies a signed introspection answer (RFC 9701: `typ: token-introspection+jwt`) from
    /// this verifier's issuer, addressed to `audience` (the client_id that introspected, e.g.
    /// the gateway's), and returns the introspected token's claims. What an upstream behind the
    /// gateway receives for an opaque token; it is never accepted by [`Verifier::verify`], so it
    /// cannot be replayed as an access token.
    ///
    /// Checks: the header (alg allow-list, typ, no `crit`, known `kid`) and signature, `iss`,
    /// `aud` ∋ `audience`, `iat` not in the future, `token_introspection.active == true`, and the
    /// introspected token's own `iss`, `aud` (this verifier's audience), `exp`, `nbf` and `cnf`,
    /// as for a JWT access token. Results are not cached here: a cache shared with
    /// [`Verifier::verify`] (keyed by the token's hash) would let one kind pass as the other.
    pub async fn verify_introspection(
        &self,
        jwt: &str,
        audience: &str,
    ) -> Result<VerifiedToken, TokenError> {
        let (alg, key) = self.checked_header(jwt, is_introspection_type).await?;
        let mut validation = Validation::new(alg);
        validation.leeway = self.inner.config.leeway_seconds;
        validation.validate_exp = false;
        validation.set_issuer(&[&self.inner.config.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud"]);
        let doc = jsonwebtoken::decode::<RawIntrospection>(jwt, &key.key, &validation)
            .map_err(decode_error)?
            .claims;
        if doc.iat > now_secs() + self.inner.config.leeway_seconds as i64 {
            return Err(TokenError::NotYetValid);
        }
        if doc.token_introspection.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError::Inactive);
        }
        let raw: RawClaims = serde_json::from_value(Value::Object(doc.token_introspection))
            .map_err(|_| TokenError::Malformed)?;
        let leeway = self.inner.config.leeway_seconds as i64;
        let now = now_secs();
        if raw.iss != self.inner.config.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let audiences = match &raw.aud {
            OneOrMany::One(a) => std::slice::from_ref(a),
            OneOrMany::Many(a) => a.as_slice(),
        };
        if !audiences.iter().any(|a| *a == self.inner.audience) {
            return Err(TokenError::WrongAudience);
        }
        if raw.exp + leeway <= now {
            return Err(TokenError::Expired);
        }
        if raw.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(VerifiedToken {
            raw: Arc::from(jwt),
            claims: Arc::new(token_claims(raw)?),
        })
    }

    /// What an upstream behind the gateway verifies: a JWT access token (`at+jwt`, forwarded as
    /// the client sent it) or, when `introspection_audience` (the gateway's client_id) is given, a
    /// signed introspection answer addressed to it (what the gateway forwards for an opaque token).
    pub async fn verify_forwarded(
        &self,
        jwt: &str,
        introspection_audience: Option<&str>,
    ) -> Result<VerifiedToken, TokenError> {
        match introspection_audience {
            Some(aud) if peek_type(jwt).is_some_and(|t| is_introspection_type(&t)) => {
                self.verify_introspection(jwt, aud).await
            }
            _ => self.verify(jwt).await,
        }
    }

    /// The header checks shared by both kinds of JWT: size and shape, the alg allow-list (never
    /// `none` or HMAC), `typ` (as `accepts_type` says), no `crit`, and a known `kid` whose key
    /// fits the alg.
    async fn checked_header(
        &self,
        jwt: &str,
        accepts_type: fn(&str) -> bool,
    ) -> Result<(Algorithm, Arc<Key>), TokenError> {
        if jwt.len() > 16 * 1024 || jwt.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header_b64 = jwt.split('.').next().unwrap_or("");
        let header: Value = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Algorithm>().ok())
            .ok_or(TokenError::AlgorithmNotAllowed)?;
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
            || !self.inner.config.algorithms.contains(&alg)
        {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        if !accepts_type(typ) || header.get("crit").is_some() {
            return Err(TokenError::WrongType);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| k.len() <= 256)
            .ok_or(TokenError::UnknownKey)?;
        let key = self.key(kid).await?;
        if key.alg.is_some_and(|a| a != alg) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        Ok((alg, key))
    }

    async fn verify_uncached(&self, jwt: &str) -> Result<VerifiedToken, TokenError> {
        // Only an access token's type: a signed introspection answer (or an ID token, or any
        // other JWT the AS signs) never passes here.
        let (alg, key) = self.checked_header(jwt, is_access_token_type).await?;
        let mut validation = Validation::new(alg);
        validation.leeway = self.inner.config.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.inner.config.issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<RawClaims>(jwt, &key.key, &validation).map_err(decode_error)?;
        Ok(VerifiedToken {
            raw: Arc::from(jwt),
            claims: Arc::new(token_claims(data.claims)?),
        })
    }

    /// The key for `kid`, refetching the JWKS (rate-limited) when it is unknown.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, TokenError> {
        let may_refresh = {
            let mut state = self.inner.keys.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = state.keys.get(kid) {
                return Ok(k.clone());
            }
            let due = state.last_fetch.elapsed() >= self.inner.config.jwks_min_refresh;
            if due {
                state.last_fetch = Instant::now();
            }
            due
        };
        let Some(http) = self.inner.http.as_ref().filter(|_| may_refresh) else {
            return Err(TokenError::UnknownKey);
        };
        let jwks = fetch_json(http, &self.inner.jwks_uri)
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let keys = parse_keys(jwks);
        let mut state = self.inner.keys.lock().unwrap_or_else(|p| p.into_inner());
        state.keys = keys;
        tracing::info!(
            keys = state.keys.len(),
            "refetched the JWKS after an unknown kid"
        );
        state.keys.get(kid).cloned().ok_or(TokenError::UnknownKey)
    }
}

/// The claims of a verified token, with `cnf` read strictly: an unknown confirmation method is
/// refused, never read as "unbound".
fn token_claims(c: RawClaims) -> Result<TokenClaims, TokenError> {
    // One known method: `x5t#S256` (RFC 8705) or `jkt` (RFC 9449). Neither, or both at once,
    // is refused (a token holds one proof-of-possession method).
    let (x5t_s256, jkt) = match &c.cnf {
        None => (None, None),
        Some(cnf) => match (cnf.get("x5t#S256"), cnf.get("jkt")) {
            (Some(Value::String(t)), None) => (Some(Thumbprint::from_claim(t)), None),
            (None, Some(Value::String(k))) if !k.is_empty() => (None, Some(k.clone())),
            _ => return Err(TokenError::UnsupportedConfirmation),
        },
    };
    Ok(TokenClaims {
        iss: c.iss,
        sub: c.sub,
        aud: match c.aud {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        },
        exp: c.exp,
        nbf: c.nbf,
        iat: c.iat,
        jti: c.jti,
        client_id: c.client_id,
        scopes: c
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        x5t_s256,
        jkt,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    pub(crate) const ISS: &str = "https://as.example";

    pub(crate) struct Signer {
        key: EncodingKey,
        pub(crate) jwks: Value,
        public_x: String,
    }

    pub(crate) fn signer(kid: &str) -> Signer {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = kp.public_key().as_ref().to_vec();
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        Signer {
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwks: json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"}]}),
            public_x: x,
        }
    }

    pub(crate) fn claims() -> Value {
        let now = now_secs();
        json!({"iss": ISS, "sub": "c", "aud": ISS, "exp": now + 300, "iat": now, "jti": "j", "client_id": "c",
               "scope": "transactions read", "cnf": {"x5t#S256": "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"}})
    }

    pub(crate) fn sign(s: &Signer, kid: &str, typ: &str, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.to_owned());
        h.typ = Some(typ.to_owned());
        encode(&h, claims, &s.key).unwrap()
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[tokio::test]
    async fn validation_table() {
        let s = signer("k1");
        let other = signer("k1");
        let v = Verifier::from_jwks(VerifierConfig::new(ISS), s.jwks.clone());
        let good = sign(&s, "k1", "at+jwt", &claims());
        let ok = v.verify(&good).await.unwrap();
        assert_eq!(ok.claims.client_id.as_deref(), Some("c"));
        assert_eq!(ok.claims.scopes, vec!["transactions", "read"]);
        assert_eq!(
            ok.claims.x5t_s256.as_ref().unwrap().as_str(),
            "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"
        );
        assert!(v
            .verify(&sign(&s, "k1", "application/at+jwt", &claims()))
            .await
            .is_ok());

        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            c
        };
        let now = now_secs();
        let cases: Vec<(String, TokenError)> = vec![
            (sign(&s, "k1", "JWT", &claims()), TokenError::WrongType),
            (
                sign(&other, "k1", "at+jwt", &claims()),
                TokenError::BadSignature,
            ),
            (sign(&s, "k2", "at+jwt", &claims()), TokenError::UnknownKey),
            // A huge kid: looked up, not found, no allocation beyond the token's bound.
            (
                sign(&s, &"k".repeat(8000), "at+jwt", &claims()),
                TokenError::UnknownKey,
            ),
            // Over the 16 KiB bound as a whole: refused before any parsing.
            (
                sign(&s, &"k".repeat(13000), "at+jwt", &claims()),
                TokenError::Malformed,
            ),
            (
                sign(&s, "k1", "at+jwt", &with(&|c| c["exp"] = json!(now - 120))),
                TokenError::Expired,
            ),
            (
                sign(&s, "k1", "at+jwt", &with(&|c| c["nbf"] = json!(now + 120))),
                TokenError::NotYetValid,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "at+jwt",
                    &with(&|c| c["iss"] = json!("https://as.example/")),
                ),
                TokenError::WrongIssuer,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "at+jwt",
                    &with(&|c| c["aud"] = json!(["https://other.example"])),
                ),
                TokenError::WrongAudience,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "at+jwt",
                    &with(&|c| c["cnf"] = json!({"x5t#S512": "abc"})),
                ),
                TokenError::UnsupportedConfirmation,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "at+jwt",
                    &with(&|c| c["cnf"] = json!({"x5t#S256": 5})),
                ),
                TokenError::UnsupportedConfirmation,
            ),
            (
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})),
                    b64(&claims())
                ),
                TokenError::AlgorithmNotAllowed,
            ),
            ("a.b".to_owned(), TokenError::Malformed),
            ("x".repeat(20_000), TokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token).await.unwrap_err(), expected, "{token:.60}");
        }
        // Audience given as an array containing ours is fine.
        assert!(v
            .verify(&sign(
                &s,
                "k1",
                "at+jwt",
                &with(&|c| c["aud"] = json!(["x", ISS]))
            ))
            .await
            .is_ok());

        // alg confusion: HS256 keyed with the public key.
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        h.typ = Some("at+jwt".into());
        let hs = encode(
            &h,
            &claims(),
            &EncodingKey::from_secret(s.public_x.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&hs).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed
        );
        // A crit header the verifier does not understand.
        let parts: Vec<&str> = good.split('.').collect();
        let crit = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1", "crit": ["exp"]})),
            parts[1],
            parts[2]
        );
        assert_eq!(v.verify(&crit).await.unwrap_err(), TokenError::WrongType);
        // RS256 is not accepted unless configured.
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("k1".into());
        let rs = format!(
            "{}.{}.sig",
            b64(&serde_json::to_value(&h).unwrap()),
            parts[1]
        );
        assert_eq!(
            v.verify(&rs).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed
        );
    }

    /// A signed introspection answer (RFC 9701) about a token with `claims`.
    pub(crate) fn answer(s: &Signer, typ: &str, aud: &str, token_introspection: Value) -> String {
        let doc = json!({"iss": ISS, "aud": aud, "iat": now_secs(), "token_introspection": token_introspection});
        sign(s, "k1", typ, &doc)
    }

    pub(crate) fn active(claims: Value) -> Value {
        let mut c = claims;
        c["active"] = json!(true);
        c["token_type"] = json!("Bearer");
        c
    }

    #[tokio::test]
    async fn introspection_answers_and_access_tokens_never_pass_for_each_other() {
        let s = signer("k1");
        let v = Verifier::from_jwks(VerifierConfig::new(ISS), s.jwks.clone());
        let good = answer(&s, "token-introspection+jwt", "gateway", active(claims()));
        let ok = v.verify_introspection(&good, "gateway").await.unwrap();
        assert_eq!(ok.claims.client_id.as_deref(), Some("c"));
        assert_eq!(ok.claims.scopes, vec!["transactions", "read"]);
        assert!(ok.claims.x5t_s256.is_some());
        assert_eq!(&*ok.raw, good.as_str());
        assert!(v
            .verify_introspection(
                &answer(
                    &s,
                    "application/token-introspection+jwt",
                    "gateway",
                    active(claims())
                ),
                "gateway"
            )
            .await
            .is_ok());

        // The answer is not an access token, whatever checks it: verify, twice (no cache
        // shared between the two kinds), and verify_forwarded without the gateway's id.
        for _ in 0..2 {
            assert_eq!(v.verify(&good).await.unwrap_err(), TokenError::WrongType);
        }
        assert_eq!(
            v.verify_forwarded(&good, None).await.unwrap_err(),
            TokenError::WrongType
        );
        assert!(v.verify_forwarded(&good, Some("gateway")).await.is_ok());
        // And an access token is not an answer.
        let token = sign(&s, "k1", "at+jwt", &claims());
        assert!(v.verify(&token).await.is_ok());
        assert_eq!(
            v.verify_introspection(&token, "gateway").await.unwrap_err(),
            TokenError::WrongType
        );
        assert!(v.verify_forwarded(&token, Some("gateway")).await.is_ok());

        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = active(claims());
            f(&mut c);
            c
        };
        let now = now_secs();
        let other = signer("k1");
        let cases: Vec<(String, TokenError)> = vec![
            // Addressed to another client (e.g. the token's own client introspected it).
            (
                answer(&s, "token-introspection+jwt", "partner-a", active(claims())),
                TokenError::WrongAudience,
            ),
            (
                answer(&s, "JWT", "gateway", active(claims())),
                TokenError::WrongType,
            ),
            (
                answer(
                    &other,
                    "token-introspection+jwt",
                    "gateway",
                    active(claims()),
                ),
                TokenError::BadSignature,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    json!({"active": false}),
                ),
                TokenError::Inactive,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| c["active"] = json!("true")),
                ),
                TokenError::Inactive,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| c["exp"] = json!(now - 120)),
                ),
                TokenError::Expired,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| c["iss"] = json!("https://other")),
                ),
                TokenError::WrongIssuer,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| c["aud"] = json!("https://other")),
                ),
                TokenError::WrongAudience,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| c["cnf"] = json!({"jkt": "x", "x5t#S256": "y"})),
                ),
                TokenError::UnsupportedConfirmation,
            ),
            (
                answer(
                    &s,
                    "token-introspection+jwt",
                    "gateway",
                    with(&|c| {
                        c.as_object_mut().unwrap().remove("exp");
                    }),
                ),
                TokenError::Malformed,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "token-introspection+jwt",
                    &json!({"iss": ISS, "aud": "gateway", "iat": now + 600, "token_introspection": active(claims())}),
                ),
                TokenError::NotYetValid,
            ),
            (
                sign(
                    &s,
                    "k1",
                    "token-introspection+jwt",
                    &json!({"iss": "https://other", "aud": "gateway", "iat": now, "token_introspection": active(claims())}),
                ),
                TokenError::WrongIssuer,
            ),
        ];
        for (jwt, expected) in cases {
            assert_eq!(
                v.verify_introspection(&jwt, "gateway").await.unwrap_err(),
                expected,
                "{:?}",
                jwt_payload(&jwt)
            );
        }
    }

    fn jwt_payload(jwt: &str) -> Value {
        let p = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn unbound_tokens_have_no_thumbprint_and_results_are_cached() {
        let s = signer("k1");
        let v = Verifier::from_jwks(VerifierConfig::new(ISS), s.jwks.clone());
        let mut c = claims();
        c.as_object_mut().unwrap().remove("cnf");
        let t = sign(&s, "k1", "at+jwt", &c);
        let first = v.verify(&t).await.unwrap();
        assert!(first.claims.x5t_s256.is_none());
        assert_eq!(v.inner.cache.len(), 1);
        let again = v.verify(&t).await.unwrap();
        assert!(Arc::ptr_eq(&first.raw, &again.raw), "served from the cache");
    }
}
