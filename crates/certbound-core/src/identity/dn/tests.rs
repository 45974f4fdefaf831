//! DN tests: SPEC-CHECKLIST §4-D (tables D-1, D-2, D-3, D-5) and §3.6.

use super::*;
use crate::identity::san::test_certs::{
    atv, cert, fixture, name, ps, utf8, BRAZIL, CLIENT_A, MULTI_VALUED,
};
use der::asn1::SetOfVec;
use der::{Decode, Encode, Tag};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

const CN: &str = "2.5.4.3";
const O: &str = "2.5.4.10";
const C: &str = "2.5.4.6";
const L: &str = "2.5.4.7";
const ST: &str = "2.5.4.8";
const UID: &str = "0.9.2342.19200300.100.1.1";
const DC: &str = "0.9.2342.19200300.100.1.25";
const EMAIL: &str = "1.2.840.113549.1.9.1";
const NAME: &str = "2.5.4.41";
const JURISDICTION_C: &str = "1.3.6.1.4.1.311.60.2.1.3";

const A: &str = r"CN=client-a,O=Example\, Inc.,C=US";

fn dn(s: &str) -> DistinguishedName {
    match s.parse::<DistinguishedName>() {
        Ok(d) => d,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> String {
    match s.parse::<DistinguishedName>() {
        Ok(d) => panic!("{s:?} should be refused, parsed as {d}"),
        Err(e) => e.to_string(),
    }
}

fn from(n: &Name) -> DistinguishedName {
    DistinguishedName::from_name(n).expect("decodable name")
}

fn assert_match(a: &DistinguishedName, b: &DistinguishedName) {
    assert!(a.matches(b), "{a} should match {b}");
    assert!(b.matches(a), "{b} should match {a} (symmetry)");
}

fn assert_no_match(a: &DistinguishedName, b: &DistinguishedName) {
    assert!(!a.matches(b), "{a} must not match {b}");
    assert!(!b.matches(a), "{b} must not match {a} (symmetry)");
}

/// cA's subject: C=US (PrintableString), O="Example, Inc.", CN=client-a (UTF8String).
fn ca_subject() -> Name {
    name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example, Inc.")],
        vec![utf8(CN, "client-a")],
    ])
}

fn simple(cn: &str) -> Name {
    name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example")],
        vec![utf8(CN, cn)],
    ])
}

// ---------------------------------------------------------------- D-1: equivalent, must match

#[test]
fn d1_e1_to_e4_and_e11_match_each_other_and_the_certificate() {
    let cert = from(&ca_subject());
    let forms = [
        A,
        r"CN=client-a,O=Example\2C Inc.,C=US",  // E1 hex escape
        r"cn=client-a,o=Example\, Inc.,c=US",   // E2 type names
        r"CN=CLIENT-A,O=EXAMPLE\, INC.,C=us",   // E3 caseIgnoreMatch
        r"CN=client-a,O=Example\,  Inc.,C=US",  // E4 two inner spaces
        r"CN=client-a, O=Example\, Inc., C=US", // E11 spaces after commas
        r"  CN = client-a ,  O = Example\, Inc. , C = US  ", // leniency, everywhere
        r"commonName=client-a,organizationName=Example\, Inc.,countryName=US",
    ];
    for f in forms {
        assert_match(&dn(f), &cert);
        assert_match(&dn(f), &dn(A));
    }
}

#[test]
fn d1_e4_double_space_in_the_certificate_matches_a_single_space_registration() {
    let cert = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example,  Inc.")],
        vec![utf8(CN, "client-a")],
    ]));
    assert_match(&dn(A), &cert);
}

#[test]
fn d1_e5_ava_order_inside_an_rdn_is_not_significant() {
    let a = dn("CN=client-a+UID=42,O=Example,C=US");
    let b = dn("UID=42+CN=client-a,O=Example,C=US");
    assert_match(&a, &b);
    let cert = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example")],
        vec![utf8(UID, "42"), utf8(CN, "client-a")],
    ]));
    assert_match(&a, &cert);
    assert_match(&b, &cert);
}

