//! `private_key_jwt` assertions signed with real keys (aws-lc-rs): every algorithm accepted, every
//! refusal, both audience rules and the FAPI clock-skew band.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::client_assertion::{
    AssertionAlg, AssertionError, AssertionExpectations, AudienceRule, ClientAssertion, ClockSkew,
    FAPI_ALGORITHMS,
};
use certbound_core::OAuthErrorCode;
use serde_json::{json, Value};
use std::sync::OnceLock;

const CLIENT: &str = "bank-app";
const ISSUER: &str = "https://as.example";
const TOKEN_ENDPOINT: &str = "https://as.example/token";
const PAR_ENDPOINT: &str = "https://as.example/par";
const NOW: i64 = 1_750_000_000;

/// The test client's keys: one of each algorithm, plus an RSA key for RS256 refusals and a
/// P-384 key that fits no allowed algorithm.
struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    p384: EcdsaKeyPair,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        ed: Ed25519KeyPair::generate().unwrap(),
        p384: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str) -> Value {
    let public = keys().rsa.public_key();
    json!({"kty": "RSA", "kid": kid, "use": "sig",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero())})
}

fn ec_jwk(kid: &str) -> Value {
    let point = keys().ec.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&point[1..33]), "y": b64(&point[33..])})
}

fn ed_jwk(kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(keys().ed.public_key().as_ref())})
}

fn p384_jwk(kid: &str) -> Value {
    let point = keys().p384.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-384", "kid": kid, "x": b64(&point[1..49]), "y": b64(&point[49..])})
}

/// The client's registered set: one key per algorithm.
fn client_jwks() -> Value {
    json!({"keys": [rsa_jwk("rsa1"), ec_jwk("ec1"), ed_jwk("ed1"), p384_jwk("p384")]})
}

/// How a test assertion is signed.
#[derive(Clone, Copy)]
enum Signer {
    Ps256,
    Es256,
    EdDsa,
    Rs256,
    Hs256,
    Es384,
    None,
}

fn sign(signer: Signer, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let k = keys();
    match signer {
        Signer::Ps256 | Signer::Rs256 => {
            let mut sig = vec![0; k.rsa.public_modulus_len()];
            let padding = match signer {
                Signer::Ps256 => &RSA_PSS_SHA256,
                _ => &RSA_PKCS1_SHA256,
            };
            k.rsa.sign(padding, &rng, input, &mut sig).unwrap();
            sig
        }
        Signer::Es256 => k.ec.sign(&rng, input).unwrap().as_ref().to_vec(),
        Signer::Es384 => k.p384.sign(&rng, input).unwrap().as_ref().to_vec(),
        Signer::EdDsa => k.ed.sign(input).as_ref().to_vec(),
        Signer::Hs256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, b"client-secret-used-as-hmac-key");
            hmac::sign(&key, input).as_ref().to_vec()
        }
        Signer::None => Vec::new(),
    }
}

fn jws(signer: Signer, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(signer, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn default_header(signer: Signer) -> Value {
    let (alg, kid) = match signer {
        Signer::Ps256 => ("PS256", "rsa1"),
        Signer::Es256 => ("ES256", "ec1"),
        Signer::EdDsa => ("EdDSA", "ed1"),
        Signer::Rs256 => ("RS256", "rsa1"),
        Signer::Hs256 => ("HS256", "rsa1"),
        Signer::Es384 => ("ES384", "p384"),
        Signer::None => ("none", "rsa1"),
    };
    json!({"alg": alg, "kid": kid, "typ": "JWT"})
}

fn default_claims() -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": ISSUER, "exp": NOW + 60, "iat": NOW,
        "jti": "a1b2c3d4-unique"})
}

/// An assertion signed by `signer` with the default header and claims changed by `edit`.
fn assertion(signer: Signer, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let mut header = default_header(signer);
    let mut claims = default_claims();
    edit(&mut header, &mut claims);
    jws(signer, &header, &claims)
}

fn fapi() -> AssertionExpectations {
    AssertionExpectations::fapi(CLIENT, ISSUER)
}

fn non_fapi() -> AssertionExpectations {
    AssertionExpectations {
        audience: AudienceRule::Any(vec![
            ISSUER.to_owned(),
            TOKEN_ENDPOINT.to_owned(),
            PAR_ENDPOINT.to_owned(),
        ]),
        ..fapi()
    }
}

fn verify(assertion: &str, expect: &AssertionExpectations) -> Result<String, AssertionError> {
    ClientAssertion::verify(assertion, expect, &client_jwks(), NOW).map(|v| v.jti)
}

