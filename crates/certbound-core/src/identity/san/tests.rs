//! SAN tests: SPEC-CHECKLIST §4-E and RFC 8705 §2.1.2.

use super::test_certs::{
    cert, fixture, general_name, name, ps, san_extension, sequence, utf8, CLIENT_A,
};
use super::*;
use der::asn1::Ia5String;
use der::Encode;
use x509_cert::ext::pkix::name::OtherName;

const CN: &str = "2.5.4.3";
const EMAIL_ATTR: &str = "1.2.840.113549.1.9.1";

fn dns(s: &str) -> PresentedSan {
    PresentedSan::Dns(s.to_owned())
}
fn uri(s: &str) -> PresentedSan {
    PresentedSan::Uri(s.to_owned())
}
fn email(s: &str) -> PresentedSan {
    PresentedSan::Email(s.to_owned())
}
fn ip(s: &str) -> PresentedSan {
    PresentedSan::Ip(s.parse().expect("test address"))
}

/// A certificate whose SAN extension holds exactly these GeneralNames (raw DER entries).
fn cert_with_entries(entries: &[Vec<u8>]) -> x509_cert::Certificate {
    let body: Vec<u8> = entries.concat();
    cert(
        name(vec![vec![utf8(CN, "x")]]),
        vec![san_extension(sequence(&body))],
    )
}

fn sans_of(entries: &[Vec<u8>]) -> Vec<PresentedSan> {
    presented_sans(&cert_with_entries(entries)).expect("decodable SAN")
}

// ------------------------------------------------------------------ presented_sans

#[test]
fn reads_every_kind_from_a_real_certificate() {
    let sans = presented_sans(&fixture(CLIENT_A)).expect("SANs");
    assert_eq!(
        sans,
        vec![
            dns("client-a.example"),
            dns("x.example"),
            uri("https://client-a.example/app"),
            ip("10.0.0.1"),
            ip("2001:db8::1"),
            email("Ops@example.com"),
        ]
    );
    // 8705-2.1.2-03: one of several dNSName entries is enough.
    assert!(SanMatcher::dns("client-a.example")
        .expect("valid")
        .matches_any(&sans));
    assert!(SanMatcher::uri("https://client-a.example/app")
        .expect("valid")
        .matches_any(&sans));
    assert!(SanMatcher::ip("2001:DB8:0:0:0:0:0:1")
        .expect("valid")
        .matches_any(&sans));
    assert!(SanMatcher::email("Ops@EXAMPLE.com")
        .expect("valid")
        .matches_any(&sans));
    assert!(!SanMatcher::dns("y.example")
        .expect("valid")
        .matches_any(&sans));
}

#[test]
fn no_extension_means_no_sans() {
    let c = cert(name(vec![vec![utf8(CN, "client-a.example")]]), Vec::new());
    assert_eq!(presented_sans(&c).expect("ok"), Vec::new());
    // E-dns-6: the name only in the subject CN does not count.
    assert!(!SanMatcher::dns("client-a.example")
        .expect("valid")
        .matches_any(&presented_sans(&c).expect("ok")));
}

#[test]
fn e_mail_3_subject_email_address_attribute_is_not_a_san() {
    let c = cert(
        name(vec![
            vec![ps(CN, "x")],
            vec![ps(EMAIL_ATTR, "ops@example.com")],
        ]),
        Vec::new(),
    );
    let sans = presented_sans(&c).expect("ok");
    assert!(sans.is_empty());
    assert!(!SanMatcher::email("ops@example.com")
        .expect("valid")
        .matches_any(&sans));
}