#[test]
fn d1_e6_e7_oid_and_hex_forms_equal_short_names() {
    let base = dn("CN=client-a,O=Example,C=US");
    for f in [
        "2.5.4.3=client-a,O=Example,C=US",         // E6
        "CN=#0c08636c69656e742d61,O=Example,C=US", // E7 UTF8String
        "CN=#1308636C69656E742D61,O=Example,C=US", // PrintableString, upper-case hex
        "2.5.4.3=#0c08636c69656e742d61,2.5.4.10=Example,2.5.4.6=#13025553",
    ] {
        assert_match(&base, &dn(f));
        assert_match(&dn(f), &from(&simple("client-a")));
    }
}

#[test]
fn d1_e8_utf8_hex_pairs_equal_raw_utf8() {
    let a = dn("CN=Zoë,O=Müller GmbH,C=DE");
    let b = dn(r"CN=Zo\C3\AB,O=M\C3\BCller GmbH,C=DE");
    assert_match(&a, &b);
    let cert = from(&name(vec![
        vec![ps(C, "DE")],
        vec![utf8(O, "Müller GmbH")],
        vec![utf8(CN, "Zoë")],
    ]));
    assert_match(&a, &cert);
}

#[test]
fn d1_e9_nfc_and_nfd_are_equal() {
    let nfc = "CN=Zo\u{00EB}";
    let nfd = "CN=Zoe\u{0308}";
    assert_match(&dn(nfc), &dn(nfd));
    let cert_nfd = from(&name(vec![vec![utf8(CN, "Zoe\u{0308}")]]));
    let cert_nfc = from(&name(vec![vec![utf8(CN, "Zo\u{00EB}")]]));
    assert_match(&dn(nfc), &cert_nfd);
    assert_match(&dn(nfd), &cert_nfc);
    assert_match(&cert_nfc, &cert_nfd);
}

#[test]
fn d1_e10_escaped_equals_is_optional() {
    assert_match(&dn(r"CN=a\=b,O=Example,C=US"), &dn("CN=a=b,O=Example,C=US"));
    assert_match(&dn("CN=a=b,O=Example,C=US"), &from(&simple("a=b")));
}

#[test]
fn d1_e12_escaped_leading_and_trailing_spaces_are_insignificant() {
    let a = dn(r"CN=client-a,O=\ Example\ ,C=US");
    assert_match(&a, &dn("CN=client-a,O=Example,C=US"));
    assert_match(&a, &from(&simple("client-a")));
    assert_match(
        &dn("CN=client-a,O=Example,C=US"),
        &from(&simple("  client-a ")),
    );
}

#[test]
fn string_type_is_never_significant() {
    let latin1 = [b'Z', b'o', 0xEB];
    let bmp: Vec<u8> = "Zoë".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let forms = [
        name(vec![vec![utf8(CN, "Zoë")]]),
        name(vec![vec![atv(CN, Tag::TeletexString, &latin1)]]),
        name(vec![vec![atv(CN, Tag::BmpString, &bmp)]]),
    ];
    for a in &forms {
        for b in &forms {
            assert_match(&from(a), &from(b));
        }
        assert_match(&from(a), &dn("CN=zoë"));
    }
    // UniversalString cannot be carried by the `der` crate's Any, so test it from the `#` form.
    assert_match(&dn("CN=#1c0c0000005a0000006f000000eb"), &dn("CN=Zoë"));
    let ascii = [
        name(vec![vec![ps(C, "US")], vec![ps(CN, "client-a")]]),
        name(vec![vec![utf8(C, "US")], vec![utf8(CN, "client-a")]]),
        name(vec![
            vec![atv(C, Tag::Ia5String, b"US")],
            vec![atv(CN, Tag::VisibleString, b"client-a")],
        ]),
    ];
    for a in &ascii {
        for b in &ascii {
            assert_match(&from(a), &from(b));
        }
        assert_match(&from(a), &dn("CN=client-a,C=US"));
    }
}

#[test]
fn strasse_folds_to_ss() {
    assert_match(&dn("CN=Straße"), &dn("CN=STRASSE"));
    assert_match(
        &dn("CN=Straße"),
        &from(&name(vec![vec![ps(CN, "STRASSE")]])),
    );
    assert_match(
        &dn("CN=STRASSE"),
        &from(&name(vec![vec![utf8(CN, "straße")]])),
    );
    assert_match(&dn("CN=STRA\u{1E9E}E"), &dn("CN=strasse"));
}

