//! The resource-server modules, against the AS's own `/userinfo` (FAPI 2.0 SP §5.3.4).

use crate::fixture::*;
use crate::support::TestServer;
use std::sync::Arc;

/// `FAPI2SPFinalAccessTokenTypeHeaderCaseSensitivity` /
/// `fapi2-security-profile-final-access-token-type-header-case-sensitivity` (FAPI 2.0 SP
/// §5.3.4-1, RFC 9110 §11.1): the scheme is case-insensitive: `bearer` and `BEARER` for a
/// certificate-bound token, `dpop` and `DPOP` for a DPoP-bound one.
#[tokio::test]
async fn fapi2_security_profile_final_access_token_type_header_case_sensitivity() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let token = suite.tokens(one, true).await.access_token;
        let schemes: &[&str] = match v.constrain {
            Constrain::Mtls => &["bearer", "BEARER", "BeArEr"],
            Constrain::Dpop => &["dpop", "DPOP", "dPoP"],
        };
        for scheme in schemes {
            let r = suite
                .resource_as(one, &format!("{scheme} {token}"), &token, Opts::default())
                .await;
            assert_eq!(r.status, 200, "{v:?} {scheme}: {}", r.json);
        }
    })
    .await;
}

/// FAPI 2.0 SP §5.3.4-2 (`DisallowAccessTokenInQuery`, run inside the happy flow): an access
/// token in the query is refused (400/401), never a 2xx, with or without the header too.
#[tokio::test]
async fn fapi2_security_profile_final_disallow_access_token_in_query() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let token = suite.tokens(one, true).await.access_token;
        let url = format!("{}?access_token={token}", one.url(&suite.s, "/userinfo"));
        let http = suite.http_for(one, &Cert::Own);
        let r = TestServer::read(http.get(&url).send().await.unwrap()).await;
        assert!(
            [400, 401].contains(&r.status.as_u16()),
            "{v:?} query only: {} {}",
            r.status,
            r.json
        );
        let scheme = if v.constrain == Constrain::Dpop {
            "DPoP"
        } else {
            "Bearer"
        };
        let mut req = http
            .get(&url)
            .header("authorization", format!("{scheme} {token}"));
        if v.constrain == Constrain::Dpop {
            req = req.header(
                "dpop",
                one.dpop
                    .proof_for("GET", &one.url(&suite.s, "/userinfo"), Some(&token), None),
            );
        }
        let r = TestServer::read(req.send().await.unwrap()).await;
        assert!(
            [400, 401].contains(&r.status.as_u16()),
            "{v:?} query and header: {} {}",
            r.status,
            r.json
        );
    })
    .await;
}

/// `CheckForDateHeaderInResourceResponse` (a FAILURE in the happy flow): resource responses,
/// successes and refusals, carry a `Date` header.
#[tokio::test]
async fn fapi2_security_profile_final_date_header_in_resource_response() {
    each_pair(Arc::new(Suite::start().await), |suite, v| async move {
        let (one, _) = suite.pair(v);
        let token = suite.tokens(one, true).await.access_token;
        let ok = suite.resource(one, &token, Opts::default()).await;
        assert_eq!(ok.status, 200, "{}", ok.json);
        let refused = suite
            .resource(
                one,
                &token,
                Opts {
                    cert: Cert::None,
                    proof: Proof::None,
                    ..Opts::default()
                },
            )
            .await;
        assert_eq!(refused.status, 401, "{v:?}: {}", refused.json);
        for r in [&ok, &refused] {
            let date = r.header("date").expect("a Date header");
            assert!(date.ends_with(" GMT"), "an HTTP date: {date}");
        }
    })
    .await;
}
