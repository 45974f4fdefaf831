use crate::support::*;
use certbound_pki::{self_signed, CertificateAuthority, KeyAlgorithm, LeafSpec, SubjectSpec};
use serde_json::Value;

const PARTNER_A: &str = "CN=partner-a,O=Example";

async fn server_with_partner_a(pki: &Pki) -> TestServer {
    TestServer::start(
        pki,
        &tls_client("partner-a", "tls_client_auth_subject_dn", PARTNER_A),
    )
    .await
}

#[tokio::test]
async fn tls_client_auth_issues_a_bound_rfc9068_jwt() {
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let cert = pki.client("partner-a", "Example");
    let r = s.mtls_token(&cert, "partner-a").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 300);
    assert_eq!(r.json["scope"], "transactions read");
    let token = r.json["access_token"].as_str().unwrap();

    let (header, _) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks = s.jwks().await;
    let claims = verify_with_jwks(token, &jwks, &s.issuer);
    assert_eq!(claims["iss"], s.issuer.as_str());
    assert_eq!(claims["sub"], "partner-a");
    assert_eq!(claims["client_id"], "partner-a");
    assert_eq!(claims["aud"], s.issuer.as_str());
    assert_eq!(claims["scope"], "transactions read");
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    let x5t = claims["cnf"]["x5t#S256"].as_str().unwrap();
    assert_eq!(x5t, cert.thumbprint().as_str());
    assert_eq!(x5t.len(), 43);
    assert!(x5t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
}