#[test]
fn malformed_extensions_are_errors() {
    let bad: Vec<Vec<u8>> = vec![
        vec![],                                                  // empty
        vec![0x30, 0x05, 0x82, 0x01],                            // truncated
        vec![0x04, 0x00],                                        // not a SEQUENCE
        sequence(&general_name(2, &[0xC3, 0xBC])), // non-ASCII dNSName: not an IA5String
        [sequence(&general_name(2, b"a")), vec![0x00]].concat(), // trailing bytes
    ];
    for der in bad {
        let c = cert(
            name(vec![vec![utf8(CN, "x")]]),
            vec![san_extension(der.clone())],
        );
        assert!(presented_sans(&c).is_err(), "{der:02x?}");
    }
    // Two subjectAltName extensions are ambiguous.
    let one = san_extension(sequence(&general_name(2, b"a.example")));
    let c = cert(name(vec![vec![utf8(CN, "x")]]), vec![one.clone(), one]);
    assert!(presented_sans(&c)
        .expect_err("duplicate")
        .to_string()
        .contains("more than one"));
}

#[test]
fn e_dns_8_entry_count_is_bounded() {
    let entry = general_name(2, b"a.example");
    let at_limit = vec![entry.clone(); MAX_SAN_ENTRIES];
    assert_eq!(sans_of(&at_limit).len(), MAX_SAN_ENTRIES);
    let over = vec![entry.clone(); MAX_SAN_ENTRIES + 1];
    assert!(presented_sans(&cert_with_entries(&over)).is_err());
    let huge = vec![entry; 10_000];
    let e = presented_sans(&cert_with_entries(&huge)).expect_err("10 000 entries");
    assert!(e.to_string().contains("10000 entries"), "{e}");
}

