//! DPoP in the user flows (RFC 9449 §5, §7.1, §10): a code bound to a key by `dpop_jkt` or by a
//! proof on the pushed request, the code exchange and refresh of a DPoP-bound client, and
//! `/userinfo` with `Authorization: DPoP` and a proof carrying `ath`. Driven end to end: PAR over
//! mTLS, the login and consent pages, the token endpoint, the userinfo endpoint.

use crate::par::{Flow, CB, PASSWORD};
use crate::support::dpop::{claims, ProofKey};
use crate::support::*;
use serde_json::{json, Value};

/// `VERIFIER` is the PKCE verifier of `par::CHALLENGE`.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A DPoP-bound web client with the certificate of `web` for authentication.
const DPOP_CLIENT: &str = "[[clients]]\nclient_id = \"dweb\"\n\
    token_endpoint_auth_method = \"tls_client_auth\"\n\
    tls_client_auth_subject_dn = \"CN=web,O=Example\"\ndpop_bound_access_tokens = true\n\
    grant_types = [\"authorization_code\", \"refresh_token\"]\n\
    redirect_uris = [\"https://app.example/cb\"]\nscope = \"openid profile email\"\n\
    client_name = \"Partner <Web> & Co\"\n";

/// PAR for `dweb` with `extra` parameters and an optional proof.
async fn par(f: &Flow, extra: &[(&str, &str)], proof: Option<&str>) -> Response {
    let mut req =
        f.s.http(Some(&f.cert))
            .post(f.s.mtls("/par"))
            .form(&Flow::par_body("dweb", extra));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    TestServer::read(req.send().await.unwrap()).await
}

/// Signs in as alice through the pushed request and returns the code.
async fn code_for(f: &Flow, request_uri: &str) -> String {
    let mut b = f.browser();
    let done = b
        .sign_in_and_allow(&f.authorize_url("dweb", request_uri), "alice", PASSWORD)
        .await;
    assert!(done.location().starts_with(CB), "{}", done.location());
    done.redirect_params()["code"].clone()
}