#[test]
fn ia5_rules_for_dc_and_email_address() {
    let cert = from(&name(vec![
        vec![atv(DC, Tag::Ia5String, b"com")],
        vec![atv(DC, Tag::Ia5String, b"example")],
        vec![atv(EMAIL, Tag::Ia5String, b"Ops@Example.com")],
    ]));
    assert_match(&dn("emailAddress=ops@example.COM,DC=Example,DC=COM"), &cert);
    // N13: every alias of emailAddress is the same type.
    for alias in ["E", "EMAIL", "emailaddress", "1.2.840.113549.1.9.1"] {
        assert_match(
            &dn(&format!("{alias}=OPS@EXAMPLE.COM,DC=example,DC=com")),
            &cert,
        );
    }
    assert!(parse_err("DC=bücher,DC=example").contains("IA5"));
    // A non-ASCII value in the certificate can never match.
    let odd = from(&name(vec![vec![utf8(DC, "bücher")]]));
    assert!(!odd.is_matchable());
    assert_no_match(&odd, &odd.clone());
}

#[test]
fn types_without_equality_rule_and_unknown_oids_compare_exactly() {
    let cert = from(&name(vec![
        vec![ps(C, "BR")],
        vec![ps(JURISDICTION_C, "UK"), ps(CN, "x")],
    ]));
    assert_match(&dn("CN=x+jurisdictionC=UK,C=br"), &cert);
    assert_match(&dn("CN=x+jurisdictionCountryName=UK,C=BR"), &cert);
    assert_no_match(&dn("CN=x+jurisdictionC=uk,C=BR"), &cert);
    let unknown = from(&name(vec![vec![utf8("1.2.3.4", "Foo Bar")]]));
    assert_match(&dn("1.2.3.4=Foo Bar"), &unknown);
    assert_match(
        &dn("1.2.3.4=#130746 6f6f20426172".replace(' ', "").as_str()),
        &unknown,
    );
    assert_no_match(&dn("1.2.3.4=foo bar"), &unknown);
    assert_no_match(&dn("1.2.3.4=Foo  Bar"), &unknown);
}

#[test]
fn non_string_values_match_only_identical_der() {
    let int = from(&name(vec![vec![atv(CN, Tag::Integer, &[42])]]));
    assert_match(&dn("CN=#02012a"), &int);
    assert_no_match(&dn("CN=#02012b"), &int);
    assert_no_match(&dn("CN=*"), &int);
    assert_no_match(&dn("CN=#1301 2a".replace(' ', "").as_str()), &int);
    assert_eq!(int.to_string(), "CN=#02012a");
}

// ------------------------------------------------------ D-3 / §3.6: the Brazil DCR renderings

const BRAZIL_JAVA: &str = "UID=10120340-3318-4baf-99e2-0b56729c4ab2,2.5.4.97=#132a4f464242522d37346539323964392d333362362d346438352d386261372d633134366338363761383137,1.3.6.1.4.1.311.60.2.1.3=#1302554b,2.5.4.15=#1311476f7665726e6d656e7420456e74697479,2.5.4.5=#130e3433313432363636303030313937,CN=https://web.conformance.directory.openbankingbrasil.org.br,O=Open Banking Brasil,L=LONDON,ST=SP,C=BR";
const BRAZIL_OPENSSL: &str = "UID=10120340-3318-4baf-99e2-0b56729c4ab2,organizationIdentifier=OFBBR-74e929d9-33b6-4d85-8ba7-c146c867a817,jurisdictionC=UK,businessCategory=Government Entity,serialNumber=43142666000197,CN=https://web.conformance.directory.openbankingbrasil.org.br,O=Open Banking Brasil,L=LONDON,ST=SP,C=BR";
const BRAZIL_PYTHON: &str = "UID=10120340-3318-4baf-99e2-0b56729c4ab2,2.5.4.97=OFBBR-74e929d9-33b6-4d85-8ba7-c146c867a817,1.3.6.1.4.1.311.60.2.1.3=UK,2.5.4.15=Government Entity,2.5.4.5=43142666000197,CN=https://web.conformance.directory.openbankingbrasil.org.br,O=Open Banking Brasil,L=LONDON,ST=SP,C=BR";

