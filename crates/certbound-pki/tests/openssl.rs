//! The PKI as OpenSSL 3 and curl see it: every property we promise, checked with the real tools.
//!
//! Skipped (with a message) when `openssl` is not on the PATH; the curl test is skipped when
//! `curl` is missing.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_pki::{
    dir, self_signed, AttributeType, CertUsage, CertificateAuthority, IssuedCertificate,
    KeyAlgorithm, LeafSpec, StringKind, SubjectSpec,
};

const ALGS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa2048,
];

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: `{tool}` is not installed");
    }
    ok
}

/// Runs openssl in `cwd`; returns the output whatever the exit status.
fn openssl(cwd: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run openssl")
}

/// Runs openssl and requires success; returns stdout.
fn openssl_ok(cwd: &Path, args: &[&str]) -> String {
    let out = openssl(cwd, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    fs::write(dir.join(name), content).expect("write file");
}

fn write_leaf(dir: &Path, stem: &str, cert: &IssuedCertificate) {
    write(dir, &format!("{stem}.pem"), &cert.cert_pem);
    write(dir, &format!("{stem}.key"), &cert.key_pem);
}

fn ca(alg: KeyAlgorithm) -> CertificateAuthority {
    CertificateAuthority::generate(&SubjectSpec::cn_o("Test Root CA", "Example"), alg).expect("CA")
}

#[test]
fn chains_verify_for_every_key_type_with_the_right_purpose() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for ca_alg in ALGS {
        let ca = ca(ca_alg);
        write(d, "ca.pem", ca.cert_pem());
        for leaf_alg in ALGS {
            let client = ca
                .issue(
                    &LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).with_key(leaf_alg),
                )
                .unwrap();
            let server = ca
                .issue(
                    &LeafSpec::server(&["localhost"], &["127.0.0.1".parse().unwrap()])
                        .with_key(leaf_alg),
                )
                .unwrap();
            write_leaf(d, "client", &client);
            write_leaf(d, "server", &server);
            let ctx = format!("CA {ca_alg:?}, leaf {leaf_alg:?}");
            assert_eq!(
                openssl_ok(d, &["verify", "-CAfile", "ca.pem", "client.pem"]).trim(),
                "client.pem: OK",
                "{ctx}"
            );
            openssl_ok(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-purpose",
                    "sslclient",
                    "client.pem",
                ],
            );
            openssl_ok(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-purpose",
                    "sslserver",
                    "server.pem",
                ],
            );
            // EKU is enforced: a client certificate is no server certificate and vice versa.
            assert!(!openssl(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-purpose",
                    "sslserver",
                    "client.pem"
                ]
            )
            .status
            .success());
            assert!(!openssl(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-purpose",
                    "sslclient",
                    "server.pem"
                ]
            )
            .status
            .success());
            // The server certificate matches its names.
            openssl_ok(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-verify_hostname",
                    "localhost",
                    "server.pem",
                ],
            );
            openssl_ok(
                d,
                &[
                    "verify",
                    "-CAfile",
                    "ca.pem",
                    "-verify_ip",
                    "127.0.0.1",
                    "server.pem",
                ],
            );
        }
    }
}

#[test]
fn subject_in_rfc2253_form_matches_ours() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let subjects = [
        SubjectSpec::cn_o("partner-a", "Example"),
        SubjectSpec::new()
            .dc("com")
            .dc("example")
            .country("DE")
            .state("Berlin")
            .locality("Berlin")
            .org("Example, Inc.")
            .org_unit("Payments")
            .org_unit("Partners")
            .uid("u-42")
            .serial_number("PSDDE-1234")
            .email("ops@example.com")
            .with_kind(
                AttributeType::CommonName,
                "partner b",
                StringKind::Printable,
            ),
        SubjectSpec::new()
            .oid(&[1, 3, 6, 1, 4, 1, 99999, 1], "custom")
            .common_name("#hash"),
    ];
    for subject in subjects {
        let leaf = ca.issue(&LeafSpec::client(subject.clone())).unwrap();
        write_leaf(d, "leaf", &leaf);
        let out = openssl_ok(
            d,
            &[
                "x509", "-in", "leaf.pem", "-noout", "-subject", "-nameopt", "RFC2253",
            ],
        );
        let ours = leaf.subject_rfc4514().unwrap();
        assert_eq!(out.trim(), format!("subject={ours}"));
        assert_eq!(ours, subject.to_rfc4514().unwrap());
    }
    let issuer = openssl_ok(
        d,
        &[
            "x509", "-in", "leaf.pem", "-noout", "-issuer", "-nameopt", "RFC2253",
        ],
    );
    assert_eq!(issuer.trim(), "issuer=CN=Test Root CA,O=Example");
}

