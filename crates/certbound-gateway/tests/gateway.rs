//! Black-box tests of the gateway: the real AS, the real gateway and a real upstream on
//! 127.0.0.1, with real TLS and client certificates.

use base64::Engine;
use certbound_gateway::config::GatewayConfig;
use certbound_pki::IssuedCertificate;
use certbound_testkit::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the upstream saw of the last request.
#[derive(Default, Clone)]
struct Seen {
    headers: Vec<(String, String)>,
    count: u32,
}

async fn upstream() -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let app = axum::Router::new()
        .route(
            "/slow/wait",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .fallback(move |req: axum::extract::Request| {
            let record = record.clone();
            async move {
                let mut s = record.lock().unwrap();
                s.count += 1;
                s.headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"path": req.uri().path()})),
                )
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Setup {
    pki: Pki,
    auth: TestServer,
    gateway: certbound_gateway::RunningGateway,
    seen: Arc<Mutex<Seen>>,
}

const SECRET: &str = "gateway-test-secret-0123456789";

async fn setup() -> Setup {
    let pki = Pki::new();
    let mut clients = tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    );
    clients.push_str(&tls_client(
        "partner-b",
        "tls_client_auth_subject_dn",
        "CN=partner-b,O=Example",
    ));
    clients.push_str("[[clients]]\nclient_id = \"opaque-a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=opaque-a,O=Example\"\ntls_client_certificate_bound_access_tokens = true\naccess_token_format = \"opaque\"\nscope = \"transactions\"\n");
    clients.push_str(&format!("[[clients]]\nclient_id = \"secret-c\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\nscope = \"read\"\n"));
    clients.push_str("[[clients]]\nclient_id = \"gateway\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=gateway,O=Example\"\nresource_server = true\ngrant_types = []\n");
    let auth = TestServer::start(&pki, &clients).await;

    let gw_cert = pki.client("gateway", "Example");
    std::fs::write(pki.path("gateway.pem"), &gw_cert.cert_pem).unwrap();
    std::fs::write(pki.path("gateway.key"), &gw_cert.key_pem).unwrap();
    let (up, seen) = upstream().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let toml = format!(
        r#"
[listen]
https = "{gw}"
[tls]
cert = "server.pem"
key = "server.key"
[authorization_server]
issuer = "{issuer}"
ca = "ca.pem"
client_id = "gateway"
client_cert = "gateway.pem"
client_key = "gateway.key"
introspection_cache_seconds = 1
[admin]
listen = "127.0.0.1:0"
[proxy]
response_timeout_seconds = 1
[[routes]]
path_prefix = "/api/"
upstream = "http://{up}"
scopes = ["transactions"]
[[routes]]
path_prefix = "/open/"
upstream = "http://{up}"
require_bound_token = false
[[routes]]
path_prefix = "/scoped/"
upstream = "http://{up}"
require_bound_token = false
scopes = ["admin"]
[[routes]]
path_prefix = "/slow/"
upstream = "http://{up}"
require_bound_token = false
[[routes]]
path_prefix = "/down/"
upstream = "http://127.0.0.1:1"
require_bound_token = false
"#,
        gw = listener.local_addr().unwrap(),
        issuer = auth.issuer,
    );
    let config =
        GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).expect("gateway config");
    let gateway = certbound_gateway::start_on(config, listener)
        .await
        .expect("gateway starts");
    Setup {
        pki,
        auth,
        gateway,
        seen,
    }
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.gateway.addr.port())
    }

    async fn call(
        &self,
        cert: Option<&IssuedCertificate>,
        path: &str,
        token: Option<&str>,
    ) -> Response {
        let mut req = self
            .auth
            .http(cert)
            .post(self.url(path))
            .json(&json!({"amount": 10}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        TestServer::read(req.send().await.expect("request reaches the gateway")).await
    }

    async fn token(&self, cert: &IssuedCertificate, client_id: &str) -> String {
        let r = self.auth.mtls_token(cert, client_id).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["access_token"].as_str().unwrap().to_owned()
    }

    async fn secret_token(&self) -> String {
        let r = self
            .auth
            .http(None)
            .post(self.auth.token_url())
            .basic_auth("secret-c", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        TestServer::read(r).await.json["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn assert_invalid_token(r: &Response) {
    assert_eq!(r.status, 401, "{}", r.json);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn a_bound_jwt_with_its_certificate_reaches_the_upstream_as_a_jwt() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let token = s.token(&a, "partner-a").await;
    let r = s
        .auth
        .http(Some(&a))
        .post(s.url("/api/transactions"))
        .bearer_auth(&token)
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-client-cert", "forged")
        .header("x-ssl-client-s-dn", "CN=admin")
        .json(&json!({"amount": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let seen = s.seen.lock().unwrap().clone();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert!(seen
        .header("forwarded")
        .unwrap()
        .starts_with("for=127.0.0.1;proto=https"));
    assert_eq!(seen.header("x-client-cert"), None);
    assert_eq!(seen.header("x-ssl-client-s-dn"), None);
}

#[tokio::test]
async fn a_stolen_token_fails_with_another_certificate() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let b = s.pki.client("partner-b", "Example");
    let token = s.token(&a, "partner-a").await;
    assert_invalid_token(&s.call(Some(&b), "/api/transactions", Some(&token)).await);
    // Also with a certificate carrying partner-a's own subject but another key.
    let twin = s.pki.client("partner-a", "Example");
    assert_invalid_token(&s.call(Some(&twin), "/api/transactions", Some(&token)).await);
    assert_eq!(
        s.seen.lock().unwrap().count,
        0,
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn unbound_tokens_scopes_and_missing_tokens() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let plain = s.secret_token().await;
    // Unbound token on a route that requires binding.
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some(&plain)).await);
    // Accepted on a route that does not.
    assert_eq!(s.call(Some(&a), "/open/x", Some(&plain)).await.status, 201);
    // Missing scope.
    let r = s.call(Some(&a), "/scoped/x", Some(&plain)).await;
    assert_eq!(r.status, 403);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
    // No token: a challenge without an error code (RFC 6750 §3.1).
    let r = s.call(Some(&a), "/api/transactions", None).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=") && !challenge.contains("error="),
        "{challenge}"
    );
    // A token in the query string is refused.
    let q = s
        .auth
        .http(Some(&a))
        .get(s.url(&format!("/open/x?access_token={plain}")))
        .send()
        .await
        .unwrap();
    assert!(q.status() == 400 || q.status() == 401, "{}", q.status());
    // Unknown route, dot segments.
    assert_eq!(s.call(Some(&a), "/nowhere", Some(&plain)).await.status, 404);
    let r = s
        .auth
        .http(Some(&a))
        .get(s.url("/open/x%2F..%2Fapi/transactions"))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn opaque_tokens_are_introspected_once_then_cached_and_revocation_bites_after_the_cache() {
    let s = setup().await;
    let o = s.pki.client("opaque-a", "Example");
    let opaque = s.token(&o, "opaque-a").await;
    let introspector = s.gateway.introspector().expect("introspection configured");
    assert_eq!(
        s.call(Some(&o), "/api/transactions", Some(&opaque))
            .await
            .status,
        201
    );
    // The upstream received a JWT, not the opaque token.
    let forwarded = s
        .seen
        .lock()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_owned();
    let jwt = forwarded.strip_prefix("Bearer ").unwrap();
    assert_eq!(jwt.matches('.').count(), 2);
    assert_ne!(jwt, opaque);
    assert_eq!(
        jwt_parts(jwt).1["token_introspection"]["cnf"]["x5t#S256"],
        o.thumbprint().as_str()
    );
    let calls = introspector.as_calls();
    assert_eq!(calls, 1);
    assert_eq!(
        s.call(Some(&o), "/api/transactions", Some(&opaque))
            .await
            .status,
        201
    );
    assert_eq!(introspector.as_calls(), 1, "served from the cache");
    // The binding is still checked per request on a cached token.
    let b = s.pki.client("partner-b", "Example");
    assert_invalid_token(&s.call(Some(&b), "/api/transactions", Some(&opaque)).await);

    // Revoke at the AS; the cache (1 s here) bounds how long the token keeps working.
    let r = s
        .auth
        .post(
            &s.auth.http(Some(&o)),
            &s.auth.mtls("/revoke"),
            &[("client_id", "opaque-a"), ("token", &opaque)],
        )
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_invalid_token(&s.call(Some(&o), "/api/transactions", Some(&opaque)).await);
    // An unknown opaque token.
    assert_invalid_token(
        &s.call(Some(&o), "/api/transactions", Some("definitely-not-issued"))
            .await,
    );
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let real = s.token(&a, "partner-a").await;
    let (header, claims) = jwt_parts(&real);
    // alg none.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt"})),
        b64(&claims)
    );
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some(&none)).await);
    // The real header and claims with someone else's signature.
    let parts: Vec<&str> = real.split('.').collect();
    let other = s
        .token(&s.pki.client("partner-b", "Example"), "partner-b")
        .await;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        other.split('.').nth(2).unwrap()
    );
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some(&forged)).await);
    // Claims altered (a different cnf) under the original signature.
    let mut altered = claims.clone();
    altered["scope"] = json!("transactions admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(&altered), parts[2]);
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some(&tampered)).await);
    // An unknown kid.
    let mut h = header.clone();
    h["kid"] = json!("no-such-key");
    let unknown_kid = format!("{}.{}.{}", b64(&h), parts[1], parts[2]);
    assert_invalid_token(
        &s.call(Some(&a), "/api/transactions", Some(&unknown_kid))
            .await,
    );
    // Garbage.
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some("a.b.c")).await);
    // And the real token still works.
    assert_eq!(
        s.call(Some(&a), "/api/transactions", Some(&real))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn no_client_certificate_fails_the_handshake() {
    let s = setup().await;
    let r = s.auth.http(None).get(s.url("/health")).send().await;
    assert!(
        r.is_err(),
        "the gateway requires a client certificate in the handshake"
    );
    let a = s.pki.client("partner-a", "Example");
    assert_eq!(
        s.auth
            .http(Some(&a))
            .get(s.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let plain = s.secret_token().await;
    let r = s.call(Some(&a), "/down/x", Some(&plain)).await;
    assert_eq!(r.status, 502, "{}", r.json);
    let r = TestServer::read(
        s.auth
            .http(Some(&a))
            .get(s.url("/slow/wait"))
            .bearer_auth(&plain)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.json);
}

/// A JWT signed with the authorization server's active key, with `claims` as given (for
/// tokens the AS would never issue, such as an expired one).
fn signed_by_the_as(s: &Setup, claims: &Value) -> String {
    s.auth
        .server
        .state
        .keys
        .current()
        .active
        .sign_jwt(claims)
        .expect("signs")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn scrape(s: &Setup) -> String {
    let admin = s.gateway.admin_addr.expect("admin listener");
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_decisions_and_cache_lookups() {
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let b = s.pki.client("partner-b", "Example");
    let token = s.token(&a, "partner-a").await;
    for _ in 0..3 {
        assert_eq!(s.call(Some(&a), "/api/x", Some(&token)).await.status, 201);
    }
    // Replayed with another certificate: the headline signal.
    assert_invalid_token(&s.call(Some(&b), "/api/x", Some(&token)).await);
    // An expired token, genuinely signed by the AS (beyond the 30 s leeway).
    let (_, mut claims) = jwt_parts(&token);
    claims["exp"] = json!(now() - 120);
    claims["iat"] = json!(now() - 420);
    let expired = signed_by_the_as(&s, &claims);
    let r = s.call(Some(&a), "/api/x", Some(&expired)).await;
    assert_invalid_token(&r);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("token expired"));
    // A valid token without the route's scope.
    let plain = s.secret_token().await;
    assert_eq!(
        s.call(Some(&a), "/scoped/x", Some(&plain)).await.status,
        403
    );
    // No token at all.
    assert_eq!(s.call(Some(&a), "/api/x", None).await.status, 401);

    let text = scrape(&s).await;
    let value = |series: &str| sample(&text, series);
    for (reason, n) in [
        ("binding_mismatch", 1.0),
        ("expired", 1.0),
        ("insufficient_scope", 1.0),
        ("missing_token", 1.0),
        ("bad_signature", 0.0),
        ("not_ready", 0.0),
    ] {
        assert_eq!(
            value(&format!(
                "certbound_gateway_refused_total{{reason=\"{reason}\"}}"
            )),
            n,
            "{reason}"
        );
    }
    assert_eq!(
        value("certbound_gateway_token_checks_total{kind=\"allowed\"}"),
        3.0
    );
    assert_eq!(
        value("certbound_gateway_token_checks_total{kind=\"invalid_token\"}"),
        2.0
    );
    // One verification, then three cache hits (the binding is still checked on each).
    assert_eq!(
        value("certbound_cache_lookups_total{cache=\"gateway_jwt\",result=\"miss\"}"),
        3.0,
        "partner-a's token, the expired one, the scope-less one"
    );
    assert_eq!(
        value("certbound_cache_lookups_total{cache=\"gateway_jwt\",result=\"hit\"}"),
        3.0
    );
    assert_eq!(
        value(
            "certbound_http_requests_total{listener=\"gateway\",endpoint=\"/api/\",status=\"201\"}"
        ),
        3.0
    );
    assert_eq!(
        value("certbound_open_connections{listener=\"gateway\"}"),
        0.0,
        "every test client's connection is closed once its response is read"
    );
    assert_eq!(
        value("certbound_gateway_authorization_server_discovered "),
        1.0
    );
    assert!(
        text.contains(&format!(
            "certbound_build_info{{version=\"{}\",process=\"gateway\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    // The gateway's server certificate and the CA it trusts for the AS, with their real notAfter.
    let server = text
        .lines()
        .find(|l| l.starts_with("certbound_certificate_expiry_timestamp_seconds{role=\"server\""))
        .unwrap_or_else(|| panic!("no server certificate expiry in\n{text}"));
    let not_after: i64 = server.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(not_after > now() + 86_400, "{server}");
    assert!(
        text.contains("certbound_certificate_expiry_timestamp_seconds{role=\"authorization_server_ca\",subject=\"CN=Test Root CA,O=Example,C=US\""),
        "{text}"
    );
    // Only the gateway's families: nothing of the authorization server.
    for family in [
        "certbound_tokens_issued",
        "certbound_client_authentications",
        "certbound_rate_limited",
        "certbound_store_errors",
    ] {
        assert!(!text.contains(family), "{family} in the gateway's metrics");
    }
    assert!(text.trim_end().ends_with("# EOF"));
    assert!(!text.contains(&token) && !text.contains("partner-a"));
}

/// Every `certbound::audit` event of this test binary, with the thread it was emitted on
/// (a `#[tokio::test]` runs the gateway's tasks on its own thread). Installed once as the
/// global subscriber: per-thread defaults race with other tests over tracing's callsite cache.
type Fields = std::collections::HashMap<String, String>;

#[derive(Clone, Default)]
struct AuditLog(Arc<Mutex<Vec<(std::thread::ThreadId, Fields)>>>);

impl AuditLog {
    fn global() -> &'static AuditLog {
        static LOG: std::sync::OnceLock<AuditLog> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = AuditLog::default();
            tracing::subscriber::set_global_default(log.clone())
                .expect("no other global subscriber in this test binary");
            log
        })
    }

    /// The events of the calling thread named `event`.
    fn named(&self, event: &str) -> Vec<Fields> {
        let me = std::thread::current().id();
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, f)| *t == me && f.get("event").map(String::as_str) == Some(event))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

struct Visitor<'a>(&'a mut Fields);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for AuditLog {
    fn register_callsite(
        &self,
        m: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if m.target() == "certbound::audit" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target() == "certbound::audit"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((std::thread::current().id(), fields));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn gateway_refused_names_reason_client_jti_certificates_source_and_path() {
    let log = AuditLog::global();
    let s = setup().await;
    let a = s.pki.client("partner-a", "Example");
    let b = s.pki.client("partner-b", "Example");
    let token = s.token(&a, "partner-a").await;
    assert_invalid_token(&s.call(Some(&b), "/api/transactions", Some(&token)).await);
    // partner-a's header and claims with the signature of another token: a forgery.
    let other = s.secret_token().await;
    let forged = format!(
        "{}.{}",
        token.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert_invalid_token(&s.call(Some(&a), "/api/transactions", Some(&forged)).await);

    let refused = log.named("gateway_refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    let (_, claims) = jwt_parts(&token);
    let thumbprint =
        |c: &IssuedCertificate| certbound_core::Thumbprint::of_der(&c.cert_der).to_string();
    let replay = &refused[0];
    let field = |f: &Fields, k: &str| {
        f.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k} in {f:?}"))
    };
    assert_eq!(field(replay, "reason"), "binding_mismatch");
    assert_eq!(field(replay, "status"), "401");
    assert_eq!(field(replay, "error"), "invalid_token");
    assert_eq!(field(replay, "client_id"), "partner-a");
    assert_eq!(field(replay, "jti"), claims["jti"].as_str().unwrap());
    assert_eq!(field(replay, "cert_thumbprint"), thumbprint(&b));
    assert_eq!(field(replay, "token_thumbprint"), thumbprint(&a));
    assert_eq!(
        field(replay, "token_thumbprint"),
        claims["cnf"]["x5t#S256"].as_str().unwrap()
    );
    assert_eq!(field(replay, "source"), "127.0.0.1", "{replay:?}");
    assert_eq!(field(replay, "path"), "/api/transactions");
    // A token whose signature does not verify: its claims are not repeated as facts.
    let bad = &refused[1];
    assert_eq!(field(bad, "reason"), "bad_signature");
    assert_eq!(field(bad, "client_id"), "");
    assert_eq!(field(bad, "jti"), "");
    assert_eq!(field(bad, "cert_thumbprint"), thumbprint(&a));
    for f in &refused {
        assert!(f.values().all(|v| !v.contains(&token[20..])), "{f:?}");
    }
}
