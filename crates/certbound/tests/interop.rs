//! Interop: OAuth clients people already use, unchanged, against the real quickstart system.
//! Python `requests` and `httpx` (installed from PyPI into a cache folder under the target
//! directory when missing) and the JDK's `HttpClient` with a PKCS#12 KeyManager: discovery, a
//! bound token at the mTLS alias, the API through the gateway, and the same token refused with
//! another certificate. The clients live in `interop/`.

use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the Python clients into a cache folder once (CI keeps it with the build cache).
fn python_packages() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-python");
    if !dir.join("httpx").exists() || !dir.join("requests").exists() {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg("-r")
            .arg(workspace().join("interop/requirements.txt"))
            .output()
            .expect("python3 must be installed for the interop tests");
        assert!(
            out.status.success(),
            "pip install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

#[test]
fn python_requests_and_httpx_get_bound_tokens_and_call_the_gateway() {
    let packages = python_packages();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
    let quickstart = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_certbound"))
            .args(["quickstart", "--dir"])
            .arg(&dir)
            .args([
                "--port",
                &port.to_string(),
                "--gateway-port",
                &gateway.to_string(),
            ])
            .args([
                "--api-port",
                &api.to_string(),
                "--demo-port",
                &demo.to_string(),
            ]),
        Output::Stdout,
    );
    quickstart.wait_for("Ctrl-C stops everything");
    for lib in ["requests", "httpx"] {
        let out = Command::new("python3")
            .arg(workspace().join("interop/python_client.py"))
            .arg(lib)
            .arg(format!("https://localhost:{port}"))
            .arg(format!("https://localhost:{gateway}/api/transactions"))
            .arg(dir.join("pki/partner-a.pem"))
            .arg(dir.join("pki/partner-a.key"))
            .arg(dir.join("pki/ca.pem"))
            .arg(dir.join("pki/partner-b.pem"))
            .arg(dir.join("pki/partner-b.key"))
            .env("PYTHONPATH", &packages)
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{lib}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
        assert_eq!(report["api"], 201, "{lib}");
        assert_eq!(report["stolen"], 401, "{lib}");
        eprintln!("interop: {lib} {} passed", report["version"]);
    }
}

#[test]
fn java_httpclient_with_a_pkcs12_keymanager() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
    let quickstart = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_certbound"))
            .args(["quickstart", "--dir"])
            .arg(&dir)
            .args([
                "--port",
                &port.to_string(),
                "--gateway-port",
                &gateway.to_string(),
            ])
            .args([
                "--api-port",
                &api.to_string(),
                "--demo-port",
                &demo.to_string(),
            ]),
        Output::Stdout,
    );
    quickstart.wait_for("Ctrl-C stops everything");
    // partner-b as PKCS#12 too, made by OpenSSL from the PEM pair.
    let p12 = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:certbound", "-in"])
        .arg(dir.join("pki/partner-b.pem"))
        .arg("-inkey")
        .arg(dir.join("pki/partner-b.key"))
        .arg("-out")
        .arg(dir.join("pki/partner-b.p12"))
        .output()
        .unwrap();
    assert!(
        p12.status.success(),
        "{}",
        String::from_utf8_lossy(&p12.stderr)
    );
    let out = Command::new("java")
        .arg(workspace().join("interop/JavaClient.java"))
        .arg(format!("https://localhost:{port}"))
        .arg(format!("https://localhost:{gateway}/api/transactions"))
        .arg(dir.join("pki/partner-a.p12"))
        .arg("certbound")
        .arg(dir.join("pki/ca.pem"))
        .arg(dir.join("pki/partner-b.p12"))
        .output()
        .expect("java (JDK 17) must be installed for the interop tests");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "java: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["api"], 201);
    assert_eq!(report["stolen"], 401);
}
