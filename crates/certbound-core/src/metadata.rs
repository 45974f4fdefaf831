//! The RFC 8414 authorization server metadata document, with the RFC 8705 members.

use crate::client::AuthMethod;
use crate::client_assertion::FAPI_ALGORITHMS;
use crate::dpop::DpopAlg;
use crate::grant::GrantType;
use crate::oidc::OpenIdDiscovery;
use serde_json::{json, Map, Value};

/// What the metadata document is built from.
pub struct MetadataInput<'a> {
    /// The issuer identifier (byte-exact in the document, RFC 8414 §3.3).
    pub issuer: &'a str,
    /// The base URL of the conventional (no client certificate) listener.
    pub base_url: &'a str,
    /// The base URL of the mTLS listener, if there is one.
    pub mtls_base_url: Option<&'a str>,
    /// All scopes any client may request (omitted if none: RFC 8414 §3.2).
    pub scopes: Vec<String>,
    /// The JWS algorithm access tokens are signed with.
    pub signing_alg: &'a str,
    /// The grant types the token endpoint serves: only those are published (RFC 8414 §2), never
    /// one that is merely known or registrable.
    pub grant_types: &'a [GrantType],
    /// The algorithms accepted for DPoP proofs (`dpop_signing_alg_values_supported`, RFC 9449
    /// §5.1); omitted when empty.
    pub dpop_algs: &'a [DpopAlg],
}

/// The endpoints that accept client authentication, aliased on the mTLS listener (RFC 8705 §5):
/// only endpoints a client calls directly. PAR (RFC 9126) is one: the client authenticates there
/// exactly as at the token endpoint. The authorization endpoint never is (the browser calls it).
pub const MTLS_ALIASED: [(&str, &str); 4] = [
    ("token_endpoint", "/token"),
    ("introspection_endpoint", "/introspect"),
    ("revocation_endpoint", "/revoke"),
    ("pushed_authorization_request_endpoint", "/par"),
];

/// The members listing the algorithms `private_key_jwt` assertions may be signed with, one per
/// endpoint that publishes its authentication methods (RFC 8414 §2).
pub const ASSERTION_ALG_MEMBERS: [&str; 3] = [
    "token_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
];

/// The members of the authorization code flow that the RFC 8414 document carries too (RFC 8414
/// §2, RFC 9126 §5, RFC 9207 §3, RFC 7636 §6.2), taken from the OpenID discovery members so the
/// two documents cannot disagree. The OpenID-only members (subject types, ID token algorithms,
/// claims, logout) are in `/.well-known/openid-configuration` only.
pub const AUTHORIZATION_CODE_MEMBERS: [&str; 8] = [
    "authorization_endpoint",
    "pushed_authorization_request_endpoint",
    "require_pushed_authorization_requests",
    "userinfo_endpoint",
    "response_types_supported",
    "response_modes_supported",
    "code_challenge_methods_supported",
    "authorization_response_iss_parameter_supported",
];

/// Both discovery documents: the RFC 8414 one (`/.well-known/oauth-authorization-server`), and
/// the OpenID Connect Discovery one (`/.well-known/openid-configuration`), which is the RFC 8414
/// document with every member of `openid` merged in ([`OpenIdDiscovery::merge_into`]). The
/// RFC 8414 document takes [`AUTHORIZATION_CODE_MEMBERS`] and the mTLS aliases from the merged
/// one, so every member the two share has the same value; only `scopes_supported` differs, the
/// OpenID one always listing `openid`.
pub fn discovery_documents(input: &MetadataInput<'_>, openid: &OpenIdDiscovery) -> (Value, Value) {
    let mut oauth = authorization_server_metadata(input);
    let mut oidc = oauth.clone();
    openid.merge_into(&mut oidc);
    if let (Some(doc), Some(merged)) = (oauth.as_object_mut(), oidc.as_object()) {
        for name in AUTHORIZATION_CODE_MEMBERS {
            if let Some(v) = merged.get(name) {
                doc.insert(name.to_owned(), v.clone());
            }
        }
        if let Some(aliases) = merged.get("mtls_endpoint_aliases") {
            doc.insert("mtls_endpoint_aliases".to_owned(), aliases.clone());
        }
    }
    (oauth, oidc)
}

