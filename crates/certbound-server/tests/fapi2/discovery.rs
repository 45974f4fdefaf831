//! `fapi2-security-profile-final-discovery-end-point-verification`.

use crate::fixture::Suite;
use serde_json::{json, Value};

const FAPI_ALGS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// `FAPI2SPFinalDiscoveryEndpointVerification` (FAPI 2.0 SP §5.3.2.1-1, -5, -6; §5.3.2.2-1,
/// -2, -3, -5, -7; §5.4.1-1; RFC 8414, RFC 8705 §5): both metadata documents, the issuer byte
/// for byte, PAR required, `code` only, `iss` supported, S256 only, the FAPI client
/// authentication methods and algorithms, certificate-bound tokens, DPoP algorithms, and mTLS
/// aliases that never include the authorization endpoint nor a key absent from the root.
#[tokio::test]
async fn fapi2_security_profile_final_discovery_end_point_verification() {
    let suite = Suite::start().await;
    let s = &suite.s;
    let http = s.http(None);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = http
            .get(format!("{}{path}", s.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        let doc: Value = r.json().await.unwrap();
        let d = |k: &str| {
            doc.get(k)
                .unwrap_or_else(|| panic!("{path}: {k} missing: {doc}"))
        };
        assert_eq!(d("issuer"), &json!(s.issuer), "{path}");
        for k in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "pushed_authorization_request_endpoint",
            "userinfo_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let url = d(k)
                .as_str()
                .unwrap_or_else(|| panic!("{path}: {k} a string"));
            assert!(url.starts_with(&s.issuer), "{path}: {k} = {url}");
        }
        assert_eq!(
            d("require_pushed_authorization_requests"),
            &json!(true),
            "{path}"
        );
        assert_eq!(d("response_types_supported"), &json!(["code"]), "{path}");
        assert_eq!(
            d("code_challenge_methods_supported"),
            &json!(["S256"]),
            "{path}"
        );
        assert_eq!(
            d("authorization_response_iss_parameter_supported"),
            &json!(true),
            "{path}"
        );
        assert_eq!(
            d("tls_client_certificate_bound_access_tokens"),
            &json!(true),
            "{path}: a boolean true"
        );
        assert!(
            d("scopes_supported")
                .as_array()
                .unwrap()
                .contains(&json!("openid")),
            "{path}"
        );
        let methods = d("token_endpoint_auth_methods_supported")
            .as_array()
            .unwrap();
        assert!(
            methods.iter().all(|m| [
                "tls_client_auth",
                "self_signed_tls_client_auth",
                "private_key_jwt"
            ]
            .contains(&m.as_str().unwrap())),
            "{path}: {methods:?}"
        );
        assert!(
            methods.contains(&json!("tls_client_auth"))
                || methods.contains(&json!("private_key_jwt"))
        );
        let mut alg_lists = vec![
            "token_endpoint_auth_signing_alg_values_supported",
            "dpop_signing_alg_values_supported",
        ];
        if path.contains("openid") {
            alg_lists.push("id_token_signing_alg_values_supported");
        }
        for k in alg_lists {
            let algs = d(k).as_array().unwrap();
            assert!(!algs.is_empty(), "{path}: {k}");
            for a in algs {
                assert!(
                    FAPI_ALGS.contains(&a.as_str().unwrap()),
                    "{path}: {k} has {a}"
                );
            }
        }
        let grants = d("grant_types_supported").as_array().unwrap();
        for g in ["authorization_code", "refresh_token", "client_credentials"] {
            assert!(grants.contains(&json!(g)), "{path}: {g} in {grants:?}");
        }
        assert!(!grants.contains(&json!("password")) && !grants.contains(&json!("implicit")));
        // RFC 8414 §3.2: no empty arrays.
        for (k, v) in doc.as_object().unwrap() {
            if let Some(a) = v.as_array() {
                assert!(!a.is_empty(), "{path}: {k} is an empty array");
            }
        }
        // RFC 8705 §5: the aliases, on the mTLS listener, never for the browser endpoint, and
        // never a key the root document lacks.
        let aliases = d("mtls_endpoint_aliases").as_object().unwrap();
        assert!(!aliases.contains_key("authorization_endpoint"), "{path}");
        for k in [
            "token_endpoint",
            "pushed_authorization_request_endpoint",
            "userinfo_endpoint",
        ] {
            let url = aliases[k].as_str().unwrap();
            assert!(url.starts_with(&s.mtls_url), "{path}: alias {k} = {url}");
        }
        for k in aliases.keys() {
            assert!(doc.get(k).is_some(), "{path}: alias-only key {k}");
        }
    }
    // The JWKS: distinct kids, no private members.
    let jwks = s.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), keys.len(), "distinct kids: {jwks}");
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "{k}");
        }
    }
}
