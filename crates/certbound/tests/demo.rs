//! The whole system from the user's side: `certbound quickstart` starts the AS, gateway, sample
//! API and demo client; the story it prints, the demo client's buttons, `certbound call` through
//! the gateway, and the sample API on its own.

use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use std::path::PathBuf;
use std::process::Command;

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

/// A running `certbound quickstart`, killed on drop.
struct Quickstart {
    process: Process,
    dir: tempfile::TempDir,
    port: u16,
    gateway: u16,
    api: u16,
    demo: u16,
}

impl Quickstart {
    fn start() -> Quickstart {
        let dir = tempfile::tempdir().unwrap();
        let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
        let process = Process::spawn(
            certbound()
                .args(["quickstart", "--admin-port", "0", "--dir"])
                .arg(dir.path().join("dev"))
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
        process.wait_for("Ctrl-C stops everything");
        Quickstart {
            process,
            dir,
            port,
            gateway,
            api,
            demo,
        }
    }

    fn output(&self) -> String {
        self.process.output()
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join("dev").join(rel)
    }
}

fn thumbprint(path: &std::path::Path) -> String {
    let out = certbound()
        .args(["pki", "thumbprint"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().last().unwrap_or("").to_owned()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap()
}

#[test]
fn the_whole_system_from_the_quickstart() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let q = Quickstart::start();
    let story = q.output();
    let a_thumb = thumbprint(&q.p("pki/partner-a.pem"));
    assert_eq!(a_thumb.len(), 43, "{a_thumb}");
    assert!(
        story.contains(&format!("bound to x5t#S256 {a_thumb}")),
        "{story}"
    );
    assert!(
        story.contains("through the gateway with the same certificate: 201 Created"),
        "{story}"
    );
    assert!(story.contains("certificate: 401 Unauthorized"), "{story}");
    assert!(story.contains("error=\"invalid_token\""), "{story}");

    // The demo client's page and its four steps (clicked in a browser in tests/demo_browser.rs).
    let demo = format!("http://127.0.0.1:{}", q.demo);
    let page = http()
        .get(format!("{demo}/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for button in [
        "Get a plain token",
        "Get a bound token",
        "Call the API",
        "Replay the token",
    ] {
        assert!(page.contains(button), "{button}: {page}");
    }
    assert!(
        page.contains(&format!("https://localhost:{}/api/transactions", q.gateway)),
        "the page names the API it calls: {page}"
    );
    assert_eq!(
        http()
            .get(format!("{demo}/health"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // certbound call through the gateway, then the same token with partner-b's certificate.
    let issuer = format!("https://localhost:{}", q.port);
    let api = format!("https://localhost:{}/api/transactions", q.gateway);
    let call = |who: &str, token: Option<&str>| {
        let mut c = certbound();
        c.args(["call", "--issuer", &issuer, "--client-id", who, "--cacert"])
            .arg(q.p("pki/ca.pem"))
            .arg("--cert")
            .arg(q.p(&format!("pki/{who}.pem")))
            .arg("--key")
            .arg(q.p(&format!("pki/{who}.key")));
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c.arg(&api).output().unwrap()
    };
    let ok = call("partner-a", None);
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        ok.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("201 Created") && text.contains("\"client_id\":\"partner-a\""),
        "{text}"
    );

    let token = certbound()
        .args([
            "token",
            "--quiet",
            "--issuer",
            &issuer,
            "--client-id",
            "partner-a",
            "--cacert",
        ])
        .arg(q.p("pki/ca.pem"))
        .arg("--cert")
        .arg(q.p("pki/partner-a.pem"))
        .arg("--key")
        .arg(q.p("pki/partner-a.key"))
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let stolen = call("partner-b", Some(&token));
    let text = String::from_utf8_lossy(&stolen.stdout).to_string();
    assert!(!stolen.status.success());
    assert!(
        text.contains("401 Unauthorized") && text.contains("error=\"invalid_token\""),
        "{text}"
    );

    // The same replay with curl, the way a newcomer tries it: over HTTP/2 with a body, the 401
    // arrives every time. (Found: the gateway answered before reading the body, and curl then
    // reported "stream error in the HTTP/2 framing layer" for most attempts.)
    for protocol in ["--http2", "--http1.1"] {
        for attempt in 0..8 {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    protocol,
                    "--cacert",
                ])
                .arg(q.p("pki/ca.pem"))
                .arg("--cert")
                .arg(q.p("pki/partner-b.pem"))
                .arg("--key")
                .arg(q.p("pki/partner-b.key"))
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .args(["-H", "Content-Type: application/json"])
                .args(["-d", r#"{"amount": 100, "currency": "EUR"}"#])
                .arg(&api)
                .output()
                .expect("curl runs");
            let code = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success() && code == "401",
                "{protocol} attempt {attempt}: curl exit {:?}, status {code}",
                out.status.code()
            );
        }
    }

    // The sample API on its own verifies the JWT (and sees no certificate).
    let direct = format!("http://127.0.0.1:{}/api/transactions", q.api);
    let r = http()
        .post(&direct)
        .bearer_auth(&token)
        .json(&serde_json::json!({"amount": 5}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http()
        .post(&direct)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"sample-api\""
    );
    let mut tampered = token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    let r = http().post(&direct).bearer_auth(&tampered).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let list: serde_json::Value = http()
        .get(&direct)
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        list["transactions"].as_array().unwrap().len() >= 3,
        "{list}"
    );
}

/// Cookies by host, as a browser keeps them (enough for these two sites: name=value, no paths).
#[derive(Default)]
struct Jar(std::collections::HashMap<String, Vec<(String, String)>>);

impl Jar {
    fn store(&mut self, url: &str, r: &reqwest::blocking::Response) {
        let host = url::Url::parse(url).unwrap().host_str().unwrap().to_owned();
        let cookies = self.0.entry(host).or_default();
        for v in r.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn header(&self, url: &str) -> String {
        let host = url::Url::parse(url).unwrap().host_str().unwrap().to_owned();
        self.0
            .get(&host)
            .map(|c| {
                c.iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }
}

/// A browser without JavaScript: follows nothing by itself, keeps cookies, trusts the dev CA.
struct Browser {
    http: reqwest::blocking::Client,
    jar: Jar,
}

impl Browser {
    fn new(ca: &std::path::Path) -> Browser {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        Browser {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .add_root_certificate(ca)
                .build()
                .unwrap(),
            jar: Jar::default(),
        }
    }

    fn origin(url: &str) -> String {
        url::Url::parse(url).unwrap().origin().ascii_serialization()
    }

    fn get(&mut self, url: &str) -> reqwest::blocking::Response {
        let r = self
            .http
            .get(url)
            .header("cookie", self.jar.header(url))
            .send()
            .unwrap();
        self.jar.store(url, &r);
        r
    }

    fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        let r = self
            .http
            .post(url)
            .header("cookie", self.jar.header(url))
            .header("origin", Self::origin(url))
            .form(form)
            .send()
            .unwrap();
        self.jar.store(url, &r);
        r
    }

    /// The absolute URL of a 303's `Location`, relative to `from`.
    fn location(from: &str, r: &reqwest::blocking::Response) -> String {
        assert_eq!(r.status(), 303, "from {from}");
        let location = r.headers()["location"].to_str().unwrap();
        url::Url::parse(from)
            .unwrap()
            .join(location)
            .unwrap()
            .to_string()
    }
}

/// The value of the hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_owned()
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

/// The user story of the demo page, driven by hand through the real quickstart: the demo
/// backend pushes the request, the "browser" follows each redirect, signs in as alice and
/// consents; back at the callback the page shows the user token, the ID token, 201 through the
/// gateway, the refresh and 401 for the stolen token. Then the callback cannot be replayed.
#[test]
fn the_user_story_without_a_browser() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let q = Quickstart::start();
    let output = q.output();
    let password = alice_password(&output);
    assert!(password.len() >= 16, "{output}");
    assert!(output.contains("Sign in as a user"), "{output}");
    let mut b = Browser::new(&q.p("pki/ca.pem"));
    let demo = format!("http://127.0.0.1:{}", q.demo);
    let home = format!("{demo}/home");
    let issuer = format!("https://localhost:{}", q.port);

    let page = b.get(&home).text().unwrap();
    assert!(page.contains("Sign in as a user"), "{page}");
    let csp = b.get(&home);
    let csp = csp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {issuer};")),
        "{csp}"
    );
    let csrf = csrf_of(&page);

    // 5. The backend pushes the request; the browser is sent with client_id and request_uri only.
    let r = b.post(&format!("{demo}/user/start"), &[("csrf", &csrf)]);
    let authorize = Browser::location(&format!("{demo}/user/start"), &r);
    let url = url::Url::parse(&authorize).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{issuer}/authorize")
    );
    let params: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(params, ["client_id", "request_uri"], "{authorize}");
    assert!(authorize.contains("client_id=partner-web"), "{authorize}");

    // Login and consent at the authorization server.
    let r = b.get(&authorize);
    let interaction = Browser::location(&authorize, &r);
    let login = b.get(&interaction).text().unwrap();
    assert!(login.contains("name=\"password\""), "{login}");
    let action = format!("{interaction}/login");
    let r = b.post(
        &action,
        &[
            ("csrf", &csrf_of(&login)),
            ("username", "alice"),
            ("password", &password),
        ],
    );
    assert_eq!(Browser::location(&action, &r), interaction);
    let consent = b.get(&interaction).text().unwrap();
    assert!(consent.contains("consent-approve"), "{consent}");
    let action = format!("{interaction}/consent");
    let r = b.post(
        &action,
        &[
            ("csrf", &csrf_of(&consent)),
            ("decision", "allow"),
            ("remember", "yes"),
        ],
    );
    assert_eq!(Browser::location(&action, &r), interaction);
    let r = b.get(&interaction);
    let callback = Browser::location(&interaction, &r);
    assert!(
        callback.starts_with(&format!("{demo}/callback?code=")),
        "{callback}"
    );
    assert!(
        callback.contains("iss=https%3A%2F%2Flocalhost"),
        "{callback}"
    );

    // 6-9 at the callback, then the page.
    let r = b.get(&callback);
    assert_eq!(
        Browser::location(&callback, &r),
        format!("{demo}/home#step-6")
    );
    let page = b.get(&home).text().unwrap();
    let section = |n: u32| {
        let start = page.find(&format!("id=\"step-{n}\"")).unwrap();
        let end = page[start..].find("</section>").unwrap();
        page[start..start + end].to_owned()
    };
    let a_thumb = thumbprint(&q.p("pki/partner-a.pem"));
    let s6 = section(6);
    assert!(s6.contains("Bound to the certificate used"), "{s6}");
    assert!(s6.contains(&a_thumb), "{s6}");
    assert!(s6.contains("partner-web"), "{s6}");
    assert!(
        s6.contains("ID token") && s6.contains("Alice Example"),
        "{s6}"
    );
    assert!(
        s6.contains("nonce equals the one this sign-in sent"),
        "{s6}"
    );
    assert!(s6.contains("auth_time"), "{s6}");
    let s7 = section(7);
    assert!(s7.contains("201 Created"), "{s7}");
    let s8 = section(8);
    assert!(s8.contains("same user, client and scope"), "{s8}");
    let s9 = section(9);
    assert!(s9.contains("401 Unauthorized"), "{s9}");
    assert!(
        s9.contains("invalid_token") && s9.contains("CN=partner-b"),
        "{s9}"
    );
    // The refresh token never reaches the browser.
    assert!(s6.contains("never shows it"), "{s6}");

    // The callback is used once: replayed, it is refused and the results are replaced by why.
    let r = b.get(&callback);
    assert_eq!(r.status(), 303);
    let page = b.get(&home).text().unwrap();
    assert!(
        page.contains("no sign-in was started in this browser"),
        "{page}"
    );
}
