//! The `sender_constrain=dpop` modules: `FAPI2SPFinalDpopNegativeTests` at the resource and at
//! the token endpoint (FAPI2.md §2.5), and the four authorization-code binding modules
//! (RFC 9449 §10, FAPI 2.0 SP §5.3.2.1-12).

use crate::fixture::*;
use crate::support::dpop::{claims as proof_claims, ProofKey};
use crate::support::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;

/// The two DPoP-bound clients' variants.
const DPOP_PAIRS: [(ClientAuth, Constrain); 2] = [
    (ClientAuth::Mtls, Constrain::Dpop),
    (ClientAuth::PrivateKeyJwt, Constrain::Dpop),
];

async fn each_dpop_pair<F, Fut>(suite: Arc<Suite>, module: F)
where
    F: Fn(Arc<Suite>, Variant) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (auth, constrain) in DPOP_PAIRS {
        set.spawn(module(suite.clone(), Variant::oidc(auth, constrain)));
    }
    while let Some(done) = set.join_next().await {
        done.expect("the module passes for both DPoP variants");
    }
}

/// A JWS with exactly `header` and `claims`, signed ES256 by `key` (or with `signature` bytes
/// when given): for the header edits `ProofKey::sign` cannot make.
fn raw_proof(key: &ProofKey, header: &Value, claims: &Value, signature: Option<&[u8]>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = match signature {
        Some(s) => s.to_vec(),
        None => {
            let der: String = key
                .pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            let der = STANDARD.decode(der).expect("PKCS#8 DER");
            let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
            )
            .expect("the key");
            let rng = aws_lc_rs::rand::SystemRandom::new();
            pair.sign(&rng, input.as_bytes())
                .expect("a signature")
                .as_ref()
                .to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn header(key: &ProofKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk})
}

