//! `private_key_jwt` client assertions (RFC 7521, RFC 7523 §3, OIDC Core §9, FAPI 2.0 §5.3.2.1),
//! checked as one pure decision.
//!
//! [`ClientAssertion::verify`] takes the compact JWS from the `client_assertion` form parameter,
//! the rules of the deployment ([`AssertionExpectations`]: which client, which audience rule,
//! which algorithms, how long an assertion may live, how much clock skew) and the client's
//! registered JWK Set, and returns the `jti` and `exp` the caller must record in the shared replay
//! store (`certbound_store::jti`). Nothing here reads a clock, a store or the network.
//!
//! Every failure is an [`AssertionError`] whose text is a decision-trace line (words, never the
//! token); the client only ever sees the generic `invalid_client` of
//! [`AssertionError::to_oauth_error`].

use crate::error::OAuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// The only `client_assertion_type` certbound accepts (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest `client_assertion` accepted, in bytes: far above any real assertion, so a hostile
/// one costs bounded decoding work.
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// The longest `jti` accepted, in bytes (it is hashed for the store, but must stay bounded).
pub const MAX_JTI_BYTES: usize = 256;

/// The smallest RSA modulus accepted for PS256, in bits (FAPI 2.0 §5.4.1: 2048).
pub const MIN_RSA_BITS: usize = 2048;

/// The algorithms FAPI 2.0 §5.4.1 allows and certbound implements: PS256, ES256, EdDSA (Ed25519).
pub const FAPI_ALGORITHMS: &[AssertionAlg] = &[
    AssertionAlg::Ps256,
    AssertionAlg::Es256,
    AssertionAlg::EdDsa,
];

/// The most keys accepted in one client JWK Set (shared with `self_signed_tls_client_auth`).
pub use crate::jwks::MAX_KEYS;

/// A signing algorithm an assertion may use. `none`, the HMAC family and RS256 have no variant,
/// so they can never be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssertionAlg {
    /// RSASSA-PSS with SHA-256, RSA key of at least [`MIN_RSA_BITS`].
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA with an Ed25519 key (`crv` `Ed25519`).
    EdDsa,
}

