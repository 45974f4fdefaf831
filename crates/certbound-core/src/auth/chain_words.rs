//! Chain-validation failures in words. rustls-webpki's `Error` renders with its Debug form
//! (`UnknownIssuer`, `CertExpired { time: UnixTime(..), .. }`), which tells an operator nothing;
//! this maps every variant a client certificate can produce to a sentence with the names and
//! RFC 3339 times involved, and anything unforeseen to a plain generic sentence.

use super::TrustAnchors;
use crate::identity::certificate::ClientCertificate;
use crate::identity::dn::DistinguishedName;
use crate::identity::timestamp::unix_time;
use der::Decode;

/// The OID of the clientAuth extended key usage (RFC 5280 §4.2.1.12).
pub(super) const CLIENT_AUTH_EKU: &str = "1.3.6.1.5.5.7.3.2";

/// How many anchor names a failure lists before "and N more".
const ANCHORS_SHOWN: usize = 5;

/// Describes why `cert` did not validate against `anchors` (webpki's error carries the time).
pub(super) fn describe(
    error: &webpki::Error,
    cert: &ClientCertificate,
    anchors: &TrustAnchors,
) -> String {
    use webpki::Error as E;
    #[allow(deprecated)]
    match error {
        E::UnknownIssuer => unknown_issuer(cert, anchors),
        E::CertExpired { time, not_after } => {
            let which = if leaf_not_after(cert) == Some(not_after.as_secs()) {
                "the certificate"
            } else {
                "a certificate of the chain (an intermediate CA)"
            };
            format!(
                "{which} expired on {} (now {})",
                unix_time(*not_after),
                unix_time(*time)
            )
        }
        E::CertNotValidYet { time, not_before } => format!(
            "the certificate is not valid until {} (now {}); check the clocks of the CA and of this server",
            unix_time(*not_before),
            unix_time(*time)
        ),
        E::RequiredEkuNotFound => missing_eku(&[]),
        E::RequiredEkuNotFoundContext(ctx) => missing_eku(&ctx.present),
        E::EmptyEkuExtension => missing_eku(&[]),
        E::InvalidSignatureForPublicKey => format!(
            "{} is known by name, but the certificate's signature does not verify with that issuer's key: it comes from another CA with the same name, or it is forged or damaged",
            quoted_issuer(cert)
        ),
        E::UnsupportedSignatureAlgorithmContext(ctx) => format!(
            "the certificate is signed with {}, which is not accepted (accepted: ECDSA P-256/P-384/P-521 with SHA-2, RSA PKCS#1 or PSS with SHA-2 and keys of 2048 to 8192 bits, Ed25519)",
            algorithm_name(&ctx.signature_algorithm_id)
        ),
        E::UnsupportedSignatureAlgorithmForPublicKeyContext(ctx) => format!(
            "the certificate is signed with {}, which is not accepted for an issuer key of type {} (RSA keys must have 2048 to 8192 bits)",
            algorithm_name(&ctx.signature_algorithm_id),
            algorithm_name(&ctx.public_key_algorithm_id)
        ),
        E::UnsupportedSignatureAlgorithm | E::UnsupportedSignatureAlgorithmForPublicKey => {
            "the certificate is signed with an algorithm that is not accepted (accepted: ECDSA with SHA-2, RSA from 2048 bits with SHA-2, Ed25519)".to_owned()
        }
        E::SignatureAlgorithmMismatch => {
            "the certificate's two signature algorithm fields differ (a malformed certificate)".to_owned()
        }
        E::CaUsedAsEndEntity => {
            "the certificate is a CA certificate (basicConstraints cA=true), not a client certificate".to_owned()
        }
        E::EndEntityUsedAsCa => {
            "a certificate of the chain that issued another one is not a CA certificate (no basicConstraints cA=true)".to_owned()
        }
        E::PathLenConstraintViolated => {
            "the chain is longer than an issuing CA's path length constraint allows".to_owned()
        }
        E::NameConstraintViolation => {
            "the certificate's names are outside the name constraints of an issuing CA".to_owned()
        }
        E::InvalidCertValidity => {
            "the certificate's validity period is invalid (notAfter before notBefore)".to_owned()
        }
        E::UnsupportedCertVersion => "the certificate is not an X.509 version 3 certificate".to_owned(),
        E::UnsupportedCriticalExtension => {
            "the certificate has a critical extension this server does not understand".to_owned()
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) | E::MalformedExtensions
        | E::ExtensionValueInvalid | E::InvalidSerialNumber => {
            "the certificate or a certificate of its chain is malformed (invalid DER)".to_owned()
        }
        E::MaximumPathDepthExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumSignatureChecksExceeded
        | E::MaximumNameConstraintComparisonsExceeded => {
            "the chain is too long or too complex to validate (send only the client certificate and its intermediates)".to_owned()
        }
        E::CertRevoked => "the certificate or one of its issuers is revoked".to_owned(),
        E::CertDistrusted => "the certificate's key is distrusted".to_owned(),
        _ => "the chain could not be validated for client authentication".to_owned(),
    }
}

/// `issued by <issuer of the top of the presented chain>, which is not a trust anchor ...`.
fn unknown_issuer(cert: &ClientCertificate, anchors: &TrustAnchors) -> String {
    let top = cert
        .intermediates()
        .last()
        .map(|c| c.as_ref())
        .unwrap_or(cert.leaf().as_ref());
    let issuer = issuer_of(top)
        .map(|dn| format!("\"{dn}\""))
        .unwrap_or_else(|| "an issuer whose name cannot be read".to_owned());
    let sent = match cert.intermediates().len() {
        0 => String::new(),
        n => format!(
            " (the top of the chain of {} certificates the client sent)",
            n + 1
        ),
    };
    let mut text = format!(
        "issued by {issuer}{sent}, which is not a trust anchor of this client (anchors: {})",
        anchor_list(anchors)
    );
    if cert.intermediates().is_empty() {
        text.push_str(
            "; if that is an intermediate CA, the client must send it after its own certificate",
        );
    }
    text
}