/// The broken proofs of `FAPI2SPFinalDpopNegativeTests` for a request `htm` `htu` (with `ath`
/// of `token` at the resource), each with its name; plus extra members, which must be ignored.
fn negative_cases(
    key: &ProofKey,
    other: &ProofKey,
    htm: &str,
    htu: &str,
    token: Option<&str>,
) -> Vec<(&'static str, Vec<String>)> {
    let good = || proof_claims(htm, htu, token, None);
    let without = |member: &str| {
        let mut c = good();
        c.as_object_mut().unwrap().remove(member);
        raw_proof(key, &header(key), &c, None)
    };
    let header_without = |member: &str| {
        let mut h = header(key);
        h.as_object_mut().unwrap().remove(member);
        raw_proof(key, &h, &good(), None)
    };
    let with = |member: &str, value: Value| {
        let mut c = good();
        c[member] = value;
        raw_proof(key, &header(key), &c, None)
    };
    let mut private_jwk = header(key);
    private_jwk["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let mut rs256 = header(key);
    rs256["alg"] = json!("RS256");
    let mut none = header(key);
    none["alg"] = json!("none");
    let mut wrong_typ = header(key);
    wrong_typ["typ"] = json!("JWT");
    let good_proof = raw_proof(key, &header(key), &good(), None);
    let mut bad_sig = good_proof.clone();
    bad_sig.replace_range(bad_sig.len() - 6.., "AAAAAA");
    let mut cases = vec![
        (
            "two DPoP headers",
            vec![
                good_proof.clone(),
                raw_proof(key, &header(key), &good(), None),
            ],
        ),
        ("not a JWT", vec!["not.a-jwt".to_owned()]),
        ("no typ", vec![header_without("typ")]),
        ("no alg", vec![header_without("alg")]),
        ("no jwk", vec![header_without("jwk")]),
        ("no jti", vec![without("jti")]),
        ("no htm", vec![without("htm")]),
        ("no htu", vec![without("htu")]),
        ("no iat", vec![without("iat")]),
        ("typ JWT", vec![raw_proof(key, &wrong_typ, &good(), None)]),
        ("alg RS256", vec![raw_proof(key, &rs256, &good(), None)]),
        ("alg none", vec![raw_proof(key, &none, &good(), Some(&[]))]),
        ("bad signature", vec![bad_sig]),
        (
            "private jwk",
            vec![raw_proof(key, &private_jwk, &good(), None)],
        ),
        (
            "wrong htm",
            vec![with(
                "htm",
                json!(if htm == "GET" { "POST" } else { "GET" }),
            )],
        ),
        (
            "wrong htu",
            vec![with("htu", json!(format!("{htu}/other")))],
        ),
        ("iat an hour ago", vec![with("iat", json!(now() - 3600))]),
        ("iat an hour ahead", vec![with("iat", json!(now() + 3600))]),
        (
            "signed by another key",
            vec![raw_proof(other, &header(key), &good(), None)],
        ),
    ];
    if token.is_some() {
        cases.push(("no ath", vec![without("ath")]));
        cases.push((
            "wrong ath",
            vec![with("ath", json!(URL_SAFE_NO_PAD.encode([1u8; 32])))],
        ));
        // A valid proof by a key the token is not bound to.
        cases.push((
            "proof by a key other than cnf.jkt",
            vec![other.proof_for(htm, htu, token, None)],
        ));
    }
    cases
}

/// Proofs that must be accepted: extra header and claim members, `htu` with a query, an
/// upper-case scheme and host, `iat` 10 s ago and 8 s ahead (FAPI 2.0 SP §5.3.2.1-13).
fn tolerated_cases(
    key: &ProofKey,
    htm: &str,
    htu: &str,
    token: Option<&str>,
) -> Vec<(&'static str, String)> {
    let good = || proof_claims(htm, htu, token, None);
    let mut extra_header = header(key);
    extra_header["kid"] = json!("ignored");
    let mut extra_claim = good();
    extra_claim["extra"] = json!("ignored");
    let mut with_query = good();
    with_query["htu"] = json!(format!("{htu}?q=1#frag"));
    let mut upper = good();
    upper["htu"] = json!(htu.replacen("https://127.0.0.1", "HTTPS://127.0.0.1", 1));
    let mut past = good();
    past["iat"] = json!(now() - 10);
    let mut ahead = good();
    ahead["iat"] = json!(now() + 8);
    vec![
        (
            "extra header member",
            raw_proof(key, &extra_header, &good(), None),
        ),
        (
            "extra claim",
            raw_proof(key, &header(key), &extra_claim, None),
        ),
        (
            "htu with query and fragment",
            raw_proof(key, &header(key), &with_query, None),
        ),
        (
            "htu scheme in upper case",
            raw_proof(key, &header(key), &upper, None),
        ),
        ("iat 10 s ago", raw_proof(key, &header(key), &past, None)),
        ("iat 8 s ahead", raw_proof(key, &header(key), &ahead, None)),
    ]
}

/// `FAPI2SPFinalDpopNegativeTests` at the resource (RFC 9449 §4.3, §7; FAPI 2.0 SP §5.3.4-5):
/// every broken proof, a replayed one, no proof, and the token presented as `Bearer` → 401
/// (400 tolerated for the malformed request), never the resource; the tolerated variations
/// → 200.
#[tokio::test]
async fn fapi2_security_profile_final_dpop_negative_tests_at_resource() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let other = ProofKey::new();
        let token = suite.tokens(one, true).await.access_token;
        let htu = one.url(&suite.s, "/userinfo");
        for (case, proofs) in negative_cases(&one.dpop, &other, "GET", &htu, Some(&token)) {
            let r = suite
                .resource(
                    one,
                    &token,
                    Opts {
                        proof: Proof::Raw(proofs),
                        ..Opts::default()
                    },
                )
                .await;
            assert_resource_refused(&r, &format!("{v:?} {case}"));
        }
        let once = one.dpop.proof_for("GET", &htu, Some(&token), None);
        let opts = || Opts {
            proof: Proof::Raw(vec![once.clone()]),
            ..Opts::default()
        };
        assert_eq!(suite.resource(one, &token, opts()).await.status, 200);
        assert_resource_refused(&suite.resource(one, &token, opts()).await, "replayed jti");
        let r = suite
            .resource(
                one,
                &token,
                Opts {
                    proof: Proof::None,
                    ..Opts::default()
                },
            )
            .await;
        assert_resource_refused(&r, "no proof");
        let r = suite
            .resource_as(
                one,
                &format!("Bearer {token}"),
                &token,
                Opts {
                    proof: Proof::None,
                    ..Opts::default()
                },
            )
            .await;
        assert_resource_refused(&r, "Bearer scheme, no proof");
        for (case, proof) in tolerated_cases(&one.dpop, "GET", &htu, Some(&token)) {
            let r = suite
                .resource(
                    one,
                    &token,
                    Opts {
                        proof: Proof::Raw(vec![proof]),
                        ..Opts::default()
                    },
                )
                .await;
            assert_eq!(r.status, 200, "{v:?} {case}: {}", r.json);
        }
    })
    .await;
}

