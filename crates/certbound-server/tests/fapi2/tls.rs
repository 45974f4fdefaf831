//! The TLS half of `FAPI2SPFinalEnsureHolderOfKeyRequired` (FAPI 2.0 SP §5.2.1, §5.2.2,
//! §5.2.3; FAPI2.md N2, N3, N6, N8, N10), probed with `openssl s_client` (an implementation we
//! did not write) against both listeners, and the browser endpoints' HSTS and CORS headers.
//! The gateway's listener is probed in crates/certbound-gateway/tests/tls_probes.rs.

use crate::fixture::*;
use certbound_testkit::tls_probe::assert_fapi_tls;

/// `FAPI2SPFinalEnsureHolderOfKeyRequired`, its TLS checks (`DisallowTLS10`, `DisallowTLS11`,
/// `EnsureTLS12RequireBCP195Ciphers`, `RequireOnlyBCP195RecommendedCiphersForTLS12`,
/// `EnsureTLS13PreferredOverTLS12`; FAPI 2.0 SP §5.2.1-2/-3, §5.2.2-1, §5.2.3-2): on the
/// conventional listener (authorization, token, PAR, userinfo) and the mTLS listener (the
/// aliases): TLS 1.0 and 1.1 refused, TLS 1.2 with CBC, RSA key exchange or DHE refused, TLS 1.2
/// with ECDHE-ECDSA-AES128-GCM-SHA256 accepted, TLS 1.3 chosen when both are offered.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_holder_of_key_required_tls_probes() {
    let suite = Suite::start().await;
    let c = suite.client(ClientAuth::Mtls, Constrain::Mtls, 1);
    std::fs::write(suite.pki.path("probe.pem"), c.cert.chain_pem()).unwrap();
    std::fs::write(suite.pki.path("probe.key"), &c.cert.key_pem).unwrap();
    let dir = suite.pki.dir.path();
    assert_fapi_tls(suite.s.server.https_addr, dir, "conventional listener").await;
    assert_fapi_tls(suite.s.server.mtls_addr.unwrap(), dir, "mTLS listener").await;
}

/// FAPI 2.0 SP §5.2.3-1 and -3 (FAPI2.md N8, N10): the authorization endpoint and the login
/// page carry `Strict-Transport-Security` with `max-age` ≥ 1 year and `includeSubDomains`;
/// `/authorize` never answers with `Access-Control-Allow-*`, not even to a CORS preflight.
#[tokio::test]
async fn fapi2_security_profile_final_browser_endpoints_hsts_and_no_cors() {
    let suite = Suite::start().await;
    let one = suite.client(ClientAuth::Mtls, Constrain::Mtls, 1);
    let r = suite
        .par(one, &AuthRequest::new(true), Opts::default())
        .await;
    let url = suite.authorize_url(&one.id, r.json["request_uri"].as_str().unwrap());
    let mut b = suite.browser();
    let first = b.get(&url).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let login = b.follow(first).await;
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let bad = b
        .get(&format!("{}/authorize?client_id=nobody", suite.s.issuer))
        .await;
    for (what, headers) in [
        ("/authorize", b.get(&url).await.headers),
        ("the login page", login.headers.clone()),
        ("the error page", bad.headers),
    ] {
        let hsts = headers
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{what}: HSTS"))
            .to_str()
            .unwrap()
            .to_owned();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {hsts}"));
        assert!(max_age >= 31_536_000, "{what}: {hsts}");
        assert!(hsts.contains("includeSubDomains"), "{what}: {hsts}");
        assert_no_cors(&headers, what);
    }
    let http = suite.s.http(None);
    for method in [
        reqwest::Method::OPTIONS,
        reqwest::Method::GET,
        reqwest::Method::POST,
    ] {
        let r = http
            .request(method.clone(), format!("{}/authorize", suite.s.issuer))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_no_cors(r.headers(), &format!("{method} /authorize with Origin"));
    }
}

fn assert_no_cors(headers: &reqwest::header::HeaderMap, what: &str) {
    for name in headers.keys() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{what}: {name} present"
        );
    }
}
