//! Which certificates client authentication refuses even though a name or a pin matches: a key
//! not meant for signatures (keyUsage without digitalSignature), a CA-issued certificate pinned
//! as "self-signed", and a subject that equals the registered one only through look-alike
//! compatibility characters. Real certificates from certbound-pki, the real decision.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use certbound_core::auth::{
    authenticate, AuthFailure, FailureReason, Listener, PresentedCredentials, TrustAnchors,
};
use certbound_core::client::{ClientMetadata, RegisteredClient};
use certbound_core::identity::dn::{DistinguishedName, Folding};
use certbound_core::{CertificateSource, ClientCertificate};
use certbound_pki::{
    self_signed, CertificateAuthority, IssuedCertificate, KeyAlgorithm, KeyUsagePurpose, LeafSpec,
    SubjectSpec,
};
use rustls_pki_types::{CertificateDer, UnixTime};

fn ca() -> CertificateAuthority {
    CertificateAuthority::generate(
        &SubjectSpec::new()
            .org("Example")
            .common_name("Test Root CA"),
        KeyAlgorithm::EcdsaP256,
    )
    .expect("CA")
}

fn client(json: serde_json::Value) -> RegisteredClient {
    let meta: ClientMetadata = serde_json::from_value(json).expect("metadata");
    meta.validate().expect("valid registration")
}

fn dn_client(dn: &str, matching: Option<&str>) -> RegisteredClient {
    let mut json = serde_json::json!({
        "client_id": "partner-a",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": dn,
    });
    if let Some(m) = matching {
        json["tls_client_auth_subject_dn_matching"] = m.into();
    }
    client(json)
}

fn self_signed_client(pinned: &IssuedCertificate) -> RegisteredClient {
    client(serde_json::json!({
        "client_id": "partner-a",
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks": {"keys": [{"kty": "EC", "x5c": [STANDARD.encode(pinned.cert().as_ref())]}]},
    }))
}

fn forwarded(cert: &IssuedCertificate) -> ClientCertificate {
    ClientCertificate::new(
        vec![cert.cert()],
        CertificateSource::ForwardedHeader {
            format: "rfc9440".into(),
        },
    )
    .expect("certificate")
}