/// Builds the base document (client-facing endpoints, authentication methods, RFC 8705). Members
/// with no values are omitted, never `[]` (RFC 8414 §3.2); [`discovery_documents`] adds the
/// authorization code flow's.
pub fn authorization_server_metadata(input: &MetadataInput<'_>) -> Value {
    let base = input.base_url.trim_end_matches('/');
    let methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let mut doc = Map::new();
    doc.insert("issuer".into(), json!(input.issuer));
    for (name, path) in MTLS_ALIASED {
        doc.insert(name.into(), json!(format!("{base}{path}")));
    }
    doc.insert("jwks_uri".into(), json!(format!("{base}/jwks")));
    let grants: Vec<&str> = input.grant_types.iter().map(|g| g.as_str()).collect();
    if !grants.is_empty() {
        doc.insert("grant_types_supported".into(), json!(grants));
    }
    doc.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    doc.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    doc.insert(
        "revocation_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    // RFC 8414 §2: present because `private_key_jwt` is listed; never `none` or HS*.
    let assertion_algs: Vec<&str> = FAPI_ALGORITHMS.iter().map(|a| a.as_str()).collect();
    for name in ASSERTION_ALG_MEMBERS {
        doc.insert(name.into(), json!(assertion_algs));
    }
    doc.insert(
        "tls_client_certificate_bound_access_tokens".into(),
        json!(true),
    );
    // RFC 9449 §5.1: the algorithms the token endpoint accepts for DPoP proofs.
    let dpop_algs: Vec<&str> = input.dpop_algs.iter().map(|a| a.as_str()).collect();
    if !dpop_algs.is_empty() {
        doc.insert("dpop_signing_alg_values_supported".into(), json!(dpop_algs));
    }
    if !input.scopes.is_empty() {
        doc.insert("scopes_supported".into(), json!(input.scopes));
    }
    doc.insert(
        "access_token_signing_alg_values_supported".into(),
        json!([input.signing_alg]),
    );
    // Introspection answers in JWT form (RFC 9701 §6) are signed with the same key.
    doc.insert(
        "introspection_signing_alg_values_supported".into(),
        json!([input.signing_alg]),
    );
    if let Some(mtls) = input.mtls_base_url {
        let mtls = mtls.trim_end_matches('/');
        let aliases: Map<String, Value> = MTLS_ALIASED
            .iter()
            .map(|(name, path)| ((*name).to_owned(), json!(format!("{mtls}{path}"))))
            .collect();
        doc.insert("mtls_endpoint_aliases".into(), Value::Object(aliases));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_rfc8705_members_and_no_empty_arrays() {
        let doc = authorization_server_metadata(&MetadataInput {
            issuer: "https://as.example",
            base_url: "https://as.example/",
            mtls_base_url: Some("https://mtls.as.example"),
            scopes: vec![],
            signing_alg: "ES256",
            grant_types: &[GrantType::ClientCredentials],
            dpop_algs: &DpopAlg::ALL,
        });
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            json!(["PS256", "ES256", "EdDSA"])
        );
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(doc["issuer"], "https://as.example");
        assert_eq!(doc["token_endpoint"], "https://as.example/token");
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
        let aliases = doc["mtls_endpoint_aliases"].as_object().unwrap();
        for (k, v) in aliases {
            assert!(k.ends_with("_endpoint"));
            assert!(doc.get(k).is_some(), "alias {k} must also be top-level");
            assert!(v.as_str().unwrap().starts_with("https://mtls.as.example/"));
        }
        assert!(!aliases.contains_key("authorization_endpoint"));
        assert!(doc.get("scopes_supported").is_none());
        assert_eq!(
            doc["introspection_signing_alg_values_supported"],
            json!(["ES256"])
        );
        fn no_empty(v: &Value) {
            match v {
                Value::Array(a) => assert!(!a.is_empty()),
                Value::Object(o) => o.values().for_each(no_empty),
                _ => {}
            }
        }
        no_empty(&doc);
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.iter().any(|m| m == "tls_client_auth"));
        assert!(methods.iter().any(|m| m == "self_signed_tls_client_auth"));
        assert!(methods.iter().any(|m| m == "private_key_jwt"));
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(["PS256", "ES256", "EdDSA"])
        );
    }

    #[test]
    fn both_documents_agree_and_golden_member_names() {
        use crate::oidc::DiscoveryInput;
        let algs = vec!["ES256".to_owned()];
        let scopes = vec!["accounts".to_owned()];
        let input = MetadataInput {
            issuer: "https://as.example",
            base_url: "https://as.example",
            mtls_base_url: Some("https://mtls.as.example"),
            scopes: scopes.clone(),
            signing_alg: "ES256",
            grant_types: &GrantType::ALL,
            dpop_algs: &DpopAlg::ALL,
        };
        let openid = OpenIdDiscovery::new(&DiscoveryInput {
            base_url: "https://as.example",
            mtls_base_url: Some("https://mtls.as.example"),
            require_par: false,
            id_token_signing_algs: &algs,
            scopes: &scopes,
        });
        let (oauth, oidc) = discovery_documents(&input, &openid);
        let names = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let mut want_oauth = vec![
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
        want_oauth.sort();
        assert_eq!(names(&oauth), want_oauth);
        let mut want_oidc = want_oauth.clone();
        want_oidc.extend([
            "claims_parameter_supported",
            "claims_supported",
            "end_session_endpoint",
            "id_token_signing_alg_values_supported",
            "request_parameter_supported",
            "request_uri_parameter_supported",
            "subject_types_supported",
        ]);
        want_oidc.sort();
        assert_eq!(names(&oidc), want_oidc);
        for (k, v) in oauth.as_object().unwrap() {
            if k != "scopes_supported" {
                assert_eq!(&oidc[k], v, "{k} differs");
            }
        }
        assert_eq!(oauth["scopes_supported"], json!(["accounts"]));
        assert_eq!(oidc["scopes_supported"], json!(["accounts", "openid"]));
        assert_eq!(
            oauth["grant_types_supported"],
            json!(["client_credentials", "authorization_code", "refresh_token"])
        );
        assert_eq!(oauth["response_types_supported"], json!(["code"]));
        assert_eq!(oauth["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(oauth["require_pushed_authorization_requests"], false);
        let aliases = oauth["mtls_endpoint_aliases"].as_object().unwrap();
        assert_eq!(
            aliases["userinfo_endpoint"],
            "https://mtls.as.example/userinfo"
        );
        assert_eq!(
            aliases["pushed_authorization_request_endpoint"],
            "https://mtls.as.example/par"
        );
        assert!(!aliases.contains_key("authorization_endpoint"));
        for k in aliases.keys() {
            assert!(oauth.get(k).is_some(), "alias {k} must also be top-level");
        }
    }
}
