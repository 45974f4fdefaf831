use super::*;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

const ALGS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa2048,
];

fn parse(der: &[u8]) -> X509Certificate<'_> {
    x509_parser::parse_x509_certificate(der).unwrap().1
}

fn ski(c: &X509Certificate<'_>) -> Option<Vec<u8>> {
    c.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

fn aki(c: &X509Certificate<'_>) -> Option<Vec<u8>> {
    c.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

fn test_ca(alg: KeyAlgorithm) -> CertificateAuthority {
    CertificateAuthority::generate(
        &SubjectSpec::new()
            .country("DE")
            .org("Example")
            .common_name("Test CA"),
        alg,
    )
    .unwrap()
}

#[test]
fn ca_certificate_profile() {
    for alg in ALGS {
        let ca = test_ca(alg);
        let c = parse(ca.cert_der());
        let bc = c.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca, "{alg:?}");
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        assert!(ski(&c).is_some());
        assert_eq!(c.subject().as_raw(), c.issuer().as_raw());
        assert_eq!(ca.subject_rfc4514().unwrap(), "CN=Test CA,O=Example,C=DE");
        c.verify_signature(None).unwrap();
        assert_eq!(c.raw_serial().len(), 16);
        assert_eq!(ca.key_algorithm(), Some(alg));
    }
}

#[test]
fn leaf_profile_for_every_key_pair_combination() {
    for ca_alg in ALGS {
        let ca = test_ca(ca_alg);
        let ca_cert = parse(ca.cert_der());
        for leaf_alg in ALGS {
            for usage in [CertUsage::Client, CertUsage::Server] {
                let spec = LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
                    .with_usage(usage)
                    .with_key(leaf_alg)
                    .with_dns("a.example")
                    .with_uri("spiffe://example/a")
                    .with_ip("127.0.0.1".parse().unwrap())
                    .with_email("a@example.com");
                let leaf = ca.issue(&spec).unwrap();
                assert_eq!(leaf.key_algorithm, leaf_alg);
                assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
                assert_eq!(key::pkcs8_version(&leaf.key_der), Some(0));
                let c = parse(&leaf.cert_der);
                c.verify_signature(Some(ca_cert.public_key())).unwrap();
                assert_eq!(c.issuer().as_raw(), ca.subject_der());
                assert_eq!(leaf.issuer_der(), ca.subject_der());
                let bc = c.basic_constraints().unwrap().unwrap();
                assert!(!bc.value.ca);
                let ku = c.key_usage().unwrap().unwrap().value;
                assert!(ku.digital_signature() && !ku.key_cert_sign());
                assert_eq!(
                    ku.key_encipherment(),
                    usage == CertUsage::Server && leaf_alg == KeyAlgorithm::Rsa2048
                );
                let eku = c.extended_key_usage().unwrap().unwrap().value;
                assert_eq!(eku.client_auth, usage == CertUsage::Client);
                assert_eq!(eku.server_auth, usage == CertUsage::Server);
                assert_eq!(aki(&c), ski(&ca_cert));
                let san = c.subject_alternative_name().unwrap().unwrap();
                assert!(!san.critical);
                assert_eq!(san.value.general_names.len(), 4);
                assert_eq!(leaf.subject_rfc4514().unwrap(), "CN=partner-a,O=Example");
                assert_eq!(leaf.thumbprint(), Thumbprint::of_der(&leaf.cert_der));
            }
        }
    }
}

#[test]
fn serials_random_or_given() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let a = ca.issue(&LeafSpec::client(SubjectSpec::cn("a"))).unwrap();
    let b = ca.issue(&LeafSpec::client(SubjectSpec::cn("a"))).unwrap();
    assert_eq!(a.serial().len(), 16);
    assert!(a.serial()[0] & 0x80 == 0);
    assert_ne!(a.serial(), b.serial());
    let c = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("c")).with_serial(vec![0x80, 1]))
        .unwrap();
    assert_eq!(c.serial(), &[0, 0x80, 1]);
    let d = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("c")).with_serial(c.serial().to_vec()))
        .unwrap();
    assert_eq!(d.serial(), c.serial());
    assert!(ca
        .issue(&LeafSpec::client(SubjectSpec::cn("c")).with_serial(vec![]))
        .is_err());
}

#[test]
fn validity_presets() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let now = OffsetDateTime::now_utc();
    let default = parse(
        &ca.issue(&LeafSpec::client(SubjectSpec::cn("d")))
            .unwrap()
            .cert_der,
    )
    .validity()
    .clone();
    assert!(default.is_valid());
    let nb = default.not_before.to_datetime();
    let na = default.not_after.to_datetime();
    assert!(nb < now - Duration::minutes(59) && nb > now - Duration::minutes(61));
    assert!(na > now + Duration::days(364) && na < now + Duration::days(366));
    let expired = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("e")).expired())
        .unwrap();
    let v = parse(&expired.cert_der).validity().clone();
    assert!(!v.is_valid() && v.not_after.to_datetime() < now);
    let future = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("f")).not_yet_valid())
        .unwrap();
    let v = parse(&future.cert_der).validity().clone();
    assert!(!v.is_valid() && v.not_before.to_datetime() > now);
}

