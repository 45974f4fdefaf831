//! Interop: OAuth clients people already use, unchanged, against the real quickstart system.
//! Python `requests`, `httpx` and `authlib` (installed from PyPI into a cache folder under the
//! target directory when missing), Node.js `oauth4webapi`, `openid-client` and `axios` (installed
//! from the npm registry with `npm ci` from the committed lock file, likewise), and the JDK's
//! `HttpClient` with a PKCS#12 KeyManager: discovery, a bound token at the mTLS alias, the API
//! through the gateway, and the same token refused with another certificate. Each client runs as
//! `partner-a` (CA-issued, `tls_client_auth`) and, where the runner allows it, as `partner-s`
//! (self-signed, `self_signed_tls_client_auth`). The clients live in `interop/`.
//!
//! The user flow: openid-client (Node.js) and authlib (Python) run the authorization code flow
//! against a user and a web client registered through the CLI: PAR + PKCE over mTLS, login and
//! consent by plain HTTP, the code exchange, a refresh and userinfo, all with bound tokens.

use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
        Quickstart::start_with(|_| {})
    }

    /// Generates the quickstart directory, lets `prepare` change its store through the CLI (with
    /// the path of `certbound.toml`), then serves it: what `prepare` registered is there from the
    /// first request, without waiting for the run-time client reload.
    fn start_with(prepare: impl FnOnce(&Path)) -> Quickstart {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dev");
        let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
        let quickstart = |no_serve: bool| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_certbound"));
            c.arg("quickstart");
            if no_serve {
                c.arg("--no-serve");
            }
            c.args(["--admin-port", "0", "--dir"])
                .arg(&dir)
                .args(["--port", &port.to_string()])
                .args(["--gateway-port", &gateway.to_string()])
                .args(["--api-port", &api.to_string()])
                .args(["--demo-port", &demo.to_string()]);
            c
        };
        let generated = quickstart(true).output().unwrap();
        assert!(
            generated.status.success(),
            "{}",
            String::from_utf8_lossy(&generated.stderr)
        );
        prepare(&dir.join("certbound.toml"));
        let process = Process::spawn(&mut quickstart(false), Output::Stdout);
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
/// `requirements.txt` changes. Once per test process: the tests run on parallel threads, and two
/// installs into one folder would see each other's half-written files.
fn python_packages() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_python_packages).clone()
}

fn install_python_packages() -> PathBuf {
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
/// Once per test process: `npm ci` first deletes `node_modules`, so a second install running
/// beside a test that already uses the packages breaks it ("Cannot find module").
fn node_packages() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_node_packages).clone()
}

