//! The `fapi_client_credentials_grant` profile ("FAPI2SP OP Client Credentials Grant"): only
//! discovery, the happy flow, holder of key, client id in the token endpoint and the header
//! case modules apply; the first three are specific here.

use crate::fixture::*;
use std::sync::Arc;

/// `FAPI2SPFinalHappyFlow` in the client-credentials profile (FAPI 2.0 SP §5.3.2.1-4, Note 3):
/// for every client-authentication × sender-constraint pair, both clients get a bound token;
/// the resource accepts it from its holder (past the binding check: userinfo then asks for
/// `openid`, 403) and refuses it with the other client's certificate or key (401).
#[tokio::test]
async fn fapi2_security_profile_final_client_credentials_happy_flow() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, two) = suite.pair(v);
        let mut tokens = Vec::new();
        for c in [one, two] {
            let r = suite.client_credentials(c, Opts::default()).await;
            assert_eq!(r.status, 200, "{}: {}", c.id, r.json);
            suite.check_token_response(c, &r);
            assert!(r.json.get("refresh_token").is_none(), "{}", r.json);
            assert!(r.json.get("id_token").is_none(), "{}", r.json);
            let at = r.json["access_token"].as_str().unwrap().to_owned();
            suite.assert_resource_ok(c, &at, false).await;
            tokens.push(at);
        }
        let stolen = match v.constrain {
            Constrain::Mtls => Opts {
                cert: Cert::This(&one.cert),
                ..Opts::default()
            },
            Constrain::Dpop => Opts {
                proof: Proof::Key(&one.dpop),
                ..Opts::default()
            },
        };
        let r = suite.resource(two, &tokens[1], stolen).await;
        assert_eq!(r.status, 401, "{v:?}: {}", r.json);
    })
    .await;
}

/// `FAPI2SPFinalEnsureHolderOfKeyRequired` in the client-credentials profile (FAPI 2.0 SP
/// §5.3.2.1-4): the token request without the certificate (mTLS binding) or without a DPoP
/// proof (DPoP binding) is refused; never an unbound token.
#[tokio::test]
async fn fapi2_security_profile_final_client_credentials_ensure_holder_of_key_required() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let (opts, codes): (Opts, &[&str]) = match (v.auth, v.constrain) {
            (_, Constrain::Dpop) => (
                Opts {
                    proof: Proof::None,
                    ..Opts::default()
                },
                &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
            ),
            (ClientAuth::Mtls, Constrain::Mtls) => (
                Opts {
                    cert: Cert::None,
                    ..Opts::default()
                },
                &["invalid_client", "invalid_request"],
            ),
            (ClientAuth::PrivateKeyJwt, Constrain::Mtls) => (
                Opts {
                    cert: Cert::None,
                    ..Opts::default()
                },
                &["invalid_client", "invalid_grant", "invalid_request"],
            ),
        };
        let r = suite.client_credentials(one, opts).await;
        assert_token_error(&r, codes, &format!("{v:?}"));
    })
    .await;
}

/// `FAPI2SPFinalEnsureClientIdInTokenEndpoint` in the client-credentials profile: client 1's
/// credentials with client 2's `client_id` → `invalid_client`.
#[tokio::test]
async fn fapi2_security_profile_final_client_credentials_ensure_client_id_in_token_endpoint() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, two) = suite.pair(v);
        let r = suite
            .client_credentials(
                one,
                Opts {
                    client_id: Some(two.id.clone()),
                    ..Opts::default()
                },
            )
            .await;
        assert_token_error(&r, &["invalid_client", "invalid_grant"], &format!("{v:?}"));
    })
    .await;
}
