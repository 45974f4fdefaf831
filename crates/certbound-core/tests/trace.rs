//! The decision trace and the client-facing errors in words: what an operator reads in the audit
//! log and in `certbound clients check`, and what a client reads in `error_description`. Real
//! certificates from certbound-pki, the real decision (`auth::authenticate`).

use certbound_core::auth::{
    authenticate, claimed_client_id, unknown_client, AuthFailure, FailureReason, Listener,
    PresentedCredentials, TrustAnchors,
};
use certbound_core::client::{ClientMetadata, RegisteredClient};
use certbound_core::{CertificateSource, ClientCertificate, OAuthErrorCode};
use certbound_pki::time::OffsetDateTime;
use certbound_pki::{
    CertUsage, CertificateAuthority, IssuedCertificate, KeyAlgorithm, LeafSpec, SubjectSpec,
};
use rustls_pki_types::UnixTime;
use std::time::Duration;

fn ca(cn: &str) -> CertificateAuthority {
    CertificateAuthority::generate(
        &SubjectSpec::new().org("Example").common_name(cn),
        KeyAlgorithm::EcdsaP256,
    )
    .expect("CA")
}

fn anchors(ca: &CertificateAuthority) -> TrustAnchors {
    TrustAnchors::from_der(&[ca.cert()]).expect("anchor")
}

fn client(json: serde_json::Value) -> RegisteredClient {
    let meta: ClientMetadata = serde_json::from_value(json).expect("metadata");
    meta.validate().expect("valid registration")
}

fn dn_client(dn: &str) -> RegisteredClient {
    client(serde_json::json!({
        "client_id": "partner-a",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": dn,
    }))
}

/// The leaf alone, as most clients send it.
fn presented(cert: &IssuedCertificate) -> ClientCertificate {
    ClientCertificate::new(vec![cert.cert()], CertificateSource::Tls).expect("certificate")
}

/// Runs the decision for `partner-a` and returns the failure.
fn refuse(
    registered: &RegisteredClient,
    cert: Option<&ClientCertificate>,
    anchors: &TrustAnchors,
    listener: Listener<'_>,
) -> AuthFailure {
    let creds = PresentedCredentials {
        client_id: Some("partner-a"),
        certificate: cert,
        listener,
        ..Default::default()
    };
    match authenticate(registered, &creds, anchors, &[], UnixTime::now()) {
        Ok(a) => panic!("accepted: {}", a.trace),
        Err(f) => f,
    }
}

fn last_failed_detail(f: &AuthFailure) -> &str {
    let step = f.trace.steps.last().expect("a step");
    assert!(!step.passed, "{}", f.trace);
    &step.detail
}

#[test]
fn unknown_issuer_names_the_issuer_and_the_anchors() {
    let trusted = ca("Test Root CA");
    let other = ca("Other CA");
    let cert = presented(
        &other
            .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
            .unwrap(),
    );
    let f = refuse(
        &dn_client("CN=partner-a,O=Example"),
        Some(&cert),
        &anchors(&trusted),
        Listener::Mtls,
    );
    assert_eq!(f.reason, FailureReason::ChainInvalid);
    let detail = last_failed_detail(&f);
    assert!(
        detail.starts_with(
            "issued by \"CN=Other CA,O=Example\", which is not a trust anchor of this client (anchors: \"CN=Test Root CA,O=Example\")"
        ),
        "{detail}"
    );
    assert!(
        !f.trace.to_string().contains("UnknownIssuer"),
        "{}",
        f.trace
    );
    // The client learns nothing about the registration.
    let e = f.to_oauth_error();
    assert_eq!(e.code, OAuthErrorCode::InvalidClient);
    assert_eq!(e.description, "client authentication failed");
}

