//! Interop: OAuth clients people already use, unchanged, against the real quickstart system.
//! Python `requests`, `httpx` and `authlib` (installed from PyPI into a cache folder under the
//! target directory when missing), Node.js `oauth4webapi`, `openid-client` and `axios` (installed
//! from the npm registry with `npm ci` from the committed lock file, likewise), and the JDK's
//! `HttpClient` with a PKCS#12 KeyManager: discovery, a bound token at the mTLS alias, the API
//! through the gateway, and the same token refused with another certificate. Each client runs as
//! `partner-a` (CA-issued, `tls_client_auth`) and, where the runner allows it, as `partner-s`
//! (self-signed, `self_signed_tls_client_auth`). The clients live in `interop/`.

use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `certbound quickstart` on free ports, stopped (and its directory removed) on drop.
struct Quickstart {
    // Declared first: the process is killed before its directory goes.
    _process: Process,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
    gateway: u16,
}

impl Quickstart {
    fn start() -> Quickstart {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dev");
        let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
        let process = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_certbound"))
                .args(["quickstart", "--admin-port", "0", "--dir"])
                .arg(&dir)
                .args(["--port", &port.to_string()])
                .args(["--gateway-port", &gateway.to_string()])
                .args(["--api-port", &api.to_string()])
                .args(["--demo-port", &demo.to_string()]),
            Output::Stdout,
        );
        process.wait_for("Ctrl-C stops everything");
        Quickstart {
            _process: process,
            _tmp: tmp,
            dir,
            port,
            gateway,
        }
    }

    fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }

    fn issuer(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// `mtls_endpoint_aliases.token_endpoint` (the mTLS listener is on the next port).
    fn mtls_token_endpoint(&self) -> String {
        format!("https://localhost:{}/token", self.port + 1)
    }

    /// The arguments both client scripts take: ISSUER GATEWAY_API_URL CERT KEY CA OTHER_CERT
    /// OTHER_KEY CLIENT_ID, with `client_id`'s own certificate and partner-b's as the thief's.
    fn client_args(&self, client_id: &str) -> Vec<OsString> {
        vec![
            self.issuer().into(),
            format!("https://localhost:{}/api/transactions", self.gateway).into(),
            self.pki(&format!("{client_id}.pem")).into(),
            self.pki(&format!("{client_id}.key")).into(),
            self.pki("ca.pem").into(),
            self.pki("partner-b.pem").into(),
            self.pki("partner-b.key").into(),
            client_id.into(),
        ]
    }

    /// `x5t#S256` of `pki/<name>.pem`, computed here, independently of the client.
    fn thumbprint(&self, name: &str) -> String {
        let pem = pem::parse(std::fs::read(self.pki(&format!("{name}.pem"))).unwrap()).unwrap();
        certbound_core::Thumbprint::of_der(pem.contents())
            .as_str()
            .to_owned()
    }
}

/// The one-line JSON report of a client run that exited 0.
fn report(label: &str, out: std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{label}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{label}: one JSON line: {e}: {stdout}"))
}