impl AssertionAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlg::Ps256 => "PS256",
            AssertionAlg::Es256 => "ES256",
            AssertionAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named by a JOSE `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PS256" => Some(AssertionAlg::Ps256),
            "ES256" => Some(AssertionAlg::Es256),
            "EdDSA" => Some(AssertionAlg::EdDsa),
            _ => None,
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            AssertionAlg::Ps256 => Algorithm::PS256,
            AssertionAlg::Es256 => Algorithm::ES256,
            AssertionAlg::EdDsa => Algorithm::EdDSA,
        }
    }

    /// The `kty` (and `crv`, where there is one) of a key that can verify this algorithm.
    fn key_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            AssertionAlg::Ps256 => ("RSA", None),
            AssertionAlg::Es256 => ("EC", Some("P-256")),
            AssertionAlg::EdDsa => ("OKP", Some("Ed25519")),
        }
    }
}

/// Which `aud` values an assertion may carry: a per-profile policy (FAPI2.md §2.9 trap 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudienceRule {
    /// FAPI 2.0 Final (§5.3.2.1-8) and draft-ietf-oauth-rfc7523bis: `aud` is a JSON string
    /// exactly equal to the issuer identifier. An array (even `[issuer]`), the token endpoint URL
    /// or the PAR endpoint URL is refused.
    IssuerOnly(String),
    /// RFC 7523 §3 and RFC 9126 §2: `aud` is one of these values (typically the issuer, the token
    /// endpoint and the PAR endpoint), as a string or as a member of an array.
    Any(Vec<String>),
}

impl AudienceRule {
    /// Whether the `aud` claim satisfies the rule.
    fn accepts(&self, aud: &Value) -> Result<(), AssertionError> {
        match (self, aud) {
            (AudienceRule::IssuerOnly(issuer), Value::String(s)) if s == issuer => Ok(()),
            (AudienceRule::IssuerOnly(_), Value::Array(_)) => Err(AssertionError::AudienceArray),
            (AudienceRule::IssuerOnly(_), Value::String(_)) => {
                Err(AssertionError::AudienceNotIssuer)
            }
            (AudienceRule::Any(allowed), Value::String(s)) if allowed.contains(s) => Ok(()),
            (AudienceRule::Any(allowed), Value::Array(members)) => {
                if members.is_empty() || !members.iter().all(Value::is_string) {
                    return Err(AssertionError::Malformed("aud is not a string or strings"));
                }
                if members
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|m| allowed.iter().any(|a| a == m))
                {
                    Ok(())
                } else {
                    Err(AssertionError::AudienceNotAccepted)
                }
            }
            (AudienceRule::Any(_), Value::String(_)) => Err(AssertionError::AudienceNotAccepted),
            _ => Err(AssertionError::Malformed("aud is not a string or strings")),
        }
    }
}

/// How far the client's clock may be from ours (FAPI 2.0 §5.3.2.1-13, FAPI2.md G13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSkew {
    /// How far in the future `iat` and `nbf` may be. FAPI requires accepting at least 10 s and
    /// refusing more than 60 s, so a FAPI deployment keeps this within `10..=60`
    /// ([`ClockSkew::is_fapi_compliant`]).
    pub max_future_seconds: i64,
    /// How long after `exp` an assertion still counts, for a client clock running behind. `0`:
    /// `exp` must be strictly after now.
    pub expired_grace_seconds: i64,
}

impl ClockSkew {
    /// The FAPI default: `iat`/`nbf` up to 30 s ahead (inside the 10–60 s band), no grace on `exp`.
    pub const FAPI: ClockSkew = ClockSkew {
        max_future_seconds: 30,
        expired_grace_seconds: 0,
    };

    /// Whether the bounds satisfy FAPI G13: at least 10 s and at most 60 s ahead accepted, and a
    /// non-negative grace on `exp` of at most 60 s.
    pub fn is_fapi_compliant(&self) -> bool {
        (10..=60).contains(&self.max_future_seconds)
            && (0..=60).contains(&self.expired_grace_seconds)
    }
}

impl Default for ClockSkew {
    fn default() -> Self {
        ClockSkew::FAPI
    }
}

/// What the server expects of one client's assertion.
#[derive(Clone, Debug)]
pub struct AssertionExpectations {
    /// The client the assertion must authenticate: `iss` and `sub` must both equal it.
    pub client_id: String,
    /// The `aud` policy of the profile.
    pub audience: AudienceRule,
    /// The algorithms accepted: the client's registered `token_endpoint_auth_signing_alg` alone,
    /// or [`FAPI_ALGORITHMS`].
    pub allowed_algs: Vec<AssertionAlg>,
    /// The longest lifetime accepted: `exp - iat`, or `exp - now` when there is no `iat`
    /// (e.g. 300 s). This also bounds how long the replay store keeps the `jti`.
    pub max_lifetime_seconds: i64,
    /// Clock-skew bounds.
    pub clock_skew: ClockSkew,
}

impl AssertionExpectations {
    /// The FAPI 2.0 expectations for `client_id` at the server `issuer`: issuer-only audience,
    /// [`FAPI_ALGORITHMS`], 300 s lifetime, [`ClockSkew::FAPI`].
    pub fn fapi(client_id: impl Into<String>, issuer: impl Into<String>) -> Self {
        AssertionExpectations {
            client_id: client_id.into(),
            audience: AudienceRule::IssuerOnly(issuer.into()),
            allowed_algs: FAPI_ALGORITHMS.to_vec(),
            max_lifetime_seconds: 300,
            clock_skew: ClockSkew::FAPI,
        }
    }
}

/// What a verified assertion leaves for the caller's replay check: record `jti` for the client
/// until `exp` (plus the grace), and refuse the request when it was already recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's `jti`.
    pub jti: String,
    /// The assertion's `exp` (seconds since the epoch).
    pub exp: i64,
    /// The algorithm it was signed with.
    pub alg: AssertionAlg,
    /// The `kid` of the key that verified it, if the key had one.
    pub kid: Option<String>,
}

/// Why an assertion was refused. The text is a decision-trace line for the log and audit: it
/// never contains the assertion or a claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// `client_assertion_type` is missing or not the JWT bearer type.
    #[error("client_assertion_type is not urn:ietf:params:oauth:client-assertion-type:jwt-bearer")]
    WrongAssertionType,
    /// Longer than [`MAX_ASSERTION_BYTES`].
    #[error("the assertion is longer than {MAX_ASSERTION_BYTES} bytes")]
    TooLong,
    /// Not a compact JWS with a JSON header and JSON claims, or a claim of the wrong type.
    #[error("the assertion is malformed: {0}")]
    Malformed(&'static str),
    /// `alg` is not one of the allowed algorithms (this covers `none`, HS*, RS256).
    #[error("the assertion's alg is not allowed")]
    AlgNotAllowed,
    /// The header carries `crit`: no JWS extension is understood here.
    #[error("the assertion's header has a crit parameter, which is not supported")]
    CriticalHeader,
    /// `typ` names another kind of JWT (a request object, an access token).
    #[error("the assertion's typ is not a client-assertion type")]
    WrongType,
    /// The client's JWK Set is unusable (see [`validate_client_jwks`]).
    #[error("the client's JWK Set is unusable: {0}")]
    BadJwks(#[from] ClientJwksError),
    /// No registered key has the `kid` and a type that fits `alg`.
    #[error("no registered key matches the assertion's kid and alg")]
    UnknownKey,
    /// No `kid`, and not exactly one registered key fits `alg`.
    #[error("the assertion has no kid and the client has no single key of the alg's type")]
    AmbiguousKey,
    /// The matching key is too weak or malformed for the algorithm.
    #[error("the registered key for the assertion's kid is unusable for its alg")]
    UnusableKey,
    /// The signature does not verify with the selected key.
    #[error("the assertion's signature does not verify")]
    BadSignature,
    /// `iss` is missing or not the client.
    #[error("the assertion's iss is not the client_id")]
    WrongIssuer,
    /// `sub` is missing or not the client (a request object has no `sub`: FAPI2.md §2.9 trap 4).
    #[error("the assertion's sub is missing or not the client_id")]
    WrongSubject,
    /// `aud` is missing.
    #[error("the assertion has no aud")]
    MissingAudience,
    /// Issuer-only rule: `aud` is an array (even one holding the issuer).
    #[error("the assertion's aud is an array; this server accepts only its issuer as a string")]
    AudienceArray,
    /// Issuer-only rule: `aud` is a string other than the issuer (e.g. an endpoint URL).
    #[error("the assertion's aud is not this server's issuer")]
    AudienceNotIssuer,
    /// Any-of rule: no `aud` value is the issuer or an accepted endpoint.
    #[error("the assertion's aud names neither the issuer nor an accepted endpoint")]
    AudienceNotAccepted,
    /// `exp` is missing.
    #[error("the assertion has no exp")]
    MissingExpiry,
    /// `exp` has passed.
    #[error("the assertion has expired")]
    Expired,
    /// `exp - iat` (or `exp - now`) exceeds the maximum lifetime.
    #[error("the assertion's lifetime exceeds {0} seconds")]
    LifetimeTooLong(i64),
    /// `iat` is further in the future than the skew allows.
    #[error("the assertion's iat is more than {0} seconds in the future")]
    IssuedInFuture(i64),
    /// `nbf` is further in the future than the skew allows.
    #[error("the assertion's nbf is more than {0} seconds in the future")]
    NotYetValid(i64),
    /// `jti` is missing or empty.
    #[error("the assertion has no jti")]
    MissingJti,
    /// `jti` is longer than [`MAX_JTI_BYTES`].
    #[error("the assertion's jti is longer than {MAX_JTI_BYTES} bytes")]
    JtiTooLong,
}

impl AssertionError {
    /// The response the client sees: a generic `invalid_client` (401) that never says which check
    /// failed (FAPI2.md §2.9 "Errors"); the reason goes to the log through `Display`.
    pub fn to_oauth_error(&self) -> OAuthError {
        OAuthError::invalid_client("client authentication failed")
    }
}

/// Why a client JWK Set cannot be used for `private_key_jwt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientJwksError {
    /// Not a JSON object with a `keys` array of objects.
    #[error("a JWK Set must be a JSON object with a \"keys\" array of objects")]
    NotAJwks,
    /// More than [`MAX_KEYS`] keys.
    #[error("a JWK Set may hold at most {MAX_KEYS} keys")]
    TooManyKeys,
    /// A key carries private or symmetric material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`,
    /// `k`): the key is compromised by having been sent; register only public keys.
    #[error("key {0} holds private key material; register only public keys")]
    PrivateMember(usize),
    /// A key has no string `kty`.
    #[error("key {0} has no kty")]
    MissingKty(usize),
    /// Two keys share a `kid`, so a `kid` could not select one key.
    #[error("key {0} repeats the kid of an earlier key")]
    DuplicateKid(usize),
}

