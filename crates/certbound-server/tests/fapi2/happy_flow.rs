//! `fapi2-security-profile-final-happy-flow`, for every variant.

use crate::fixture::{Cert, Constrain, Opts, Proof, Suite, Variant};
use std::sync::Arc;

/// `FAPI2SPFinalHappyFlow` (FAPI 2.0 SP §5.3.2.1-4/-5 sender-constrained tokens, §5.3.2.2,
/// §5.3.4): in each of the eight variants (mtls or private_key_jwt × mtls or DPoP × OpenID
/// Connect or plain OAuth) both clients run PAR → authorize → token → resource; the ID token
/// is checked; the resource answers with a `Date` header; client 2's access token presented
/// with client 1's certificate or DPoP key is refused.
#[tokio::test]
async fn fapi2_security_profile_final_happy_flow() {
    let suite = Arc::new(Suite::start().await);
    let mut set = tokio::task::JoinSet::new();
    for v in Variant::all() {
        set.spawn(happy(suite.clone(), v));
    }
    while let Some(done) = set.join_next().await {
        done.expect("a variant passes");
    }
}

async fn happy(suite: Arc<Suite>, v: Variant) {
    let (one, two) = suite.pair(v);
    let t1 = suite.tokens(one, v.openid).await;
    suite
        .assert_resource_ok(one, &t1.access_token, v.openid)
        .await;
    let t2 = suite.tokens(two, v.openid).await;
    suite
        .assert_resource_ok(two, &t2.access_token, v.openid)
        .await;
    // Client 2's token with client 1's holder-of-key material.
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
    let r = suite.resource(two, &t2.access_token, stolen).await;
    assert_eq!(
        r.status, 401,
        "{v:?}: client 2's token with client 1's key: {}",
        r.json
    );
    let challenge = r.header("www-authenticate").expect("a challenge");
    match v.constrain {
        Constrain::Mtls => assert!(challenge.contains("invalid_token"), "{challenge}"),
        Constrain::Dpop => assert!(challenge.starts_with("DPoP "), "{challenge}"),
    }
}
