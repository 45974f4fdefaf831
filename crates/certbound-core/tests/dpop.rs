//! DPoP proof verification (RFC 9449 §4.3) with real ES256, EdDSA and PS256 keys.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use certbound_core::dpop::{
    jwk_thumbprint, DpopAlg, DpopError, DpopProof, NonceScheme, ProofExpectations, VerifiedProof,
    MAX_PROOF_BYTES,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://as.example/token";

struct Signer {
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es256() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = kp.public_key().as_ref();
        Signer {
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])}),
        }
    })
}

fn es256_other() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = kp.public_key().as_ref();
        Signer {
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])}),
        }
    })
}

fn ed25519() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let kp = Ed25519KeyPair::generate().unwrap();
        Signer {
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_der(kp.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())}),
        }
    })
}

fn ps256() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = kp.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let public = kp.public_key();
        Signer {
            alg: Algorithm::PS256,
            key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "RSA",
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            }),
        }
    })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::PS256 => "PS256",
        _ => unreachable!("test keys are ES256, EdDSA or PS256"),
    }
}

fn header(s: &Signer) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg_name(s.alg), "jwk": s.jwk})
}

fn claims() -> Value {
    json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": HTU, "iat": NOW})
}

/// Signs `header.claims` with `s` exactly as given (hostile headers included).
fn sign(s: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &s.key, s.alg).unwrap();
    format!("{input}.{sig}")
}

/// Owned expectations, so cases can adjust them.
struct Expect {
    htm: &'static str,
    htu: &'static str,
    access_token: Option<&'static str>,
    nonce: Option<&'static NonceScheme>,
    algs: Vec<DpopAlg>,
    max_age: i64,
    max_future: i64,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            htm: "POST",
            htu: HTU,
            access_token: None,
            nonce: None,
            algs: DpopAlg::ALL.to_vec(),
            max_age: 300,
            max_future: 60,
        }
    }
}

impl Expect {
    fn verify(&self, proof: &str) -> Result<VerifiedProof, DpopError> {
        let e = ProofExpectations {
            htm: self.htm,
            htu: self.htu,
            access_token: self.access_token,
            nonce: self.nonce,
            allowed_algs: &self.algs,
            max_age_seconds: self.max_age,
            max_future_seconds: self.max_future,
        };
        DpopProof::verify(proof, &e, NOW)
    }
}

/// The server's nonce scheme in the nonce cases (a 300 s rotation).
fn nonces() -> &'static NonceScheme {
    static S: OnceLock<NonceScheme> = OnceLock::new();
    S.get_or_init(|| NonceScheme::new(&[9u8; 32], 300).unwrap())
}

/// A nonce of the same scheme from `windows` rotation periods before `NOW`.
fn old_nonce(windows: i64) -> String {
    nonces().issue(NOW - windows * 300)
}

const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