#[test]
fn d3_all_three_brazil_renderings_match_the_real_certificate() {
    let c = fixture(BRAZIL);
    let subject = from(&c.tbs_certificate.subject);
    assert_eq!(
        subject.to_string(),
        BRAZIL_OPENSSL,
        "canonical rendering is OpenSSL's RFC2253 form"
    );
    for s in [BRAZIL_JAVA, BRAZIL_OPENSSL, BRAZIL_PYTHON] {
        assert_match(&dn(s), &subject);
        assert_match(&dn(s), &dn(BRAZIL_JAVA));
    }
    // Mutations must not match.
    assert_no_match(
        &dn(&BRAZIL_OPENSSL.replace("jurisdictionC=UK", "jurisdictionC=BR")),
        &subject,
    );
    assert_no_match(&dn(&BRAZIL_OPENSSL.replace(",C=BR", "")), &subject);
}

#[test]
fn d3_other_brazil_values_parse() {
    let cert = from(&name(vec![
        vec![ps(C, "BR")],
        vec![utf8(ST, "BOTAFOGO / RIO DE JANEIRO, RJ")],
        vec![utf8(L, "São Paulo")],
    ]));
    assert_match(
        &dn(r"L=São Paulo,ST=BOTAFOGO / RIO DE JANEIRO\, RJ,C=BR"),
        &cert,
    );
    assert_match(
        &dn(r"L=S\C3\A3o Paulo,ST=Botafogo / Rio de Janeiro\2c RJ,C=BR"),
        &cert,
    );
}

// -------------------------------------------------- D-2: not equivalent, must not match

#[test]
fn d2_string_pairs_do_not_match() {
    let pairs = [
        (A, r"CN=client-a,O=Example\,Inc.,C=US"), // N1
        ("CN=client-a,O=Example,C=US", "C=US,O=Example,CN=client-a"), // N2
        ("CN=client-a,OU=a,OU=b,C=US", "CN=client-a,OU=b,OU=a,C=US"), // N3
        (
            "CN=client-a,O=Example,C=US",
            "CN=client-a,O=Example,OU=x,C=US",
        ), // N4
        (
            "CN=client-a+UID=42,O=Example,C=US",
            "CN=client-a,O=Example,C=US",
        ), // N5
        (
            "CN=client-a+UID=42,O=Example,C=US",
            "CN=client-a,UID=42,O=Example,C=US",
        ), // N6
        ("CN=client-a", r"CN=evil,O=x\,CN\=client-a,C=US"), // N7
        (
            "CN=client-a,O=Example,C=US",
            "CN=\u{0441}lient-a,O=Example,C=US",
        ), // N12 Cyrillic с
        (
            "CN=client-a,O=Example,C=US",
            "CN=cl\u{0131}ent-a,O=Example,C=US",
        ), // dotless ı
        ("CN=client-a,O=Example,C=US", "O=Example,C=US"), // missing RDN
        (
            "CN=client-a,O=Example,C=US",
            "CN=client-a,O=Example,C=US,DC=x",
        ), // extra RDN at the end
        ("CN=client-a,O=Example,C=US", "OU=client-a,O=Example,C=US"), // same value, other type
        ("CN=client-a,O=Example,C=US", "name=client-a,O=Example,C=US"),
        ("CN=client-a+UID=42", "CN=client-a+UID=42+OU=x"), // AVA superset
        ("CN=client-a+UID=42", "CN=client-a+OU=42"),
        ("CN=client-a", "CN=client-b"),
        ("CN=client-a", "CN=client-a-"),
    ];
    for (a, b) in pairs {
        assert_no_match(&dn(a), &dn(b));
    }
}

#[test]
fn d2_n3_rdn_order_with_a_real_certificate() {
    let subject = from(&fixture(MULTI_VALUED).tbs_certificate.subject);
    assert_eq!(
        subject.to_string(),
        "UID=42+CN=client-a,O=Example,OU=b,OU=a,C=US",
        "same as OpenSSL"
    );
    assert_match(&dn("UID=42+CN=client-a,O=Example,OU=b,OU=a,C=US"), &subject);
    assert_no_match(&dn("UID=42+CN=client-a,O=Example,OU=a,OU=b,C=US"), &subject);
    assert_no_match(&dn("CN=client-a,O=Example,OU=b,OU=a,C=US"), &subject); // N5
    assert_no_match(&dn("CN=client-a,UID=42,O=Example,OU=b,OU=a,C=US"), &subject);
    // N6
}

#[test]
fn d2_n7_escaped_injection_in_a_certificate_value() {
    let evil = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "x,CN=client-a")],
        vec![utf8(CN, "evil")],
    ]));
    assert_eq!(evil.to_string(), r"CN=evil,O=x\,CN=client-a,C=US");
    assert_no_match(&dn("CN=client-a"), &evil);
    assert_no_match(&dn("CN=client-a,C=US"), &evil);
    assert_match(&dn(r"CN=evil,O=x\,CN=client-a,C=US"), &evil);
}

