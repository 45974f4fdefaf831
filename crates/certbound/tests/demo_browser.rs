//! The demo page in a real browser: `certbound quickstart` starts the whole system, then headless
//! Chromium (driven through chromedriver's WebDriver API on 127.0.0.1) clicks the four steps and
//! checks what a person would see: the bound token's `cnf`, 201 through the gateway, then 401 and
//! the `WWW-Authenticate` challenge for the replayed token; a second browser sees none of it; the
//! page fits 400 px without horizontal scrolling. Full-page screenshots at 1280 and 400 px are
//! written to `$CERTBOUND_DEMO_SCREENSHOTS` (default: the test's temporary directory, which also
//! gets the 1280x900 and 400x900 viewport screenshots).
//!
//! A second browser test signs in as a user (the quickstart's `alice`) through the authorization
//! server's login and consent pages. A third test checks the forms' defences with a plain HTTP
//! client (no browser needed).
//!
//! Needs Debian's `chromium` and `chromium-driver`; with `CERTBOUND_SKIP_BROWSER=1` the browser
//! test is skipped instead of failing.

use base64::Engine;
use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

/// A running `certbound quickstart` on free ports, killed on drop.
struct Quickstart {
    process: Process,
    dir: tempfile::TempDir,
    demo: u16,
}

impl Quickstart {
    fn start() -> Quickstart {
        // reqwest is built without a TLS provider: every test process installs aws-lc-rs.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
        let process = Process::spawn(
            certbound()
                .args(["quickstart", "--admin-port", "0", "--dir"])
                .arg(dir.path().join("dev"))
                .args(["--port", &port.to_string()])
                .args(["--gateway-port", &gateway.to_string()])
                .args(["--api-port", &api.to_string()])
                .args(["--demo-port", &demo.to_string()]),
            Output::Stdout,
        );
        process.wait_for("Ctrl-C stops everything");
        Quickstart { process, dir, demo }
    }

    fn home(&self) -> String {
        format!("http://127.0.0.1:{}/home", self.demo)
    }

    fn thumbprint(&self, name: &str) -> String {
        let out = certbound()
            .args(["pki", "thumbprint"])
            .arg(self.dir.path().join(format!("dev/pki/{name}.pem")))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let t = text.split_whitespace().last().unwrap_or("").to_owned();
        assert_eq!(t.len(), 43, "{text}");
        t
    }
}

/// The first program of `names` found on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver on a free port on 127.0.0.1; stopped (SIGTERM, then SIGKILL) on drop.
struct ChromeDriver {
    process: Process,
    url: String,
    http: reqwest::blocking::Client,
}

impl ChromeDriver {
    fn start(program: &Path) -> ChromeDriver {
        let port = free_port();
        let process = Process::spawn(
            Command::new(program).args([&format!("--port={port}"), "--allowed-ips=127.0.0.1"]),
            Output::Both,
        );
        let driver = ChromeDriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start: {}",
                driver.process.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new headless browser with its own profile (so its own cookies).
    fn browser(&self, chromium: &Path) -> Browser<'_> {
        self.browser_with(chromium, false)
    }

    /// A new headless browser; with `insecure_certs` it accepts the authorization server's
    /// certificate, which the quickstart's own CA issued (a person trusts `pki/ca.pem` instead).
    fn browser_with(&self, chromium: &Path, insecure_certs: bool) -> Browser<'_> {
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": insecure_certs,
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let r: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        Browser {
            driver: self,
            session: format!("{}/session/{id}", self.url),
            _profile: profile,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        // Dropping the Process kills it (by PID) if it is still running.
        let _ = self.process.wait_exit(Duration::from_secs(5));
    }
}