#[test]
fn printable_and_utf8_strings_are_encoded_as_chosen() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let leaf = ca
        .issue(&LeafSpec::client(
            SubjectSpec::new()
                .with_kind(
                    AttributeType::Organization,
                    "Example",
                    StringKind::Printable,
                )
                .with_kind(AttributeType::CommonName, "partner-a", StringKind::Utf8),
        ))
        .unwrap();
    write_leaf(d, "leaf", &leaf);
    let parsed = openssl_ok(d, &["asn1parse", "-in", "leaf.pem"]);
    assert!(parsed.contains("PRINTABLESTRING   :Example"), "{parsed}");
    assert!(parsed.contains("UTF8STRING        :partner-a"), "{parsed}");
}

#[test]
fn subject_alt_names_are_shown() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let leaf = ca
        .issue(
            &LeafSpec::client(SubjectSpec::cn("partner-a"))
                .with_dns("a.example.com")
                .with_uri("spiffe://example.com/partner-a")
                .with_ip("192.0.2.7".parse().unwrap())
                .with_ip("2001:db8::7".parse().unwrap())
                .with_email("ops@example.com"),
        )
        .unwrap();
    write_leaf(d, "leaf", &leaf);
    let out = openssl_ok(
        d,
        &[
            "x509",
            "-in",
            "leaf.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    for expected in [
        "DNS:a.example.com",
        "URI:spiffe://example.com/partner-a",
        "IP Address:192.0.2.7",
        "IP Address:2001:DB8:0:0:0:0:0:7",
        "email:ops@example.com",
    ] {
        assert!(out.contains(expected), "{expected} missing in {out}");
    }
}

#[test]
fn every_key_type_is_accepted_and_matches_its_certificate() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for alg in ALGS {
        let ca = ca(alg);
        write(d, "ca.key", ca.key_pem());
        write(d, "ca.pem", ca.cert_pem());
        openssl_ok(d, &["pkey", "-in", "ca.key", "-noout"]);
        let leaf = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("k")).with_key(alg))
            .unwrap();
        write_leaf(d, "leaf", &leaf);
        assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        openssl_ok(d, &["pkey", "-in", "leaf.key", "-noout"]);
        let from_key = openssl_ok(d, &["pkey", "-in", "leaf.key", "-pubout"]);
        let from_cert = openssl_ok(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{alg:?}");
        // PKCS#8 v1: version 0, no [1] public key (OpenSSL 3.0 rejects v2 Ed25519 keys).
        let asn1 = openssl_ok(d, &["asn1parse", "-in", "leaf.key"]);
        let version_line = asn1.lines().nth(1).unwrap_or_default();
        assert!(
            version_line.contains("INTEGER           :00"),
            "{alg:?}: {asn1}"
        );
        assert!(!asn1.contains("cont [ 1 ]"), "{alg:?}: {asn1}");
        let text = openssl_ok(d, &["pkey", "-in", "leaf.key", "-noout", "-text"]);
        let expected = match alg {
            KeyAlgorithm::EcdsaP256 => "P-256",
            KeyAlgorithm::Ed25519 => "ED25519",
            KeyAlgorithm::Rsa2048 => "2048 bit",
        };
        assert!(text.contains(expected), "{alg:?}: {text}");
    }
}

#[test]
fn pkcs12_opens_without_legacy_provider() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    for alg in ALGS {
        let leaf = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("partner-a")).with_key(alg))
            .unwrap();
        write(
            d,
            "leaf.p12",
            leaf.to_pkcs12("s3cret pw", "partner-a").unwrap(),
        );
        let certs = openssl_ok(
            d,
            &[
                "pkcs12",
                "-in",
                "leaf.p12",
                "-passin",
                "pass:s3cret pw",
                "-nokeys",
            ],
        );
        assert_eq!(
            certs.matches("BEGIN CERTIFICATE").count(),
            2,
            "{alg:?}: {certs}"
        );
        let key = openssl_ok(
            d,
            &[
                "pkcs12",
                "-in",
                "leaf.p12",
                "-passin",
                "pass:s3cret pw",
                "-nocerts",
                "-noenc",
            ],
        );
        assert!(key.contains("BEGIN PRIVATE KEY"), "{alg:?}: {key}");
        // The key bag carries the friendly name (p12-keystore names certificate bags after
        // their subject).
        assert!(key.contains("friendlyName: partner-a"), "{key}");
        let info = openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "leaf.p12",
                "-passin",
                "pass:s3cret pw",
                "-info",
                "-noout",
            ],
        );
        let info = String::from_utf8_lossy(&info.stderr).to_string()
            + &String::from_utf8_lossy(&info.stdout);
        assert!(
            info.contains("PBES2") && info.contains("AES-256-CBC"),
            "{info}"
        );
        assert!(info.contains("sha256"), "{info}");
        assert!(!openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "leaf.p12",
                "-passin",
                "pass:wrong",
                "-nokeys"
            ]
        )
        .status
        .success());
    }
}