fn anchor_list(anchors: &TrustAnchors) -> String {
    let names = anchors.names();
    let mut shown: Vec<String> = names
        .iter()
        .take(ANCHORS_SHOWN)
        .map(|n| format!("\"{n}\""))
        .collect();
    if names.len() > ANCHORS_SHOWN {
        shown.push(format!("and {} more", names.len() - ANCHORS_SHOWN));
    }
    shown.join(", ")
}

fn missing_eku(present: &[Vec<usize>]) -> String {
    let mut text =
        format!("the certificate is missing the clientAuth extended key usage ({CLIENT_AUTH_EKU})");
    if !present.is_empty() {
        let names: Vec<String> = present
            .iter()
            .map(|arcs| {
                let dotted = arcs
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                match eku_name(&dotted) {
                    Some(name) => format!("{name} ({dotted})"),
                    None => dotted,
                }
            })
            .collect();
        text.push_str(&format!("; it has {}", names.join(", ")));
    }
    text
}

fn eku_name(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "1.3.6.1.5.5.7.3.1" => "serverAuth",
        "1.3.6.1.5.5.7.3.2" => "clientAuth",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.4" => "emailProtection",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning",
        _ => return None,
    })
}

/// The leaf's notAfter, in epoch seconds.
fn leaf_not_after(cert: &ClientCertificate) -> Option<u64> {
    cert.parsed().ok().map(|p| p.not_after)
}

/// The issuer name of a DER certificate, rendered.
fn issuer_of(der: &[u8]) -> Option<DistinguishedName> {
    let c = x509_cert::Certificate::from_der(der).ok()?;
    DistinguishedName::from_name(&c.tbs_certificate.issuer).ok()
}

fn quoted_issuer(cert: &ClientCertificate) -> String {
    cert.issuer()
        .map(|dn| format!("its issuer \"{dn}\""))
        .unwrap_or_else(|| "its issuer".to_owned())
}

/// Renders a trust anchor's subject (webpki keeps the Name's contents without the SEQUENCE
/// header, so it is re-wrapped first).
pub(super) fn anchor_subject(contents: &[u8]) -> String {
    use der::Encode;
    let rebuilt = der::asn1::AnyRef::new(der::Tag::Sequence, contents).and_then(|any| any.to_der());
    rebuilt
        .ok()
        .and_then(|der| x509_cert::name::Name::from_der(&der).ok())
        .and_then(|name| DistinguishedName::from_name(&name).ok())
        .map(|dn| dn.to_string())
        .unwrap_or_else(|| "a name that cannot be read".to_owned())
}

/// The name of a signature or public-key algorithm from the contents of its
/// AlgorithmIdentifier (the OID first), or its dotted OID.
fn algorithm_name(algorithm_identifier: &[u8]) -> String {
    let Some(dotted) = leading_oid(algorithm_identifier) else {
        return "an algorithm that cannot be read".to_owned();
    };
    let name = match dotted.as_str() {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.4" => "MD5 with RSA",
        "1.2.840.113549.1.1.5" => "SHA-1 with RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.2.840.113549.1.1.11" => "SHA-256 with RSA",
        "1.2.840.113549.1.1.12" => "SHA-384 with RSA",
        "1.2.840.113549.1.1.13" => "SHA-512 with RSA",
        "1.2.840.113549.1.1.14" => "SHA-224 with RSA",
        "1.2.840.10045.2.1" => "EC",
        "1.2.840.10045.4.1" => "ECDSA with SHA-1",
        "1.2.840.10045.4.3.1" => "ECDSA with SHA-224",
        "1.2.840.10045.4.3.2" => "ECDSA with SHA-256",
        "1.2.840.10045.4.3.3" => "ECDSA with SHA-384",
        "1.2.840.10045.4.3.4" => "ECDSA with SHA-512",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.10040.4.3" => "DSA with SHA-1",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        _ => return format!("algorithm {dotted}"),
    };
    format!("{name} ({dotted})")
}

/// The dotted form of the OID at the start of `bytes` (tag 06, short length), arcs decoded
/// base-128 without the wrap-around of `const-oid` 0.9.
fn leading_oid(bytes: &[u8]) -> Option<String> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != 0x06 || len == 0 || len >= 0x80 || rest.len() < usize::from(len) {
        return None;
    }
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in &rest[..usize::from(len)] {
        value = value.checked_mul(128)? | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let first = *arcs.first()?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push_str(&format!(".{arc}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_signature_algorithms() {
        // sha1WithRSAEncryption, NULL parameters.
        let sha1_rsa = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        assert_eq!(
            algorithm_name(&sha1_rsa),
            "SHA-1 with RSA (1.2.840.113549.1.1.5)"
        );
        assert_eq!(
            algorithm_name(&[0x06, 0x03, 0x2b, 0x65, 0x72]),
            "algorithm 1.3.101.114"
        );
        assert_eq!(
            algorithm_name(&[0x05, 0x00]),
            "an algorithm that cannot be read"
        );
    }

    #[test]
    fn eku_list_names_known_purposes() {
        let text = missing_eku(&[vec![1, 3, 6, 1, 5, 5, 7, 3, 1]]);
        assert!(text.contains("missing the clientAuth extended key usage (1.3.6.1.5.5.7.3.2)"));
        assert!(text.ends_with("it has serverAuth (1.3.6.1.5.5.7.3.1)"));
    }
}
