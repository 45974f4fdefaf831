//! Durability of the embedded SQLite store: `kill -9` of a server under load loses no committed
//! token, revocation, client or key, and the restart needs no repair.

use certbound_testkit::process::{free_port_pair, quickstart_client, Output, Process};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn serve(config: &Path) -> Process {
    let p = Process::spawn(
        certbound().args(["serve", "--config"]).arg(config),
        Output::Stderr,
    );
    p.wait_for("authorization server started");
    p
}

fn client(dir: &Path, cert: &str) -> reqwest::blocking::Client {
    quickstart_client(dir, Some(cert))
}

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

#[test]
fn kill_9_under_load_loses_nothing_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let port = free_port_pair();
    let out = certbound()
        .args([
            "quickstart",
            "--no-serve",
            "--admin-port",
            "0",
            "--port",
            &port.to_string(),
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut config = std::fs::read_to_string(dir.join("certbound.toml")).unwrap();
    config.push_str("\n[[clients]]\nclient_id = \"opaque-b\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=partner-b,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\nscope = \"transactions\"\n");
    std::fs::write(dir.join("certbound.toml"), config).unwrap();
    let config = dir.join("certbound.toml");
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", port + 1);

    let server = serve(&config);
    let jwks_before = jwks(&dir, port);
    // A client added at run time must survive too.
    std::fs::write(dir.join("late.json"), r#"{"client_id":"late","token_endpoint_auth_method":"client_secret_basic","client_secret":"late-client-secret-0123456789"}"#).unwrap();
    assert!(certbound()
        .args(["clients", "add", "--config"])
        .arg(&config)
        .arg("--metadata")
        .arg(dir.join("late.json"))
        .status()
        .unwrap()
        .success());

    // Load: 4 threads issuing opaque tokens and revoking every third, recording what was acknowledged.
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let revoked = Arc::new(Mutex::new(Vec::<String>::new()));
    // A revocation sent but not acknowledged (the kill came first) may or may not have committed.
    let in_doubt = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (issued, revoked, in_doubt, stop, dir) = (
                issued.clone(),
                revoked.clone(),
                in_doubt.clone(),
                stop.clone(),
                dir.clone(),
            );
            let (token_url, revoke_url) = (url("/token"), url("/revoke"));
            std::thread::spawn(move || {
                let http = client(&dir, "partner-b");
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = http
                        .post(&token_url)
                        .form(&[
                            ("grant_type", "client_credentials"),
                            ("client_id", "opaque-b"),
                        ])
                        .send()
                    else {
                        break;
                    };
                    let Ok(v) = r.json::<serde_json::Value>() else {
                        break;
                    };
                    let Some(t) = v["access_token"].as_str().map(str::to_owned) else {
                        continue;
                    };
                    issued.lock().unwrap().push(t.clone());
                    n += 1;
                    if n.is_multiple_of(3) {
                        match http
                            .post(&revoke_url)
                            .form(&[("client_id", "opaque-b"), ("token", t.as_str())])
                            .send()
                        {
                            Ok(r) if r.status() == 200 => revoked.lock().unwrap().push(t),
                            _ => {
                                in_doubt.lock().unwrap().push(t);
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while issued.lock().unwrap().len() < 60 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // kill -9 while requests are in flight.
    let mut server = server;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let issued = issued.lock().unwrap().clone();
    let revoked = revoked.lock().unwrap().clone();
    let in_doubt = in_doubt.lock().unwrap().clone();
    assert!(issued.len() >= 20, "load produced {} tokens", issued.len());

    // Restart on the same file: no repair step.
    let _server = serve(&config);
    let http = client(&dir, "partner-b");
    for t in issued.iter().filter(|t| !in_doubt.contains(t)) {
        let v: serde_json::Value = http
            .post(url("/introspect"))
            .form(&[("client_id", "opaque-b"), ("token", t.as_str())])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let expect_active = !revoked.contains(t);
        assert_eq!(
            v["active"],
            expect_active,
            "an acknowledged {} was lost",
            if expect_active { "token" } else { "revocation" }
        );
    }
    assert_eq!(
        jwks(&dir, port),
        jwks_before,
        "the same signing keys after the crash"
    );
    let late = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(dir.join("pki/ca.pem")).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap()
        .post(format!("https://127.0.0.1:{port}/token"))
        .basic_auth("late", Some("late-client-secret-0123456789"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(late.status(), 200, "the client added at run time survived");
}

fn jwks(dir: &Path, port: u16) -> serde_json::Value {
    quickstart_client(dir, None)
        .get(format!("https://127.0.0.1:{port}/jwks"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}