#[test]
fn thumbprint_equals_openssl_sha256_of_der() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let leaf = ca.issue(&LeafSpec::client(SubjectSpec::cn("t"))).unwrap();
    write_leaf(d, "leaf", &leaf);
    let der = Command::new("openssl")
        .args(["x509", "-in", "leaf.pem", "-outform", "DER"])
        .current_dir(d)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(der, leaf.cert_der);
    let mut dgst = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    dgst.stdin.take().unwrap().write_all(&der).unwrap();
    let digest = dgst.wait_with_output().unwrap().stdout;
    assert_eq!(digest.len(), 32);
    assert_eq!(leaf.thumbprint().as_str(), URL_SAFE_NO_PAD.encode(&digest));
    assert_eq!(
        leaf.jwk().unwrap()["x5t#S256"],
        URL_SAFE_NO_PAD.encode(&digest)
    );
}

#[test]
fn extensions_are_as_specified() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    write(d, "ca.pem", ca.cert_pem());
    let ca_ext = openssl_ok(
        d,
        &[
            "x509",
            "-in",
            "ca.pem",
            "-noout",
            "-ext",
            "basicConstraints,keyUsage,subjectKeyIdentifier",
        ],
    );
    assert!(
        ca_ext.contains("X509v3 Basic Constraints: critical\n    CA:TRUE"),
        "{ca_ext}"
    );
    assert!(
        ca_ext.contains("X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign"),
        "{ca_ext}"
    );
    assert!(ca_ext.contains("X509v3 Subject Key Identifier"), "{ca_ext}");
    let ski_line = ca_ext
        .lines()
        .skip_while(|l| !l.contains("Subject Key Identifier"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();

    for (usage, eku) in [
        (CertUsage::Client, "TLS Web Client Authentication"),
        (CertUsage::Server, "TLS Web Server Authentication"),
    ] {
        let leaf = ca
            .issue(&LeafSpec::client(SubjectSpec::cn("leaf")).with_usage(usage))
            .unwrap();
        write_leaf(d, "leaf", &leaf);
        let ext = openssl_ok(
            d,
            &[
                "x509",
                "-in",
                "leaf.pem",
                "-noout",
                "-ext",
                "basicConstraints,keyUsage,extendedKeyUsage,authorityKeyIdentifier",
            ],
        );
        assert!(
            ext.contains("X509v3 Basic Constraints: critical\n    CA:FALSE"),
            "{ext}"
        );
        assert!(
            ext.contains("X509v3 Key Usage: critical\n    Digital Signature\n"),
            "{ext}"
        );
        assert!(
            ext.contains(&format!("X509v3 Extended Key Usage: \n    {eku}\n")),
            "{ext}"
        );
        assert!(ext.contains(&ski_line), "AKI {ski_line} missing in {ext}");
        let serial = openssl_ok(d, &["x509", "-in", "leaf.pem", "-noout", "-serial"]);
        // 16 bytes, positive, no leading zero: 32 hex digits.
        assert_eq!(
            serial.trim().trim_start_matches("serial=").len(),
            32,
            "{serial}"
        );
    }
}

#[test]
fn expired_and_not_yet_valid_certificates_fail_verification() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    write(d, "ca.pem", ca.cert_pem());
    let expired = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("old")).expired())
        .unwrap();
    write_leaf(d, "expired", &expired);
    let out = openssl(d, &["verify", "-CAfile", "ca.pem", "expired.pem"]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("certificate has expired"), "{text}");

    let future = ca
        .issue(&LeafSpec::client(SubjectSpec::cn("new")).not_yet_valid())
        .unwrap();
    write_leaf(d, "future", &future);
    let out = openssl(d, &["verify", "-CAfile", "ca.pem", "future.pem"]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("certificate is not yet valid"), "{text}");
}

#[test]
fn rogue_ca_twin_looks_identical_but_does_not_verify() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let original = ca
        .issue(&LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).with_dns("a.example"))
        .unwrap();
    let rogue = ca.impostor(KeyAlgorithm::EcdsaP256).unwrap();
    let twin = rogue
        .issue(&LeafSpec::copy_of(&original.cert_der).unwrap())
        .unwrap();
    write(d, "ca.pem", ca.cert_pem());
    write(d, "rogue-ca.pem", rogue.cert_pem());
    write_leaf(d, "original", &original);
    write_leaf(d, "twin", &twin);
    let show = |f: &str| {
        openssl_ok(
            d,
            &[
                "x509",
                "-in",
                f,
                "-noout",
                "-subject",
                "-issuer",
                "-serial",
                "-ext",
                "subjectAltName",
                "-nameopt",
                "RFC2253",
            ],
        )
    };
    assert_eq!(show("original.pem"), show("twin.pem"));
    assert_eq!(
        openssl_ok(d, &["x509", "-in", "ca.pem", "-noout", "-subject"]),
        openssl_ok(d, &["x509", "-in", "rogue-ca.pem", "-noout", "-subject"])
    );
    openssl_ok(d, &["verify", "-CAfile", "ca.pem", "original.pem"]);
    openssl_ok(d, &["verify", "-CAfile", "rogue-ca.pem", "twin.pem"]);
    let out = openssl(d, &["verify", "-CAfile", "ca.pem", "twin.pem"]);
    assert!(
        !out.status.success(),
        "the twin must not verify against the real CA"
    );
    assert_ne!(original.thumbprint(), twin.thumbprint());
}

