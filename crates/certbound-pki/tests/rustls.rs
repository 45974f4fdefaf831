//! The PKI as rustls and webpki see it: the black-box tests of the project build their TLS
//! configurations from these certificates, so every key type must work there.

use std::sync::Arc;

use certbound_pki::{
    self_signed, CertificateAuthority, IssuedCertificate, KeyAlgorithm, LeafSpec, SubjectSpec,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

const ALGS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa2048,
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn verify(
    leaf: &IssuedCertificate,
    anchor_der: &[u8],
    usage: webpki::KeyUsage,
) -> Result<(), webpki::Error> {
    let anchor_cert = CertificateDer::from(anchor_der.to_vec());
    let anchor = webpki::anchor_from_trusted_cert(&anchor_cert)?;
    let cert = leaf.cert();
    let ee = webpki::EndEntityCert::try_from(&cert)?;
    let intermediates: Vec<CertificateDer<'static>> = leaf
        .issuer_chain_der
        .iter()
        .take(leaf.issuer_chain_der.len().saturating_sub(1))
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &intermediates,
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map(|_| ())
}

#[test]
fn webpki_accepts_valid_chains_and_rejects_the_rest() {
    for ca_alg in ALGS {
        let ca =
            CertificateAuthority::generate(&SubjectSpec::cn_o("Root", "Example"), ca_alg).unwrap();
        let mid = ca
            .issue_intermediate(&SubjectSpec::cn_o("Issuing", "Example"), ca_alg)
            .unwrap();
        for alg in ALGS {
            let client = ca
                .issue(&LeafSpec::client(SubjectSpec::cn("c")).with_key(alg))
                .unwrap();
            verify(&client, ca.cert_der(), webpki::KeyUsage::client_auth()).unwrap();
            assert!(verify(&client, ca.cert_der(), webpki::KeyUsage::server_auth()).is_err());
            let deep = mid
                .issue(&LeafSpec::client(SubjectSpec::cn("d")).with_key(alg))
                .unwrap();
            verify(&deep, ca.cert_der(), webpki::KeyUsage::client_auth()).unwrap();
            let server = ca
                .issue(
                    &LeafSpec::server(&["localhost"], &["127.0.0.1".parse().unwrap()])
                        .with_key(alg),
                )
                .unwrap();
            verify(&server, ca.cert_der(), webpki::KeyUsage::server_auth()).unwrap();
            let cert = server.cert();
            let ee = webpki::EndEntityCert::try_from(&cert).unwrap();
            ee.verify_is_valid_for_subject_name(&ServerName::try_from("localhost").unwrap())
                .unwrap();
            ee.verify_is_valid_for_subject_name(&ServerName::try_from("127.0.0.1").unwrap())
                .unwrap();
            assert!(ee
                .verify_is_valid_for_subject_name(&ServerName::try_from("example.com").unwrap())
                .is_err());
        }
        let expired = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("e")).expired())
            .unwrap();
        assert!(matches!(
            verify(&expired, ca.cert_der(), webpki::KeyUsage::client_auth()),
            Err(webpki::Error::CertExpired { .. })
        ));
        let future = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("f")).not_yet_valid())
            .unwrap();
        assert!(matches!(
            verify(&future, ca.cert_der(), webpki::KeyUsage::client_auth()),
            Err(webpki::Error::CertNotValidYet { .. })
        ));
        let original = ca.issue(&LeafSpec::client(SubjectSpec::cn("o"))).unwrap();
        let twin = ca
            .impostor(ca_alg)
            .unwrap()
            .issue(&LeafSpec::copy_of(&original.cert_der).unwrap())
            .unwrap();
        assert!(verify(&twin, ca.cert_der(), webpki::KeyUsage::client_auth()).is_err());
    }
}

/// Drives a client and a server connection against each other in memory until the handshake is
/// done, then sends one byte each way so TLS 1.3 client authentication is settled.
fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    use std::io::{Read, Write};
    client
        .writer()
        .write_all(b"c")
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client
                .write_tls(&mut buf)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            server
                .read_tls(&mut slice)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        server.process_new_packets()?;
        let mut buf = Vec::new();
        while server.wants_write() {
            server
                .write_tls(&mut buf)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            client
                .read_tls(&mut slice)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        client.process_new_packets()?;
        let mut got = [0u8; 1];
        if !server.is_handshaking() && server.reader().read(&mut got).is_ok_and(|n| n == 1) {
            return Ok(());
        }
    }
    Err(rustls::Error::General("handshake did not finish".into()))
}

fn connect(
    ca: &CertificateAuthority,
    server_cert: &IssuedCertificate,
    client_cert: &IssuedCertificate,
) -> Result<Vec<CertificateDer<'static>>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert()).unwrap();
    let roots = Arc::new(roots);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .unwrap();
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_cert.rustls_chain(), server_cert.private_key())
        .unwrap();
    let client_config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(client_cert.rustls_chain(), client_cert.private_key())
        .unwrap();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client = ClientConnection::new(
        Arc::new(client_config),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    handshake(&mut client, &mut server)?;
    Ok(server.peer_certificates().unwrap_or_default().to_vec())
}

#[test]
fn rustls_mutual_tls_with_every_key_type() {
    let ca = CertificateAuthority::generate(
        &SubjectSpec::cn_o("Root", "Example"),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    for alg in ALGS {
        let server = ca
            .issue(&LeafSpec::server(&["localhost"], &[]).with_key(alg))
            .unwrap();
        let client = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("c")).with_key(alg))
            .unwrap();
        let peer = connect(&ca, &server, &client).unwrap();
        assert_eq!(peer[0].as_ref(), &client.cert_der[..], "{alg:?}");
    }
    // A client certificate from another CA is refused by the webpki verifier.
    let other =
        CertificateAuthority::generate(&SubjectSpec::cn("Other"), KeyAlgorithm::EcdsaP256).unwrap();
    let server = ca.issue(&LeafSpec::server(&["localhost"], &[])).unwrap();
    let stranger = other
        .issue(&LeafSpec::client(SubjectSpec::cn("x")))
        .unwrap();
    assert!(connect(&ca, &server, &stranger).is_err());
    // Self-signed client certificates load as rustls client credentials too.
    let ss = self_signed(&LeafSpec::client(SubjectSpec::cn("s")).with_key(KeyAlgorithm::Ed25519))
        .unwrap();
    assert!(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_client_auth_cert(ss.rustls_chain(), ss.private_key())
        .is_ok());
}