fn assert_resource_refused(r: &Response, case: &str) {
    assert!(
        [400, 401].contains(&r.status.as_u16()),
        "{case}: {} {}",
        r.status,
        r.json
    );
    assert!(r.json.get("sub").is_none(), "{case}: {}", r.json);
    if r.status == 401 {
        let c = r.header("www-authenticate").expect("a challenge");
        assert!(
            c.starts_with("DPoP ") || c.starts_with("Bearer "),
            "{case}: {c}"
        );
    }
}

/// `FAPI2SPFinalDpopNegativeTests` at the token endpoint (RFC 9449 §4.3, §5): every broken
/// proof and a replayed one → 400 `invalid_dpop_proof` (or `invalid_request`), no token; the
/// tolerated variations → 200. A refused code exchange does not burn the code (FAPI2.md §0
/// item 7).
#[tokio::test]
async fn fapi2_security_profile_final_dpop_negative_tests_at_token_endpoint() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let other = ProofKey::new();
        let htu = one.url(&suite.s, "/token");
        for (case, proofs) in negative_cases(&one.dpop, &other, "POST", &htu, None) {
            let r = suite
                .client_credentials(
                    one,
                    Opts {
                        proof: Proof::Raw(proofs),
                        ..Opts::default()
                    },
                )
                .await;
            assert_token_error(
                &r,
                &["invalid_dpop_proof", "invalid_request"],
                &format!("{v:?} {case}"),
            );
        }
        let once = one.dpop.proof("POST", &htu);
        let opts = || Opts {
            proof: Proof::Raw(vec![once.clone()]),
            ..Opts::default()
        };
        assert_eq!(suite.client_credentials(one, opts()).await.status, 200);
        let r = suite.client_credentials(one, opts()).await;
        assert_token_error(&r, &["invalid_dpop_proof"], &format!("{v:?} replayed"));
        for (case, proof) in tolerated_cases(&one.dpop, "POST", &htu, None) {
            let r = suite
                .client_credentials(
                    one,
                    Opts {
                        proof: Proof::Raw(vec![proof]),
                        ..Opts::default()
                    },
                )
                .await;
            assert_eq!(r.status, 200, "{v:?} {case}: {}", r.json);
        }
        // A code exchange with a broken proof, then with a good one: the code survived.
        let request = AuthRequest::new(true);
        let code = suite.authorize(one, &request).await.code;
        let broken = Opts {
            proof: Proof::Raw(vec!["not.a-jwt".into()]),
            ..Opts::default()
        };
        let r = suite.exchange(one, &code, &request.verifier, broken).await;
        assert_token_error(
            &r,
            &["invalid_dpop_proof", "invalid_request"],
            "broken proof",
        );
        let r = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{v:?}: {}", r.json);
    })
    .await;
}