#[test]
fn intermediate_and_self_signed() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let root = ca(KeyAlgorithm::EcdsaP256);
    let mid = root
        .issue_intermediate(
            &SubjectSpec::cn_o("Issuing CA", "Example"),
            KeyAlgorithm::Rsa2048,
        )
        .unwrap();
    let leaf = mid
        .issue(&LeafSpec::client(SubjectSpec::cn("deep")).with_key(KeyAlgorithm::Ed25519))
        .unwrap();
    write(d, "root.pem", root.cert_pem());
    write(d, "mid.pem", mid.cert_pem());
    write(d, "chain.pem", leaf.chain_pem());
    write_leaf(d, "leaf", &leaf);
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "mid.pem",
            "leaf.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "leaf.pem",
        ],
    );
    assert!(!openssl(d, &["verify", "-CAfile", "root.pem", "leaf.pem"])
        .status
        .success());

    let ss = self_signed(&LeafSpec::client(SubjectSpec::cn("partner-s"))).unwrap();
    write_leaf(d, "ss", &ss);
    openssl_ok(d, &["verify", "-CAfile", "ss.pem", "ss.pem"]);
    let ext = openssl_ok(
        d,
        &[
            "x509",
            "-in",
            "ss.pem",
            "-noout",
            "-ext",
            "basicConstraints",
        ],
    );
    assert!(ext.contains("CA:FALSE"), "{ext}");
    assert!(!openssl(d, &["verify", "-CAfile", "root.pem", "ss.pem"])
        .status
        .success());
}

/// The directory layer's files work with the real tools (what `certbound pki` writes).
#[test]
fn directory_layout_verifies() {
    if !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    dir::init(d, KeyAlgorithm::EcdsaP256, false).unwrap();
    dir::server(
        d,
        &["localhost".into()],
        &["127.0.0.1".parse::<IpAddr>().unwrap()],
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let spec = LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"));
    dir::client(d, &spec, Some("pw"), true).unwrap();
    openssl_ok(d, &["verify", "-CAfile", "ca.pem", "partner-a.pem"]);
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "server.pem",
            "server.pem",
        ],
    );
    openssl_ok(d, &["pkey", "-in", "ca.key", "-noout"]);
    openssl_ok(
        d,
        &[
            "pkcs12",
            "-in",
            "partner-a.p12",
            "-passin",
            "pass:pw",
            "-nokeys",
        ],
    );
}

/// curl presents the PKCS#12 client certificate to `openssl s_server`, which requires and
/// verifies it against our CA; curl verifies our server certificate for `localhost`.
#[test]
fn curl_presents_the_pkcs12_to_openssl_s_server() {
    if !have("openssl") || !have("curl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    dir::init(d, KeyAlgorithm::EcdsaP256, false).unwrap();
    dir::server(d, &["localhost".into()], &[], KeyAlgorithm::EcdsaP256).unwrap();
    for alg in ALGS {
        let spec = LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example")).with_key(alg);
        dir::client(d, &spec, Some("pw"), true).unwrap();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let accept = format!("127.0.0.1:{port}");
        let mut server = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &accept,
                "-cert",
                "server.pem",
                "-key",
                "server.key",
                "-CAfile",
                "ca.pem",
                "-Verify",
                "1",
                "-verify_return_error",
                "-www",
            ])
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("ACCEPT"));
        assert!(ready, "s_server did not start");
        let url = format!("https://localhost:{port}/");
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--cert",
                "partner-a.p12:pw",
                "--cert-type",
                "P12",
                "--cacert",
                "ca.pem",
                &url,
            ])
            .current_dir(d)
            .output()
            .unwrap();
        // Without the client certificate the handshake must fail.
        let without = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", "ca.pem", &url])
            .current_dir(d)
            .output()
            .unwrap();
        let _ = server.kill();
        let _ = server.wait();
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{alg:?}: curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(body.contains("Client certificate"), "{alg:?}: {body}");
        assert!(body.contains("partner-a"), "{alg:?}: {body}");
        assert!(
            !without.status.success()
                || !String::from_utf8_lossy(&without.stdout).contains("partner-a")
        );
    }
}