#[test]
fn each_allowed_algorithm_verifies() {
    for (signer, alg, kid) in [
        (Signer::Ps256, AssertionAlg::Ps256, "rsa1"),
        (Signer::Es256, AssertionAlg::Es256, "ec1"),
        (Signer::EdDsa, AssertionAlg::EdDsa, "ed1"),
    ] {
        let a = assertion(signer, |_, _| {});
        let v = ClientAssertion::verify(&a, &fapi(), &client_jwks(), NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", alg.as_str()));
        assert_eq!(v.jti, "a1b2c3d4-unique");
        assert_eq!(v.exp, NOW + 60);
        assert_eq!(v.alg, alg);
        assert_eq!(v.kid.as_deref(), Some(kid));
    }
}

#[test]
fn without_kid_the_only_key_of_the_type_is_used() {
    let a = assertion(Signer::EdDsa, |h, _| {
        h.as_object_mut().unwrap().remove("kid");
    });
    assert_eq!(verify(&a, &fapi()).unwrap(), "a1b2c3d4-unique");

    // Two P-256 keys and no kid: ambiguous.
    let mut jwks = client_jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(ec_jwk("ec-second"));
    let a = assertion(Signer::Es256, |h, _| {
        h.as_object_mut().unwrap().remove("kid");
    });
    assert_eq!(
        ClientAssertion::verify(&a, &fapi(), &jwks, NOW).unwrap_err(),
        AssertionError::AmbiguousKey
    );
}

#[test]
fn refusals() {
    type Edit = fn(&mut Value, &mut Value);
    let cases: Vec<(&str, Signer, Edit, AssertionError)> = vec![
        (
            "alg none, empty signature",
            Signer::None,
            |_, _| {},
            AssertionError::Malformed("the signature is empty"),
        ),
        (
            "alg none with a signature",
            Signer::Es256,
            |h, _| h["alg"] = json!("none"),
            AssertionError::AlgNotAllowed,
        ),
        (
            "HS256 with a secret",
            Signer::Hs256,
            |_, _| {},
            AssertionError::AlgNotAllowed,
        ),
        (
            "RS256",
            Signer::Rs256,
            |_, _| {},
            AssertionError::AlgNotAllowed,
        ),
        (
            "ES384",
            Signer::Es384,
            |_, _| {},
            AssertionError::AlgNotAllowed,
        ),
        (
            "alg missing",
            Signer::Es256,
            |h, _| {
                h.as_object_mut().unwrap().remove("alg");
            },
            AssertionError::Malformed("the header has no alg"),
        ),
        (
            "alg lower case",
            Signer::Es256,
            |h, _| h["alg"] = json!("es256"),
            AssertionError::AlgNotAllowed,
        ),
        (
            "crit header",
            Signer::Es256,
            |h, _| h["crit"] = json!(["exp"]),
            AssertionError::CriticalHeader,
        ),
        (
            "request-object typ",
            Signer::Es256,
            |h, _| h["typ"] = json!("oauth-authz-req+jwt"),
            AssertionError::WrongType,
        ),
        (
            "unknown kid",
            Signer::Es256,
            |h, _| h["kid"] = json!("nope"),
            AssertionError::UnknownKey,
        ),
        (
            "kid of a key of another type",
            Signer::Es256,
            |h, _| h["kid"] = json!("ed1"),
            AssertionError::UnknownKey,
        ),
        (
            "kid not a string",
            Signer::Es256,
            |h, _| h["kid"] = json!(7),
            AssertionError::Malformed("kid is not a string"),
        ),
        (
            "iss missing",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("iss");
            },
            AssertionError::WrongIssuer,
        ),
        (
            "iss another client",
            Signer::Es256,
            |_, c| c["iss"] = json!("other"),
            AssertionError::WrongIssuer,
        ),
        (
            "sub missing (a request object)",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            AssertionError::WrongSubject,
        ),
        (
            "sub another client",
            Signer::Es256,
            |_, c| c["sub"] = json!("other"),
            AssertionError::WrongSubject,
        ),
        (
            "aud missing",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("aud");
            },
            AssertionError::MissingAudience,
        ),
        (
            "exp missing",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("exp");
            },
            AssertionError::MissingExpiry,
        ),
        (
            "exp a string",
            Signer::Es256,
            |_, c| c["exp"] = json!("soon"),
            AssertionError::Malformed("a date claim is not a number"),
        ),
        (
            "expired",
            Signer::Es256,
            |_, c| {
                c["exp"] = json!(NOW - 1);
                c["iat"] = json!(NOW - 30);
            },
            AssertionError::Expired,
        ),
        (
            "exp is now",
            Signer::Es256,
            |_, c| {
                c["exp"] = json!(NOW);
                c["iat"] = json!(NOW - 30);
            },
            AssertionError::Expired,
        ),
        (
            "lifetime over 300 s by iat",
            Signer::Es256,
            |_, c| {
                c["iat"] = json!(NOW - 250);
                c["exp"] = json!(NOW + 51);
            },
            AssertionError::LifetimeTooLong(300),
        ),
        (
            "lifetime over 300 s without iat",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("iat");
                c["exp"] = json!(NOW + 301);
            },
            AssertionError::LifetimeTooLong(300),
        ),
        (
            "iat 61 s ahead",
            Signer::Es256,
            |_, c| {
                c["iat"] = json!(NOW + 61);
                c["exp"] = json!(NOW + 120);
            },
            AssertionError::IssuedInFuture(30),
        ),
        (
            "nbf 61 s ahead",
            Signer::Es256,
            |_, c| c["nbf"] = json!(NOW + 61),
            AssertionError::NotYetValid(30),
        ),
        (
            "jti missing",
            Signer::Es256,
            |_, c| {
                c.as_object_mut().unwrap().remove("jti");
            },
            AssertionError::MissingJti,
        ),
        (
            "jti empty",
            Signer::Es256,
            |_, c| c["jti"] = json!(""),
            AssertionError::MissingJti,
        ),
        (
            "jti a number",
            Signer::Es256,
            |_, c| c["jti"] = json!(12),
            AssertionError::Malformed("jti is not a string"),
        ),
        (
            "jti over 256 bytes",
            Signer::Es256,
            |_, c| c["jti"] = json!("j".repeat(257)),
            AssertionError::JtiTooLong,
        ),
    ];
    for (name, signer, edit, want) in cases {
        let a = assertion(signer, edit);
        let got = verify(&a, &fapi()).expect_err(name);
        assert_eq!(got, want, "{name}");
        // The client only ever sees a generic invalid_client; the trace never holds the token.
        let oauth = got.to_oauth_error();
        assert_eq!(oauth.code, OAuthErrorCode::InvalidClient, "{name}");
        assert_eq!(oauth.status(), 401);
        assert!(!got.to_string().contains(&a), "{name}");
        assert!(!got.to_string().contains(CLIENT), "{name}");
    }
}

