//! Public JWKs carrying certificates (RFC 7517 `x5c`), for `self_signed_tls_client_auth`
//! registration (RFC 8705 §2.2, RFC 7591 `jwks`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use certbound_core::Thumbprint;
use serde_json::{json, Map, Value};

use crate::der;
use crate::PkiError;

/// The public key of a SubjectPublicKeyInfo, as far as JWKs need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpkiKind {
    /// An EC point on a named curve.
    Ec {
        curve: &'static str,
        alg: &'static str,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// An Ed25519 public key.
    Ed25519 { x: Vec<u8> },
    /// An RSA modulus and exponent, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const ED25519: &[u64] = &[1, 3, 101, 112];
const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];

fn unsupported(what: String) -> PkiError {
    PkiError::UnsupportedKey(what)
}

/// Decodes a DER SubjectPublicKeyInfo.
pub(crate) fn spki_kind(spki: &[u8]) -> Result<SpkiKind, PkiError> {
    let (seq, _) = der::expect(spki, der::SEQUENCE, "a SubjectPublicKeyInfo")?;
    let (alg, rest) = der::expect(seq.content, der::SEQUENCE, "an AlgorithmIdentifier")?;
    let (bits, _) = der::expect(rest, der::BIT_STRING, "the public key")?;
    let key = match bits.content.split_first() {
        Some((0, key)) => key,
        _ => {
            return Err(PkiError::Der(
                "public key BIT STRING with unused bits".into(),
            ))
        }
    };
    let (oid, params) = der::expect(alg.content, der::OID, "the key algorithm")?;
    let arcs = der::oid_arcs(oid.content)?;
    if arcs == EC_PUBLIC_KEY {
        let (curve_oid, _) = der::expect(params, der::OID, "a named curve")?;
        let curve_arcs = der::oid_arcs(curve_oid.content)?;
        let (curve, alg, size) = match curve_arcs.as_slice() {
            [1, 2, 840, 10045, 3, 1, 7] => ("P-256", "ES256", 32),
            [1, 3, 132, 0, 34] => ("P-384", "ES384", 48),
            [1, 3, 132, 0, 35] => ("P-521", "ES512", 66),
            other => {
                return Err(unsupported(format!(
                    "EC curve {}",
                    der::arcs_to_string(other)
                )))
            }
        };
        match key.split_first() {
            Some((4, xy)) if xy.len() == 2 * size => Ok(SpkiKind::Ec {
                curve,
                alg,
                x: xy[..size].to_vec(),
                y: xy[size..].to_vec(),
            }),
            _ => Err(unsupported("compressed or malformed EC point".into())),
        }
    } else if arcs == ED25519 {
        if key.len() != 32 {
            return Err(PkiError::Der("Ed25519 public key is not 32 bytes".into()));
        }
        Ok(SpkiKind::Ed25519 { x: key.to_vec() })
    } else if arcs == RSA_ENCRYPTION {
        let (rsa, _) = der::expect(key, der::SEQUENCE, "an RSAPublicKey")?;
        let (n, rest) = der::expect(rsa.content, der::INTEGER, "the modulus")?;
        let (e, _) = der::expect(rest, der::INTEGER, "the exponent")?;
        let strip = |b: &[u8]| {
            let skip = b.iter().take_while(|&&x| x == 0).count();
            b[skip..].to_vec()
        };
        Ok(SpkiKind::Rsa {
            n: strip(n.content),
            e: strip(e.content),
        })
    } else {
        Err(unsupported(format!(
            "key algorithm {}",
            der::arcs_to_string(&arcs)
        )))
    }
}

/// The public JWK of a DER certificate, with `x5c` holding that certificate alone.
///
/// Members: `kty` and the key (`EC`: `crv`, `x`, `y`; `OKP`: `crv: Ed25519`, `x`; `RSA`: `n`,
/// `e`), `alg` (`ES256`, `EdDSA` or `PS256`; ES384/ES512 for P-384/P-521 certificates made
/// elsewhere), `use: "sig"`, `kid` and `x5t#S256` (both the certificate thumbprint), and `x5c`
/// (standard, padded base64 of the DER, RFC 7517 §4.7).
pub fn jwk_for_certificate(cert_der: &[u8]) -> Result<Value, PkiError> {
    jwk_for_chain(&[cert_der])
}