fn install_node_packages() -> PathBuf {
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
    sync("node/code_flow.mjs", &dir);
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

/// The user and the web client the code flow scripts use, registered through the CLI as an
/// operator would (`certbound users add`, `certbound clients add --metadata`).
const USERNAME: &str = "alice";
const PASSWORD: &str = "interop-alice-password-7Qx";
const WEB_CLIENT: &str = "partner-a-web";
/// Never contacted: the scripts read the 303 Location that points at it.
const REDIRECT_URI: &str = "https://localhost:1/callback";

/// Registers alice and `partner-a-web` (tls_client_auth with partner-a's certificate, the
/// authorization_code and refresh_token grants, bound tokens) in `config`'s store; returns
/// alice's `sub`.
fn register_user_and_web_client(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certbound"))
        .args(["users", "add", "--username", USERNAME, "--password-stdin"])
        .args(["--email", "alice@example.com", "--name", "Alice Example"])
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "users add: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sub = stdout
        .split("(sub ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("users add prints the sub: {stdout}"))
        .to_owned();

    let metadata = config.with_file_name("partner-a-web.json");
    std::fs::write(
        &metadata,
        serde_json::json!({
            "client_id": WEB_CLIENT,
            "client_name": "partner-a's web application",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=partner-a,O=Example",
            "tls_client_certificate_bound_access_tokens": true,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [REDIRECT_URI],
            "scope": "openid profile email",
        })
        .to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_certbound"))
        .args(["clients", "add", "--config"])
        .arg(config)
        .arg("--metadata")
        .arg(&metadata)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clients add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sub
}

/// The arguments both code flow scripts take: ISSUER CERT KEY CA CLIENT_ID REDIRECT_URI USERNAME
/// (the password comes in `INTEROP_PASSWORD`).
fn code_flow_args(qs: &Quickstart) -> Vec<OsString> {
    vec![
        qs.issuer().into(),
        qs.pki("partner-a.pem").into(),
        qs.pki("partner-a.key").into(),
        qs.pki("ca.pem").into(),
        WEB_CLIENT.into(),
        REDIRECT_URI.into(),
        USERNAME.into(),
    ]
}

/// What every code flow run must show: login then consent; PAR, code exchange, refresh and
/// userinfo at the mTLS aliases; `iss` on the redirect; an ID token for alice with the nonce
/// sent; both access tokens bound to partner-a's certificate; userinfo for alice.
fn assert_code_flow(qs: &Quickstart, label: &str, sub: &str, r: &Value) {
    let mtls = |path: &str| format!("https://localhost:{}{path}", qs.port + 1);
    assert_eq!(r["client_id"], WEB_CLIENT, "{label}");
    assert_eq!(
        r["pages"],
        serde_json::json!(["login", "consent"]),
        "{label}"
    );
    assert_eq!(
        r["par_endpoint"],
        mtls("/par"),
        "{label}: PAR at the mTLS alias"
    );
    assert_eq!(
        r["token_endpoint"],
        mtls("/token"),
        "{label}: code at the alias"
    );
    assert_eq!(r["refresh_endpoint"], mtls("/token"), "{label}: refresh");
    assert_eq!(
        r["userinfo_endpoint"],
        mtls("/userinfo"),
        "{label}: userinfo"
    );
    assert_eq!(r["callback_iss"], qs.issuer(), "{label}: RFC 9207 iss");
    let id = &r["id_token"];
    assert_eq!(id["iss"], qs.issuer(), "{label}");
    assert_eq!(id["aud"], WEB_CLIENT, "{label}");
    assert_eq!(id["sub"], sub, "{label}: the ID token is alice's");
    assert!(
        id["nonce"].is_string() && id["nonce"] == id["nonce_sent"],
        "{label}: {id}"
    );
    let thumbprint = qs.thumbprint("partner-a");
    assert_eq!(r["bound"], thumbprint, "{label}: cnf.x5t#S256 of partner-a");
    assert_eq!(
        r["refreshed_bound"], thumbprint,
        "{label}: the refreshed token too"
    );
    assert_eq!(r["refreshed_id_token_sub"], sub, "{label}");
    assert_eq!(r["access_sub"], sub, "{label}");
    assert_eq!(r["userinfo"]["sub"], sub, "{label}: userinfo is alice's");
    assert_eq!(r["userinfo"]["email"], "alice@example.com", "{label}");
    assert_eq!(r["userinfo"]["name"], "Alice Example", "{label}");
}

#[test]
fn node_openid_client_runs_the_code_flow_with_par_and_pkce_over_mtls() {
    let packages = node_packages();
    let mut sub = String::new();
    let qs = Quickstart::start_with(|config| sub = register_user_and_web_client(config));
    let out = Command::new("node")
        .arg(packages.join("code_flow.mjs"))
        .args(code_flow_args(&qs))
        .env("INTEROP_PASSWORD", PASSWORD)
        .current_dir(&packages)
        .output()
        .expect("node must be installed for the interop tests");
    let r = report("node openid-client code flow", out);
    assert_eq!(r["client"], "openid-client");
    assert_eq!(
        r["jwks_fetched"], true,
        "openid-client verified the ID token signatures"
    );
    assert_code_flow(&qs, "node openid-client code flow", &sub, &r);
    eprintln!(
        "interop: node {} openid-client {} code flow (PAR, PKCE, refresh, userinfo) passed",
        r["node"].as_str().unwrap_or("?"),
        r["version"].as_str().unwrap_or("?"),
    );
}

#[test]
fn python_authlib_runs_the_code_flow_with_par_and_pkce_over_mtls() {
    let packages = python_packages();
    let mut sub = String::new();
    let qs = Quickstart::start_with(|config| sub = register_user_and_web_client(config));
    let out = Command::new("python3")
        .arg(workspace().join("interop/python_code_flow.py"))
        .args(code_flow_args(&qs))
        .env("INTEROP_PASSWORD", PASSWORD)
        .env("PYTHONPATH", &packages)
        .output()
        .expect("python3 must be installed for the interop tests");
    let r = report("python authlib code flow", out);
    assert_eq!(r["client"], "authlib");
    assert_code_flow(&qs, "python authlib code flow", &sub, &r);
    eprintln!(
        "interop: python authlib {} code flow (PAR, PKCE, refresh, userinfo) passed",
        r["version"].as_str().unwrap_or("?")
    );
}
