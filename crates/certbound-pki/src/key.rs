//! Key generation: every private key leaves this crate as PKCS#8 v1 ("BEGIN PRIVATE KEY").

use aws_lc_rs::encoding::AsDer;
use rcgen::{KeyPair, PublicKeyData};

use crate::PkiError;

/// The key type of a generated certificate.
///
/// ECDSA P-256 is the default: it is what the authorization server signs with by default (ES256)
/// and the cheapest in TLS handshakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (JWS `ES256`).
    #[default]
    EcdsaP256,
    /// Ed25519 (JWS `EdDSA`).
    Ed25519,
    /// RSA; generated with a 2048-bit modulus, certificates signed with PKCS#1 v1.5 SHA-256,
    /// published in JWKs for `PS256`. A loaded RSA key of another size also reports this variant.
    Rsa2048,
}

impl KeyAlgorithm {
    /// The family of an rcgen key pair, or `None` for one this crate does not issue (P-384 ...).
    pub(crate) fn of(key: &KeyPair) -> Option<Self> {
        let alg = key.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(KeyAlgorithm::EcdsaP256)
        } else if alg == &rcgen::PKCS_ED25519 {
            Some(KeyAlgorithm::Ed25519)
        } else if alg == &rcgen::PKCS_RSA_SHA256
            || alg == &rcgen::PKCS_RSA_SHA384
            || alg == &rcgen::PKCS_RSA_SHA512
        {
            Some(KeyAlgorithm::Rsa2048)
        } else {
            None
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = PkiError;

    /// Parses `ecdsa-p256` (or `ec`, `p256`, `es256`), `ed25519` (or `eddsa`), `rsa2048` (or `rsa`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "ec" | "p256" | "p-256" | "es256" => Ok(KeyAlgorithm::EcdsaP256),
            "ed25519" | "eddsa" => Ok(KeyAlgorithm::Ed25519),
            "rsa2048" | "rsa" | "rsa-2048" | "ps256" => Ok(KeyAlgorithm::Rsa2048),
            other => Err(PkiError::InvalidSpec(format!(
                "unknown key algorithm {other:?} (expected ecdsa-p256, ed25519 or rsa2048)"
            ))),
        }
    }
}

/// A freshly generated key pair, its PKCS#8 v1 DER held by rcgen.
pub(crate) fn generate(alg: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    let key = match alg {
        // aws-lc-rs writes ECDSA keys as PKCS#8 v1 (RFC 5208) already.
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        // rcgen's Ed25519 generation writes PKCS#8 v2 (RFC 5958, with the public key), which
        // OpenSSL 3.0 and jsonwebtoken reject; generate v1 with aws-lc-rs and hand it to rcgen.
        KeyAlgorithm::Ed25519 => {
            let pair = aws_lc_rs::signature::Ed25519KeyPair::generate()
                .map_err(|_| PkiError::KeyGeneration("Ed25519"))?;
            let v1 = pair
                .to_pkcs8v1()
                .map_err(|_| PkiError::KeyGeneration("Ed25519"))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(v1.as_ref());
            KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?
        }
        KeyAlgorithm::Rsa2048 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| PkiError::KeyGeneration("RSA-2048"))?;
            let v1: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair
                .as_der()
                .map_err(|_| PkiError::KeyGeneration("RSA-2048"))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(v1.as_ref());
            KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)?
        }
    };
    Ok(key)
}

/// Loads a private key from PEM (PKCS#8, SEC1 or PKCS#1).
pub(crate) fn from_pem(key_pem: &str) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(key_pem).map_err(|e| PkiError::InvalidKey(e.to_string()))
}

/// PEM ("PRIVATE KEY") of a key's PKCS#8 DER.
pub(crate) fn pkcs8_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("PRIVATE KEY", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The DER SubjectPublicKeyInfo of a key pair.
pub(crate) fn spki(key: &KeyPair) -> Vec<u8> {
    key.subject_public_key_info()
}

/// Whether PKCS#8 DER is version 1 (RFC 5208): `SEQUENCE { INTEGER 0, ... }`.
#[cfg(test)]
pub(crate) fn pkcs8_version(der_bytes: &[u8]) -> Option<u8> {
    let (seq, _) = crate::der::expect(der_bytes, crate::der::SEQUENCE, "PrivateKeyInfo").ok()?;
    let (version, _) = crate::der::expect(seq.content, crate::der::INTEGER, "version").ok()?;
    version.content.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_key_is_pkcs8_v1() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = generate(alg).unwrap();
            assert_eq!(pkcs8_version(key.serialized_der()), Some(0), "{alg:?}");
            assert_eq!(KeyAlgorithm::of(&key), Some(alg));
            let pem = pkcs8_pem(key.serialized_der());
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = from_pem(&pem).unwrap();
            assert_eq!(spki(&back), spki(&key));
        }
    }

    #[test]
    fn parses_algorithm_names() {
        assert_eq!(
            "ed25519".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Ed25519
        );
        assert_eq!(
            "RSA".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Rsa2048
        );
        assert_eq!(
            "ecdsa-p256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert!("dsa".parse::<KeyAlgorithm>().is_err());
    }
}