/// The public JWK of `chain[0]`, with `x5c` holding the whole chain (each certificate certifying
/// the one before, RFC 7517 §4.7). Only `x5c[0]` identifies a `self_signed_tls_client_auth` client.
pub fn jwk_for_chain<C: AsRef<[u8]>>(chain: &[C]) -> Result<Value, PkiError> {
    let leaf = chain
        .first()
        .ok_or_else(|| PkiError::Certificate("an empty certificate chain".into()))?
        .as_ref();
    let fields = crate::cert::name_fields(leaf)?;
    let b64u = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
    let mut jwk = Map::new();
    match spki_kind(&fields.spki)? {
        SpkiKind::Ec { curve, alg, x, y } => {
            jwk.insert("kty".into(), json!("EC"));
            jwk.insert("crv".into(), json!(curve));
            jwk.insert("x".into(), b64u(&x));
            jwk.insert("y".into(), b64u(&y));
            jwk.insert("alg".into(), json!(alg));
        }
        SpkiKind::Ed25519 { x } => {
            jwk.insert("kty".into(), json!("OKP"));
            jwk.insert("crv".into(), json!("Ed25519"));
            jwk.insert("x".into(), b64u(&x));
            jwk.insert("alg".into(), json!("EdDSA"));
        }
        SpkiKind::Rsa { n, e } => {
            jwk.insert("kty".into(), json!("RSA"));
            jwk.insert("n".into(), b64u(&n));
            jwk.insert("e".into(), b64u(&e));
            jwk.insert("alg".into(), json!("PS256"));
        }
    }
    let thumbprint = Thumbprint::of_der(leaf);
    jwk.insert("use".into(), json!("sig"));
    jwk.insert("kid".into(), json!(thumbprint.as_str()));
    jwk.insert("x5t#S256".into(), json!(thumbprint.as_str()));
    let x5c: Vec<Value> = chain
        .iter()
        .map(|c| Value::String(STANDARD.encode(c.as_ref())))
        .collect();
    jwk.insert("x5c".into(), Value::Array(x5c));
    Ok(Value::Object(jwk))
}

/// A JWK Set (`{"keys": [...]}`) with one JWK per certificate, as registered in RFC 7591 `jwks`.
pub fn jwks<C: AsRef<[u8]>>(certs: &[C]) -> Result<Value, PkiError> {
    let keys = certs
        .iter()
        .map(|c| jwk_for_certificate(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "keys": keys }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{self_signed, KeyAlgorithm, LeafSpec, SubjectSpec};

    #[test]
    fn jwk_members_per_key_type() {
        for (alg, kty, jws) in [
            (KeyAlgorithm::EcdsaP256, "EC", "ES256"),
            (KeyAlgorithm::Ed25519, "OKP", "EdDSA"),
            (KeyAlgorithm::Rsa2048, "RSA", "PS256"),
        ] {
            let c = self_signed(&LeafSpec::client(SubjectSpec::cn("s")).with_key(alg)).unwrap();
            let jwk = c.jwk().unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], jws);
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], c.thumbprint().as_str());
            assert_eq!(jwk["x5t#S256"], c.thumbprint().as_str());
            let x5c = jwk["x5c"].as_array().unwrap();
            assert_eq!(x5c.len(), 1);
            assert_eq!(
                STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(),
                c.cert_der
            );
            match alg {
                KeyAlgorithm::EcdsaP256 => {
                    assert_eq!(jwk["crv"], "P-256");
                    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
                    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
                    assert_eq!((x.len(), y.len()), (32, 32));
                }
                KeyAlgorithm::Ed25519 => {
                    assert_eq!(jwk["crv"], "Ed25519");
                    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
                    assert_eq!(x.len(), 32);
                }
                KeyAlgorithm::Rsa2048 => {
                    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
                    assert_eq!(n.len(), 256);
                    assert_eq!(jwk["e"], "AQAB");
                }
            }
            // No private members.
            assert!(jwk.get("d").is_none());
        }
    }

    #[test]
    fn jwks_is_accepted_by_the_core() {
        let a = self_signed(&LeafSpec::client(SubjectSpec::cn("a"))).unwrap();
        let b =
            self_signed(&LeafSpec::client(SubjectSpec::cn("b")).with_key(KeyAlgorithm::Ed25519))
                .unwrap();
        let set = jwks(&[&a.cert_der, &b.cert_der]).unwrap();
        assert_eq!(set["keys"].as_array().unwrap().len(), 2);
        let certs = certbound_core::jwks::registered_certificates(&set).unwrap();
        assert_eq!(certs[0].as_ref(), &a.cert_der[..]);
        assert_eq!(certs[1].as_ref(), &b.cert_der[..]);
    }

    #[test]
    fn chain_jwk_lists_every_certificate() {
        let ca =
            crate::CertificateAuthority::generate(&SubjectSpec::cn("ca"), KeyAlgorithm::EcdsaP256)
                .unwrap();
        let leaf = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("leaf")))
            .unwrap();
        let jwk = jwk_for_chain(&leaf.chain_der()).unwrap();
        assert_eq!(jwk["x5c"].as_array().unwrap().len(), 2);
        assert_eq!(jwk["kid"], leaf.thumbprint().as_str());
        assert!(jwk_for_chain::<Vec<u8>>(&[]).is_err());
    }
}