fn decide(
    registered: &RegisteredClient,
    cert: &ClientCertificate,
    anchors: &TrustAnchors,
    pinned: &[CertificateDer<'_>],
) -> Result<String, AuthFailure> {
    let creds = PresentedCredentials {
        client_id: Some("partner-a"),
        certificate: Some(cert),
        listener: Listener::Mtls,
        ..Default::default()
    };
    authenticate(registered, &creds, anchors, pinned, UnixTime::now()).map(|a| a.trace.to_string())
}

fn failed_detail(f: &AuthFailure) -> String {
    let step = f.trace.steps.last().expect("a step");
    assert!(!step.passed, "{}", f.trace);
    step.detail.clone()
}

fn leaf(usages: Option<Vec<KeyUsagePurpose>>) -> LeafSpec {
    LeafSpec {
        key_usages: usages,
        ..LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
    }
}

#[test]
fn a_key_usage_without_digital_signature_is_refused_for_both_certificate_methods() {
    let root = ca();
    let anchors = TrustAnchors::from_der(&[root.cert()]).unwrap();
    let registered = dn_client("CN=partner-a,O=Example", None);

    let encipher_only = root
        .issue(&leaf(Some(vec![KeyUsagePurpose::KeyEncipherment])))
        .unwrap();
    let f = decide(&registered, &forwarded(&encipher_only), &anchors, &[]).unwrap_err();
    assert_eq!(f.reason, FailureReason::KeyUsage);
    let detail = failed_detail(&f);
    assert!(
        detail.contains("keyUsage (keyEncipherment) lacks digitalSignature"),
        "{detail}"
    );
    assert_eq!(
        f.to_oauth_error().description,
        "client authentication failed"
    );

    // The same name with digitalSignature, or with no keyUsage at all, is accepted.
    let signing = root
        .issue(&leaf(Some(vec![KeyUsagePurpose::DigitalSignature])))
        .unwrap();
    decide(&registered, &forwarded(&signing), &anchors, &[]).expect("digitalSignature");
    let unrestricted = root.issue(&leaf(Some(Vec::new()))).unwrap();
    decide(&registered, &forwarded(&unrestricted), &anchors, &[]).expect("no keyUsage");

    // A self-signed pin does not excuse it either.
    let pinned = self_signed(&leaf(Some(vec![KeyUsagePurpose::KeyAgreement]))).unwrap();
    let f = decide(
        &self_signed_client(&pinned),
        &forwarded(&pinned),
        &anchors,
        &[pinned.cert()],
    )
    .unwrap_err();
    assert_eq!(f.reason, FailureReason::KeyUsage, "{}", f.trace);
}

#[test]
fn a_ca_issued_certificate_pinned_as_self_signed_is_refused() {
    let root = ca();
    let anchors = TrustAnchors::from_der(&[root.cert()]).unwrap();
    let issued = root.issue(&leaf(None)).unwrap();
    let f = decide(
        &self_signed_client(&issued),
        &forwarded(&issued),
        &anchors,
        &[issued.cert()],
    )
    .unwrap_err();
    assert_eq!(f.reason, FailureReason::NotSelfSigned);
    let detail = failed_detail(&f);
    assert!(
        detail.contains("issued by \"CN=Test Root CA,O=Example\", not self-signed")
            && detail.contains("tls_client_auth"),
        "{detail}"
    );
    // A real self-signed certificate with the same name is accepted.
    let own = self_signed(&leaf(None)).unwrap();
    decide(
        &self_signed_client(&own),
        &forwarded(&own),
        &anchors,
        &[own.cert()],
    )
    .expect("self-signed");
}

#[test]
fn look_alike_subjects_match_only_in_rfc4518_mode() {
    let root = ca();
    let anchors = TrustAnchors::from_der(&[root.cert()]).unwrap();
    for look_alike in [
        "ｐａｒｔｎｅｒ-ａ",
        "partner-ª",
        "partner-\u{FF41}",
        "ｐartner-a",
    ] {
        let cert = root
            .issue(&LeafSpec::client(SubjectSpec::cn_o(look_alike, "Example")))
            .unwrap();
        let strict = dn_client("CN=partner-a,O=Example", None);
        let f = decide(&strict, &forwarded(&cert), &anchors, &[]).unwrap_err();
        assert_eq!(f.reason, FailureReason::SubjectMismatch, "{look_alike}");
        let detail = failed_detail(&f);
        assert!(
            detail.contains("only after compatibility folding")
                && detail.contains("tls_client_auth_subject_dn_matching = \"rfc4518\""),
            "{detail}"
        );
        let explicit = dn_client("CN=partner-a,O=Example", Some("strict"));
        assert!(decide(&explicit, &forwarded(&cert), &anchors, &[]).is_err());
        let rfc4518 = dn_client("CN=partner-a,O=Example", Some("rfc4518"));
        decide(&rfc4518, &forwarded(&cert), &anchors, &[]).expect(look_alike);
    }
}

#[test]
fn strict_folding_keeps_canonical_equivalence_and_case_folding() {
    let dn = |s: &str| s.parse::<DistinguishedName>().unwrap();
    // NFC and NFD, case, ß: equal in both modes.
    for (a, b) in [
        ("CN=Zo\u{EB}", "CN=Zoe\u{308}"),
        ("CN=PARTNER-A", "CN=partner-a"),
        ("CN=Stra\u{DF}e", "CN=STRASSE"),
        ("CN=Caf\u{E9}  Bank", "CN=CAF\u{C9} Bank"),
        // Full case folding (not NFKC) maps the ligature to its letters.
        ("CN=\u{FB01}nance", "CN=finance"),
    ] {
        assert!(dn(a).matches(&dn(b)), "{a} / {b}");
        assert!(
            dn(a).matches_with(&dn(b), Folding::Compatibility),
            "{a} / {b}"
        );
    }
    // Compatibility characters: equal only in rfc4518 mode.
    for (a, b) in [
        ("CN=x\u{B2}", "CN=x2"),
        ("CN=\u{FF30}artner", "CN=partner"),
        ("CN=\u{2160}", "CN=I"),
    ] {
        assert!(!dn(a).matches(&dn(b)), "{a} / {b}");
        assert!(dn(a).matches_only_by_compatibility(&dn(b)), "{a} / {b}");
        assert!(
            dn(a).matches_with(&dn(b), Folding::Compatibility),
            "{a} / {b}"
        );
        assert!(!dn(a).same_attributes_in_other_order(&dn(b)), "{a} / {b}");
    }
    // Unknown mode names are refused at registration.
    let meta: Result<ClientMetadata, _> = serde_json::from_value(serde_json::json!({
        "client_id": "partner-a",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": "CN=partner-a",
        "tls_client_auth_subject_dn_matching": "nfkc",
    }));
    assert!(meta.is_err());
}
