//! Forwarded-certificate parsing for every proxy format, and the trust policy, with real
//! certificates encoded the way each proxy encodes them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use certbound_core::{CertificateSource, ClientCertificate, Thumbprint};
use certbound_net::client_cert::{
    CertSource, ClientCertPolicy, TrustedProxies, UNTRUSTED_HEADERS_STRIPPED,
};
use certbound_net::forwarded::{parse_forwarded, ForwardedCertError, HeaderFormat};
use certbound_net::ConnectionInfo;
use certbound_pki::{CertificateAuthority, IssuedCertificate, KeyAlgorithm, LeafSpec, SubjectSpec};
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

fn pki() -> (
    CertificateAuthority,
    IssuedCertificate,
    CertificateAuthority,
) {
    let root =
        CertificateAuthority::generate(&SubjectSpec::cn("Root"), KeyAlgorithm::EcdsaP256).unwrap();
    let inter = root
        .issue_intermediate(&SubjectSpec::cn("Issuing"), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let leaf = inter
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")))
        .unwrap();
    (root, leaf, inter)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn parse(format: HeaderFormat, h: &HeaderMap) -> Result<Option<Vec<Vec<u8>>>, ForwardedCertError> {
    parse_forwarded(format, &HeaderName::from_static(format.default_header()), h)
        .map(|c| c.map(|c| c.into_iter().map(|d| d.as_ref().to_vec()).collect()))
}

/// nginx's $ssl_client_escaped_cert: everything but unreserved characters escaped.
const NGINX: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// ALB: like nginx, but '+', '=' and '/' left as they are.
const ALB: &AsciiSet = &NGINX.remove(b'+').remove(b'=').remove(b'/');

#[test]
fn every_format_decodes_to_the_exact_der() {
    let (_, leaf, inter) = pki();
    let der = leaf.cert_der.clone();
    let b64 = STANDARD.encode(&der);
    let pem = leaf.cert_pem.clone();
    let chain_pem = format!("{}{}", leaf.cert_pem, inter.cert_pem());

    let rfc = parse(
        HeaderFormat::Rfc9440,
        &headers(&[("client-cert", &format!(":{b64}:"))]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(rfc, vec![der.clone()]);
    let with_chain = parse(
        HeaderFormat::Rfc9440,
        &headers(&[
            ("client-cert", &format!(":{b64}:")),
            (
                "client-cert-chain",
                &format!(":{}:", STANDARD.encode(inter.cert_der())),
            ),
        ]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(with_chain.len(), 2);

    let nginx = utf8_percent_encode(&pem, NGINX).to_string();
    assert!(nginx.contains("%2B") || !pem.contains('+'));
    assert_eq!(
        parse(
            HeaderFormat::Nginx,
            &headers(&[("x-ssl-client-cert", &nginx)])
        )
        .unwrap()
        .unwrap(),
        vec![der.clone()]
    );

    let alb = utf8_percent_encode(&chain_pem, ALB).to_string();
    let got = parse(
        HeaderFormat::AwsAlb,
        &headers(&[("x-amzn-mtls-clientcert", &alb)]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(got[0], der, "'+' in the base64 must not become a space");
    assert_eq!(got.len(), 2);

    let traefik = format!("{b64},{}", STANDARD.encode(inter.cert_der()));
    let got = parse(
        HeaderFormat::Traefik,
        &headers(&[("x-forwarded-tls-client-cert", &traefik)]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(got, vec![der.clone(), inter.cert_der().to_vec()]);

    assert_eq!(
        parse(
            HeaderFormat::Haproxy,
            &headers(&[("x-ssl-client-cert", &b64)])
        )
        .unwrap()
        .unwrap(),
        vec![der.clone()]
    );

    // Apache-style PEM with spaces instead of newlines, URL-encoded.
    let spaced = pem.replace('\n', " ");
    let enc = utf8_percent_encode(&spaced, NGINX).to_string();
    assert_eq!(
        parse(
            HeaderFormat::Nginx,
            &headers(&[("x-ssl-client-cert", &enc)])
        )
        .unwrap()
        .unwrap(),
        vec![der.clone()]
    );
}

#[test]
fn envoy_xfcc_uses_the_last_element_and_ignores_descriptive_fields() {
    let (_, leaf, inter) = pki();
    let forged = certbound_pki::self_signed(&LeafSpec::client(SubjectSpec::cn("forged"))).unwrap();
    let enc = |pem: &str| utf8_percent_encode(pem, NGINX).to_string();
    let value = format!(
        "By=spiffe://far/proxy;Hash=00;Cert=\"{}\";Subject=\"CN=partner-a,O=Example\",By=spiffe://near/proxy;Hash=deadbeef;Subject=\"CN=admin,O=Evil\\\"Corp\";URI=spiffe://x;Cert=\"{}\"",
        enc(&forged.cert_pem),
        enc(&leaf.cert_pem)
    );
    let got = parse(
        HeaderFormat::EnvoyXfcc,
        &headers(&[("x-forwarded-client-cert", &value)]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        got,
        vec![leaf.cert_der.clone()],
        "the nearest proxy's element, by its Cert, never by Hash/Subject"
    );
    let chain = format!(
        "By=a;Chain=\"{}\"",
        enc(&format!("{}{}", leaf.cert_pem, inter.cert_pem()))
    );
    let got = parse(
        HeaderFormat::EnvoyXfcc,
        &headers(&[("x-forwarded-client-cert", &chain)]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(got.len(), 2);
    assert!(matches!(
        parse(
            HeaderFormat::EnvoyXfcc,
            &headers(&[("x-forwarded-client-cert", "By=a;Hash=b")])
        ),
        Err(ForwardedCertError::Malformed { .. })
    ));
}

#[test]
fn garbage_empty_huge_and_duplicates() {
    let (_, leaf, _) = pki();
    let b64 = STANDARD.encode(&leaf.cert_der);
    for format in HeaderFormat::ALL {
        let name = format.default_header();
        assert_eq!(
            parse(format, &headers(&[])).unwrap(),
            None,
            "{format}: absent"
        );
        assert_eq!(
            parse(format, &headers(&[(name, "")])).unwrap(),
            None,
            "{format}: empty"
        );
        assert_eq!(
            parse(format, &headers(&[(name, "(null)")])).unwrap(),
            None,
            "{format}: Apache's (null)"
        );
        for garbage in [
            "not a certificate",
            ":!!!:",
            "%zz",
            "QUJD",
            ":QUJD:",
            "-----BEGIN CERTIFICATE----- QUJD -----END CERTIFICATE-----",
        ] {
            assert!(
                parse(format, &headers(&[(name, garbage)])).is_err(),
                "{format}: {garbage:?} must be refused"
            );
        }
        let huge = "A".repeat(100 * 1024);
        assert_eq!(
            parse(format, &headers(&[(name, &huge)])),
            Err(ForwardedCertError::TooLarge(name.to_owned()))
        );
        assert_eq!(
            parse(
                format,
                &headers(&[(name, &format!(":{b64}:")), (name, &format!(":{b64}:"))])
            ),
            Err(ForwardedCertError::Duplicate(name.to_owned())),
            "{format}: two headers"
        );
    }
    // A chain longer than allowed.
    let long = vec![b64.clone(); 11].join(",");
    assert!(matches!(
        parse(
            HeaderFormat::Traefik,
            &headers(&[("x-forwarded-tls-client-cert", &long)])
        ),
        Err(ForwardedCertError::TooLarge(_))
    ));
}

fn conn(peer: &str, cert: Option<&IssuedCertificate>) -> ConnectionInfo {
    ConnectionInfo {
        peer_addr: peer.parse().unwrap(),
        listener: "test",
        client_certificate: cert
            .and_then(|c| ClientCertificate::new(vec![c.cert()], CertificateSource::Tls)),
    }
}

fn policy(source: CertSource, trusted: TrustedProxies) -> ClientCertPolicy {
    ClientCertPolicy {
        source,
        format: HeaderFormat::Haproxy,
        header: HeaderName::from_static("x-ssl-client-cert"),
        trusted,
    }
}

#[test]
fn only_trusted_proxies_are_believed_and_never_with_their_own_certificate() {
    let (_, client, _) = pki();
    let proxy_cert =
        certbound_pki::self_signed(&LeafSpec::client(SubjectSpec::cn("proxy"))).unwrap();
    let header = STANDARD.encode(&client.cert_der);
    let by_ip = TrustedProxies {
        networks: vec!["127.0.0.0/8".parse().unwrap()],
        thumbprints: vec![],
    };

    // A trusted proxy's header: the forwarded certificate, labelled with its source, header removed.
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    let got = policy(CertSource::TlsOrHeader, by_ip.clone())
        .resolve(&conn("127.0.0.1:5000", Some(&proxy_cert)), &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(got.thumbprint(), &Thumbprint::of_der(&client.cert_der));
    assert_eq!(
        got.source(),
        &CertificateSource::ForwardedHeader {
            format: "haproxy".into()
        }
    );
    assert!(h.is_empty());
    // A trusted proxy without a header: no certificate, never the proxy's own.
    let got = policy(CertSource::TlsOrHeader, by_ip.clone())
        .resolve(
            &conn("127.0.0.1:5000", Some(&proxy_cert)),
            &mut HeaderMap::new(),
        )
        .unwrap();
    assert!(got.is_none());
    // IPv4-mapped IPv6 peers are matched as IPv4.
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Header, by_ip.clone())
        .resolve(&conn("[::ffff:127.0.0.1]:5000", None), &mut h)
        .unwrap()
        .is_some());

    // An untrusted peer: header stripped and counted; its TLS certificate (tls-or-header) or nothing (header).
    let before = UNTRUSTED_HEADERS_STRIPPED.load(std::sync::atomic::Ordering::Relaxed);
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    let got = policy(CertSource::TlsOrHeader, by_ip.clone())
        .resolve(&conn("10.0.0.5:5000", Some(&proxy_cert)), &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(
        got.thumbprint(),
        &Thumbprint::of_der(&proxy_cert.cert_der),
        "its own TLS certificate, not the header's"
    );
    assert!(h.is_empty());
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Header, by_ip.clone())
        .resolve(&conn("10.0.0.5:5000", None), &mut h)
        .unwrap()
        .is_none());
    assert!(UNTRUSTED_HEADERS_STRIPPED.load(std::sync::atomic::Ordering::Relaxed) >= before + 2);
    // TLS-only listeners never believe a header, even from a "trusted" address.
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Tls, by_ip.clone())
        .resolve(&conn("127.0.0.1:5000", None), &mut h)
        .unwrap()
        .is_none());

    // Trust by the proxy's certificate: the right key is required, the address alone is not enough.
    let by_key = TrustedProxies {
        networks: vec![],
        thumbprints: vec![proxy_cert.thumbprint()],
    };
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Header, by_key.clone())
        .resolve(&conn("127.0.0.1:5000", Some(&proxy_cert)), &mut h)
        .unwrap()
        .is_some());
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Header, by_key.clone())
        .resolve(&conn("127.0.0.1:5000", Some(&client)), &mut h)
        .unwrap()
        .is_none());
    let mut h = headers(&[("x-ssl-client-cert", &header)]);
    assert!(policy(CertSource::Header, by_key)
        .resolve(&conn("127.0.0.1:5000", None), &mut h)
        .unwrap()
        .is_none());

    // A malformed header from a trusted proxy is an error (the middleware answers 400).
    let mut h = headers(&[("x-ssl-client-cert", "garbage!")]);
    assert!(policy(CertSource::Header, by_ip)
        .resolve(&conn("127.0.0.1:5000", None), &mut h)
        .is_err());
}