#[test]
fn d2_n8_names_that_x509_parser_renders_alike_are_different() {
    let three = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example")],
        vec![utf8(CN, "client1")],
    ]));
    let two = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(O, "Example, CN=client1")],
    ]));
    assert_no_match(&three, &two);
    assert_ne!(three.to_string(), two.to_string());
    assert_eq!(two.to_string(), r"O=Example\, CN=client1,C=US");
    assert_match(&dn("CN=client1,O=Example,C=US"), &three);
    assert_no_match(&dn("CN=client1,O=Example,C=US"), &two);
    assert_match(&dn(&two.to_string()), &two);
    assert_no_match(&dn(&two.to_string()), &three);
}

#[test]
fn d2_n9_embedded_nul_never_matches() {
    let nul = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(CN, "good.example\0.evil")],
    ]));
    let space = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(CN, "good.example .evil")],
    ]));
    let short = from(&name(vec![
        vec![ps(C, "US")],
        vec![utf8(CN, "good.example")],
    ]));
    assert!(!nul.is_matchable());
    assert_eq!(nul.to_string(), r"CN=good.example\00.evil,C=US");
    assert_no_match(&nul, &space);
    assert_no_match(&nul, &short);
    assert_no_match(&nul, &nul.clone());
    assert_no_match(&dn("CN=good.example .evil,C=US"), &nul);
    assert_no_match(&dn("CN=good.example,C=US"), &nul);
    assert_no_match(&dn("CN=good.example.evil,C=US"), &nul);
    assert!(parse_err(r"CN=good.example\00.evil,C=US").contains("NUL"));
    assert!(parse_err("CN=good.example\0.evil,C=US").contains("NUL"));
    assert!(parse_err("CN=#0c0361006 2".replace(' ', "").as_str()).contains("U+0000"));
    // Invisible characters are refused the same way (RFC 4518 would map them to nothing).
    let zwsp = from(&name(vec![vec![utf8(CN, "cli\u{200B}ent-a")]]));
    assert_no_match(&dn("CN=client-a"), &zwsp);
    assert_eq!(zwsp.to_string(), r"CN=cli\E2\80\8Bent-a");
    assert!(parse_err(r"CN=cli\E2\80\8Bent-a").contains("U+200B"));
    let newline = from(&name(vec![vec![utf8(CN, "a\nb")]]));
    assert_eq!(newline.to_string(), r"CN=a\0Ab");
}

#[test]
fn d2_n10_n11_legacy_formats_are_refused() {
    assert!(parse_err("CN=client-a;O=Example;C=US").contains("`;`"));
    assert!(parse_err("/C=US/O=Example/CN=client-a").contains("slash"));
    assert!(parse_err(" /C=US/O=Example/CN=client-a").contains("slash"));
}

// ------------------------------------------------------------------ orientation, real DER

#[test]
fn certificate_rdn_order_is_reversed_in_strings() {
    let c = fixture(CLIENT_A);
    let subject = from(&c.tbs_certificate.subject);
    assert_eq!(subject.rdn_count(), 3);
    assert_eq!(subject.to_string(), A);
    assert_match(&dn(A), &subject);
    assert_no_match(&dn(r"C=US,O=Example\, Inc.,CN=client-a"), &subject);
    // The first RDN of the DER is C; the last RDN of the string is C.
    assert_eq!(c.tbs_certificate.subject.0[0].to_string(), "C=US");
    // Built names agree with the real certificate.
    assert_match(&from(&ca_subject()), &subject);
}

#[test]
fn certificates_round_trip_through_der_and_the_full_certificate() {
    let c = cert(ca_subject(), Vec::new());
    assert_match(&dn(A), &from(&c.tbs_certificate.subject));
}

// ------------------------------------------------------------------ parse errors (D-5)