/// `FAPI2SPFinalEnsureDpopAuthCodeBindingSuccess` (RFC 9449 §10, FAPI 2.0 SP §5.3.2.1-12):
/// `dpop_jkt` in the pushed request (no proof there) binds the code; the exchange with a proof
/// by that key succeeds and binds the token to it.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_dpop_auth_code_binding_success() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true).set("dpop_jkt", &one.dpop.thumbprint());
        let code = code_via(&suite, one, &request, Proof::None).await;
        let r = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{v:?}: {}", r.json);
        suite.check_token_response(one, &r);
    })
    .await;
}

/// `FAPI2SPFinalEnsureDpopProofAtParEndpointBindingSuccess` (RFC 9449 §10.1): a proof on the
/// pushed request binds the code to its key; the exchange with that key succeeds.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_dpop_proof_at_par_endpoint_binding_success() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true);
        let code = code_via(&suite, one, &request, Proof::Own).await;
        let r = suite
            .exchange(one, &code, &request.verifier, Opts::default())
            .await;
        assert_eq!(r.status, 200, "{v:?}: {}", r.json);
        suite.check_token_response(one, &r);
    })
    .await;
}

/// `FAPI2SPFinalEnsureMismatchedDpopJktFails` (RFC 9449 §10.1): a pushed request whose
/// `dpop_jkt` names another key than its proof's → 400, no `request_uri`.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_mismatched_dpop_jkt_fails() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let request = AuthRequest::new(true).set("dpop_jkt", &ProofKey::new().thumbprint());
        let r = suite.par(one, &request, Opts::default()).await;
        assert_eq!(r.status, 400, "{v:?}: {}", r.json);
        assert!(
            ["invalid_request", "invalid_dpop_proof"].contains(&r.error()),
            "{}",
            r.json
        );
        assert!(r.json.get("request_uri").is_none());
    })
    .await;
}

/// `FAPI2SPFinalEnsureTokenEndpointFailsWithMismatchedDpopJkt` and
/// `…WithMismatchedDpopProofJkt` (RFC 9449 §10): the code bound by `dpop_jkt`, or by the PAR
/// proof, redeemed with a proof by another key → 400 `invalid_grant`; the rightful key then
/// still works.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_token_endpoint_fails_with_mismatched_dpop_jkt() {
    each_dpop_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let intruder = ProofKey::new();
        for by_jkt in [true, false] {
            let mut request = AuthRequest::new(true);
            let par_proof = if by_jkt {
                request = request.set("dpop_jkt", &one.dpop.thumbprint());
                Proof::None
            } else {
                Proof::Own
            };
            let code = code_via(&suite, one, &request, par_proof).await;
            let r = suite
                .exchange(
                    one,
                    &code,
                    &request.verifier,
                    Opts {
                        proof: Proof::Key(&intruder),
                        ..Opts::default()
                    },
                )
                .await;
            assert_eq!(r.status, 400, "{v:?} by_jkt={by_jkt}: {}", r.json);
            assert_token_error(&r, &["invalid_grant"], &format!("{v:?} by_jkt={by_jkt}"));
            let r = suite
                .exchange(one, &code, &request.verifier, Opts::default())
                .await;
            assert_eq!(r.status, 200, "{v:?}: {}", r.json);
        }
    })
    .await;
}

/// PAR with `proof` at PAR, then the browser; the code.
async fn code_via(
    suite: &Suite,
    client: &Client,
    request: &AuthRequest,
    proof: Proof<'_>,
) -> String {
    let r = suite
        .par(
            client,
            request,
            Opts {
                proof,
                ..Opts::default()
            },
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let uri = r.json["request_uri"].as_str().unwrap();
    let done = suite
        .browser()
        .sign_in_and_allow(&suite.authorize_url(&client.id, uri), USER, PASSWORD)
        .await;
    done.redirect_params()["code"].clone()
}
