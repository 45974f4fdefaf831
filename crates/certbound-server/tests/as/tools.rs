//! Interop with tools we did not write: curl as the client, openssl for the thumbprint.

use crate::support::*;
use base64::Engine;

#[tokio::test]
async fn curl_gets_a_bound_token_and_openssl_agrees_on_the_thumbprint() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &tls_client(
            "partner-a",
            "tls_client_auth_subject_dn",
            "CN=partner-a,O=Example",
        ),
    )
    .await;
    let cert = pki.client("partner-a", "Example");
    std::fs::write(pki.path("partner-a.pem"), &cert.cert_pem).unwrap();
    std::fs::write(pki.path("partner-a.key"), &cert.key_pem).unwrap();

    let out = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail-with-body", "--cacert"])
        .arg(pki.path("ca.pem"))
        .arg("--cert")
        .arg(pki.path("partner-a.pem"))
        .arg("--key")
        .arg(pki.path("partner-a.key"))
        .args([
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=partner-a",
        ])
        .arg(s.mtls("/token"))
        .output()
        .await
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());

    // openssl x509 -outform DER | openssl dgst -sha256 -binary, then base64url without padding.
    let der = tokio::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pki.path("partner-a.pem"))
        .output()
        .await
        .unwrap();
    assert!(der.status.success());
    let mut dgst = tokio::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = dgst.stdin.take().unwrap();
        stdin.write_all(&der.stdout).await.unwrap();
    }
    let digest = dgst.wait_with_output().await.unwrap().stdout;
    assert_eq!(digest.len(), 32);
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    assert_eq!(claims["cnf"]["x5t#S256"], expected.as_str());

    // curl without a certificate: invalid_client, and curl sees a 401.
    let out = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            "--cacert",
        ])
        .arg(pki.path("ca.pem"))
        .args([
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=partner-a",
        ])
        .arg(s.mtls("/token"))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}