#[test]
fn a_256_byte_jti_is_accepted() {
    let a = assertion(Signer::Es256, |_, c| c["jti"] = json!("j".repeat(256)));
    assert_eq!(verify(&a, &fapi()).unwrap().len(), 256);
}

#[test]
fn tampering_breaks_the_signature() {
    let a = assertion(Signer::Es256, |_, _| {});
    let mut parts: Vec<String> = a.split('.').map(str::to_owned).collect();
    let mut claims = default_claims();
    claims["sub"] = json!("bank-app");
    claims["jti"] = json!("another-jti");
    parts[1] = b64(claims.to_string().as_bytes());
    let forged = parts.join(".");
    assert_eq!(
        verify(&forged, &fapi()).unwrap_err(),
        AssertionError::BadSignature
    );

    // A valid ES256 signature under another client's key.
    let other = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let header = default_header(Signer::Es256);
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(default_claims().to_string().as_bytes())
    );
    let sig = other.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let foreign = format!("{input}.{}", b64(sig.as_ref()));
    assert_eq!(
        verify(&foreign, &fapi()).unwrap_err(),
        AssertionError::BadSignature
    );
}

#[test]
fn registered_signing_alg_narrows_the_allow_list() {
    let expect = AssertionExpectations {
        allowed_algs: vec![AssertionAlg::Ps256],
        ..fapi()
    };
    assert!(verify(&assertion(Signer::Ps256, |_, _| {}), &expect).is_ok());
    assert_eq!(
        verify(&assertion(Signer::Es256, |_, _| {}), &expect).unwrap_err(),
        AssertionError::AlgNotAllowed
    );
    assert_eq!(FAPI_ALGORITHMS.len(), 3);
}

#[test]
fn jwks_problems_are_refused() {
    let a = assertion(Signer::Es256, |_, _| {});
    let mut with_private = client_jwks();
    with_private["keys"][1]["d"] = json!("c2VjcmV0");
    assert!(matches!(
        ClientAssertion::verify(&a, &fapi(), &with_private, NOW),
        Err(AssertionError::BadJwks(_))
    ));

    // A key restricted to encryption or to another algorithm never verifies.
    for (member, value) in [("use", "enc"), ("alg", "ES384")] {
        let mut jwks = client_jwks();
        jwks["keys"][1][member] = json!(value);
        assert_eq!(
            ClientAssertion::verify(&a, &fapi(), &jwks, NOW).unwrap_err(),
            AssertionError::UnknownKey,
            "{member}"
        );
    }

    // An RSA key below 2048 bits is unusable for PS256.
    let mut weak = client_jwks();
    weak["keys"][0]["n"] = json!(b64(&[0xC5; 128]));
    assert_eq!(
        ClientAssertion::verify(&assertion(Signer::Ps256, |_, _| {}), &fapi(), &weak, NOW)
            .unwrap_err(),
        AssertionError::UnusableKey
    );
}