#[test]
fn refused_registrations() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("   ", "empty"),
        ("CN=", "empty value"),
        ("CN=  ", "empty value"),
        ("CN= ,O=x", "empty value"),
        ("CN=a+O=", "empty value"),
        ("CN=#0c00", "empty value"),
        ("CN=a;O=b", "`;`"),
        ("CN=a,O=b;", "`;`"),
        (r#"O="Example, Inc.",C=US"#, "quoted"),
        (r#"CN=a"b"#, "quoted"),
        ("OID.2.5.4.3=client-a", "OID."),
        ("oid.2.5.4.3=client-a", "OID."),
        ("XYZ=client-a", "unknown attribute type `XYZ`"),
        ("S=CA,CN=a", "unknown attribute type `S`"),
        ("CN.x=a", "neither"),
        (r"CN=a\", "dangling"),
        (r"CN=a\4", "two hex digits"),
        (r"CN=a\4g", "two hex digits"),
        (r"CN=a\q", "two hex digits"),
        (r"CN=\C3", "UTF-8"),
        (r"CN=\C3a", "UTF-8"),
        (r"CN=\FF", "UTF-8"),
        (r"CN=\00", "NUL"),
        (r"CN=a\0A", "U+000A"),
        ("CN=a\tb", "U+0009"),
        ("CN=a\u{202E}b", "U+202E"),
        ("CN=<a>", "escaped"),
        ("CN=a>", "escaped"),
        ("CN=#", "hex digits"),
        ("CN=#0", "hex digits"),
        ("CN=#0c0", "hex digits"),
        ("CN=#zz", "hex digits only"),
        ("CN=#0c01", "shorter"),
        ("CN=#0c016161", "after the value"),
        ("CN=#0c8161", "non-minimal"),
        ("CN=#0c8061610000", "indefinite"),
        ("CN=#0c02c328", "UTF-8"),
        ("CN=#1301ff", "0x7F"),
        ("CN=#1e0100", "odd"),
        ("CN=#1e02d800", "surrogate"),
        ("CN=#1c0400110000", "code point"),
        ("CN=#0c0161 x", "hex digits only"),
        ("CN=a,", "found the end"),
        (",CN=a", "expected an attribute type"),
        ("CN=a,,O=b", "expected an attribute type"),
        ("=a", "expected an attribute type"),
        ("CN", "expected `=`"),
        ("CN a", "expected `=`"),
        ("CN:a", "expected `=`"),
        ("Ü=a", "non-ASCII"),
        ("2.5.04.3=a", "dotted-decimal"),
        ("2=a", "dotted-decimal"),
        ("2.5..3=a", "dotted-decimal"),
        ("3.5.4.3=a", "not a valid OID"),
        ("CN=a+CN=b", "twice"),
        ("CN=a+2.5.4.3=b", "twice"),
        ("CN=a+cn=a", "twice"),
        ("E=b\u{fc}cher@example.com", "IA5"),
    ];
    for (input, expected) in cases {
        let e = parse_err(input);
        assert!(
            e.contains(expected),
            "{input:?}: error {e:?} should mention {expected:?}"
        );
    }
}

#[test]
fn size_limits() {
    let ok = format!("CN={}", "a".repeat(MAX_DN_STRING_BYTES - 3));
    assert_eq!(ok.len(), MAX_DN_STRING_BYTES);
    dn(&ok);
    assert!(parse_err(&format!("{ok}a")).contains("4096"));

    let rdns = |n: usize| vec!["OU=x"; n].join(",");
    assert_eq!(dn(&rdns(MAX_RDNS)).rdn_count(), MAX_RDNS);
    assert!(parse_err(&rdns(MAX_RDNS + 1)).contains("RDNs"));

    let avas = |n: usize| {
        (1..=n)
            .map(|i| format!("1.2.3.{i}=x"))
            .collect::<Vec<_>>()
            .join("+")
    };
    dn(&avas(MAX_AVAS_PER_RDN));
    assert!(parse_err(&avas(MAX_AVAS_PER_RDN + 1)).contains("multi-valued"));
}

// ------------------------------------------------------------------ certificate decoding

#[test]
fn undecodable_certificate_values_are_errors() {
    let bad = [
        atv(CN, Tag::Utf8String, &[0x63, 0xC3, 0x28]),
        atv(CN, Tag::PrintableString, &[0x61, 0xFF]),
        atv(CN, Tag::Ia5String, &[0x80]),
        atv(CN, Tag::BmpString, &[0x00, 0x61, 0x00]),
        atv(CN, Tag::BmpString, &[0xDC, 0x00]),
    ];
    for a in bad {
        let n = name(vec![vec![ps(C, "US")], vec![a]]);
        let e = DistinguishedName::from_name(&n).expect_err("undecodable");
        assert!(e.to_string().contains("RDN 2"), "{e}");
    }
    // An RDN with no attributes.
    let empty_rdn = RdnSequence(vec![RelativeDistinguishedName(SetOfVec::new())]);
    if let Ok(n) = Name::from_der(&empty_rdn.to_der().expect("encode")) {
        assert!(DistinguishedName::from_name(&n).is_err());
    }
}

#[test]
fn empty_names_and_empty_values_match_nothing() {
    let empty = from(&RdnSequence(Vec::new()));
    assert_eq!(empty.rdn_count(), 0);
    assert_eq!(empty.to_string(), "");
    assert_no_match(&empty, &empty.clone());
    assert_no_match(&empty, &dn("CN=a"));
    let blank = from(&name(vec![vec![utf8(CN, "")]]));
    assert!(!blank.is_matchable());
    assert_no_match(&blank, &blank.clone());
    // All-space values are matchable and equal to each other (RFC 4518 §2.6.1).
    assert_match(&dn(r"CN=\ "), &from(&name(vec![vec![utf8(CN, "   ")]])));
}

// ------------------------------------------------------------------ rendering

#[test]
fn display_escapes_and_round_trips() {
    let tricky = [
        "#lead",
        " lead",
        "trail ",
        " ",
        "a+b,c;d<e>f\"g\\h=i",
        "inner  spaces",
        "Zoë Müller",
        "日本語",
        "a\u{00A0}b",
    ];
    for t in tricky {
        let n = from(&name(vec![
            vec![ps(C, "US")],
            vec![utf8(CN, t), utf8(UID, t)],
        ]));
        let shown = n.to_string();
        assert_match(&dn(&shown), &n);
        assert_eq!(dn(&shown).to_string(), shown, "canonical form is stable");
    }
    let n = from(&name(vec![vec![utf8(CN, "#lead")], vec![utf8(O, " a+b ")]]));
    assert_eq!(n.to_string(), r"O=\ a\+b\ ,CN=\#lead");
    let unknown = from(&name(vec![vec![utf8("1.2.3.4", "Foo")]]));
    assert_eq!(unknown.to_string(), "1.2.3.4=#0c03466f6f");
    assert_eq!(
        format!("{:?}", dn("cn=a , o=b")),
        r#"DistinguishedName("CN=a,O=b")"#
    );
    assert_eq!(dn("2.5.4.3=#130161+uid=x").to_string(), "UID=x+CN=a");
}

#[test]
fn fixtures_round_trip_through_display() {
    for f in [CLIENT_A, BRAZIL, MULTI_VALUED] {
        let subject = from(&fixture(f).tbs_certificate.subject);
        assert_match(&dn(&subject.to_string()), &subject);
    }
    for s in [
        BRAZIL_JAVA,
        BRAZIL_PYTHON,
        A,
        r"UID=42+CN=x,OU=\ a\ ,DC=x,1.2.3=#02012a",
    ] {
        let d = dn(s);
        assert_match(&dn(&d.to_string()), &d);
    }
    let long = from(&name(vec![vec![utf8("1.2.3.4", &"x".repeat(300))]]));
    assert_match(&dn(&long.to_string()), &long);
}

// ------------------------------------------------------------------ robustness

/// A small deterministic generator (xorshift), so the fuzz-style tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn parser_never_panics_and_accepted_strings_round_trip() {
    let types = [
        "CN",
        "cn",
        "O",
        "OU",
        "C",
        "DC",
        "UID",
        "E",
        "2.5.4.3",
        "1.2.3",
        "jurisdictionC",
        "name",
    ];
    let equals = ["=", " = ", "= "];
    let values = [
        "a",
        "b",
        "Z",
        "é",
        "ß",
        "日",
        " ",
        "  ",
        "\\",
        "\\,",
        "\\+",
        "\\2C",
        "\\C3\\A9",
        "\\ ",
        "\\#",
        "#0c0161",
        "#02012a",
        "#1302554b",
        "=",
        "#",
        "x#",
        "-",
        ".",
        "\\=",
        "\\;",
        "\\\"",
    ];
    let separators = [",", "+", ", ", " + ", " ,"];
    let noise = [
        "\\", "\\00", "\"", ";", "<", "/", "\0", "\t", "\u{200B}", "OID.", ",", "+", "=", "#",
        "ff", " ",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut s = String::new();
        for i in 0..(1 + rng.next() % 5) {
            if i > 0 {
                s.push_str(rng.pick::<&str>(&separators));
            }
            s.push_str(rng.pick::<&str>(&types));
            s.push_str(rng.pick::<&str>(&equals));
            for _ in 0..(1 + rng.next() % 3) {
                s.push_str(rng.pick::<&str>(&values));
            }
        }
        if rng.next() & 3 == 0 {
            let boundaries: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
            let at = *rng.pick(&boundaries);
            s.insert_str(at, rng.pick::<&str>(&noise));
        }
        if let Ok(d) = s.parse::<DistinguishedName>() {
            accepted += 1;
            let shown = d.to_string();
            let again = dn(&shown);
            assert!(again.matches(&d), "{s:?} → {shown:?} must round-trip");
            assert_eq!(
                again.to_string(),
                shown,
                "{s:?}: the canonical form is stable"
            );
        }
    }
    assert!(
        accepted > 2_000,
        "the generator should produce many valid DNs ({accepted})"
    );
}

