//! One CA-issued certificate against many registered subject spellings (RFC 4517
//! distinguishedNameMatch) and SAN registrations, through the real token endpoint.

use crate::support::*;
use certbound_pki::{AttributeType, LeafSpec, StringKind, SubjectSpec};
use std::net::IpAddr;

#[tokio::test]
async fn registered_dn_spellings_equal_and_unequal_under_rfc4517() {
    let pki = Pki::new();
    // Certificate subject, RFC 4514: CN=client-a,O=Example\, Inc.,C=US (C as PrintableString).
    let subject = SubjectSpec::new()
        .with_kind(AttributeType::Country, "US", StringKind::Printable)
        .with_kind(
            AttributeType::Organization,
            "Example, Inc.",
            StringKind::Utf8,
        )
        .with_kind(AttributeType::CommonName, "client-a", StringKind::Printable);
    let cert = pki.ca.issue(&LeafSpec::client(subject)).unwrap();

    let equal = [
        r"CN=client-a,O=Example\, Inc.,C=US",
        r"CN=client-a,O=Example\2C Inc.,C=US",
        r"cn=client-a,o=Example\, Inc.,c=US",
        r"CN=CLIENT-A,O=EXAMPLE\, INC.,C=us",
        r"CN=client-a,O=Example\,  Inc.,C=US",
        r"2.5.4.3=client-a,O=Example\, Inc.,C=US",
        r"CN=#1308636c69656e742d61,O=Example\, Inc.,C=US",
        r"CN=client-a, O=Example\, Inc., C=US",
    ];
    let unequal = [
        r"C=US,O=Example\, Inc.,CN=client-a",
        r"CN=client-a,O=Example\,Inc.,C=US",
        r"CN=client-a,O=Example\, Inc.",
        r"CN=client-a,O=Example\, Inc.,OU=x,C=US",
        r"CN=client-b,O=Example\, Inc.,C=US",
        r"O=Example\, Inc.,C=US",
        r"CN=client-a+UID=42,O=Example\, Inc.,C=US",
    ];
    let mut toml = String::new();
    for (i, dn) in equal.iter().enumerate() {
        toml.push_str(&tls_client(
            &format!("eq-{i}"),
            "tls_client_auth_subject_dn",
            dn,
        ));
    }
    for (i, dn) in unequal.iter().enumerate() {
        toml.push_str(&tls_client(
            &format!("ne-{i}"),
            "tls_client_auth_subject_dn",
            dn,
        ));
    }
    let s = TestServer::start(&pki, &toml).await;
    let http = s.http(Some(&cert));
    for (i, dn) in equal.iter().enumerate() {
        let r = s
            .post(
                &http,
                &s.mtls("/token"),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &format!("eq-{i}")),
                ],
            )
            .await;
        assert_eq!(
            r.status, 200,
            "registered {dn} must match the certificate: {}",
            r.json
        );
    }
    for (i, dn) in unequal.iter().enumerate() {
        let r = s
            .post(
                &http,
                &s.mtls("/token"),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &format!("ne-{i}")),
                ],
            )
            .await;
        assert_eq!(
            r.status, 401,
            "registered {dn} must not match the certificate: {}",
            r.json
        );
        r.assert_error(401, "invalid_client");
    }
}

#[tokio::test]
async fn san_registrations_match_exactly_one_field() {
    let pki = Pki::new();
    let cert = pki
        .ca
        .issue(
            &LeafSpec::client(SubjectSpec::cn_o("svc", "Example").email("dn-only@example.com"))
                .with_dns("Client-A.Example.com")
                .with_uri("spiffe://example.com/ns/payments/sa/api")
                .with_ip("2001:db8::1".parse::<IpAddr>().unwrap())
                .with_ip("10.1.2.3".parse::<IpAddr>().unwrap())
                .with_email("Ops@Example.COM"),
        )
        .unwrap();
    let matching = [
        ("dns", "tls_client_auth_san_dns", "client-a.example.com"),
        (
            "uri",
            "tls_client_auth_san_uri",
            "spiffe://example.com/ns/payments/sa/api",
        ),
        ("ip6", "tls_client_auth_san_ip", "2001:DB8:0:0:0:0:0:1"),
        ("ip4", "tls_client_auth_san_ip", "10.1.2.3"),
        ("email", "tls_client_auth_san_email", "Ops@example.com"),
    ];
    let refused = [
        (
            "dns-other",
            "tls_client_auth_san_dns",
            "client-b.example.com",
        ),
        ("dns-parent", "tls_client_auth_san_dns", "example.com"),
        (
            "uri-path-case",
            "tls_client_auth_san_uri",
            "spiffe://example.com/ns/Payments/sa/api",
        ),
        (
            "uri-slash",
            "tls_client_auth_san_uri",
            "spiffe://example.com/ns/payments/sa/api/",
        ),
        ("ip-other", "tls_client_auth_san_ip", "2001:db8::2"),
        (
            "email-local-case",
            "tls_client_auth_san_email",
            "ops@example.com",
        ),
        // An emailAddress attribute inside the subject DN is not a SAN email.
        (
            "email-in-dn",
            "tls_client_auth_san_email",
            "dn-only@example.com",
        ),
        // The subject CN is never a fallback for a DNS SAN.
        ("cn-as-dns", "tls_client_auth_san_dns", "svc"),
    ];
    let mut toml = String::new();
    for (id, field, value) in matching.iter().chain(refused.iter()) {
        toml.push_str(&tls_client(id, field, value));
    }
    let s = TestServer::start(&pki, &toml).await;
    let http = s.http(Some(&cert));
    for (id, field, value) in matching {
        let r = s
            .post(
                &http,
                &s.mtls("/token"),
                &[("grant_type", "client_credentials"), ("client_id", id)],
            )
            .await;
        assert_eq!(r.status, 200, "{field} = {value} must match: {}", r.json);
    }
    for (id, field, value) in refused {
        let r = s
            .post(
                &http,
                &s.mtls("/token"),
                &[("grant_type", "client_credentials"), ("client_id", id)],
            )
            .await;
        assert_eq!(
            r.status, 401,
            "{field} = {value} must not match: {}",
            r.json
        );
    }
}