/// One WebDriver session (one browser window); quit on drop.
struct Browser<'d> {
    driver: &'d ChromeDriver,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser<'_> {
    fn post(&self, path: &str, body: Value) -> Value {
        let r: Value = self
            .driver
            .http
            .post(format!("{}{path}", self.session))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(
            r["value"].get("error").is_none(),
            "WebDriver {path}: {}",
            r["value"]
        );
        r["value"].clone()
    }

    fn get(&self, path: &str) -> Value {
        let r: Value = self
            .driver
            .http
            .get(format!("{}{path}", self.session))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["value"].clone()
    }

    fn open(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    fn click(&self, css: &str) {
        let e = self.post("/element", json!({"using": "css selector", "value": css}));
        let id = e[ELEMENT].as_str().unwrap().to_owned();
        self.post(&format!("/element/{id}/click"), json!({}));
    }

    /// Types `text` into the element `css`.
    fn type_into(&self, css: &str, text: &str) {
        let e = self.post("/element", json!({"using": "css selector", "value": css}));
        let id = e[ELEMENT].as_str().unwrap().to_owned();
        self.post(&format!("/element/{id}/value"), json!({ "text": text }));
    }

    /// Waits (bounded) until an element matches `css` (a page loaded after a redirect chain).
    fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let script = format!("return document.querySelector({}) !== null;", json!(css));
        while self.script(&script) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "{css} never appeared; the browser is at {}",
                self.get("/url")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The part of the page from the element `from` to the end of the element `to`, as PNG.
    fn region_png(&self, from: &str, to: &str) -> Vec<u8> {
        let script = format!(
            "const a = document.querySelector({}).getBoundingClientRect(); \
             const b = document.querySelector({}).getBoundingClientRect(); \
             return [window.scrollY + a.top, window.scrollY + b.bottom, \
                     document.documentElement.scrollWidth];",
            json!(from),
            json!(to)
        );
        let r = self.script(&script);
        let (top, bottom, w) = (
            r[0].as_f64().unwrap(),
            r[1].as_f64().unwrap(),
            r[2].as_f64().unwrap(),
        );
        let (top, bottom) = ((top - 12.0).max(0.0), bottom + 12.0);
        let shot = self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true,
                "clip": {"x": 0, "y": top, "width": w, "height": bottom - top, "scale": 1},
            }}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }

    /// The visible text of the first element matching `css` ("" when there is none).
    fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : '';",
            json!(css)
        );
        self.script(&script).as_str().unwrap_or("").to_owned()
    }

    /// Waits (bounded) until the element `css` shows text containing `needle`; returns the text.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text(css);
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {needle:?}; it shows {t:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}));
    }

    /// The whole page as PNG (beyond the viewport), through the DevTools protocol.
    fn full_page_png(&self) -> Vec<u8> {
        let size = self.script(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
        );
        let (w, h) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        let shot = self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1},
            }}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// The viewport as PNG (WebDriver's screenshot).
    fn viewport_png(&self) -> Vec<u8> {
        let shot = self.get("/screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.driver.http.delete(&self.session).send();
    }
}

fn save(dir: &Path, name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
}