fn ath(token: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

struct Case {
    name: &'static str,
    header: fn(&mut Value),
    claims: fn(&mut Value),
    expect: fn(&mut Expect),
    want: Result<(), DpopError>,
}

fn keep(_: &mut Value) {}
fn as_is(_: &mut Expect) {}

fn cases() -> Vec<Case> {
    use DpopError::*;
    let c =
        |name, header: fn(&mut Value), claims: fn(&mut Value), expect: fn(&mut Expect), want| {
            Case {
                name,
                header,
                claims,
                expect,
                want,
            }
        };
    vec![
        c("valid", keep, keep, as_is, Ok(())),
        // Header.
        c(
            "no typ",
            |h| {
                h.as_object_mut().unwrap().remove("typ");
            },
            keep,
            as_is,
            Err(WrongType),
        ),
        c(
            "typ jwt",
            |h| h["typ"] = json!("jwt"),
            keep,
            as_is,
            Err(WrongType),
        ),
        c(
            "typ upper case",
            |h| h["typ"] = json!("DPOP+JWT"),
            keep,
            as_is,
            Err(WrongType),
        ),
        c(
            "alg none",
            |h| h["alg"] = json!("none"),
            keep,
            as_is,
            Err(UnsupportedAlg),
        ),
        c(
            "alg HS256",
            |h| h["alg"] = json!("HS256"),
            keep,
            as_is,
            Err(UnsupportedAlg),
        ),
        c(
            "alg RS256",
            |h| h["alg"] = json!("RS256"),
            keep,
            as_is,
            Err(UnsupportedAlg),
        ),
        c(
            "alg missing",
            |h| {
                h.as_object_mut().unwrap().remove("alg");
            },
            keep,
            as_is,
            Err(UnsupportedAlg),
        ),
        c(
            "alg not allowed here",
            keep,
            keep,
            |e| e.algs.clear(),
            Err(UnsupportedAlg),
        ),
        c(
            "crit",
            |h| h["crit"] = json!(["x"]),
            keep,
            as_is,
            Err(CriticalHeader),
        ),
        c(
            "no jwk",
            |h| {
                h.as_object_mut().unwrap().remove("jwk");
            },
            keep,
            as_is,
            Err(MissingKey),
        ),
        c(
            "jwk not an object",
            |h| h["jwk"] = json!("key"),
            keep,
            as_is,
            Err(MissingKey),
        ),
        c(
            "jwk with d",
            |h| h["jwk"]["d"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with p",
            |h| h["jwk"]["p"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with q",
            |h| h["jwk"]["q"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with dp",
            |h| h["jwk"]["dp"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with dq",
            |h| h["jwk"]["dq"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with qi",
            |h| h["jwk"]["qi"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk with k",
            |h| h["jwk"]["k"] = json!("AAAA"),
            keep,
            as_is,
            Err(PrivateKey),
        ),
        c(
            "jwk of another type",
            |h| h["jwk"] = json!({"kty": "oct", "x": "AAAA"}),
            keep,
            as_is,
            Err(BadKey),
        ),
        c(
            "jwk curve P-384 or kty EC",
            |h| match h["jwk"].get("crv") {
                Some(_) => h["jwk"]["crv"] = json!("P-384"),
                None => h["jwk"]["kty"] = json!("EC"),
            },
            keep,
            as_is,
            Err(BadKey),
        ),
        c(
            "jwk x or n not base64url",
            |h| {
                let member = if h["jwk"].get("x").is_some() {
                    "x"
                } else {
                    "n"
                };
                h["jwk"][member] = json!("+/+/");
            },
            keep,
            as_is,
            Err(BadKey),
        ),
        c(
            "alg does not match the key",
            |h| {
                h["alg"] = json!(if h["alg"] == "EdDSA" {
                    "ES256"
                } else {
                    "EdDSA"
                });
            },
            keep,
            as_is,
            Err(BadKey),
        ),
        c(
            "key and alg of another signer",
            |h| {
                h["jwk"] = es256_other().jwk.clone();
                h["alg"] = json!("ES256");
            },
            keep,
            as_is,
            Err(BadSignature),
        ),
        c(
            "extra header members",
            |h| {
                h["kid"] = json!("k");
                h["x5u"] = json!("https://evil");
            },
            keep,
            as_is,
            Ok(()),
        ),
        // Claims.
        c(
            "no jti",
            keep,
            |c| {
                c.as_object_mut().unwrap().remove("jti");
            },
            as_is,
            Err(MissingClaim("jti")),
        ),
        c(
            "jti not a string",
            keep,
            |c| c["jti"] = json!(7),
            as_is,
            Err(MissingClaim("jti")),
        ),
        c(
            "empty jti",
            keep,
            |c| c["jti"] = json!(""),
            as_is,
            Err(BadJti),
        ),
        c(
            "jti 129 bytes",
            keep,
            |c| c["jti"] = json!("j".repeat(129)),
            as_is,
            Err(BadJti),
        ),
        c(
            "jti 128 bytes",
            keep,
            |c| c["jti"] = json!("j".repeat(128)),
            as_is,
            Ok(()),
        ),
        c(
            "no htm",
            keep,
            |c| {
                c.as_object_mut().unwrap().remove("htm");
            },
            as_is,
            Err(MissingClaim("htm")),
        ),
        c(
            "htm GET",
            keep,
            |c| c["htm"] = json!("GET"),
            as_is,
            Err(MethodMismatch),
        ),
        c(
            "htm lower case",
            keep,
            |c| c["htm"] = json!("post"),
            as_is,
            Err(MethodMismatch),
        ),
        c(
            "no htu",
            keep,
            |c| {
                c.as_object_mut().unwrap().remove("htu");
            },
            as_is,
            Err(MissingClaim("htu")),
        ),
        c(
            "htu other path",
            keep,
            |c| c["htu"] = json!("https://as.example/par"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu other host",
            keep,
            |c| c["htu"] = json!("https://evil.example/token"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu http",
            keep,
            |c| c["htu"] = json!("http://as.example/token"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu other port",
            keep,
            |c| c["htu"] = json!("https://as.example:8443/token"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu path case",
            keep,
            |c| c["htu"] = json!("https://as.example/TOKEN"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu relative",
            keep,
            |c| c["htu"] = json!("/token"),
            as_is,
            Err(UrlMismatch),
        ),
        c(
            "htu with query",
            keep,
            |c| c["htu"] = json!("https://as.example/token?a=b"),
            as_is,
            Ok(()),
        ),
        c(
            "htu with fragment",
            keep,
            |c| c["htu"] = json!("https://as.example/token#x"),
            as_is,
            Ok(()),
        ),
        c(
            "htu scheme and host case",
            keep,
            |c| c["htu"] = json!("HTTPS://AS.EXAMPLE/token"),
            as_is,
            Ok(()),
        ),
        c(
            "htu default port",
            keep,
            |c| c["htu"] = json!("https://as.example:443/token"),
            as_is,
            Ok(()),
        ),
        c(
            "expected htu with default port",
            keep,
            keep,
            |e| e.htu = "https://AS.example:443/token",
            Ok(()),
        ),
        c(
            "no iat",
            keep,
            |c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            as_is,
            Err(MissingClaim("iat")),
        ),
        c(
            "iat a string",
            keep,
            |c| c["iat"] = json!("1700000000"),
            as_is,
            Err(MissingClaim("iat")),
        ),
        c(
            "iat stale",
            keep,
            |c| c["iat"] = json!(NOW - 301),
            as_is,
            Err(Stale),
        ),
        c(
            "iat at the age limit",
            keep,
            |c| c["iat"] = json!(NOW - 300),
            as_is,
            Ok(()),
        ),
        c(
            "iat one hour ago",
            keep,
            |c| c["iat"] = json!(NOW - 3600),
            as_is,
            Err(Stale),
        ),
        c(
            "iat in the future",
            keep,
            |c| c["iat"] = json!(NOW + 61),
            as_is,
            Err(Future),
        ),
        c(
            "iat at the skew limit",
            keep,
            |c| c["iat"] = json!(NOW + 60),
            as_is,
            Ok(()),
        ),
        c(
            "iat one hour ahead",
            keep,
            |c| c["iat"] = json!(NOW + 3600),
            as_is,
            Err(Future),
        ),
        c(
            "iat fractional",
            keep,
            |c| c["iat"] = json!(NOW as f64 + 0.5),
            as_is,
            Ok(()),
        ),
        c(
            "iat huge",
            keep,
            |c| c["iat"] = json!(1e300),
            as_is,
            Err(Future),
        ),
        c(
            "nbf and exp tolerated",
            keep,
            |c| {
                c["nbf"] = json!(NOW + 1000);
                c["exp"] = json!(NOW - 1000);
            },
            as_is,
            Ok(()),
        ),
        c(
            "extra claims",
            keep,
            |c| c["extra"] = json!({"a": [1]}),
            as_is,
            Ok(()),
        ),
        // ath at a resource.
        c(
            "ath required",
            keep,
            keep,
            |e| e.access_token = Some(TOKEN),
            Err(MissingClaim("ath")),
        ),
        c(
            "ath right",
            keep,
            |c| c["ath"] = json!(ath(TOKEN)),
            |e| e.access_token = Some(TOKEN),
            Ok(()),
        ),
        c(
            "ath of another token",
            keep,
            |c| c["ath"] = json!(ath("other")),
            |e| e.access_token = Some(TOKEN),
            Err(AccessTokenHash),
        ),
        c(
            "ath ignored at the AS",
            keep,
            |c| c["ath"] = json!("x"),
            as_is,
            Ok(()),
        ),
        // Nonces.
        c(
            "nonce required, none sent",
            keep,
            keep,
            |e| e.nonce = Some(nonces()),
            Err(UseNonce),
        ),
        c(
            "nonce required, another key's sent",
            keep,
            |c| c["nonce"] = json!(NonceScheme::new(&[1u8; 32], 300).unwrap().issue(NOW)),
            |e| e.nonce = Some(nonces()),
            Err(UseNonce),
        ),
        c(
            "nonce required, current one",
            keep,
            |c| c["nonce"] = json!(nonces().issue(NOW)),
            |e| e.nonce = Some(nonces()),
            Ok(()),
        ),
        c(
            "nonce required, previous window's",
            keep,
            |c| c["nonce"] = json!(old_nonce(1)),
            |e| e.nonce = Some(nonces()),
            Ok(()),
        ),
        c(
            "nonce required, expired (two windows old)",
            keep,
            |c| c["nonce"] = json!(old_nonce(2)),
            |e| e.nonce = Some(nonces()),
            Err(UseNonce),
        ),
        c(
            "nonce not a string",
            keep,
            |c| c["nonce"] = json!(1),
            |e| e.nonce = Some(nonces()),
            Err(UseNonce),
        ),
        c(
            "nonce checked after the rest",
            keep,
            |c| c["htm"] = json!("GET"),
            |e| e.nonce = Some(nonces()),
            Err(MethodMismatch),
        ),
        c(
            "unrequested nonce ignored",
            keep,
            |c| c["nonce"] = json!("n-1"),
            as_is,
            Ok(()),
        ),
    ]
}

#[test]
fn table_for_every_key_type() {
    for signer in [es256(), ed25519(), ps256()] {
        for case in cases() {
            let mut h = header(signer);
            let mut c = claims();
            let mut e = Expect::default();
            (case.header)(&mut h);
            (case.claims)(&mut c);
            (case.expect)(&mut e);
            let got = e.verify(&sign(signer, &h, &c));
            let name = format!("{} ({})", case.name, alg_name(signer.alg));
            match case.want {
                Ok(()) => {
                    let v = got.unwrap_or_else(|err| panic!("{name}: {err:?}"));
                    assert_eq!(v.jkt, jwk_thumbprint(&signer.jwk).unwrap(), "{name}");
                    assert_eq!(v.jti, c["jti"].as_str().unwrap(), "{name}");
                    assert_eq!(v.iat, c["iat"].as_f64().unwrap() as i64, "{name}");
                    assert_eq!(v.htu, "https://as.example:443/token", "{name}");
                }
                Err(want) => assert_eq!(got, Err(want), "{name}"),
            }
        }
    }
}

#[test]
fn a_proof_made_with_jsonwebtoken_encode_verifies() {
    for signer in [es256(), ed25519(), ps256()] {
        let mut h = jsonwebtoken::Header::new(signer.alg);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(signer.jwk.clone()).unwrap());
        let proof = jsonwebtoken::encode(&h, &claims(), &signer.key).unwrap();
        let v = Expect::default().verify(&proof).unwrap();
        assert_eq!(v.jkt, jwk_thumbprint(&signer.jwk).unwrap());
    }
}

#[test]
fn a_changed_claim_breaks_the_signature() {
    let s = es256();
    let proof = sign(s, &header(s), &claims());
    let mut c = claims();
    c["htm"] = json!("GET");
    let forged_claims = b64(c.to_string().as_bytes());
    let mut parts: Vec<&str> = proof.split('.').collect();
    parts[1] = &forged_claims;
    let forged = parts.join(".");
    let e = Expect {
        htm: "GET",
        ..Default::default()
    };
    assert_eq!(e.verify(&forged), Err(DpopError::BadSignature));
    // A signature of another message, a truncated one and garbage all fail.
    let other = sign(s, &header(s), &json!({"jti": "x"}));
    let other_sig = other.rsplit('.').next().unwrap();
    let swapped = format!("{}.{other_sig}", proof.rsplit_once('.').unwrap().0);
    assert_eq!(
        Expect::default().verify(&swapped),
        Err(DpopError::BadSignature)
    );
    let truncated = &proof[..proof.len() - 4];
    assert_eq!(
        Expect::default().verify(truncated),
        Err(DpopError::BadSignature)
    );
    let garbage = format!("{}.!!", proof.rsplit_once('.').unwrap().0);
    assert_eq!(
        Expect::default().verify(&garbage),
        Err(DpopError::BadSignature)
    );
}

#[test]
fn a_weak_rsa_key_is_refused() {
    let s = ps256();
    let mut h = header(s);
    h["jwk"]["n"] = json!(b64(&[0xC5; 128]));
    assert_eq!(
        Expect::default().verify(&sign(s, &h, &claims())),
        Err(DpopError::BadKey)
    );
}

#[test]
fn malformed_proofs_are_refused() {
    let s = es256();
    let good = sign(s, &header(s), &claims());
    let (hb, rest) = good.split_once('.').unwrap();
    let (cb, sig) = rest.split_once('.').unwrap();
    let array_header = b64(b"[1]");
    for bad in [
        String::new(),
        "a.b".to_owned(),
        format!("{good}.x"),
        format!("{hb}.{cb}."),
        format!("{hb}=.{cb}.{sig}"),
        format!("{array_header}.{cb}.{sig}"),
        format!("{hb}.{}.{sig}", b64(b"not json")),
        format!("{}.{cb}.{sig}", b64("\u{0}".as_bytes())),
    ] {
        assert_eq!(
            Expect::default().verify(&bad),
            Err(DpopError::Malformed),
            "{bad}"
        );
    }
}

#[test]
fn an_oversized_proof_is_refused_before_parsing() {
    let s = es256();
    let mut c = claims();
    c["pad"] = json!("p".repeat(MAX_PROOF_BYTES));
    assert_eq!(
        Expect::default().verify(&sign(s, &header(s), &c)),
        Err(DpopError::TooLarge)
    );
}

#[test]
fn error_codes_and_descriptions() {
    assert_eq!(DpopError::UseNonce.error_code(), "use_dpop_nonce");
    for e in [
        DpopError::Malformed,
        DpopError::WrongType,
        DpopError::BadSignature,
        DpopError::MissingClaim("ath"),
        DpopError::AccessTokenHash,
        DpopError::Stale,
    ] {
        assert_eq!(e.error_code(), "invalid_dpop_proof");
    }
    let all = [
        DpopError::TooLarge,
        DpopError::Malformed,
        DpopError::WrongType,
        DpopError::UnsupportedAlg,
        DpopError::CriticalHeader,
        DpopError::MissingKey,
        DpopError::PrivateKey,
        DpopError::BadKey,
        DpopError::BadSignature,
        DpopError::MissingClaim("jti"),
        DpopError::BadJti,
        DpopError::MethodMismatch,
        DpopError::UrlMismatch,
        DpopError::Stale,
        DpopError::Future,
        DpopError::AccessTokenHash,
        DpopError::UseNonce,
    ];
    for e in all {
        let d = e.description();
        assert!(!d.is_empty());
        assert!(!d.contains(['"', '\r', '\n', '\t', '\\']), "{d}");
    }
}

#[test]
fn metadata_lists_only_fapi_algorithms() {
    let names: Vec<_> = DpopAlg::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(names, ["PS256", "ES256", "EdDSA"]);
    for refused in ["none", "RS256", "HS256", "es256", "ES384"] {
        assert_eq!(DpopAlg::from_name(refused), None, "{refused}");
    }
}
