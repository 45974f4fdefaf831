//! The RFC 8414 authorization server metadata document, with the RFC 8705 members.

use crate::client::AuthMethod;
use crate::grant::GrantType;
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

/// Builds the document. Members with no values are omitted, never `[]` (RFC 8414 §3.2);
/// `response_types_supported` is therefore absent: certbound has no authorization endpoint yet.
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
    doc.insert(
        "tls_client_certificate_bound_access_tokens".into(),
        json!(true),
    );
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
        });
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
    }
}