#[test]
fn the_demo_page_tells_the_story_in_a_browser() {
    if std::env::var("CERTBOUND_SKIP_BROWSER").as_deref() == Ok("1") {
        println!("SKIPPED: the demo page browser test (CERTBOUND_SKIP_BROWSER=1)");
        return;
    }
    let chromium = on_path(&["chromium", "chromium-browser"]);
    let chromedriver = on_path(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        panic!(
            "this test drives Chromium through chromedriver, and they are not installed. \
             On Debian: apt-get install chromium chromium-driver \
             (or set CERTBOUND_SKIP_BROWSER=1 to skip it)"
        );
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shots = std::env::var_os("CERTBOUND_DEMO_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.clone());
    std::fs::create_dir_all(&shots).unwrap();

    let q = Quickstart::start();
    let a_thumb = q.thumbprint("partner-a");
    let b_thumb = q.thumbprint("partner-b");
    let driver = ChromeDriver::start(&chromedriver);
    let first = driver.browser(&chromium);
    first.resize(1280, 900);
    first.open(&q.home());
    assert_eq!(first.text("h1"), "Certificate-bound tokens, step by step");

    // 1. A plain token: no cnf.
    first.click("#plain-token");
    let plain = first.wait_text("#step-1 .result", "Not bound");
    assert!(plain.contains("partner-secret"), "{plain}");

    // 2. A bound token: cnf is partner-a's thumbprint, times are readable.
    first.click("#bound-token");
    first.wait_text("#step-2 .result", "Bound to the certificate used");
    assert_eq!(first.text("#bound-cnf"), a_thumb);
    let exp = first.text("#step-2 table");
    assert!(
        exp.contains("in 5 minutes") || exp.contains("in 4 minutes"),
        "exp in words: {exp}"
    );
    let exp_value = first
        .script(
            "for (const r of document.querySelectorAll('#step-2 tr')) { \
               if (r.querySelector('th').innerText === 'exp') \
                 return r.querySelector('td').firstChild.textContent.trim(); } return '';",
        )
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(is_rfc3339_utc(&exp_value), "exp as RFC 3339: {exp_value:?}");

    // 3. Through the gateway with partner-a's certificate: 201 and the API's answer.
    first.click("#call");
    first.wait_text("#step-3 .status", "201");
    assert_eq!(first.text("#step-3 .status"), "201 Created");
    let call = first.text("#step-3 .result");
    assert!(
        call.contains("\"client_id\": \"partner-a\"") && call.contains("tx-"),
        "{call}"
    );
    assert!(call.contains("The thumbprints are equal"), "{call}");
    assert!(call.contains("created_at is 20"), "readable time: {call}");

    // 4. Replayed with partner-b's certificate: 401 and the challenge, verbatim.
    first.click("#replay");
    first.wait_text("#step-4 .status", "401");
    assert_eq!(first.text("#step-4 .status"), "401 Unauthorized");
    let challenge = first.text("#www-authenticate");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let replay = first.text("#step-4 .result");
    assert!(
        replay.contains(&b_thumb) && replay.contains("CN=partner-b"),
        "{replay}"
    );
    assert!(replay.contains("The thumbprints differ"), "{replay}");
    let token = first
        .script("return document.querySelector('#step-2 pre.raw').textContent;")
        .as_str()
        .unwrap_or("")
        .to_owned();

    // Screenshots at both widths, and no horizontal scrolling at 400 px.
    first.open(&q.home());
    save(&tmp, "demo-1280-viewport.png", &first.viewport_png());
    save(&shots, "demo-1280.png", &first.full_page_png());
    first.resize(400, 900);
    first.open(&q.home());
    let widths = first.script("return [document.documentElement.scrollWidth, window.innerWidth];");
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(inner <= 420, "the window is not narrow: {inner} px");
    assert!(
        scroll <= inner,
        "horizontal scrolling at {inner} px: the page is {scroll} px wide"
    );
    save(&tmp, "demo-400-viewport.png", &first.viewport_png());
    save(&shots, "demo-400.png", &first.full_page_png());

    // A second browser (its own profile, so its own cookies) sees none of the first's results.
    let second = driver.browser(&chromium);
    second.open(&q.home());
    assert_eq!(second.text("#step-1 .result"), "No token yet.");
    assert_eq!(second.text("#step-2 .result"), "No token yet.");
    assert_eq!(second.text("#step-4 .result"), "Not replayed yet.");
    let source = second.script("return document.documentElement.outerHTML;");
    let source = source.as_str().unwrap();
    assert!(
        !source.contains(&a_thumb),
        "the second browser sees a token"
    );
    assert!(token.len() > 100 && !source.contains(&token));
    // Its step 3 without a bound token: the reason in words.
    second.click("#call");
    second.wait_text(
        "#step-3 .result",
        "there is no bound token yet: run step 2 first",
    );
    // And the first browser still has its own.
    first.open(&q.home());
    assert_eq!(first.text("#bound-cnf"), a_thumb);
}

/// The password the quickstart printed for alice.
fn alice_password(output: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.contains("alice, password "))
        .unwrap_or_else(|| panic!("no password for alice in {output}"));
    let rest = &line[line.find("alice, password ").unwrap() + 16..];
    rest.split_whitespace().next().unwrap().to_owned()
}

/// "Sign in as a user" in a real browser: the demo page sends Chromium to the authorization
/// server, which fills the login form (`username`, `password`, `#login-submit`) and consents
/// (`#consent-approve`) the way a person would, and lands back on the demo page with the user
/// token, the ID token, 201 through the gateway and 401 for the stolen token. Screenshots of that
/// part at 1280 and 400 px go to `$CERTBOUND_DEMO_SCREENSHOTS` as `demo-user-1280.png` and
/// `demo-user-400.png`.
#[test]
fn the_user_story_in_a_browser() {
    if std::env::var("CERTBOUND_SKIP_BROWSER").as_deref() == Ok("1") {
        println!("SKIPPED: the demo page browser test (CERTBOUND_SKIP_BROWSER=1)");
        return;
    }
    let chromium = on_path(&["chromium", "chromium-browser"]);
    let chromedriver = on_path(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        panic!(
            "this test drives Chromium through chromedriver, and they are not installed. \
             On Debian: apt-get install chromium chromium-driver \
             (or set CERTBOUND_SKIP_BROWSER=1 to skip it)"
        );
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shots = std::env::var_os("CERTBOUND_DEMO_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.clone());
    std::fs::create_dir_all(&shots).unwrap();

    let q = Quickstart::start();
    let password = alice_password(&q.process.output());
    let a_thumb = q.thumbprint("partner-a");
    let driver = ChromeDriver::start(&chromedriver);
    let b = driver.browser_with(&chromium, true);
    b.resize(1280, 900);
    b.open(&q.home());
    assert_eq!(b.text("#step-5 .result"), "Not signed in yet.");

    // 5. To the authorization server's login page, filled and sent like a person would.
    b.click("#user-sign-in");
    b.wait_for("input[name=username]");
    let at = b.get("/url");
    assert!(
        at.as_str().unwrap().starts_with("https://localhost:"),
        "{at}"
    );
    b.type_into("input[name=username]", "alice");
    b.type_into("input[name=password]", &password);
    b.click("#login-submit");
    b.wait_for("#consent-approve");
    b.click("#consent-approve");

    // Back on the demo page: 6 to 9 ran at the callback.
    b.wait_for("#step-7 .status");
    assert_eq!(b.text("#step-7 .status"), "201 Created");
    assert_eq!(b.text("#step-9 .status"), "401 Unauthorized");
    let s6 = b.text("#step-6 .result");
    assert!(s6.contains("Bound to the certificate used"), "{s6}");
    assert!(s6.contains(&a_thumb), "{s6}");
    let id_token = b.text("#id-token");
    assert!(
        id_token.contains("Alice Example") && id_token.contains("auth_time"),
        "{id_token}"
    );
    assert!(
        id_token.contains("ago") || id_token.contains("just now"),
        "readable times: {id_token}"
    );
    assert!(b
        .text("#same-grant")
        .contains("same user, client and scope"));
    let s9 = b.text("#step-9 .result");
    assert!(
        s9.contains("error=\"invalid_token\"") && s9.contains("CN=partner-b"),
        "{s9}"
    );
    let s5 = b.text("#step-5 .result");
    assert!(s5.contains("urn:ietf:params:oauth:request_uri:"), "{s5}");

    // Screenshots of the user story at both widths, and no horizontal scrolling at 400 px.
    save(
        &shots,
        "demo-user-1280.png",
        &b.region_png("#user", "#step-9"),
    );
    b.resize(400, 900);
    b.open(&q.home());
    let widths = b.script("return [document.documentElement.scrollWidth, window.innerWidth];");
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= inner,
        "horizontal scrolling at {inner} px: the page is {scroll} px wide"
    );
    save(
        &shots,
        "demo-user-400.png",
        &b.region_png("#user", "#step-9"),
    );
    b.script("document.querySelector('#step-6').scrollIntoView(); return null;");
    save(&tmp, "demo-user-400-viewport.png", &b.viewport_png());
}

/// The session id and the form token of a fresh session.
fn new_session(http: &reqwest::blocking::Client, home: &str) -> (String, String) {
    let r = http.get(home).send().unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let html = r.text().unwrap();
    let start = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let len = html[start..].find('"').unwrap();
    (pair, html[start..start + len].to_owned())
}

#[test]
fn the_forms_refuse_requests_from_elsewhere() {
    let q = Quickstart::start();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = q.home();
    let base = format!("http://127.0.0.1:{}", q.demo);
    let (cookie, csrf) = new_session(&http, &home);
    let (other_cookie, _) = new_session(&http, &home);
    let post = |path: &str, cookie: Option<&str>, csrf: Option<&str>, origin: Option<&str>| {
        let mut r = http.post(format!("{base}{path}"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r = match csrf {
            Some(t) => r.form(&[("csrf", t)]),
            None => r.form(&[("other", "x")]),
        };
        r.send().unwrap()
    };
    let page = |cookie: &str| {
        http.get(&home)
            .header("cookie", cookie)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };

    // Refused: no form token, another session's cookie, another origin.
    let r = post("/step/plain-token", Some(&cookie), None, None);
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("was refused"));
    assert_eq!(
        post("/step/plain-token", Some(&other_cookie), Some(&csrf), None).status(),
        403
    );
    assert_eq!(
        post(
            "/step/plain-token",
            Some(&cookie),
            Some(&csrf),
            Some("http://evil.example")
        )
        .status(),
        403
    );
    // No session at all: back to the page, nothing run.
    let r = post("/step/plain-token", None, Some(&csrf), None);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/home");
    assert!(page(&cookie).contains("No token yet."));

    // The page's own form: run, then back to the page at that step.
    let own = format!("http://127.0.0.1:{}", q.demo);
    let r = post("/step/bound-token", Some(&cookie), Some(&csrf), Some(&own));
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/home#step-2");
    let r = post("/step/replay", Some(&cookie), Some(&csrf), Some(&own));
    assert_eq!(r.headers()["location"], "/home#step-4");
    let html = page(&cookie);
    assert!(html.contains(&q.thumbprint("partner-a")), "{html}");
    // The challenge is shown escaped, never as markup.
    assert!(html.contains("error=&#34;invalid_token&#34;"), "{html}");
    assert!(!html.contains("error=\"invalid_token\""), "{html}");
    // The other session saw nothing of it.
    assert!(!page(&other_cookie).contains(&q.thumbprint("partner-a")));

    // Start over forgets this session's results.
    assert_eq!(
        post("/reset", Some(&cookie), Some(&csrf), Some(&own)).status(),
        303
    );
    assert_eq!(page(&cookie).matches("No token yet.").count(), 2);
}