/// The code exchange of `dweb` with a proof by `key` (none when `None`).
async fn exchange(f: &Flow, code: &str, key: Option<&ProofKey>) -> Response {
    let mut req = f.s.http(Some(&f.cert)).post(f.s.mtls("/token")).form(&[
        ("grant_type", "authorization_code"),
        ("client_id", "dweb"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ]);
    if let Some(k) = key {
        req = req.header("dpop", k.proof("POST", &f.s.mtls("/token")));
    }
    TestServer::read(req.send().await.unwrap()).await
}

/// `/userinfo` on the mTLS listener with `authorization` and optional `DPoP` proof.
async fn userinfo(f: &Flow, authorization: &str, proof: Option<&str>) -> Response {
    let mut req =
        f.s.http(Some(&f.cert))
            .get(f.s.mtls("/userinfo"))
            .header("authorization", authorization);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    TestServer::read(req.send().await.unwrap()).await
}

/// Asserts a 401 with a `DPoP` challenge carrying `error` and the algorithms.
fn assert_dpop_401(r: &Response, error: &str, case: &str) {
    assert_eq!(r.status, 401, "{case}: {}", r.json);
    let c = r.header("www-authenticate").expect("a challenge");
    assert!(c.starts_with("DPoP "), "{case}: {c}");
    assert!(c.contains("algs=\"PS256 ES256 EdDSA\""), "{case}: {c}");
    assert!(c.contains(&format!("error=\"{error}\"")), "{case}: {c}");
    assert_eq!(r.json["error"], error, "{case}");
}

fn jkt_of(token_response: &Response) -> Value {
    let (_, c) = jwt_parts(token_response.json["access_token"].as_str().unwrap());
    c["cnf"].clone()
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_and_userinfo_checks_the_proof() {
    let f = Flow::start(DPOP_CLIENT).await;
    let (key, other) = (ProofKey::new(), ProofKey::new());
    let jkt = key.thumbprint();
    let r = par(&f, &[("dpop_jkt", &jkt)], None).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let code = code_for(&f, r.json["request_uri"].as_str().unwrap()).await;

    // Without a proof, or with a proof by another key: invalid_grant, and the code survives.
    exchange(&f, &code, None)
        .await
        .assert_error(400, "invalid_grant");
    exchange(&f, &code, Some(&other))
        .await
        .assert_error(400, "invalid_grant");
    let r = exchange(&f, &code, Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    assert_eq!(jkt_of(&r), json!({"jkt": jkt}));
    let token = r.json["access_token"].as_str().unwrap().to_owned();

    // /userinfo: the right proof, with ath, by the bound key.
    let url = f.s.mtls("/userinfo");
    let good = key.proof_for("GET", &url, Some(&token), None);
    let r = userinfo(&f, &format!("DPoP {token}"), Some(&good)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["sub"].is_string(), "{}", r.json);
    // The scheme is case-insensitive.
    let r = userinfo(
        &f,
        &format!("dpop {token}"),
        Some(&key.proof_for("GET", &url, Some(&token), None)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Every broken presentation is refused with a DPoP challenge.
    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        (
            "replayed proof",
            format!("DPoP {token}"),
            Some(good.clone()),
            "invalid_dpop_proof",
        ),
        (
            "no proof",
            format!("DPoP {token}"),
            None,
            "invalid_dpop_proof",
        ),
        (
            "proof by another key",
            format!("DPoP {token}"),
            Some(other.proof_for("GET", &url, Some(&token), None)),
            "invalid_dpop_proof",
        ),
        (
            "proof without ath",
            format!("DPoP {token}"),
            Some(key.proof("GET", &url)),
            "invalid_dpop_proof",
        ),
        (
            "wrong htm",
            format!("DPoP {token}"),
            Some(key.proof_for("POST", &url, Some(&token), None)),
            "invalid_dpop_proof",
        ),
        (
            "wrong htu (the conventional listener)",
            format!("DPoP {token}"),
            Some(key.proof_for(
                "GET",
                &format!("{}/userinfo", f.s.issuer),
                Some(&token),
                None,
            )),
            "invalid_dpop_proof",
        ),
        (
            "stale iat",
            format!("DPoP {token}"),
            Some(key.sign(&{
                let mut c = claims("GET", &url, Some(&token), None);
                c["iat"] = json!(c["iat"].as_i64().unwrap() - 3600);
                c
            })),
            "invalid_dpop_proof",
        ),
        (
            "DPoP-bound token as Bearer",
            format!("Bearer {token}"),
            Some(key.proof_for("GET", &url, Some(&token), None)),
            "invalid_token",
        ),
    ];
    for (case, authorization, proof, error) in cases {
        let r = userinfo(&f, &authorization, proof.as_deref()).await;
        assert_dpop_401(&r, error, case);
    }
    // No token at all: both schemes are offered.
    let r = TestServer::read(f.s.http(Some(&f.cert)).get(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    let challenges: Vec<String> = r
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer realm=")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("DPoP algs=")),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn a_proof_on_the_pushed_request_binds_the_code() {
    let f = Flow::start(DPOP_CLIENT).await;
    let (key, other) = (ProofKey::new(), ProofKey::new());
    let r = par(&f, &[], Some(&key.proof("POST", &f.s.mtls("/par")))).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let code = code_for(&f, r.json["request_uri"].as_str().unwrap()).await;
    exchange(&f, &code, Some(&other))
        .await
        .assert_error(400, "invalid_grant");
    let r = exchange(&f, &code, Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(jkt_of(&r), json!({"jkt": key.thumbprint()}));
}

#[tokio::test]
async fn par_refuses_a_dpop_jkt_that_disagrees_and_bad_proofs() {
    let f = Flow::start(DPOP_CLIENT).await;
    let (key, other) = (ProofKey::new(), ProofKey::new());
    let par_url = f.s.mtls("/par");
    // dpop_jkt and the proof name different keys.
    let r = par(
        &f,
        &[("dpop_jkt", &other.thumbprint())],
        Some(&key.proof("POST", &par_url)),
    )
    .await;
    r.assert_error(400, "invalid_request");
    // They agree: accepted.
    let r = par(
        &f,
        &[("dpop_jkt", &key.thumbprint())],
        Some(&key.proof("POST", &par_url)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    // A dpop_jkt that is not a thumbprint.
    par(&f, &[("dpop_jkt", "not-a-thumbprint")], None)
        .await
        .assert_error(400, "invalid_request");
    // A proof for another endpoint, and a replayed one.
    par(&f, &[], Some(&key.proof("POST", &f.s.mtls("/token"))))
        .await
        .assert_error(400, "invalid_dpop_proof");
    let once = key.proof("POST", &par_url);
    assert_eq!(par(&f, &[], Some(&once)).await.status, 201);
    par(&f, &[], Some(&once))
        .await
        .assert_error(400, "invalid_dpop_proof");
}

#[tokio::test]
async fn refresh_of_a_dpop_client_needs_a_proof_and_binds_the_new_token_to_it() {
    let f = Flow::start(DPOP_CLIENT).await;
    let (key, next) = (ProofKey::new(), ProofKey::new());
    let r = par(&f, &[], None).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let code = code_for(&f, r.json["request_uri"].as_str().unwrap()).await;
    let r = exchange(&f, &code, Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let refresh = r.json["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();

    let refresh_with = |k: Option<&ProofKey>| {
        let mut req = f.s.http(Some(&f.cert)).post(f.s.mtls("/token")).form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "dweb"),
            ("refresh_token", refresh.as_str()),
        ]);
        if let Some(k) = k {
            req = req.header("dpop", k.proof("POST", &f.s.mtls("/token")));
        }
        async move { TestServer::read(req.send().await.unwrap()).await }
    };
    // A DPoP-bound client never gets a bearer token.
    refresh_with(None)
        .await
        .assert_error(400, "invalid_dpop_proof");
    // A confidential client's refresh token is bound to the client, not the key (RFC 9449 §5):
    // the new access token is bound to the key of this request's proof.
    for k in [&key, &next] {
        let r = refresh_with(Some(k)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["token_type"], "DPoP");
        assert_eq!(jkt_of(&r), json!({"jkt": k.thumbprint()}));
        assert!(
            r.json.get("refresh_token").is_none(),
            "no rotation: {}",
            r.json
        );
    }
}
