//! The gateway's admin listener with `[admin] bearer_token_file` (issue 13, finding 14): a token
//! file readable by others stops the start with the fix in the message; with a 0600 file,
//! `/metrics` needs the token and the probes stay open. Real gateway on 127.0.0.1.

#![cfg(unix)]

use certbound_gateway::config::GatewayConfig;
use certbound_testkit::*;
use std::os::unix::fs::PermissionsExt;
use tokio::net::TcpListener;

const TOKEN: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";

/// The gateway's configuration with an admin listener protected by `admin.token` (relative to
/// the configuration's directory); its AS is not there, which does not matter here.
async fn config(pki: &Pki) -> (GatewayConfig, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        "[listen]\nhttps = \"{gw}\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n\
         [authorization_server]\nissuer = \"https://127.0.0.1:9\"\nca = \"ca.pem\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\nbearer_token_file = \"admin.token\"\n\
         [[routes]]\npath_prefix = \"/api/\"\nupstream = \"http://127.0.0.1:9\"\n",
        gw = listener.local_addr().unwrap(),
    );
    let config = GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).unwrap();
    (config, listener)
}

#[tokio::test]
async fn a_token_file_readable_by_others_stops_the_start_and_says_how_to_fix_it() {
    let pki = Pki::new();
    let file = pki.path("admin.token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (config, listener) = config(&pki).await;
    let e = certbound_gateway::start_on(config, listener)
        .await
        .err()
        .expect("a group-readable admin token was accepted")
        .to_string();
    assert!(e.contains("admin.token") && e.contains("chmod 600"), "{e}");
}

#[tokio::test]
async fn metrics_need_the_token_and_the_probes_do_not() {
    let pki = Pki::new();
    let file = pki.path("admin.token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (config, listener) = config(&pki).await;
    let gateway = certbound_gateway::start_on(config, listener).await.unwrap();
    let admin = format!("http://{}", gateway.admin_addr.unwrap());
    let http = reqwest::Client::new();

    let r = http.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"certbound-admin\""
    );
    let r = http
        .get(format!("{admin}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("certbound_open_connections{listener=\"admin\"}"));
    // Probes answer without the token (the AS is not there: not ready, but not refused).
    let r = http.get(format!("{admin}/livez")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
}
