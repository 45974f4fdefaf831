//! The `client_auth_type=private_key_jwt` modules: the assertion audience (FAPI 2.0 SP
//! §5.3.2.1-8: the issuer, as a string, only), clock skew (§5.3.2.1-13) and the broken
//! assertions the suite sends to the token endpoint.

use crate::fixture::*;
use serde_json::{json, Value};

/// The two private_key_jwt clients (one per sender constraint).
fn pkjwt_clients(suite: &Suite) -> [&Client; 2] {
    [
        suite.client(ClientAuth::PrivateKeyJwt, Constrain::Mtls, 1),
        suite.client(ClientAuth::PrivateKeyJwt, Constrain::Dpop, 1),
    ]
}

/// PAR of `client` with an assertion of `claims` edited by `edit`.
async fn par_with(suite: &Suite, client: &Client, edit: impl Fn(&mut Value)) -> Response {
    let mut claims = client.assertion_claims(&suite.s);
    edit(&mut claims);
    let opts = Opts {
        auth: Auth::Assertion(client.key.sign(&claims)),
        ..Opts::default()
    };
    suite.par(client, &AuthRequest::new(true), opts).await
}

fn assert_refused(r: &Response, case: &str) {
    assert!(
        [400, 401].contains(&r.status.as_u16()),
        "{case}: {} {}",
        r.status,
        r.json
    );
    assert!(
        ["invalid_client", "invalid_request"].contains(&r.error()),
        "{case}: {}",
        r.json
    );
    assert!(r.json.get("request_uri").is_none() && r.json.get("access_token").is_none());
}

use crate::support::Response;

/// `FAPI2SPFinalPAREndpointAsAudienceFails` /
/// `fapi2-security-profile-final-par-endpoint-as-audience-fails` (FAPI 2.0 SP §5.3.2.1-8): an
/// assertion whose `aud` is the PAR endpoint URL (the root one or the alias) is refused at PAR.
#[tokio::test]
async fn fapi2_security_profile_final_par_endpoint_as_audience_fails() {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        for aud in [format!("{}/par", suite.s.issuer), suite.s.mtls("/par")] {
            let r = par_with(&suite, c, |claims| claims["aud"] = json!(aud)).await;
            assert_refused(&r, &format!("{} aud {aud}", c.id));
        }
    }
}

/// `FAPI2SPFinalPARTokenEndpointAsAudienceFails` /
/// `fapi2-security-profile-final-par-token-endpoint-as-audience-fails` (FAPI 2.0 SP
/// §5.3.2.1-8): `aud` = the token endpoint URL → refused at PAR, and at the token endpoint.
#[tokio::test]
async fn fapi2_security_profile_final_par_token_endpoint_as_audience_fails() {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        let aud = c.url(&suite.s, "/token");
        let r = par_with(&suite, c, |claims| claims["aud"] = json!(aud)).await;
        assert_refused(&r, &format!("{} PAR aud {aud}", c.id));
        let mut claims = c.assertion_claims(&suite.s);
        claims["aud"] = json!(aud);
        let r = suite
            .client_credentials(
                c,
                Opts {
                    auth: Auth::Assertion(c.key.sign(&claims)),
                    ..Opts::default()
                },
            )
            .await;
        assert_refused(&r, &format!("{} token aud {aud}", c.id));
    }
}

/// `FAPI2SPFinalPAREndpointAsArrayAudienceFails` /
/// `fapi2-security-profile-final-par-endpoint-as-array-audience-fails` (FAPI 2.0 SP
/// §5.3.2.1-8): `aud` = an array holding the issuer and another value → refused; so is an
/// array of the issuer alone (a string is required).
#[tokio::test]
async fn fapi2_security_profile_final_par_endpoint_as_array_audience_fails() {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        let issuer = suite.s.issuer.clone();
        let par_url = c.url(&suite.s, "/par");
        for aud in [json!([issuer, par_url]), json!([issuer])] {
            let r = par_with(&suite, c, |claims| claims["aud"] = aud.clone()).await;
            assert_refused(&r, &format!("{} aud {aud}", c.id));
        }
    }
}