#[test]
fn other_kinds_are_skipped() {
    let other_name = GeneralName::OtherName(OtherName {
        // id-on-SmtpUTF8Mailbox (RFC 9598)
        type_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.8.9"),
        value: der::asn1::Any::new(der::Tag::Utf8String, "ops@example.com".as_bytes())
            .expect("any"),
    });
    let directory = GeneralName::DirectoryName(name(vec![vec![utf8(CN, "client-a.example")]]));
    let registered = GeneralName::RegisteredId(der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4"));
    let entries: Vec<Vec<u8>> = [other_name, directory, registered]
        .iter()
        .map(|g| g.to_der().expect("encode"))
        .collect();
    let sans = sans_of(&entries);
    assert!(sans.is_empty(), "{sans:?}");
    // E-mail-5: only an otherName SmtpUTF8Mailbox → no match.
    assert!(!SanMatcher::email("ops@example.com")
        .expect("valid")
        .matches_any(&sans));
    assert!(!SanMatcher::dns("client-a.example")
        .expect("valid")
        .matches_any(&sans));
}

#[test]
fn encoder_built_entries_decode_in_order() {
    let names = vec![
        GeneralName::DnsName(Ia5String::new("a.example").expect("ia5")),
        GeneralName::from(std::net::IpAddr::from([10, 0, 0, 1])),
        GeneralName::Rfc822Name(Ia5String::new("ops@example.com").expect("ia5")),
        GeneralName::UniformResourceIdentifier(Ia5String::new("spiffe://td/ns/a").expect("ia5")),
    ];
    let der = SubjectAltName(names).to_der().expect("encode");
    let c = cert(name(vec![vec![utf8(CN, "x")]]), vec![san_extension(der)]);
    assert_eq!(
        presented_sans(&c).expect("ok"),
        vec![
            dns("a.example"),
            ip("10.0.0.1"),
            email("ops@example.com"),
            uri("spiffe://td/ns/a")
        ]
    );
}

// ------------------------------------------------------------------ dNSName (E-dns-*)

#[test]
fn e_dns_1_case_insensitive() {
    let m = SanMatcher::dns("client-a.example").expect("valid");
    assert!(m.matches(&dns("Client-A.Example")));
    assert!(m.matches(&dns("client-a.example")));
    assert!(SanMatcher::dns("CLIENT-A.example")
        .expect("valid")
        .matches(&dns("client-a.EXAMPLE")));
}

#[test]
fn e_dns_2_presented_wildcard_never_matches() {
    let m = SanMatcher::dns("client-a.example").expect("valid");
    assert!(!m.matches(&dns("*.example")));
    assert!(!m.matches(&dns("client-*.example")));
    // Even a matcher built around validation does not treat `*` literally.
    assert!(!SanMatcher::Dns("*.example".into()).matches(&dns("*.example")));
}

#[test]
fn e_dns_3_wildcard_registration_is_refused() {
    for v in ["*.example", "*", "client-*.example"] {
        assert!(
            SanMatcher::dns(v)
                .expect_err("wildcard")
                .to_string()
                .contains("wildcard"),
            "{v}"
        );
    }
}

#[test]
fn e_dns_4_trailing_dot_is_refused_and_significant() {
    assert!(SanMatcher::dns("client-a.example.").is_err());
    let m = SanMatcher::dns("client-a.example").expect("valid");
    assert!(!m.matches(&dns("client-a.example.")));
}

#[test]
fn e_dns_5_a_labels_only() {
    let e = SanMatcher::dns("bücher.example").expect_err("U-label");
    assert!(e.to_string().contains("xn--"), "{e}");
    let m = SanMatcher::dns("xn--bcher-kva.example").expect("A-label");
    assert!(m.matches(&dns("XN--BCHER-KVA.example")));
    assert!(!m.matches(&dns("bücher.example")));
}

#[test]
fn e_dns_7_nul_and_controls_never_match() {
    let sans = sans_of(&[
        general_name(2, b"client-a.example\0.evil.com"),
        general_name(2, b"client-a.example\0"),
    ]);
    assert_eq!(sans.len(), 2);
    let m = SanMatcher::dns("client-a.example").expect("valid");
    assert!(!m.matches_any(&sans));
    assert!(!m.matches(&dns("client-a.example ")));
    assert!(!m.matches(&dns("client-a.example\n")));
    assert!(!SanMatcher::Dns("a b".into()).matches(&dns("a b")));
}

#[test]
fn dns_registration_rules() {
    for ok in [
        "localhost",
        "client-a.example",
        "_svc.example",
        "a1.b2",
        &format!("{}.example", "a".repeat(63)),
    ] {
        SanMatcher::dns(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let long = vec!["abcdefghi"; 26].join("."); // 26*9 + 25 = 259
    for bad in [
        "",
        ".example",
        "a..example",
        " client-a.example",
        "client-a.example ",
        "client a.example",
        "client-a.example\0",
        "client-a.example/x",
        "client-a@example",
        &format!("{}.example", "a".repeat(64)),
        &long,
    ] {
        assert!(SanMatcher::dns(bad).is_err(), "{bad:?}");
    }
}

// ------------------------------------------------------------------ URI (E-uri-*)

#[test]
fn e_uri_1_scheme_and_host_are_case_insensitive() {
    let m = SanMatcher::uri("https://client-a.example/app").expect("valid");
    assert!(m.matches(&uri("HTTPS://Client-A.example/app")));
    assert!(m.matches(&uri("https://client-a.example/app")));
}

#[test]
fn e_uri_2_everything_else_is_exact() {
    let m = SanMatcher::uri("https://client-a.example/app").expect("valid");
    for p in [
        "https://client-a.example/App",
        "https://client-a.example/app/",
        "https://client-a.example/a%70p",
        "https://client-a.example:443/app",
        "https://client-a.example/app?x",
        "https://client-a.example/app#f",
        "https://user@client-a.example/app",
        "https://client-a.example.evil/app",
        "https://client-a.example/app\0",
        "https://client-a.example/app ",
        "https:/client-a.example/app",
        "http://client-a.example/app",
        "client-a.example/app",
    ] {
        assert!(!m.matches(&uri(p)), "{p}");
    }
    // Percent-escapes compare byte for byte too (no case-folding of hex digits in the path).
    let pct = SanMatcher::uri("https://h.example/a%2Fb").expect("valid");
    assert!(pct.matches(&uri("https://H.EXAMPLE/a%2Fb")));
    assert!(!pct.matches(&uri("https://h.example/a%2fb")));
    assert!(!pct.matches(&uri("https://h.example/a/b")));
    // Port is compared as written.
    let port = SanMatcher::uri("https://h.example:8443/").expect("valid");
    assert!(port.matches(&uri("https://H.example:8443/")));
    assert!(!port.matches(&uri("https://h.example:08443/")));
}

#[test]
fn e_uri_3_spiffe_ids() {
    let m = SanMatcher::uri("spiffe://td/ns/a").expect("valid");
    assert!(m.matches(&uri("spiffe://td/ns/a")));
    assert!(m.matches(&uri("spiffe://TD/ns/a")));
    assert!(m.matches(&uri("SPIFFE://td/ns/a")));
    assert!(!m.matches(&uri("spiffe://td/NS/a")));
    assert!(!m.matches(&uri("spiffe://td/ns/a/b")));
    assert!(!m.matches(&uri("spiffe://td.evil/ns/a")));
}

#[test]
fn uri_userinfo_ipv6_hosts_and_urns() {
    let m = SanMatcher::uri("https://[2001:db8::1]:8443/x").expect("valid");
    assert!(m.matches(&uri("https://[2001:DB8::1]:8443/x")));
    assert!(!m.matches(&uri("https://[2001:db8::1]:8443/X")));
    let u = SanMatcher::uri("https://Ops@h.example/x").expect("valid");
    assert!(u.matches(&uri("https://Ops@H.EXAMPLE/x")));
    assert!(!u.matches(&uri("https://ops@h.example/x")));
    let urn = SanMatcher::uri("urn:example:client-a").expect("valid");
    assert!(urn.matches(&uri("URN:example:client-a")));
    assert!(!urn.matches(&uri("urn:EXAMPLE:client-a")));
    assert!(!urn.matches(&uri("urn://example:client-a")));
}

#[test]
fn uri_registration_rules() {
    for bad in [
        "",
        "/relative/path",
        "client-a.example/app",
        "//client-a.example/app",
        "https://client-a.example/app with space",
        " https://client-a.example/app",
        "https://client-a.example/\u{e9}",
        "https://client-a.example/a%7",
        "https://client-a.example/a%zz",
        "https://client-a.example/a\\b",
        "https:client-a.example",
        "urn:",
        "1https://x",
        "https://client-a.example/\0",
    ] {
        assert!(SanMatcher::uri(bad).is_err(), "{bad:?}");
    }
    let long = format!("https://h.example/{}", "a".repeat(MAX_SAN_VALUE_LEN));
    assert!(SanMatcher::uri(&long).is_err());
    // The registered text is kept as written, not re-serialised by `url`.
    match SanMatcher::uri("HTTPS://H.example:443/a/../b").expect("valid") {
        SanMatcher::Uri(s) => assert_eq!(s, "HTTPS://H.example:443/a/../b"),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------ iPAddress (E-ip-*)

#[test]
fn e_ip_1_2_binary_comparison() {
    let sixteen = sans_of(&[general_name(
        7,
        &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    )]);
    for registered in [
        "2001:db8::1",
        "2001:DB8:0:0:0:0:0:1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
    ] {
        assert!(
            SanMatcher::ip(registered)
                .expect("valid")
                .matches_any(&sixteen),
            "{registered}"
        );
    }
    assert!(!SanMatcher::ip("2001:db8::2")
        .expect("valid")
        .matches_any(&sixteen));
    let four = sans_of(&[general_name(7, &[10, 0, 0, 1])]);
    assert!(SanMatcher::ip("10.0.0.1")
        .expect("valid")
        .matches_any(&four));
    assert!(!SanMatcher::ip("10.0.0.2")
        .expect("valid")
        .matches_any(&four));
}

#[test]
fn e_ip_3_ipv4_mapped_ipv6_does_not_match_ipv4() {
    let mapped = sans_of(&[general_name(
        7,
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
    )]);
    assert_eq!(mapped, vec![ip("::ffff:10.0.0.1")]);
    assert!(!SanMatcher::ip("10.0.0.1")
        .expect("valid")
        .matches_any(&mapped));
    // The reverse holds too: a mapped registration matches only the 16-octet form.
    let four = sans_of(&[general_name(7, &[10, 0, 0, 1])]);
    assert!(!SanMatcher::ip("::ffff:10.0.0.1")
        .expect("valid")
        .matches_any(&four));
    assert!(SanMatcher::ip("::ffff:10.0.0.1")
        .expect("valid")
        .matches_any(&mapped));
}

#[test]
fn e_ip_4_other_lengths_are_ignored() {
    let sans = sans_of(&[
        general_name(7, &[10, 0, 0, 1, 255, 255, 255, 0]),
        general_name(7, &[]),
        general_name(7, &[10, 0, 0]),
        general_name(7, &[0; 32]),
    ]);
    assert!(sans.is_empty(), "{sans:?}");
    assert!(!SanMatcher::ip("10.0.0.1")
        .expect("valid")
        .matches_any(&sans));
}

#[test]
fn e_ip_5_strict_registration() {
    for bad in [
        "010.000.000.001",
        "10.0.0.01",
        "10.1",
        "fe80::1%eth0",
        "10.0.0.256",
        " 10.0.0.1",
        "10.0.0.1 ",
        "10.0.0.0/8",
        "2001:db8::/32",
        "[2001:db8::1]",
        "0x0a.0.0.1",
        "167772161",
        "",
        "::ffff:010.0.0.1",
    ] {
        assert!(SanMatcher::ip(bad).is_err(), "{bad:?}");
    }
}

// ------------------------------------------------------------------ rfc822Name (E-mail-*)

#[test]
fn e_mail_1_domain_is_case_insensitive() {
    let m = SanMatcher::email("Ops@Example.COM").expect("valid");
    assert!(m.matches(&email("Ops@example.com")));
    assert!(m.matches(&email("Ops@EXAMPLE.com")));
}

#[test]
fn e_mail_2_local_part_is_exact() {
    let m = SanMatcher::email("Ops@example.com").expect("valid");
    assert!(!m.matches(&email("ops@example.com")));
    assert!(!m.matches(&email("OPS@example.com")));
    assert!(!m.matches(&email("Ops@example.com.evil")));
    assert!(!m.matches(&email("x@Ops@example.com")));
    assert!(!m.matches(&email("Ops@example.com\0")));
    assert!(!m.matches(&email("example.com")));
    assert!(!m.matches(&email("@example.com")));
}

#[test]
fn e_mail_4_registration_rules() {
    for bad in [
        "Ops <ops@example.com>",
        "<ops@example.com>",
        "opsexample.com",
        "a@b@c",
        "@example.com",
        "ops@",
        "ops@.example.com",
        "ops@example.com.",
        "ops @example.com",
        "ops@exa mple.com",
        "öps@example.com",
        "ops@bücher.example",
        "\"o p\"@example.com",
        "",
    ] {
        assert!(SanMatcher::email(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "ops@example.com",
        "first.last+tag@sub.example.org",
        "o'brien@xn--bcher-kva.example",
    ] {
        SanMatcher::email(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

// ------------------------------------------------------------------ no cross-kind matches

#[test]
fn kinds_never_cross() {
    let presented = vec![
        dns("client-a.example"),
        uri("client-a.example"),
        email("ops@example.com"),
        ip("10.0.0.1"),
    ];
    assert!(!SanMatcher::uri("dns:client-a.example")
        .expect("valid")
        .matches_any(&presented[..1]));
    assert!(!SanMatcher::email("ops@example.com")
        .expect("valid")
        .matches_any(&[dns("ops@example.com")]));
    assert!(!SanMatcher::dns("client-a.example")
        .expect("valid")
        .matches_any(&presented[1..]));
    assert!(!SanMatcher::ip("10.0.0.1")
        .expect("valid")
        .matches_any(&presented[..3]));
    assert!(SanMatcher::ip("10.0.0.1")
        .expect("valid")
        .matches_any(&presented));
}

#[test]
fn presented_san_is_cheap_to_clone_and_debug() {
    let p = dns("client-a.example");
    let q = p.clone();
    assert_eq!(p, q);
    assert_eq!(format!("{q:?}"), "Dns(\"client-a.example\")");
}