/// The JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks a client's JWK Set (`jwks`, or the document at `jwks_uri`) for `private_key_jwt`:
/// a `keys` array of at most [`MAX_KEYS`] objects, each with a `kty`, none with private or
/// symmetric members, no repeated `kid`. Registration refuses a set that fails; verification
/// checks again, because a `jwks_uri` document can change.
pub fn validate_client_jwks(jwks: &Value) -> Result<(), ClientJwksError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(ClientJwksError::NotAJwks)?;
    if keys.len() > MAX_KEYS {
        return Err(ClientJwksError::TooManyKeys);
    }
    let mut kids: Vec<&str> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_object().ok_or(ClientJwksError::NotAJwks)?;
        if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
            return Err(ClientJwksError::PrivateMember(i));
        }
        if !key.get("kty").is_some_and(Value::is_string) {
            return Err(ClientJwksError::MissingKty(i));
        }
        if let Some(kid) = key.get("kid").and_then(Value::as_str) {
            if kids.contains(&kid) {
                return Err(ClientJwksError::DuplicateKid(i));
            }
            kids.push(kid);
        }
    }
    Ok(())
}

/// Whether the `client_assertion_type` form value is the JWT bearer type (RFC 7523 §2.2).
pub fn check_assertion_type(value: Option<&str>) -> Result<(), AssertionError> {
    match value {
        Some(JWT_BEARER_ASSERTION_TYPE) => Ok(()),
        _ => Err(AssertionError::WrongAssertionType),
    }
}