/// `FAPI2SPFinalPAREnsureJWTClientAssertionWithIatNbf8SecondsInTheFutureIsAccepted` (FAPI 2.0
/// SP §5.3.2.1-13): `iat` and `nbf` 8 s ahead are accepted at PAR and at the token endpoint.
#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_jwt_client_assertion_with_iat_nbf_8_seconds_in_the_future_is_accepted(
) {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        let future = |claims: &mut Value| {
            let t = now() + 8;
            claims["iat"] = json!(t);
            claims["nbf"] = json!(t);
            claims["exp"] = json!(t + 60);
        };
        let r = par_with(&suite, c, future).await;
        assert_eq!(r.status, 201, "{}: {}", c.id, r.json);
        let mut claims = c.assertion_claims(&suite.s);
        future(&mut claims);
        let r = suite
            .client_credentials(
                c,
                Opts {
                    auth: Auth::Assertion(c.key.sign(&claims)),
                    ..Opts::default()
                },
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", c.id, r.json);
    }
}

/// `FAPI2SPFinalPAREnsureJWTClientAssertionWithIatNbfOver60SecondsInTheFutureFails` (FAPI 2.0
/// SP §5.3.2.1-13): `iat`/`nbf` more than 60 s ahead → refused (`invalid_client`).
#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_jwt_client_assertion_with_iat_nbf_over_60_seconds_in_the_future_fails(
) {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        for member in ["iat", "nbf"] {
            let r = par_with(&suite, c, |claims| {
                let t = now();
                claims[member] = json!(t + 70);
                claims["exp"] = json!(t + 130);
            })
            .await;
            assert_refused(&r, &format!("{} {member} +70 s", c.id));
        }
    }
}

/// The suite's token-endpoint assertion modules for private_key_jwt
/// (`…EnsureClientAssertionInTokenEndpoint`, `…WithWrongAudFails`, `…WithNoSubFails`,
/// `…WithExpIs5MinutesInPastFails`, `…EnsureSignedClientAssertionWithRS256Fails` stands in as
/// HS256 and a foreign key; FAPI 2.0 SP §5.3.2.1-6/-8, §5.4.1-1): each refused with
/// `invalid_client` (or `invalid_request` for a missing assertion).
#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_failures_at_token_endpoint() {
    let suite = Suite::start().await;
    for c in pkjwt_clients(&suite) {
        let other = ClientKey::new("foreign");
        let edited = |edit: &dyn Fn(&mut Value)| {
            let mut claims = c.assertion_claims(&suite.s);
            edit(&mut claims);
            c.key.sign(&claims)
        };
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &c.assertion_claims(&suite.s),
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        let cases: Vec<(&str, Auth)> = vec![
            ("no assertion", Auth::None),
            (
                "wrong aud",
                Auth::Assertion(edited(&|cl| cl["aud"] = json!("https://other.example"))),
            ),
            (
                "no sub",
                Auth::Assertion(edited(&|cl| {
                    cl.as_object_mut().unwrap().remove("sub");
                })),
            ),
            (
                "exp 5 minutes ago",
                Auth::Assertion(edited(&|cl| {
                    let t = now() - 300;
                    cl["exp"] = json!(t);
                    cl["iat"] = json!(t - 60);
                })),
            ),
            ("HS256", Auth::Assertion(hs256.clone())),
            (
                "another key",
                Auth::Assertion(other.sign(&c.assertion_claims(&suite.s))),
            ),
        ];
        for (case, auth) in cases {
            let r = suite
                .client_credentials(
                    c,
                    Opts {
                        auth,
                        ..Opts::default()
                    },
                )
                .await;
            assert_refused(&r, &format!("{} {case}", c.id));
        }
        // A replayed assertion.
        let once = c.assertion(&suite.s);
        let r = suite
            .client_credentials(
                c,
                Opts {
                    auth: Auth::Assertion(once.clone()),
                    ..Opts::default()
                },
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = suite
            .client_credentials(
                c,
                Opts {
                    auth: Auth::Assertion(once),
                    ..Opts::default()
                },
            )
            .await;
        assert_refused(&r, &format!("{} replayed", c.id));
    }
}