#[test]
fn decoder_never_panics_on_mutated_names() {
    let base = name(vec![
        vec![ps(C, "US")],
        vec![
            utf8(O, "Example, Inc."),
            atv(UID, Tag::BmpString, &[0, 0x61]),
        ],
        vec![atv(CN, Tag::TeletexString, &[0xE9])],
        vec![atv(NAME, Tag::Integer, &[1])],
    ])
    .to_der()
    .expect("encode");
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let mut der = base.clone();
        for _ in 0..(1 + rng.next() % 3) {
            let i = (rng.next() % der.len() as u64) as usize;
            der[i] = rng.next() as u8;
        }
        if let Ok(n) = Name::from_der(&der) {
            if let Ok(d) = DistinguishedName::from_name(&n) {
                let _ = d.to_string();
                let _ = d.matches(&d);
            }
        }
    }
}

#[test]
fn matching_is_an_equivalence_on_matchable_names() {
    let names: Vec<DistinguishedName> = [
        A,
        r"CN=CLIENT-A,O=EXAMPLE\, INC.,C=us",
        "CN=client-a,O=Example,C=US",
        "CN=client-a+UID=42,O=Example,C=US",
        "UID=42+CN=client-a,O=Example,C=US",
        "CN=Straße",
        "CN=STRASSE",
    ]
    .iter()
    .map(|s| dn(s))
    .collect();
    for a in &names {
        assert!(a.matches(a));
        for b in &names {
            assert_eq!(a.matches(b), b.matches(a));
            for c in &names {
                if a.matches(b) && b.matches(c) {
                    assert!(a.matches(c));
                }
            }
        }
    }
}