#[test]
fn unknown_issuer_of_a_sent_chain_names_the_top_of_the_chain() {
    let trusted = ca("Test Root CA");
    let other = ca("Other Root");
    let intermediate = other
        .issue_intermediate(
            &SubjectSpec::new()
                .org("Example")
                .common_name("Other Issuing CA"),
            KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
    let leaf = intermediate
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    // Leaf, intermediate and the other root, as a client with a full bundle sends them.
    let cert = ClientCertificate::new(leaf.rustls_chain(), CertificateSource::Tls).unwrap();
    assert_eq!(cert.intermediates().len(), 2, "{cert:?}");
    let f = refuse(
        &dn_client("CN=partner-a,O=Example"),
        Some(&cert),
        &anchors(&trusted),
        Listener::Mtls,
    );
    let detail = last_failed_detail(&f);
    assert!(
        detail.starts_with("issued by \"CN=Other Root,O=Example\" (the top of the chain of 3 certificates the client sent), which is not a trust anchor"),
        "{detail}"
    );
}

#[test]
fn expiry_is_in_rfc3339() {
    let root = ca("Test Root CA");
    let not_before = OffsetDateTime::from_unix_timestamp(1_735_787_045).unwrap(); // 2025-01-02T03:04:05Z
    let not_after = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap(); // 2026-01-02T03:04:05Z
    let cert = presented(
        &root
            .issue(
                &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
                    .with_validity(not_before, not_after),
            )
            .unwrap(),
    );
    let registered = dn_client("CN=partner-a,O=Example");
    let creds = PresentedCredentials {
        client_id: Some("partner-a"),
        certificate: Some(&cert),
        ..Default::default()
    };
    // 2026-02-03T04:05:06Z
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_770_091_506));
    let f = authenticate(&registered, &creds, &anchors(&root), &[], now).unwrap_err();
    assert_eq!(f.reason, FailureReason::CertificateExpired);
    assert_eq!(
        last_failed_detail(&f),
        "the certificate expired on 2026-01-02T03:04:05Z (now 2026-02-03T04:05:06Z)"
    );
    // Before notBefore: 2024-12-01T00:00:00Z.
    let early = UnixTime::since_unix_epoch(Duration::from_secs(1_733_011_200));
    let f = authenticate(&registered, &creds, &anchors(&root), &[], early).unwrap_err();
    assert!(
        last_failed_detail(&f).starts_with(
            "the certificate is not valid until 2025-01-02T03:04:05Z (now 2024-12-01T00:00:00Z)"
        ),
        "{}",
        f.trace
    );
    // A valid chain step prints its time the same way, never as epoch seconds.
    let inside = UnixTime::since_unix_epoch(Duration::from_secs(1_750_000_000)); // 2025-06-15T15:06:40Z
    let ok = authenticate(&registered, &creds, &anchors(&root), &[], inside).expect("accepted");
    let chain = ok.trace.steps.iter().find(|s| s.check == "chain").unwrap();
    assert!(
        chain.detail.starts_with("valid for clientAuth at 2025-06-15T15:06:40Z via 0 intermediate(s) to anchor \"CN=Test Root CA,O=Example\""),
        "{}",
        chain.detail
    );
}

#[test]
fn a_server_certificate_lacks_the_client_auth_eku() {
    let root = ca("Test Root CA");
    let cert = presented(
        &root
            .issue(
                &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
                    .with_usage(CertUsage::Server),
            )
            .unwrap(),
    );
    let f = refuse(
        &dn_client("CN=partner-a,O=Example"),
        Some(&cert),
        &anchors(&root),
        Listener::Mtls,
    );
    assert_eq!(
        last_failed_detail(&f),
        "the certificate is missing the clientAuth extended key usage (1.3.6.1.5.5.7.3.2); it has serverAuth (1.3.6.1.5.5.7.3.1)"
    );
}

#[test]
fn a_reordered_dn_says_so_and_shows_the_string_to_register() {
    let root = ca("Test Root CA");
    let cert = presented(
        &root
            .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
            .unwrap(),
    );
    let f = refuse(
        &dn_client("O=Example,CN=partner-a"),
        Some(&cert),
        &anchors(&root),
        Listener::Mtls,
    );
    assert_eq!(f.reason, FailureReason::SubjectMismatch);
    assert_eq!(
        last_failed_detail(&f),
        "registered subject \"O=Example,CN=partner-a\" holds the same attributes as the certificate's \"CN=partner-a,O=Example\" in another order; DNs match by position (RFC 4517): register \"CN=partner-a,O=Example\""
    );
    // Another name entirely: no such hint.
    let f = refuse(
        &dn_client("CN=partner-b,O=Example"),
        Some(&cert),
        &anchors(&root),
        Listener::Mtls,
    );
    assert_eq!(
        last_failed_detail(&f),
        "registered subject DN \"CN=partner-b,O=Example\" does not match the certificate's subject \"CN=partner-a,O=Example\""
    );
}

