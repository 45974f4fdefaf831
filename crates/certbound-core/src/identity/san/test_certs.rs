//! Test fixtures shared by the DN and SAN tests: certificates built from hand-chosen DER (so the
//! string types and SAN encodings are exactly what a test needs), and real certificates made with
//! OpenSSL 3.0.19.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use der::asn1::{Any, BitString, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

/// `openssl req -x509 -newkey ec -subj '/C=US/O=Example, Inc./CN=client-a' -addext
/// 'subjectAltName=DNS:client-a.example,DNS:x.example,URI:https://client-a.example/app,IP:10.0.0.1,IP:2001:db8::1,email:Ops@example.com'`
/// (C is a PrintableString, O and CN are UTF8Strings).
pub(crate) const CLIENT_A: &str = "MIICNTCCAdygAwIBAgIUb6gjiw8cWssPaQ4Q4YhvHJOSUpwwCgYIKoZIzj0EAwIwODELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUV4YW1wbGUsIEluYy4xETAPBgNVBAMMCGNsaWVudC1hMB4XDTI2MTEyMjEzNTYzNloXDTM2MTExOTEzNTYzNlowODELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUV4YW1wbGUsIEluYy4xETAPBgNVBAMMCGNsaWVudC1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAER70L+mntaa/H9Ml1iYeAUE3/cst1Z9DKnGjX/4FcQp7ScfeYfvS1qWTYOEGBa7/JvwZca6K/jCgo8SDDCIbo+qOBwzCBwDAdBgNVHQ4EFgQUOeqxtNriUh+m2RHwmkmJbjh3DzowHwYDVR0jBBgwFoAUOeqxtNriUh+m2RHwmkmJbjh3DzowDwYDVR0TAQH/BAUwAwEB/zBtBgNVHREEZjBkghBjbGllbnQtYS5leGFtcGxlggl4LmV4YW1wbGWGHGh0dHBzOi8vY2xpZW50LWEuZXhhbXBsZS9hcHCHBAoAAAGHECABDbgAAAAAAAAAAAAAAAGBD09wc0BleGFtcGxlLmNvbTAKBggqhkjOPQQDAgNHADBEAiAKmyFykl9Z426RoXHNFSCh24wrEd0ZZC/mD9sDWGApRwIgRcl/fdCf0Xnt61T/VipMMrB+p0JISS3aBW+cUW9BPzY=";

/// The Brazil-style subject of the conformance suite (SPEC-CHECKLIST §3.6), every value a
/// PrintableString, made with OpenSSL (`string_mask = default`).
pub(crate) const BRAZIL: &str = "MIIDhDCCAysCFDRLq77Vn5hJjzaCRJBrLQ4nFfI3MAoGCCqGSM49BAMCMIIBQzELMAkGA1UEBhMCQlIxCzAJBgNVBAgTAlNQMQ8wDQYDVQQHEwZMT05ET04xHDAaBgNVBAoTE09wZW4gQmFua2luZyBCcmFzaWwxQzBBBgNVBAMTOmh0dHBzOi8vd2ViLmNvbmZvcm1hbmNlLmRpcmVjdG9yeS5vcGVuYmFua2luZ2JyYXNpbC5vcmcuYnIxFzAVBgNVBAUTDjQzMTQyNjY2MDAwMTk3MRowGAYDVQQPExFHb3Zlcm5tZW50IEVudGl0eTETMBEGCysGAQQBgjc8AgEDEwJVSzEzMDEGA1UEYRMqT0ZCQlItNzRlOTI5ZDktMzNiNi00ZDg1LThiYTctYzE0NmM4NjdhODE3MTQwMgYKCZImiZPyLGQBARMkMTAxMjAzNDAtMzMxOC00YmFmLTk5ZTItMGI1NjcyOWM0YWIyMB4XDTI2MTEyMjEzNTYzNloXDTM2MTExOTEzNTYzNlowggFDMQswCQYDVQQGEwJCUjELMAkGA1UECBMCU1AxDzANBgNVBAcTBkxPTkRPTjEcMBoGA1UEChMTT3BlbiBCYW5raW5nIEJyYXNpbDFDMEEGA1UEAxM6aHR0cHM6Ly93ZWIuY29uZm9ybWFuY2UuZGlyZWN0b3J5Lm9wZW5iYW5raW5nYnJhc2lsLm9yZy5icjEXMBUGA1UEBRMONDMxNDI2NjYwMDAxOTcxGjAYBgNVBA8TEUdvdmVybm1lbnQgRW50aXR5MRMwEQYLKwYBBAGCNzwCAQMTAlVLMTMwMQYDVQRhEypPRkJCUi03NGU5MjlkOS0zM2I2LTRkODUtOGJhNy1jMTQ2Yzg2N2E4MTcxNDAyBgoJkiaJk/IsZAEBEyQxMDEyMDM0MC0zMzE4LTRiYWYtOTllMi0wYjU2NzI5YzRhYjIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARCLSUAWsti8rM/VU0kRZMW0MosoBiql0mquKVacTiaKsN90/JHmQ/NCStHy6vKPybycVBuZnsQ5jEgByXN4KIeMAoGCCqGSM49BAMCA0cAMEQCIFApN6wJ/wKYcVKeplbQztjullHvwBzwL8oT0aG3RoxYAiAroNAi0LeCupZHmb/NDeCMTHBrvtzZOTy6AKguD2lXPA==";