/// The four OID bugs the fuzzers found (docs/fuzzing.md): each input is refused or compared as
/// the OID it spells, never reinterpreted as another type.
#[test]
fn oids_are_never_reinterpreted() {
    let name_der = |oid: &[u8]| {
        // SEQUENCE { SET { SEQUENCE { OID, UTF8String "a" } } }
        let mut atv = vec![0x06, oid.len() as u8];
        atv.extend_from_slice(oid);
        atv.extend_from_slice(&[0x0c, 0x01, b'a']);
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        let mut out = vec![0x30, set.len() as u8];
        out.extend(set);
        Name::from_der(&out).unwrap()
    };
    // 1. An arc over 32 bits used to wrap to `CN` in release builds.
    let e = parse_err("2.5.4.4294967299=client-a");
    assert!(e.contains("over 4294967295"), "{e}");
    // 2. `2.5.128` used to be encoded `55 80 00` and never matched the real `55 81 00`.
    let cert = from(&name_der(&[0x55, 0x81, 0x00]));
    assert_match(&dn("2.5.128=a"), &cert);
    assert!(cert.to_string().starts_with("2.5.128="), "{cert}");
    // 3. A non-minimal arc (`2.5.4.3` as `55 04 80 03`) rendered as CN but compared unequal.
    let n = name_der(&[0x55, 0x04, 0x80, 0x03]);
    assert!(DistinguishedName::from_name(&n).is_err());
    // 4. An arc over 32 bits in a certificate rendered truncated (`2.5.4.(2^32+3)` as `2.5.4.3`).
    let n = name_der(&[0x55, 0x04, 0x90, 0x80, 0x80, 0x80, 0x03]);
    assert!(DistinguishedName::from_name(&n).is_err());
}