#[test]
fn rogue_twin_matches_by_name_and_serial_only() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let original = ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).with_dns("a.example"))
        .unwrap();
    let rogue = ca.impostor(KeyAlgorithm::EcdsaP256).unwrap();
    assert_eq!(rogue.subject_der(), ca.subject_der());
    assert_ne!(rogue.cert_der(), ca.cert_der());
    let twin = rogue
        .issue(&LeafSpec::copy_of(&original.cert_der).unwrap())
        .unwrap();
    assert_eq!(twin.subject_der(), original.subject_der());
    assert_eq!(twin.issuer_der(), original.issuer_der());
    assert_eq!(twin.serial(), original.serial());
    let (o, t) = (parse(&original.cert_der), parse(&twin.cert_der));
    assert_eq!(o.validity().not_before, t.validity().not_before);
    assert_eq!(o.validity().not_after, t.validity().not_after);
    assert_eq!(
        o.subject_alternative_name().unwrap().unwrap().value,
        t.subject_alternative_name().unwrap().unwrap().value
    );
    assert_ne!(twin.thumbprint(), original.thumbprint());
    let real = parse(ca.cert_der());
    assert!(t.verify_signature(Some(real.public_key())).is_err());
    assert!(t
        .verify_signature(Some(parse(rogue.cert_der()).public_key()))
        .is_ok());
    // Also by spec: the same subject built again gives the same bytes.
    let again =
        CertificateAuthority::generate(&ca.subject_spec().unwrap(), KeyAlgorithm::Ed25519).unwrap();
    assert_eq!(again.subject_der(), ca.subject_der());
}

#[test]
fn self_signed_client() {
    for alg in ALGS {
        let c = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-s")).with_key(alg)).unwrap();
        let x = parse(&c.cert_der);
        assert_eq!(x.subject().as_raw(), x.issuer().as_raw());
        x.verify_signature(None).unwrap();
        assert!(!x.basic_constraints().unwrap().unwrap().value.ca);
        assert!(x.extended_key_usage().unwrap().unwrap().value.client_auth);
        assert!(c.issuer_chain_der.is_empty());
        assert_eq!(c.chain_der().len(), 1);
    }
}

#[test]
fn intermediate_chains() {
    let root = test_ca(KeyAlgorithm::EcdsaP256);
    let mid = root
        .issue_intermediate(
            &SubjectSpec::cn_o("Issuing CA", "Example"),
            KeyAlgorithm::Ed25519,
        )
        .unwrap();
    let m = parse(mid.cert_der());
    assert!(m.is_ca());
    assert_eq!(aki(&m), ski(&parse(root.cert_der())));
    m.verify_signature(Some(parse(root.cert_der()).public_key()))
        .unwrap();
    assert_eq!(mid.root_der(), root.cert_der());
    let leaf = mid
        .issue(&LeafSpec::client(SubjectSpec::cn("deep")))
        .unwrap();
    assert_eq!(
        leaf.issuer_chain_der,
        vec![mid.cert_der().to_vec(), root.cert_der().to_vec()]
    );
    assert_eq!(parse_certificates_pem(&leaf.chain_pem()).unwrap().len(), 3);
    assert_eq!(parse_certificates_pem(&mid.chain_pem()).unwrap().len(), 2);
    parse(&leaf.cert_der)
        .verify_signature(Some(m.public_key()))
        .unwrap();
    assert_eq!(leaf.issuer_rfc4514().unwrap(), "CN=Issuing CA,O=Example");
}

#[test]
fn ca_from_pem_round_trip_and_checks() {
    let ca = test_ca(KeyAlgorithm::Ed25519);
    let loaded = CertificateAuthority::from_pem(&ca.cert_pem(), ca.key_pem()).unwrap();
    assert_eq!(loaded.cert_der(), ca.cert_der());
    let leaf = loaded
        .issue(&LeafSpec::client(SubjectSpec::cn("x")))
        .unwrap();
    let c = parse(&leaf.cert_der);
    assert_eq!(aki(&c), ski(&parse(ca.cert_der())));
    c.verify_signature(Some(parse(ca.cert_der()).public_key()))
        .unwrap();

    let other = test_ca(KeyAlgorithm::Ed25519);
    assert!(matches!(
        CertificateAuthority::from_pem(&ca.cert_pem(), other.key_pem()),
        Err(PkiError::KeyMismatch)
    ));
    let not_ca = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("leaf")))
        .unwrap();
    assert!(matches!(
        CertificateAuthority::from_pem(&not_ca.cert_pem, &not_ca.key_pem),
        Err(PkiError::Certificate(_))
    ));
    assert!(CertificateAuthority::from_pem("nothing", ca.key_pem()).is_err());
    // An intermediate loaded with its parent keeps the chain.
    let mid = ca
        .issue_intermediate(&SubjectSpec::cn("mid"), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let mid2 = CertificateAuthority::from_pem(&mid.chain_pem(), mid.key_pem()).unwrap();
    let leaf = mid2.issue(&LeafSpec::client(SubjectSpec::cn("y"))).unwrap();
    assert_eq!(leaf.chain_der().len(), 3);
}