/// The decoded parts of a compact JWS, before its signature is checked.
struct Parts<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

fn decode_json(part: &str, what: &'static str) -> Result<Map<String, Value>, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AssertionError::Malformed(what))?;
    // Duplicate member names are refused (RFC 7515 §5.2 allows it; certbound requires it).
    crate::jose_json::parse_object(&bytes).ok_or(AssertionError::Malformed(what))
}

fn split(assertion: &str) -> Result<Parts<'_>, AssertionError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionError::TooLong);
    }
    let mut it = assertion.split('.');
    let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(AssertionError::Malformed(
            "not a compact JWS of three parts",
        ));
    };
    if s.is_empty() {
        return Err(AssertionError::Malformed("the signature is empty"));
    }
    let header = decode_json(h, "the header is not base64url JSON object")?;
    let claims = decode_json(c, "the claims are not a base64url JSON object")?;
    Ok(Parts {
        header,
        claims,
        signing_input: &assertion[..h.len() + 1 + c.len()],
        signature: s,
    })
}

/// A NumericDate claim: an integer, or a finite number cut to whole seconds.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, AssertionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => {
            if let Some(i) = v.as_i64() {
                return Ok(Some(i));
            }
            match v.as_f64() {
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
                _ => Err(AssertionError::Malformed("a date claim is not a number")),
            }
        }
    }
}

/// Whether the `typ` header allows a client assertion: absent, `JWT`, or
/// `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis), with or without `application/`.
fn typ_is_acceptable(typ: Option<&Value>) -> Result<(), AssertionError> {
    let Some(typ) = typ else { return Ok(()) };
    let typ = typ
        .as_str()
        .ok_or(AssertionError::Malformed("typ is not a string"))?;
    let bare = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    if bare.eq_ignore_ascii_case("jwt") || bare.eq_ignore_ascii_case("client-authentication+jwt") {
        Ok(())
    } else {
        Err(AssertionError::WrongType)
    }
}