#[tokio::test]
async fn requested_scope_is_narrowed_and_checked() {
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let cert = pki.client("partner-a", "Example");
    let c = s.http(Some(&cert));
    let r = s
        .post(
            &c,
            &s.mtls("/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "partner-a"),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["scope"], "read");
    let r = s
        .post(
            &c,
            &s.mtls("/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "partner-a"),
                ("scope", "read admin"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn tls_client_auth_refusals_are_invalid_client() {
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let a = pki.client("partner-a", "Example");

    // partner-b's valid certificate used for partner-a.
    let b = pki.client("partner-b", "Example");
    s.mtls_token(&b, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // A self-signed certificate with partner-a's exact subject.
    let fake_self =
        self_signed(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))).unwrap();
    s.mtls_token(&fake_self, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // Same subject, issuer name and serial as partner-a's real certificate, signed by an untrusted CA
    // that has the trusted CA's name.
    let rogue_ca = pki.ca.impostor(KeyAlgorithm::EcdsaP256).unwrap();
    let twin = rogue_ca
        .issue(&LeafSpec::copy_of(&a.cert_der).unwrap())
        .unwrap();
    assert_eq!(twin.subject_der(), a.subject_der());
    assert_eq!(twin.issuer_der(), a.issuer_der());
    assert_eq!(twin.serial(), a.serial());
    s.mtls_token(&twin, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // An unknown CA altogether.
    let other_ca =
        CertificateAuthority::generate(&SubjectSpec::cn("Other CA"), KeyAlgorithm::EcdsaP256)
            .unwrap();
    let foreign = other_ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    s.mtls_token(&foreign, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // Expired and not-yet-valid certificates from the trusted CA.
    let expired = pki
        .ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).expired())
        .unwrap();
    s.mtls_token(&expired, "partner-a")
        .await
        .assert_error(401, "invalid_client");
    let future = pki
        .ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).not_yet_valid())
        .unwrap();
    s.mtls_token(&future, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // A server-only certificate (EKU serverAuth) with the right subject.
    let server_eku = pki
        .ca
        .issue(
            &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
                .with_usage(certbound_pki::CertUsage::Server),
        )
        .unwrap();
    s.mtls_token(&server_eku, "partner-a")
        .await
        .assert_error(401, "invalid_client");

    // No certificate on the mTLS listener.
    let none = s.http(None);
    s.post(
        &none,
        &s.mtls("/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ],
    )
    .await
    .assert_error(401, "invalid_client");

    // The conventional listener asks for no certificate, so even a client that has one sends none.
    let with_cert = s.http(Some(&a));
    s.post(
        &with_cert,
        &s.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ],
    )
    .await
    .assert_error(401, "invalid_client");

    // No client_id: never looked up from the certificate.
    s.post(
        &with_cert,
        &s.mtls("/token"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(401, "invalid_client");

    // Unknown client.
    s.mtls_token(&a, "nobody")
        .await
        .assert_error(401, "invalid_client");

    // And the real one still works after all that.
    assert_eq!(s.mtls_token(&a, "partner-a").await.status, 200);
}

#[tokio::test]
async fn a_rotated_certificate_with_the_same_subject_works_and_binds_to_the_new_one() {
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let old = pki.client("partner-a", "Example");
    let new = pki.client("partner-a", "Example");
    assert_ne!(old.thumbprint(), new.thumbprint());
    let r = s.mtls_token(&new, "partner-a").await;
    assert_eq!(r.status, 200);
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], new.thumbprint().as_str());
}

#[tokio::test]
async fn chain_through_an_intermediate_sent_by_the_client() {
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let intermediate = pki
        .ca
        .issue_intermediate(&SubjectSpec::cn("Issuing CA 1"), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let leaf = intermediate
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    let r = s.mtls_token(&leaf, "partner-a").await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn request_errors_follow_rfc6749() {
    let pki = Pki::new();
    let extra = format!(
        "{}\n[[clients]]\nclient_id = \"no-cc\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=no-cc,O=Example\"\ngrant_types = []\n",
        tls_client("partner-a", "tls_client_auth_subject_dn", PARTNER_A)
    );
    let s = TestServer::start(&pki, &extra).await;
    let a = pki.client("partner-a", "Example");
    let c = s.http(Some(&a));
    let url = s.mtls("/token");

    // Repeated parameters, even with equal values.
    let r = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=partner-a&client_id=partner-a")
        .send()
        .await
        .unwrap();
    TestServer::read(r)
        .await
        .assert_error(400, "invalid_request");
    let r = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials&client_id=partner-a")
        .send()
        .await
        .unwrap();
    TestServer::read(r)
        .await
        .assert_error(400, "invalid_request");

    // Missing and unsupported grant types.
    s.post(&c, &url, &[("client_id", "partner-a")])
        .await
        .assert_error(400, "invalid_request");
    s.post(
        &c,
        &url,
        &[("client_id", "partner-a"), ("grant_type", "password")],
    )
    .await
    .assert_error(400, "unsupported_grant_type");
    s.post(
        &c,
        &url,
        &[("client_id", "partner-a"), ("grant_type", "urn:x:unknown")],
    )
    .await
    .assert_error(400, "unsupported_grant_type");

    // A client not registered for client_credentials.
    let no_cc = pki.client("no-cc", "Example");
    s.post(
        &s.http(Some(&no_cc)),
        &url,
        &[("client_id", "no-cc"), ("grant_type", "client_credentials")],
    )
    .await
    .assert_error(400, "unauthorized_client");

    // Not a form body.
    let r = c
        .post(&url)
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": "partner-a"}))
        .send()
        .await
        .unwrap();
    TestServer::read(r)
        .await
        .assert_error(400, "invalid_request");

    // Invalid UTF-8.
    let r = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=%ff%fe")
        .send()
        .await
        .unwrap();
    TestServer::read(r)
        .await
        .assert_error(400, "invalid_request");

    // A certificate client that also sends a secret: two methods in one request.
    s.post(
        &c,
        &url,
        &[
            ("client_id", "partner-a"),
            ("grant_type", "client_credentials"),
            ("client_secret", "0123456789abcdefgh"),
        ],
    )
    .await
    .assert_error(400, "invalid_request");

    // Unknown parameters are ignored; an empty value counts as absent.
    let r = s
        .post(
            &c,
            &url,
            &[
                ("client_id", "partner-a"),
                ("grant_type", "client_credentials"),
                ("foo", "bar"),
                ("scope", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // A body over the limit.
    let big = format!(
        "grant_type=client_credentials&client_id=partner-a&pad={}",
        "x".repeat(100 * 1024)
    );
    let r = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn ps256_and_eddsa_tokens_verify_with_an_independent_library() {
    for alg in ["PS256", "EdDSA"] {
        let pki = Pki::new();
        let extra = format!(
            "[tokens]\nsigning_alg = \"{alg}\"\n{}",
            tls_client("partner-a", "tls_client_auth_subject_dn", PARTNER_A)
        );
        let s = TestServer::start(&pki, &extra).await;
        let a = pki.client("partner-a", "Example");
        let r = s.mtls_token(&a, "partner-a").await;
        assert_eq!(r.status, 200);
        let token = r.json["access_token"].as_str().unwrap();
        let (header, _) = jwt_parts(token);
        assert_eq!(header["alg"], alg);
        let jwks = s.jwks().await;
        let claims = verify_with_jwks(token, &jwks, &s.issuer);
        assert_eq!(claims["cnf"]["x5t#S256"], a.thumbprint().as_str());
    }
}

#[tokio::test]
async fn key_rotation_publishes_both_keys_and_signs_with_the_new_one() {
    let pki = Pki::new();
    let extra = format!(
        "[tokens]\nkey_refresh_seconds = 1\n{}",
        tls_client("partner-a", "tls_client_auth_subject_dn", PARTNER_A)
    );
    let s = TestServer::start(&pki, &extra).await;
    let a = pki.client("partner-a", "Example");
    let before = s.mtls_token(&a, "partner-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jwt_parts(&before).0["kid"].as_str().unwrap().to_owned();

    let store = s.server.state.store.clone();
    let new_kid = certbound_server::keys::rotate_in_store(
        &store,
        certbound_server::keys::SigningAlg::Es256,
        certbound_server::state::now_secs(),
        600,
    )
    .await
    .unwrap();
    // Every instance re-reads keys within key_refresh_seconds.
    let mut jwks = Value::Null;
    for _ in 0..50 {
        jwks = s.jwks().await;
        if jwks["keys"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    let after = s.mtls_token(&a, "partner-a").await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_parts(&after).0["kid"], new_kid.as_str());
    verify_with_jwks(&before, &jwks, &s.issuer);
    verify_with_jwks(&after, &jwks, &s.issuer);
}

#[tokio::test]
async fn per_client_trust_anchors_limit_which_ca_can_vouch_for_a_client() {
    // RFC 8705 §7.4: A is pinned to CA1, B to CA2. A certificate from CA2 with A's exact subject
    // must not authenticate A, although CA2 is trusted (for B).
    let pki = Pki::new();
    let ca2 =
        CertificateAuthority::generate(&SubjectSpec::cn("Partner CA 2"), KeyAlgorithm::EcdsaP256)
            .unwrap();
    std::fs::write(pki.path("ca2.pem"), ca2.cert_pem()).unwrap();
    let clients = format!(
        "{}tls_client_auth_ca = [\"ca.pem\"]\n{}tls_client_auth_ca = [\"ca2.pem\"]\n",
        tls_client("partner-a", "tls_client_auth_subject_dn", PARTNER_A),
        tls_client(
            "partner-b",
            "tls_client_auth_subject_dn",
            "CN=partner-b,O=Example"
        ),
    );
    let s = TestServer::start(&pki, &clients).await;
    let a_from_ca1 = pki.client("partner-a", "Example");
    let a_from_ca2 = ca2
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    let b_from_ca2 = ca2
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-b", "Example")))
        .unwrap();
    let b_from_ca1 = pki.client("partner-b", "Example");
    assert_eq!(s.mtls_token(&a_from_ca1, "partner-a").await.status, 200);
    let r = s.mtls_token(&b_from_ca2, "partner-b").await;
    assert_eq!(r.status, 200, "{}", r.json);
    s.mtls_token(&a_from_ca2, "partner-a")
        .await
        .assert_error(401, "invalid_client");
    s.mtls_token(&b_from_ca1, "partner-b")
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_chain_validated_on_a_connection_is_not_reused_for_other_anchors() {
    // One connection, one certificate from CA2: valid for "y" (pinned to CA2), not for "x" (global
    // anchors = CA1 only). The per-connection memo of a successful validation must be keyed by
    // the anchor set.
    let pki = Pki::new();
    let ca2 =
        CertificateAuthority::generate(&SubjectSpec::cn("Partner CA 2"), KeyAlgorithm::EcdsaP256)
            .unwrap();
    std::fs::write(pki.path("ca2.pem"), ca2.cert_pem()).unwrap();
    let clients = format!(
        "{}tls_client_auth_ca = [\"ca2.pem\"]\n{}",
        tls_client("y", "tls_client_auth_subject_dn", "CN=shared,O=Example"),
        tls_client("x", "tls_client_auth_subject_dn", "CN=shared,O=Example"),
    );
    let s = TestServer::start(&pki, &clients).await;
    let cert = ca2
        .issue(&LeafSpec::client(SubjectSpec::cn_o("shared", "Example")))
        .unwrap();
    let one_connection = s.http(Some(&cert));
    let token = |id: &'static str| {
        let c = one_connection.clone();
        let url = s.mtls("/token");
        async move {
            TestServer::read(
                c.post(url)
                    .form(&[("grant_type", "client_credentials"), ("client_id", id)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(token("y").await.status, 200);
    assert_eq!(token("y").await.status, 200, "the remembered validation");
    token("x").await.assert_error(401, "invalid_client");
    assert_eq!(token("y").await.status, 200);
}

/// RFC 5280 §4.2.1.3: a certificate whose keyUsage lacks digitalSignature may not sign the TLS
/// handshake; the mTLS listener refuses it at the handshake (as OpenSSL does), even when its
/// issuer and subject are exactly the registered ones.
#[tokio::test]
async fn a_certificate_whose_key_usage_forbids_signatures_is_refused_at_the_handshake() {
    use certbound_pki::KeyUsagePurpose;
    let pki = Pki::new();
    let s = server_with_partner_a(&pki).await;
    let encipher_only = pki
        .ca
        .issue(&LeafSpec {
            key_usages: Some(vec![KeyUsagePurpose::KeyEncipherment]),
            ..LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
        })
        .unwrap();
    let sent = s
        .http(Some(&encipher_only))
        .post(s.mtls("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .await;
    assert!(sent.is_err(), "accepted: {:?}", sent.map(|r| r.status()));
    // Without a keyUsage extension the key is unrestricted: accepted.
    let unrestricted = pki
        .ca
        .issue(&LeafSpec {
            key_usages: Some(Vec::new()),
            ..LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"))
        })
        .unwrap();
    let r = s.mtls_token(&unrestricted, "partner-a").await;
    assert_eq!(r.status, 200, "{}", r.json);
}
