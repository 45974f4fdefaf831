//! `fapi2-security-profile-final-refresh-token`.

use crate::fixture::*;
use std::sync::Arc;

/// `FAPI2SPFinalRefreshToken` (FAPI 2.0 SP §5.3.2.1-9, RFC 6749 §6, RFC 8705 §3, RFC 9449
/// §5): the refresh token works, is not rotated (the same one works again: the suite retries
/// the old one after 30 s), the new access token is bound and accepted at the resource;
/// refresh without client authentication, without the holder-of-key proof, or by the other
/// client is refused.
#[tokio::test]
async fn fapi2_security_profile_final_refresh_token() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, two) = suite.pair(v);
        let tokens = suite.tokens(one, true).await;
        let rt = tokens.refresh_token.expect("a refresh token");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        for round in 0..2 {
            let r = suite.post(one, "/token", &form, Opts::default()).await;
            assert_eq!(r.status, 200, "{v:?} round {round}: {}", r.json);
            suite.check_token_response(one, &r);
            if let Some(new) = r.json.get("refresh_token") {
                assert_eq!(new, rt.as_str(), "{v:?}: no rotation");
            }
            let at = r.json["access_token"].as_str().unwrap();
            suite.assert_resource_ok(one, at, true).await;
        }
        // Without client authentication.
        let unauthenticated = Opts {
            auth: Auth::None,
            cert: match v.auth {
                ClientAuth::Mtls => Cert::None,
                ClientAuth::PrivateKeyJwt => Cert::Own,
            },
            ..Opts::default()
        };
        let r = suite.post(one, "/token", &form, unauthenticated).await;
        assert_token_error(
            &r,
            &["invalid_client", "invalid_request"],
            &format!("{v:?} no auth"),
        );
        // Without the holder-of-key proof.
        let (no_pop, codes): (Opts, &[&str]) = match v.constrain {
            Constrain::Mtls => (
                Opts {
                    cert: Cert::None,
                    ..Opts::default()
                },
                &["invalid_client", "invalid_grant", "invalid_request"],
            ),
            Constrain::Dpop => (
                Opts {
                    proof: Proof::None,
                    ..Opts::default()
                },
                &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
            ),
        };
        let r = suite.post(one, "/token", &form, no_pop).await;
        assert_token_error(&r, codes, &format!("{v:?} no proof of possession"));
        // Bound to its client.
        let r = suite.post(two, "/token", &form, Opts::default()).await;
        assert_eq!(r.status, 400, "{}", r.json);
        assert_token_error(&r, &["invalid_grant"], &format!("{v:?} other client"));
        // Still usable by its client after all the refusals.
        let r = suite.post(one, "/token", &form, Opts::default()).await;
        assert_eq!(r.status, 200, "{v:?}: {}", r.json);
    })
    .await;
}