/// `openssl req -x509 -multivalue-rdn -subj '/C=US/OU=a/OU=b/O=Example/CN=client-a+UID=42'`.
pub(crate) const MULTI_VALUED: &str = "MIICDjCCAbOgAwIBAgIUYIDP/WWjeUDx82jcrGbafKQFHHYwCgYIKoZIzj0EAwIwXDELMAkGA1UEBhMCVVMxCjAIBgNVBAsMAWExCjAIBgNVBAsMAWIxEDAOBgNVBAoMB0V4YW1wbGUxIzAPBgNVBAMMCGNsaWVudC1hMBAGCgmSJomT8ixkAQEMAjQyMB4XDTI2MTEyMjEzNTYzOVoXDTM2MTExOTEzNTYzOVowXDELMAkGA1UEBhMCVVMxCjAIBgNVBAsMAWExCjAIBgNVBAsMAWIxEDAOBgNVBAoMB0V4YW1wbGUxIzAPBgNVBAMMCGNsaWVudC1hMBAGCgmSJomT8ixkAQEMAjQyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsw7F6yMafDXbVyWccimmIZZ5inrEXfXznk2umLg7fNOTHc+/COkzpC1OanCSCHIdygFfapkna2o3sYuZVjnD16NTMFEwHQYDVR0OBBYEFBsWLZRopVayqODq3ise1LHrg9PQMB8GA1UdIwQYMBaAFBsWLZRopVayqODq3ise1LHrg9PQMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAJK/8G9AR1Qpx+n0fo4vh4cszi1e/nGyPs8nJRY7t1OnAiEAjlNCLoZsPIu8JJ5bEcMx1krQvHhON6cbuMjytnVRUgs=";

/// Decodes one of the base64 fixtures above.
pub(crate) fn fixture(b64: &str) -> Certificate {
    let der = STANDARD.decode(b64).expect("fixture base64");
    Certificate::from_der(&der).expect("fixture DER")
}

/// An attribute with an explicit string type (or any other tag).
pub(crate) fn atv(oid: &str, tag: Tag, bytes: &[u8]) -> AttributeTypeAndValue {
    AttributeTypeAndValue {
        oid: ObjectIdentifier::new_unwrap(oid),
        value: Any::new(tag, bytes).expect("value"),
    }
}

/// PrintableString attribute.
pub(crate) fn ps(oid: &str, text: &str) -> AttributeTypeAndValue {
    atv(oid, Tag::PrintableString, text.as_bytes())
}

/// UTF8String attribute.
pub(crate) fn utf8(oid: &str, text: &str) -> AttributeTypeAndValue {
    atv(oid, Tag::Utf8String, text.as_bytes())
}

/// A name from RDNs in ASN.1 order (least specific first), round-tripped through DER so the
/// result is exactly what a certificate parser would produce.
pub(crate) fn name(rdns: Vec<Vec<AttributeTypeAndValue>>) -> Name {
    let seq = RdnSequence(
        rdns.into_iter()
            .map(|avas| RelativeDistinguishedName(SetOfVec::try_from(avas).expect("set")))
            .collect(),
    );
    Name::from_der(&seq.to_der().expect("encode name")).expect("decode name")
}

/// A certificate with the given subject and extensions, encoded to DER and decoded back. The
/// signature is junk: only the structure matters to the code under test.
pub(crate) fn cert(subject: Name, extensions: Vec<Extension>) -> Certificate {
    let alg = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
        parameters: None,
    };
    let time = |secs| {
        Time::UtcTime(
            UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).expect("time"),
        )
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[1]).expect("serial"),
        signature: alg.clone(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: time(1_700_000_000),
            not_after: time(1_900_000_000),
        },
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
                parameters: None,
            },
            subject_public_key: BitString::from_bytes(&[4; 65]).expect("key"),
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if extensions.is_empty() {
            None
        } else {
            Some(extensions)
        },
    };
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&[0; 8]).expect("signature"),
    };
    Certificate::from_der(&cert.to_der().expect("encode cert")).expect("decode cert")
}

/// A subjectAltName extension with the given DER contents (the `GeneralNames` SEQUENCE).
pub(crate) fn san_extension(general_names_der: Vec<u8>) -> Extension {
    Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
        critical: false,
        extn_value: OctetString::new(general_names_der).expect("octets"),
    }
}

/// Wraps `contents` in a DER SEQUENCE.
pub(crate) fn sequence(contents: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    push_len(&mut out, contents.len());
    out.extend_from_slice(contents);
    out
}

/// One implicitly tagged primitive GeneralName: `[tag] contents`.
pub(crate) fn general_name(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | tag];
    push_len(&mut out, contents.len());
    out.extend_from_slice(contents);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}
