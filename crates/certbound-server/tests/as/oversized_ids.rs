//! Attacker-sized client ids: a `client_id` (form or Basic user name) longer than any registered
//! one is answered like an unknown client (401 `invalid_client`), counted under its own reason,
//! never tracked by a per-client limit (so it can neither fill the limiter's memory nor lock a
//! real client out), and the real client keeps working.

use crate::support::*;
use base64::Engine;

const SECRET: &str = "s3cret-for-oversized-tests-0123456789";

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// The sum of the samples of `name` whose labels include every `label="value"` of `labels`.
async fn metric(s: &TestServer, name: &str, labels: &[&str]) -> f64 {
    let admin = s.server.admin_addr.expect("admin listener");
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn over_long_client_ids_are_unknown_clients_and_never_tracked() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &format!(
            r#"
[admin]
listen = "127.0.0.1:0"
[rate_limit]
failed_auth_per_address = {{ per_second = 100.0, burst = 10000 }}
failed_auth_per_client = {{ per_second = 0.01, burst = 2 }}
[[clients]]
client_id = "basic-c"
token_endpoint_auth_method = "client_secret_basic"
client_secret = "{SECRET}"
scope = "read"
"#
        ),
    )
    .await;
    let http = s.http(None);
    let cc = [("grant_type", "client_credentials")];
    // 40 wrong secrets for one over-long id from one address: each gets the unknown-client
    // answer; none is limited per client id (the per-client burst is 2): the id is not tracked.
    let id = "basic-c".repeat(1000);
    for i in 0..40 {
        let r = if i % 2 == 0 {
            TestServer::read(
                http.post(s.token_url())
                    .header("authorization", basic(&id, "wrong"))
                    .form(&cc)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        } else {
            s.post(
                &http,
                &s.token_url(),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", "wrong"),
                ],
            )
            .await
        };
        r.assert_error(401, "invalid_client");
        assert_eq!(r.json["error_description"], "client authentication failed");
    }
    assert_eq!(
        metric(
            &s,
            "certbound_client_authentications_total",
            &["decision=\"deny\"", "reason=\"client_id_too_long\""]
        )
        .await,
        40.0
    );
    assert_eq!(
        metric(&s, "certbound_rate_limited_total", &[]).await,
        0.0,
        "an over-long id was limited per client"
    );
    // 255 bytes can still be an id (unknown here); 256 cannot.
    for (len, reason) in [(255, "unknown_client"), (256, "client_id_too_long")] {
        let id = "u".repeat(len);
        let r = s
            .post(
                &http,
                &s.token_url(),
                &[("grant_type", "client_credentials"), ("client_id", &id)],
            )
            .await;
        r.assert_error(401, "invalid_client");
        let seen = metric(
            &s,
            "certbound_client_authentications_total",
            &[&format!("reason=\"{reason}\"")],
        )
        .await;
        assert!(seen >= 1.0, "{len} bytes: no {reason}");
    }
    // The registered client is not locked out by any of it.
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
}