#[test]
fn sans_print_as_openssl_writes_them() {
    let root = ca("Test Root CA");
    let cert = presented(
        &root
            .issue(
                &LeafSpec::client(SubjectSpec::cn("partner-a"))
                    .with_dns("a.example")
                    .with_uri("spiffe://example/partner-a")
                    .with_ip("10.0.0.1".parse().unwrap())
                    .with_email("ops@example.com"),
            )
            .unwrap(),
    );
    let registered = client(serde_json::json!({
        "client_id": "partner-a",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_san_dns": "b.example",
    }));
    let f = refuse(&registered, Some(&cert), &anchors(&root), Listener::Mtls);
    let detail = last_failed_detail(&f);
    assert_eq!(
        detail,
        "registered SAN dNSName \"b.example\" matches none of the certificate's SANs (DNS:a.example, URI:spiffe://example/partner-a, IP:10.0.0.1, email:ops@example.com)"
    );
    assert!(!detail.contains("Dns("), "{detail}");
}

#[test]
fn a_missing_certificate_names_the_mtls_endpoint_or_the_client_configuration() {
    let root = ca("Test Root CA");
    let registered = dn_client("CN=partner-a,O=Example");
    let f = refuse(
        &registered,
        None,
        &anchors(&root),
        Listener::Conventional {
            mtls_alias: Some("https://localhost:8444/token"),
        },
    );
    assert_eq!(f.reason, FailureReason::NoCertificate);
    let e = f.to_oauth_error();
    assert_eq!(e.code, OAuthErrorCode::InvalidClient);
    assert_eq!(e.status(), 401);
    assert_eq!(
        e.description,
        "this client authenticates with a certificate: send the request to the mTLS endpoint https://localhost:8444/token"
    );
    assert_eq!(last_failed_detail(&f), e.description);

    let f = refuse(&registered, None, &anchors(&root), Listener::Mtls);
    assert_eq!(
        f.to_oauth_error().description,
        "this client authenticates with a certificate, but no client certificate was sent (check the client's certificate and key configuration)"
    );
}

#[test]
fn request_text_is_never_reflected_raw() {
    let hostile = "a\nb\u{1b}[31m\u{202e}";
    let creds = PresentedCredentials {
        client_id: Some(hostile),
        ..Default::default()
    };
    // The unknown-client trace does not repeat the presented id (the audit line's `client_id`
    // carries it once).
    let f = unknown_client(&creds, claimed_client_id(&creds).unwrap());
    let trace = f.trace.to_string();
    assert_eq!(
        trace,
        "client FAILED: no client is registered with the presented client_id"
    );
    // Two differing ids are both quoted, escaped.
    let creds = PresentedCredentials {
        client_id: Some(hostile),
        basic: Some(certbound_core::auth::BasicCredentials {
            client_id: "x\r\ny".into(),
            secret: "s".into(),
        }),
        ..Default::default()
    };
    let trace = claimed_client_id(&creds).unwrap_err().trace.to_string();
    assert_eq!(
        trace,
        "client_id FAILED: Basic user 'x\\r\\ny' differs from client_id parameter 'a\\nb<U+001B>[31m<U+202E>'"
    );
    assert!(!trace.chars().any(char::is_control), "{trace:?}");
}

#[test]
fn over_long_client_ids_are_refused_before_lookup_and_quoted_cut_short() {
    let long = "x".repeat(60_000);
    for creds in [
        PresentedCredentials {
            client_id: Some(&long),
            ..Default::default()
        },
        PresentedCredentials {
            basic: Some(certbound_core::auth::BasicCredentials {
                client_id: long.clone(),
                secret: "s".into(),
            }),
            ..Default::default()
        },
    ] {
        let f = claimed_client_id(&creds).unwrap_err();
        assert_eq!(f.reason, FailureReason::ClientIdTooLong);
        assert_eq!(f.reason.as_str(), "client_id_too_long");
        // The same answer as an unknown client.
        let e = f.to_oauth_error();
        assert_eq!(e.code, OAuthErrorCode::InvalidClient);
        assert_eq!(e.description, "client authentication failed");
        let trace = f.trace.to_string();
        assert!(trace.contains("60000 bytes"), "{trace}");
        assert!(trace.len() < 200, "{}", trace.len());
    }
    // 255 bytes is still a possible id; a conflict between two long ids quotes both cut short.
    let max = "y".repeat(255);
    let creds = PresentedCredentials {
        client_id: Some(&max),
        ..Default::default()
    };
    assert_eq!(claimed_client_id(&creds).unwrap(), max);
    let creds = PresentedCredentials {
        client_id: Some(&long),
        basic: Some(certbound_core::auth::BasicCredentials {
            client_id: "z".repeat(70_000),
            secret: "s".into(),
        }),
        ..Default::default()
    };
    let trace = claimed_client_id(&creds).unwrap_err().trace.to_string();
    assert!(trace.contains("…(70000 bytes)") && trace.contains("…(60000 bytes)"));
    assert!(trace.len() < 300, "{}", trace.len());
}