/// The registered key that verifies `alg` for `kid`: by `kid` and type when the header names one,
/// else the only key of the algorithm's type. A key whose `use` is not `sig`, or whose `alg`
/// names another algorithm, never matches.
fn select_key<'k>(
    keys: &'k [Value],
    kid: Option<&str>,
    alg: AssertionAlg,
) -> Result<&'k Map<String, Value>, AssertionError> {
    let (kty, crv) = alg.key_type();
    let fits = |key: &&'k Map<String, Value>| {
        key.get("kty").and_then(Value::as_str) == Some(kty)
            && crv.is_none_or(|c| key.get("crv").and_then(Value::as_str) == Some(c))
            && key.get("use").is_none_or(|u| u.as_str() == Some("sig"))
            && key
                .get("alg")
                .is_none_or(|a| a.as_str() == Some(alg.as_str()))
    };
    let objects = keys.iter().filter_map(Value::as_object);
    match kid {
        Some(kid) => objects
            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .find(fits)
            .ok_or(AssertionError::UnknownKey),
        None => {
            let mut candidates = objects.filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(key), None) => Ok(key),
                _ => Err(AssertionError::AmbiguousKey),
            }
        }
    }
}

/// The size in bits of an RSA JWK's `n` (base64url, leading zero bytes ignored); `None` when it
/// is not base64url.
fn rsa_modulus_bits(n: &str) -> Option<usize> {
    let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
    let first = modulus
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(modulus.len());
    let significant = &modulus[first..];
    Some(
        significant
            .first()
            .map_or(0, |b| significant.len() * 8 - b.leading_zeros() as usize),
    )
}

/// The keys of a client JWK Set too weak for FAPI 2.0 §5.4.1-2/-3 (RSA below [`MIN_RSA_BITS`],
/// elliptic curves below 224 bits or not ones certbound verifies), as `(index, reason)`. Keys
/// of other types are left to the algorithm rules. Used at registration under the `fapi2`
/// profile; verification refuses such keys anyway.
pub fn weak_keys(jwks: &Value) -> Vec<(usize, String)> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let member = |name: &str| key.get(name).and_then(Value::as_str);
        match member("kty") {
            Some("RSA") => match member("n").and_then(rsa_modulus_bits) {
                Some(bits) if bits >= MIN_RSA_BITS => {}
                Some(bits) => out.push((
                    i,
                    format!("an RSA key of {bits} bits (at least {MIN_RSA_BITS})"),
                )),
                None => out.push((i, "an RSA key without a readable modulus".to_owned())),
            },
            Some("EC") => match member("crv") {
                Some("P-256" | "P-384" | "P-521") => {}
                other => out.push((
                    i,
                    format!("an EC key on curve {}", other.unwrap_or("(none)")),
                )),
            },
            _ => {}
        }
    }
    out
}

/// The verification key of a selected JWK for `alg`; RSA keys below [`MIN_RSA_BITS`] refused.
fn decoding_key(
    key: &Map<String, Value>,
    alg: AssertionAlg,
) -> Result<DecodingKey, AssertionError> {
    let member = |name: &str| {
        key.get(name)
            .and_then(Value::as_str)
            .ok_or(AssertionError::UnusableKey)
    };
    match alg {
        AssertionAlg::Ps256 => {
            let n = member("n")?;
            let e = member("e")?;
            if rsa_modulus_bits(n).is_none_or(|bits| bits < MIN_RSA_BITS) {
                return Err(AssertionError::UnusableKey);
            }
            DecodingKey::from_rsa_components(n, e).map_err(|_| AssertionError::UnusableKey)
        }
        AssertionAlg::Es256 => {
            let x = member("x")?;
            let y = member("y")?;
            let len_ok = |v: &str| URL_SAFE_NO_PAD.decode(v).is_ok_and(|b| b.len() == 32);
            if !len_ok(x) || !len_ok(y) {
                return Err(AssertionError::UnusableKey);
            }
            DecodingKey::from_ec_components(x, y).map_err(|_| AssertionError::UnusableKey)
        }
        AssertionAlg::EdDsa => {
            let x = member("x")?;
            if !URL_SAFE_NO_PAD.decode(x).is_ok_and(|b| b.len() == 32) {
                return Err(AssertionError::UnusableKey);
            }
            DecodingKey::from_ed_components(x).map_err(|_| AssertionError::UnusableKey)
        }
    }
}