#[test]
fn repeated_and_multi_valued_attributes_survive() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let subject = SubjectSpec::new()
        .dc("com")
        .dc("example")
        .org_unit("A")
        .org_unit("B")
        .with_kind(
            crate::AttributeType::CommonName,
            "p",
            crate::StringKind::Printable,
        )
        .with_rdn(vec![
            crate::DnAttribute::new(crate::AttributeType::UserId, "u1"),
            crate::DnAttribute::new(crate::AttributeType::SerialNumber, "42"),
        ]);
    let leaf = ca.issue(&LeafSpec::client(subject.clone())).unwrap();
    assert_eq!(leaf.subject_der(), subject.to_der().unwrap());
    assert_eq!(
        parse(&leaf.cert_der).subject().as_raw(),
        subject.to_der().unwrap()
    );
    let text = leaf.subject_rfc4514().unwrap();
    assert!(
        text.starts_with("serialNumber=42+UID=u1,CN=p,OU=B,OU=A,DC=example,DC=com")
            || text.starts_with("UID=u1+serialNumber=42,CN=p"),
        "{text}"
    );
}

#[test]
fn empty_subject_makes_the_san_critical() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let leaf = ca
        .issue(&LeafSpec::default().with_uri("spiffe://example/workload"))
        .unwrap();
    let c = parse(&leaf.cert_der);
    assert!(c.subject().as_raw() == [0x30, 0x00]);
    assert!(c.subject_alternative_name().unwrap().unwrap().critical);
    assert!(CertificateAuthority::generate(&SubjectSpec::new(), KeyAlgorithm::EcdsaP256).is_err());
}

#[test]
fn reused_key_same_spki_new_thumbprint() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let first = ca.issue(&LeafSpec::client(SubjectSpec::cn("r"))).unwrap();
    let renewed = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("r")).with_key_pem(first.key_pem.clone()))
        .unwrap();
    assert_eq!(
        parse(&first.cert_der).public_key().raw,
        parse(&renewed.cert_der).public_key().raw
    );
    assert_ne!(first.thumbprint(), renewed.thumbprint());
    assert_eq!(first.key_der, renewed.key_der);
    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert!(ca
        .issue(&LeafSpec::client(SubjectSpec::cn("r")).with_key_pem(sec1))
        .is_err());
}

#[test]
fn pkcs12_reads_back() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    for alg in ALGS {
        let leaf = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("p12")).with_key(alg))
            .unwrap();
        let bytes = leaf.to_pkcs12("secret", "p12").unwrap();
        let store = p12_keystore::KeyStore::from_pkcs12(
            &bytes,
            "secret",
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .unwrap();
        let (alias, chain) = store.private_key_chain().unwrap();
        assert_eq!(alias, "p12");
        assert_eq!(chain.key().as_der(), &leaf.key_der[..]);
        assert_eq!(chain.certs()[0].as_der(), &leaf.cert_der[..]);
        assert_eq!(chain.certs().len(), 2);
        assert!(p12_keystore::KeyStore::from_pkcs12(
            &bytes,
            "wrong",
            p12_keystore::Pkcs12ImportPolicy::Strict
        )
        .is_err());
    }
}

#[test]
fn debug_never_prints_keys() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let leaf = ca.issue(&LeafSpec::client(SubjectSpec::cn("d"))).unwrap();
    let spec = LeafSpec::client(SubjectSpec::cn("d")).with_key_pem(leaf.key_pem.clone());
    for text in [format!("{ca:?}"), format!("{leaf:?}"), format!("{spec:?}")] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(text.contains("[elided]"), "{text}");
    }
}

#[test]
fn copy_of_server_keeps_usage_and_ips() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let s = ca
        .issue(
            &LeafSpec::server(
                &["localhost"],
                &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            )
            .with_key(KeyAlgorithm::Rsa2048),
        )
        .unwrap();
    let spec = LeafSpec::copy_of(&s.cert_der).unwrap();
    assert_eq!(spec.usage, CertUsage::Server);
    assert_eq!(spec.san_ip.len(), 2);
    assert_eq!(spec.san_dns, vec!["localhost".to_owned()]);
    assert_eq!(spec.key, KeyAlgorithm::Rsa2048);
}
