//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9, FAPI2.md §2.9): an ES256
//! client signs assertions; the token, PAR and introspection endpoints accept them on both
//! listeners, bind tokens to a presented certificate, and refuse every broken or replayed one.

use crate::support::*;
use certbound_pki::{jwk_for_certificate, self_signed, KeyAlgorithm, LeafSpec, SubjectSpec};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const CB: &str = "https://app.example/cb";

/// A client signing key: the private key PEM and its public JWK (no certificate members).
struct ClientKey {
    pem: String,
    jwk: Value,
}

fn client_key() -> ClientKey {
    let c =
        self_signed(&LeafSpec::client(SubjectSpec::cn("pk-key")).with_key(KeyAlgorithm::EcdsaP256))
            .unwrap();
    let full = jwk_for_certificate(&c.cert_der).unwrap();
    let jwk = json!({
        "kty": full["kty"], "crv": full["crv"], "x": full["x"], "y": full["y"],
        "kid": full["kid"], "use": "sig", "alg": "ES256",
    });
    ClientKey {
        pem: c.key_pem.clone(),
        jwk,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fresh_jti() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

/// The standard claims for `client_id` with audience `aud`.
fn claims(client_id: &str, aud: &str) -> Value {
    let t = now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": t, "exp": t + 60, "jti": fresh_jti()})
}

fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(key.pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn toml_jwks(key: &ClientKey) -> String {
    let k = key.jwk.as_object().unwrap();
    let members: Vec<String> = k
        .iter()
        .map(|(n, v)| format!("{n} = {}", toml_string(v.as_str().unwrap())))
        .collect();
    format!("{{ keys = [{{ {} }}] }}", members.join(", "))
}

fn clients(key: &ClientKey, extra: &str) -> String {
    let jwks = toml_jwks(key);
    format!(
        "{extra}\n[[clients]]\nclient_id = \"pk\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\ntoken_endpoint_auth_signing_alg = \"ES256\"\njwks = {jwks}\ngrant_types = [\"client_credentials\", \"authorization_code\"]\nredirect_uris = [\"{CB}\"]\nscope = \"openid profile\"\n\
         [[clients]]\nclient_id = \"pk-bound\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = {jwks}\ntls_client_certificate_bound_access_tokens = true\n"
    )
}

async fn token(
    s: &TestServer,
    http: &reqwest::Client,
    url: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    s.post(http, url, &form).await
}

#[tokio::test]
async fn assertions_authenticate_at_every_endpoint_on_both_listeners() {
    let pki = Pki::new();
    let key = client_key();
    let s = TestServer::start(&pki, &clients(&key, "")).await;
    let anon = s.http(None);
    let token_url = s.token_url();

    // Conventional listener, with and without client_id.
    let r = token(
        &s,
        &anon,
        &token_url,
        &sign(&key, &claims("pk", &s.issuer)),
        &[("client_id", "pk")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let at = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(jwt_parts(&at).1.get("cnf").is_none());
    let r = token(
        &s,
        &anon,
        &token_url,
        &sign(&key, &claims("pk", &token_url)),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // mTLS listener: the certificate of a bound client binds its token.
    let cert = pki.client("pk-bound", "Example");
    let mtls = s.http(Some(&cert));
    let r = token(
        &s,
        &mtls,
        &s.mtls("/token"),
        &sign(&key, &claims("pk-bound", &s.mtls("/token"))),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (_, c) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["cnf"]["x5t#S256"], cert.thumbprint().as_str());
    assert_eq!(c["client_id"], "pk-bound");

    // PAR on the conventional listener (aud = the PAR endpoint, RFC 9126 §2).
    let par_url = format!("{}/par", s.issuer);
    let assertion = sign(&key, &claims("pk", &par_url));
    let r = s
        .post(
            &anon,
            &par_url,
            &[
                ("client_id", "pk"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid profile"),
                ("state", "st-1"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(r.json["request_uri"].is_string());

    // Introspection of its own token, with an assertion.
    let assertion = sign(&key, &claims("pk", &s.issuer));
    let r = s
        .post(
            &anon,
            &format!("{}/introspect", s.issuer),
            &[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
                ("token", &at),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["active"], true, "{}", r.json);

    // The metadata publishes the method and its algorithms.
    let meta: Value = anon
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("private_key_jwt")));
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn broken_mixed_and_replayed_assertions_are_refused() {
    let pki = Pki::new();
    let key = client_key();
    let s = TestServer::start(&pki, &clients(&key, "")).await;
    let anon = s.http(None);
    let url = s.token_url();
    let refused = |r: Response| r.assert_error(401, "invalid_client");

    // Replay: the second use of one assertion, on either listener.
    let once = sign(&key, &claims("pk", &s.issuer));
    let r = token(&s, &anon, &url, &once, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    refused(token(&s, &anon, &url, &once, &[]).await);
    let cert = pki.client("pk", "Example");
    refused(token(&s, &s.http(Some(&cert)), &s.mtls("/token"), &once, &[]).await);

    // Another key under the registered kid.
    let mut other = client_key();
    other.jwk = key.jwk.clone();
    refused(
        token(
            &s,
            &anon,
            &url,
            &sign(&other, &claims("pk", &s.issuer)),
            &[],
        )
        .await,
    );

    // Wrong iss, wrong sub, another server's aud, expired.
    let mut c = claims("pk", &s.issuer);
    c["iss"] = json!("pk-bound");
    refused(token(&s, &anon, &url, &sign(&key, &c), &[("client_id", "pk")]).await);
    let mut c = claims("pk", &s.issuer);
    c["sub"] = json!("someone");
    refused(token(&s, &anon, &url, &sign(&key, &c), &[]).await);
    refused(
        token(
            &s,
            &anon,
            &url,
            &sign(&key, &claims("pk", "https://other.example")),
            &[],
        )
        .await,
    );
    let mut c = claims("pk", &s.issuer);
    c["iat"] = json!(now() - 120);
    c["exp"] = json!(now() - 60);
    refused(token(&s, &anon, &url, &sign(&key, &c), &[]).await);

    // alg none and HS256.
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "none"})),
        b64(&claims("pk", &s.issuer))
    );
    refused(token(&s, &anon, &url, &none, &[]).await);
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims("pk", &s.issuer),
        &EncodingKey::from_secret(b"a shared secret of some length!!"),
    )
    .unwrap();
    refused(token(&s, &anon, &url, &hs, &[]).await);

    // client_id differs from iss (and names another client with the same key).
    refused(
        token(
            &s,
            &anon,
            &url,
            &sign(&key, &claims("pk", &s.issuer)),
            &[("client_id", "pk-bound")],
        )
        .await,
    );

    // One method per request: an assertion with Basic or with client_secret.
    let assertion = sign(&key, &claims("pk", &s.issuer));
    let r = anon
        .post(&url)
        .basic_auth("pk", Some(""))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let r = TestServer::read(r).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.error(), "invalid_request");
    let r = token(&s, &anon, &url, &assertion, &[("client_secret", "x")]).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.error(), "invalid_request");
    // Neither attempt consumed the assertion.
    let r = token(&s, &anon, &url, &assertion, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Wrong assertion type.
    refused(
        s.post(
            &anon,
            &url,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:example:other"),
                ("client_assertion", &sign(&key, &claims("pk", &s.issuer))),
            ],
        )
        .await,
    );
}

#[tokio::test]
async fn the_issuer_only_rule_refuses_endpoint_audiences() {
    let pki = Pki::new();
    let key = client_key();
    let s = TestServer::start(
        &pki,
        &clients(&key, "[client_auth]\nassertion_audience = \"issuer\"\n"),
    )
    .await;
    let anon = s.http(None);
    let url = s.token_url();
    token(&s, &anon, &url, &sign(&key, &claims("pk", &url)), &[])
        .await
        .assert_error(401, "invalid_client");
    let mut c = claims("pk", &s.issuer);
    c["aud"] = json!([s.issuer]);
    token(&s, &anon, &url, &sign(&key, &c), &[])
        .await
        .assert_error(401, "invalid_client");
    let r = token(&s, &anon, &url, &sign(&key, &claims("pk", &s.issuer)), &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

/// A private_key_jwt client whose keys are at its `jwks_uri` (RFC 7591 §2): the set is fetched
/// over HTTPS (the server certificate checked against `[jwks_uri] ca`), cached, and fetched again
/// when an assertion names an unknown `kid`, so the client can rotate its key without
/// re-registering; a retired key stops working once the set no longer lists it.
#[tokio::test]
async fn keys_from_jwks_uri_are_fetched_cached_and_rotated() {
    use std::sync::{Arc, Mutex};
    let pki = Pki::new();
    let (first, second) = (client_key(), client_key());
    assert_ne!(first.jwk["kid"], second.jwk["kid"]);
    let served = Arc::new(Mutex::new(json!({"keys": [first.jwk]})));
    let fetches = Arc::new(Mutex::new(0u32));
    let app = {
        let (served, fetches) = (served.clone(), fetches.clone());
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (served, fetches) = (served.clone(), fetches.clone());
                async move {
                    *fetches.lock().unwrap() += 1;
                    axum::Json(served.lock().unwrap().clone())
                }
            }),
        )
    };
    let port = crate::self_signed::serve_jwks_host(&pki, app).await;
    let toml = format!(
        "[jwks_uri]\nmin_refresh_seconds = 0\nca = [\"ca.pem\"]\n[[clients]]\nclient_id = \"pk-uri\"\n\
         token_endpoint_auth_method = \"private_key_jwt\"\ntoken_endpoint_auth_signing_alg = \"ES256\"\n\
         jwks_uri = \"https://127.0.0.1:{port}/jwks.json\"\nscope = \"read\"\n"
    );
    let s = TestServer::start(&pki, &toml).await;
    let anon = s.http(None);
    let url = s.token_url();
    let with = |key: &ClientKey| sign(key, &claims("pk-uri", &s.issuer));

    for _ in 0..2 {
        let r = token(&s, &anon, &url, &with(&first), &[]).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert_eq!(
        *fetches.lock().unwrap(),
        1,
        "a known kid is served from the cache"
    );

    // The client rotates: the new key's kid is unknown, so the set is fetched again.
    *served.lock().unwrap() = json!({"keys": [second.jwk]});
    let r = token(&s, &anon, &url, &with(&second), &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(*fetches.lock().unwrap(), 2);
    // The retired key is no longer in the set.
    token(&s, &anon, &url, &with(&first), &[])
        .await
        .assert_error(401, "invalid_client");
    // A key the client never published.
    token(&s, &anon, &url, &with(&client_key()), &[])
        .await
        .assert_error(401, "invalid_client");
}
