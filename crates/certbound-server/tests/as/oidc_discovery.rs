//! The OpenID Connect discovery document and the RFC 8414 document: exact member names, and
//! the same values wherever they share a member.

use crate::code_grant::clients;
use crate::support::*;
use serde_json::{json, Value};

async fn fetch(s: &TestServer, url: String) -> Value {
    let r = s.http(None).get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn names(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

const OAUTH_MEMBERS: [&str; 26] = [
    "access_token_signing_alg_values_supported",
    "authorization_endpoint",
    "authorization_response_iss_parameter_supported",
    "code_challenge_methods_supported",
    "dpop_signing_alg_values_supported",
    "grant_types_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "introspection_signing_alg_values_supported",
    "issuer",
    "jwks_uri",
    "mtls_endpoint_aliases",
    "pushed_authorization_request_endpoint",
    "require_pushed_authorization_requests",
    "response_modes_supported",
    "response_types_supported",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "scopes_supported",
    "tls_client_certificate_bound_access_tokens",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "userinfo_endpoint",
];

const OPENID_ONLY: [&str; 7] = [
    "claims_parameter_supported",
    "claims_supported",
    "end_session_endpoint",
    "id_token_signing_alg_values_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "subject_types_supported",
];

#[tokio::test]
async fn both_documents_have_the_expected_members_and_agree() {
    let pki = Pki::new();
    let s = TestServer::start(
        &pki,
        &clients("[authorization]\nrequire_pushed_authorization_requests = true\n"),
    )
    .await;
    let oauth = fetch(
        &s,
        format!("{}/.well-known/oauth-authorization-server", s.issuer),
    )
    .await;
    let oidc = fetch(&s, format!("{}/.well-known/openid-configuration", s.issuer)).await;
    assert_eq!(names(&oauth), OAUTH_MEMBERS.to_vec());
    let mut want: Vec<&str> = OAUTH_MEMBERS
        .iter()
        .chain(OPENID_ONLY.iter())
        .copied()
        .collect();
    want.sort_unstable();
    assert_eq!(names(&oidc), want);
    for (k, v) in oauth.as_object().unwrap() {
        assert_eq!(&oidc[k], v, "{k} differs between the documents");
    }

    assert_eq!(oidc["issuer"], s.issuer.as_str());
    assert_eq!(
        oidc["authorization_endpoint"],
        format!("{}/authorize", s.issuer)
    );
    assert_eq!(
        oidc["pushed_authorization_request_endpoint"],
        format!("{}/par", s.issuer)
    );
    assert_eq!(oidc["userinfo_endpoint"], format!("{}/userinfo", s.issuer));
    assert_eq!(oidc["require_pushed_authorization_requests"], true);
    assert_eq!(oidc["response_types_supported"], json!(["code"]));
    assert_eq!(oidc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(oidc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        oidc["grant_types_supported"],
        json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    assert_eq!(
        oidc["scopes_supported"],
        json!(["openid", "profile", "email", "accounts"])
    );
    let aliases = oidc["mtls_endpoint_aliases"].as_object().unwrap();
    assert_eq!(aliases["userinfo_endpoint"], s.mtls("/userinfo").as_str());
    assert_eq!(
        aliases["pushed_authorization_request_endpoint"],
        s.mtls("/par").as_str()
    );
    assert!(!aliases.contains_key("authorization_endpoint"));
    assert!(!aliases.contains_key("end_session_endpoint"));
}