/// What every client run must show: the token came from the mTLS alias, is bound to the
/// certificate the client used, works through the gateway with it and not with partner-b's.
fn assert_bound_and_refused_when_stolen(qs: &Quickstart, label: &str, client_id: &str, r: &Value) {
    assert_eq!(r["client_id"], client_id, "{label}");
    assert_eq!(
        r["token_endpoint"],
        qs.mtls_token_endpoint(),
        "{label}: the token request goes to mtls_endpoint_aliases.token_endpoint"
    );
    assert_eq!(
        r["bound"],
        qs.thumbprint(client_id),
        "{label}: cnf.x5t#S256 is the thumbprint of {client_id}'s certificate"
    );
    assert_eq!(r["api"], 201, "{label}: the API through the gateway");
    assert_eq!(
        r["stolen"], 401,
        "{label}: the token with partner-b's certificate"
    );
    assert!(
        r["challenge"]
            .as_str()
            .is_some_and(|c| c.contains(r#"error="invalid_token""#)),
        "{label}: {}",
        r["challenge"]
    );
}

/// Copies `interop/<file>` to `dir` when it is missing or different; true when it was copied.
fn sync(file: &str, dir: &Path) -> bool {
    let src = std::fs::read(workspace().join("interop").join(file)).unwrap();
    let dst = dir.join(Path::new(file).file_name().unwrap());
    if std::fs::read(&dst).ok().as_deref() == Some(&src[..]) {
        return false;
    }
    std::fs::write(dst, src).unwrap();
    true
}

/// Installs the Python clients into a cache folder (CI keeps it with the build cache), again when
/// `requirements.txt` changes.
fn python_packages() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-python");
    std::fs::create_dir_all(&dir).unwrap();
    let installed = ["requests", "httpx", "authlib"]
        .iter()
        .all(|p| dir.join(p).exists());
    if sync("requirements.txt", &dir) || !installed {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
            ])
            .arg(&dir)
            .arg("-r")
            .arg(dir.join("requirements.txt"))
            .output()
            .expect("python3 must be installed for the interop tests");
        if !out.status.success() {
            // Install again next time.
            let _ = std::fs::remove_file(dir.join("requirements.txt"));
        }
        assert!(
            out.status.success(),
            "pip install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// Installs the Node.js clients with `npm ci` from the committed lock file into a cache folder,
/// again when the lock file changes, and puts the client script next to its `node_modules` (ES
/// modules resolve packages from the script's own folder; NODE_PATH does not apply to them).
fn node_packages() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-node");
    std::fs::create_dir_all(&dir).unwrap();
    let lock_changed = sync("node/package-lock.json", &dir);
    let manifest_changed = sync("node/package.json", &dir);
    if lock_changed || manifest_changed || !dir.join("node_modules/.package-lock.json").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("node and npm must be installed for the interop tests");
        if !out.status.success() {
            let _ = std::fs::remove_file(dir.join("package-lock.json"));
        }
        assert!(
            out.status.success(),
            "npm ci failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sync("node/client.mjs", &dir);
    dir
}

#[test]
fn python_requests_httpx_and_authlib_get_bound_tokens_and_call_the_gateway() {
    let packages = python_packages();
    let qs = Quickstart::start();
    for lib in ["requests", "httpx", "authlib"] {
        for client_id in ["partner-a", "partner-s"] {
            let label = format!("python {lib} as {client_id}");
            let out = Command::new("python3")
                .arg(workspace().join("interop/python_client.py"))
                .arg(lib)
                .args(qs.client_args(client_id))
                .env("PYTHONPATH", &packages)
                .output()
                .expect("python3 must be installed for the interop tests");
            let r = report(&label, out);
            assert_eq!(r["client"], lib, "{label}");
            assert_bound_and_refused_when_stolen(&qs, &label, client_id, &r);
            eprintln!(
                "interop: python {lib} {} as {client_id} passed",
                r["version"].as_str().unwrap_or("?")
            );
        }
    }
}

#[test]
fn node_oauth4webapi_openid_client_and_axios_get_bound_tokens_and_call_the_gateway() {
    let packages = node_packages();
    let qs = Quickstart::start();
    for lib in ["oauth4webapi", "openid-client", "axios"] {
        for client_id in ["partner-a", "partner-s"] {
            let label = format!("node {lib} as {client_id}");
            let out = Command::new("node")
                .arg(packages.join("client.mjs"))
                .arg(lib)
                .args(qs.client_args(client_id))
                .current_dir(&packages)
                .output()
                .expect("node must be installed for the interop tests");
            let r = report(&label, out);
            assert_eq!(r["client"], lib, "{label}");
            assert_bound_and_refused_when_stolen(&qs, &label, client_id, &r);
            let via = match r["undici"].as_str() {
                Some(v) => format!("undici {v}"),
                None => "node:https".to_owned(),
            };
            eprintln!(
                "interop: node {} {lib} {} ({via}) as {client_id} passed",
                r["node"].as_str().unwrap_or("?"),
                r["version"].as_str().unwrap_or("?"),
            );
        }
    }
}

#[test]
fn java_httpclient_with_a_pkcs12_keymanager() {
    let qs = Quickstart::start();
    // partner-b as PKCS#12 too, made by OpenSSL from the PEM pair.
    let p12 = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:certbound", "-in"])
        .arg(qs.pki("partner-b.pem"))
        .arg("-inkey")
        .arg(qs.pki("partner-b.key"))
        .arg("-out")
        .arg(qs.pki("partner-b.p12"))
        .output()
        .unwrap();
    assert!(
        p12.status.success(),
        "{}",
        String::from_utf8_lossy(&p12.stderr)
    );
    let out = Command::new("java")
        .arg(workspace().join("interop/JavaClient.java"))
        .arg(qs.issuer())
        .arg(format!("https://localhost:{}/api/transactions", qs.gateway))
        .arg(qs.pki("partner-a.p12"))
        .arg("certbound")
        .arg(qs.pki("ca.pem"))
        .arg(qs.pki("partner-b.p12"))
        .output()
        .expect("java (JDK 17) must be installed for the interop tests");
    let r = report("java", out);
    assert_eq!(r["bound"], qs.thumbprint("partner-a"), "java");
    assert_eq!(r["api"], 201);
    assert_eq!(r["stolen"], 401);
    eprintln!(
        "interop: java {} as partner-a passed",
        r["version"].as_str().unwrap_or("?")
    );
}