#[test]
fn fapi_audience_is_the_issuer_string_only() {
    let with_aud = |aud: Value| assertion(Signer::Es256, move |_, c| c["aud"] = aud);
    assert!(verify(&with_aud(json!(ISSUER)), &fapi()).is_ok());
    for (aud, want) in [
        (json!(TOKEN_ENDPOINT), AssertionError::AudienceNotIssuer),
        (json!(PAR_ENDPOINT), AssertionError::AudienceNotIssuer),
        (
            json!("https://as.example/"),
            AssertionError::AudienceNotIssuer,
        ),
        (json!([ISSUER]), AssertionError::AudienceArray),
        (
            json!([ISSUER, TOKEN_ENDPOINT]),
            AssertionError::AudienceArray,
        ),
        (
            json!(7),
            AssertionError::Malformed("aud is not a string or strings"),
        ),
    ] {
        assert_eq!(
            verify(&with_aud(aud.clone()), &fapi()).unwrap_err(),
            want,
            "{aud}"
        );
    }
}

#[test]
fn non_fapi_audience_accepts_issuer_or_endpoints_as_string_or_array() {
    let with_aud = |aud: Value| assertion(Signer::Es256, move |_, c| c["aud"] = aud);
    for aud in [
        json!(ISSUER),
        json!(TOKEN_ENDPOINT),
        json!(PAR_ENDPOINT),
        json!([ISSUER]),
        json!(["https://elsewhere.example", PAR_ENDPOINT]),
    ] {
        assert!(verify(&with_aud(aud.clone()), &non_fapi()).is_ok(), "{aud}");
    }
    for (aud, want) in [
        (
            json!("https://elsewhere.example"),
            AssertionError::AudienceNotAccepted,
        ),
        (
            json!(["https://elsewhere.example"]),
            AssertionError::AudienceNotAccepted,
        ),
        (
            json!([]),
            AssertionError::Malformed("aud is not a string or strings"),
        ),
        (
            json!([ISSUER, 1]),
            AssertionError::Malformed("aud is not a string or strings"),
        ),
    ] {
        assert_eq!(
            verify(&with_aud(aud.clone()), &non_fapi()).unwrap_err(),
            want,
            "{aud}"
        );
    }
}

#[test]
fn clock_skew_band() {
    let ahead = |secs: i64| {
        assertion(Signer::Es256, move |_, c| {
            c["iat"] = json!(NOW + secs);
            c["nbf"] = json!(NOW + secs);
            c["exp"] = json!(NOW + secs + 60);
        })
    };
    // FAPI default: 8 and 10 s ahead accepted, 31 s and over 60 s refused.
    for secs in [0, 8, 10, 30] {
        assert!(verify(&ahead(secs), &fapi()).is_ok(), "{secs}");
    }
    for secs in [31, 61, 3600] {
        assert_eq!(
            verify(&ahead(secs), &fapi()).unwrap_err(),
            AssertionError::IssuedInFuture(30),
            "{secs}"
        );
    }
    // The bound is an input: at 60 s, 60 is accepted and 61 refused.
    let wide = AssertionExpectations {
        clock_skew: ClockSkew {
            max_future_seconds: 60,
            expired_grace_seconds: 0,
        },
        ..fapi()
    };
    assert!(wide.clock_skew.is_fapi_compliant());
    assert!(verify(&ahead(60), &wide).is_ok());
    assert_eq!(
        verify(&ahead(61), &wide).unwrap_err(),
        AssertionError::IssuedInFuture(60)
    );

    // A grace on exp accepts an assertion that expired within it.
    let late = assertion(Signer::Es256, |_, c| {
        c["iat"] = json!(NOW - 60);
        c["exp"] = json!(NOW - 5);
    });
    assert_eq!(verify(&late, &fapi()).unwrap_err(), AssertionError::Expired);
    let graceful = AssertionExpectations {
        clock_skew: ClockSkew {
            max_future_seconds: 30,
            expired_grace_seconds: 10,
        },
        ..fapi()
    };
    assert!(verify(&late, &graceful).is_ok());
}

#[test]
fn unverified_issuer_finds_the_client() {
    let a = assertion(Signer::Es256, |_, _| {});
    assert_eq!(ClientAssertion::unverified_issuer(&a).unwrap(), CLIENT);
    let no_iss = assertion(Signer::Es256, |_, c| {
        c.as_object_mut().unwrap().remove("iss");
    });
    assert_eq!(
        ClientAssertion::unverified_issuer(&no_iss).unwrap_err(),
        AssertionError::WrongIssuer
    );
}