/// The `private_key_jwt` decision.
pub struct ClientAssertion;

impl ClientAssertion {
    /// The unverified `iss` of an assertion, so the caller can find the client (and its keys)
    /// when the request has no `client_id` parameter. Never trust it before [`Self::verify`].
    pub fn unverified_issuer(assertion: &str) -> Result<String, AssertionError> {
        let parts = split(assertion)?;
        parts
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or(AssertionError::WrongIssuer)
    }

    /// Verifies a `client_assertion` for `expect.client_id` against the client's JWK Set `jwks`
    /// at time `now` (seconds since the epoch), in the order of FAPI2.md §2.9: shape, `alg`,
    /// key, signature, then claims (`iss`, `sub`, `aud`, `exp`, lifetime, `iat`, `nbf`, `jti`).
    ///
    /// The replay check is the caller's: record [`VerifiedAssertion::jti`] for the client until
    /// [`VerifiedAssertion::exp`] in the shared store and refuse a second use.
    pub fn verify(
        assertion: &str,
        expect: &AssertionExpectations,
        jwks: &Value,
        now: i64,
    ) -> Result<VerifiedAssertion, AssertionError> {
        let parts = split(assertion)?;

        // Header: alg in the allowed set, no crit, a client-assertion typ.
        let alg_name = parts
            .header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AssertionError::Malformed("the header has no alg"))?;
        let alg = AssertionAlg::from_name(alg_name)
            .filter(|a| expect.allowed_algs.contains(a))
            .ok_or(AssertionError::AlgNotAllowed)?;
        if parts.header.contains_key("crit") {
            return Err(AssertionError::CriticalHeader);
        }
        typ_is_acceptable(parts.header.get("typ"))?;
        let kid = match parts.header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(AssertionError::Malformed("kid is not a string")),
        };

        // Key and signature.
        validate_client_jwks(jwks)?;
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(ClientJwksError::NotAJwks)?;
        let key = select_key(keys, kid, alg)?;
        let decoding = decoding_key(key, alg)?;
        let valid = jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signing_input.as_bytes(),
            &decoding,
            alg.jose(),
        )
        .map_err(|_| AssertionError::BadSignature)?;
        if !valid {
            return Err(AssertionError::BadSignature);
        }

        // Claims.
        let claims = &parts.claims;
        let iss = claims.get("iss").and_then(Value::as_str);
        if iss != Some(expect.client_id.as_str()) {
            return Err(AssertionError::WrongIssuer);
        }
        let sub = claims.get("sub").and_then(Value::as_str);
        if sub != Some(expect.client_id.as_str()) {
            return Err(AssertionError::WrongSubject);
        }
        let aud = claims.get("aud").ok_or(AssertionError::MissingAudience)?;
        expect.audience.accepts(aud)?;

        let skew = expect.clock_skew;
        let exp = numeric_date(claims, "exp")?.ok_or(AssertionError::MissingExpiry)?;
        if exp.saturating_add(skew.expired_grace_seconds) <= now {
            return Err(AssertionError::Expired);
        }
        let iat = numeric_date(claims, "iat")?;
        let lifetime = exp.saturating_sub(iat.unwrap_or(now));
        if lifetime > expect.max_lifetime_seconds {
            return Err(AssertionError::LifetimeTooLong(expect.max_lifetime_seconds));
        }
        let latest = now.saturating_add(skew.max_future_seconds);
        if iat.is_some_and(|iat| iat > latest) {
            return Err(AssertionError::IssuedInFuture(skew.max_future_seconds));
        }
        if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > latest) {
            return Err(AssertionError::NotYetValid(skew.max_future_seconds));
        }

        let jti = match claims.get("jti") {
            Some(Value::String(j)) if !j.is_empty() => j,
            Some(Value::String(_)) | None => return Err(AssertionError::MissingJti),
            Some(_) => return Err(AssertionError::Malformed("jti is not a string")),
        };
        if jti.len() > MAX_JTI_BYTES {
            return Err(AssertionError::JtiTooLong);
        }

        Ok(VerifiedAssertion {
            jti: jti.clone(),
            exp,
            alg,
            kid: key.get("kid").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_keys_are_named() {
        let n_1024 = URL_SAFE_NO_PAD.encode([0xc3u8; 128]);
        let n_2048 = URL_SAFE_NO_PAD.encode([0xc3u8; 256]);
        let n_2048_padded = URL_SAFE_NO_PAD.encode([[0u8].as_slice(), &[0xc3u8; 256]].concat());
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "n": n_2048, "e": "AQAB"},
            {"kty": "RSA", "n": n_2048_padded, "e": "AQAB"},
            {"kty": "RSA", "n": n_1024, "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"},
            {"kty": "EC", "crv": "secp256k1", "x": "a", "y": "b"},
            {"kty": "OKP", "crv": "Ed25519", "x": "a"},
            {"kty": "RSA", "n": "!!", "e": "AQAB"},
        ]});
        let weak: Vec<usize> = weak_keys(&jwks).into_iter().map(|(i, _)| i).collect();
        assert_eq!(weak, [2, 4, 6]);
        assert!(weak_keys(&serde_json::json!({})).is_empty());
    }
    use serde_json::json;

    #[test]
    fn assertion_type_must_be_jwt_bearer() {
        assert!(check_assertion_type(Some(JWT_BEARER_ASSERTION_TYPE)).is_ok());
        assert_eq!(
            check_assertion_type(Some(
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
            )),
            Err(AssertionError::WrongAssertionType)
        );
        assert_eq!(
            check_assertion_type(None),
            Err(AssertionError::WrongAssertionType)
        );
    }

    #[test]
    fn jwks_with_private_members_or_duplicate_kids_is_refused() {
        assert_eq!(
            validate_client_jwks(&json!({"keys": [{"kty": "EC", "d": "x"}]})),
            Err(ClientJwksError::PrivateMember(0))
        );
        assert_eq!(
            validate_client_jwks(
                &json!({"keys": [{"kty": "EC"}, {"kty": "oct", "k": "c2VjcmV0"}]})
            ),
            Err(ClientJwksError::PrivateMember(1))
        );
        assert_eq!(
            validate_client_jwks(
                &json!({"keys": [{"kty": "EC", "kid": "a"}, {"kty": "OKP", "kid": "a"}]})
            ),
            Err(ClientJwksError::DuplicateKid(1))
        );
        assert_eq!(
            validate_client_jwks(&json!({"keys": [{"crv": "P-256"}]})),
            Err(ClientJwksError::MissingKty(0))
        );
        assert_eq!(
            validate_client_jwks(&json!({"keys": "no"})),
            Err(ClientJwksError::NotAJwks)
        );
        assert!(validate_client_jwks(&json!({"keys": [{"kty": "EC", "kid": "a"}]})).is_ok());
    }

    #[test]
    fn typ_rules() {
        assert!(typ_is_acceptable(None).is_ok());
        assert!(typ_is_acceptable(Some(&json!("JWT"))).is_ok());
        assert!(typ_is_acceptable(Some(&json!("application/client-authentication+jwt"))).is_ok());
        assert_eq!(
            typ_is_acceptable(Some(&json!("oauth-authz-req+jwt"))),
            Err(AssertionError::WrongType)
        );
        assert_eq!(
            typ_is_acceptable(Some(&json!("at+jwt"))),
            Err(AssertionError::WrongType)
        );
    }

    #[test]
    fn clock_skew_fapi_band() {
        assert!(ClockSkew::FAPI.is_fapi_compliant());
        let too_strict = ClockSkew {
            max_future_seconds: 5,
            expired_grace_seconds: 0,
        };
        assert!(!too_strict.is_fapi_compliant());
    }

    #[test]
    fn hostile_shapes_are_refused_without_panic() {
        let e = AssertionExpectations::fapi("c", "https://as");
        let jwks = json!({"keys": []});
        for bad in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "ééé.x.y",
            &"a".repeat(20_000),
        ] {
            assert!(ClientAssertion::verify(bad, &e, &jwks, 0).is_err(), "{bad}");
        }
    }
}
