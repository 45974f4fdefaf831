//! The OpenID Connect pieces of the code flow: ID token claims ([`id_token`]), claims by scope for
//! the ID token and `/userinfo` ([`claims`]), and the discovery members the user flows add to the
//! metadata document ([`OpenIdDiscovery`]).
//!
//! [`OpenIdDiscovery`] is one struct that both `/.well-known/openid-configuration` and
//! `/.well-known/oauth-authorization-server` are built from (merged into the RFC 8414 document),
//! so the two cannot drift apart (FAPI2.md §2.4 trap 4).

pub mod claims;
pub mod id_token;

pub use claims::{scoped_claims, userinfo, ScopedClaims, UserInfo, UserProfile};
pub use id_token::{IdTokenClaims, IdTokenInput};

use serde::Serialize;
use serde_json::{Map, Value};

/// Path of the authorization endpoint (conventional listener only; never an mTLS alias).
pub const AUTHORIZE_PATH: &str = "/authorize";
/// Path of the PAR endpoint (both listeners; aliased).
pub const PAR_PATH: &str = "/par";
/// Path of the userinfo endpoint (both listeners; aliased, because bound tokens are shown there).
pub const USERINFO_PATH: &str = "/userinfo";
/// Path of the RP-initiated logout endpoint.
pub const END_SESSION_PATH: &str = "/logout";

/// The endpoints of the user flows that a client calls directly, so they get mTLS aliases
/// (RFC 8705 §5). `/authorize` is deliberately absent (FAPI2.md §0 item 5).
pub const MTLS_ALIASED: [(&str, &str); 2] = [
    ("pushed_authorization_request_endpoint", PAR_PATH),
    ("userinfo_endpoint", USERINFO_PATH),
];

/// What the discovery members are built from.
#[derive(Clone, Debug)]
pub struct DiscoveryInput<'a> {
    /// The base URL of the conventional (browser) listener.
    pub base_url: &'a str,
    /// The base URL of the mTLS listener, if there is one.
    pub mtls_base_url: Option<&'a str>,
    /// Whether every client must use PAR (server-wide; FAPI forces it).
    pub require_par: bool,
    /// The algorithms ID tokens are signed with (FAPI: PS256, ES256, EdDSA only).
    pub id_token_signing_algs: &'a [String],
    /// All scopes any client may request; `openid` is added if missing.
    pub scopes: &'a [String],
}

/// The OpenID Connect Discovery 1.0 / RFC 8414 members the authorization code flow adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenIdDiscovery {
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5).
    pub pushed_authorization_request_endpoint: String,
    /// `require_pushed_authorization_requests`, always a boolean (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: String,
    /// `end_session_endpoint` (RP-Initiated Logout 1.0).
    pub end_session_endpoint: String,
    /// `["code"]`.
    pub response_types_supported: Vec<&'static str>,
    /// `["query"]`: never fragment.
    pub response_modes_supported: Vec<&'static str>,
    /// `["authorization_code", "refresh_token"]`, to be merged with the server's grant list.
    #[serde(skip)]
    pub user_grant_types: Vec<&'static str>,
    /// `["public"]`.
    pub subject_types_supported: Vec<&'static str>,
    /// `id_token_signing_alg_values_supported`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `claims_supported`.
    pub claims_supported: Vec<&'static str>,
    /// `scopes_supported`, containing `openid`.
    pub scopes_supported: Vec<String>,
    /// `["S256"]`.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `true`: `iss` is on every authorization response (RFC 9207 §3).
    pub authorization_response_iss_parameter_supported: bool,
    /// `false`: no `claims` request parameter.
    pub claims_parameter_supported: bool,
    /// `false`: no JAR `request` parameter.
    pub request_parameter_supported: bool,
    /// `false`: no front-channel `request_uri` other than PAR's (OIDD defaults this to `true`,
    /// so it must be stated).
    pub request_uri_parameter_supported: bool,
    /// Aliases of [`MTLS_ALIASED`] on the mTLS listener, merged into `mtls_endpoint_aliases`.
    #[serde(skip)]
    pub mtls_aliases: Vec<(&'static str, String)>,
}

impl OpenIdDiscovery {
    /// The members for `input`.
    pub fn new(input: &DiscoveryInput<'_>) -> OpenIdDiscovery {
        let base = input.base_url.trim_end_matches('/');
        let mut scopes: Vec<String> = Vec::with_capacity(input.scopes.len() + 1);
        if !input.scopes.iter().any(|s| s == claims::OPENID) {
            scopes.push(claims::OPENID.to_owned());
        }
        for s in input.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let mtls_aliases = match input.mtls_base_url {
            None => Vec::new(),
            Some(m) => {
                let m = m.trim_end_matches('/');
                MTLS_ALIASED
                    .iter()
                    .map(|(name, path)| (*name, format!("{m}{path}")))
                    .collect()
            }
        };
        OpenIdDiscovery {
            authorization_endpoint: format!("{base}{AUTHORIZE_PATH}"),
            pushed_authorization_request_endpoint: format!("{base}{PAR_PATH}"),
            require_pushed_authorization_requests: input.require_par,
            userinfo_endpoint: format!("{base}{USERINFO_PATH}"),
            end_session_endpoint: format!("{base}{END_SESSION_PATH}"),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            user_grant_types: vec!["authorization_code", "refresh_token"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: input.id_token_signing_algs.to_vec(),
            claims_supported: claims::CLAIMS_SUPPORTED.to_vec(),
            scopes_supported: scopes,
            code_challenge_methods_supported: vec![crate::pkce::S256],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            mtls_aliases,
        }
    }

    /// Merges these members into an RFC 8414 document (a JSON object): members are set (this
    /// struct wins for the ones it owns), `grant_types_supported` and `scopes_supported` are
    /// unions keeping existing order, and the aliases join `mtls_endpoint_aliases`. Empty arrays
    /// are never written (RFC 8414 §3.2). Anything but an object is left unchanged.
    pub fn merge_into(&self, doc: &mut Value) {
        let Some(obj) = doc.as_object_mut() else {
            return;
        };
        let Ok(Value::Object(members)) = serde_json::to_value(self) else {
            return;
        };
        for (name, value) in members {
            if matches!(&value, Value::Array(a) if a.is_empty()) {
                continue;
            }
            if name == "scopes_supported" {
                union_into(obj, &name, &value);
            } else {
                obj.insert(name, value);
            }
        }
        union_into(
            obj,
            "grant_types_supported",
            &Value::from(self.user_grant_types.clone()),
        );
        if !self.mtls_aliases.is_empty() {
            let aliases = obj
                .entry("mtls_endpoint_aliases")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(aliases) = aliases.as_object_mut() {
                for (name, url) in &self.mtls_aliases {
                    aliases.insert((*name).to_owned(), Value::from(url.clone()));
                }
            }
        }
    }
}

/// Adds the strings of `extra` to the array `obj[name]` (created if absent), keeping order and
/// skipping values already there.
fn union_into(obj: &mut Map<String, Value>, name: &str, extra: &Value) {
    let Some(extra) = extra.as_array() else {
        return;
    };
    let entry = obj
        .entry(name.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = entry.as_array_mut() {
        for v in extra {
            if !list.contains(v) {
                list.push(v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input<'a>(algs: &'a [String], scopes: &'a [String]) -> DiscoveryInput<'a> {
        DiscoveryInput {
            base_url: "https://as.example/",
            mtls_base_url: Some("https://mtls.as.example"),
            require_par: true,
            id_token_signing_algs: algs,
            scopes,
        }
    }

    #[test]
    fn members_match_fapi_expectations() {
        let algs = vec!["ES256".to_owned()];
        let scopes = vec!["accounts".to_owned()];
        let v = serde_json::to_value(OpenIdDiscovery::new(&input(&algs, &scopes))).unwrap();
        assert_eq!(v["authorization_endpoint"], "https://as.example/authorize");
        assert_eq!(
            v["pushed_authorization_request_endpoint"],
            "https://as.example/par"
        );
        assert_eq!(v["require_pushed_authorization_requests"], true);
        assert_eq!(v["response_types_supported"], json!(["code"]));
        assert_eq!(v["response_modes_supported"], json!(["query"]));
        assert_eq!(v["subject_types_supported"], json!(["public"]));
        assert_eq!(v["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(v["authorization_response_iss_parameter_supported"], true);
        assert_eq!(v["request_uri_parameter_supported"], false);
        assert_eq!(v["id_token_signing_alg_values_supported"], json!(["ES256"]));
        assert_eq!(v["scopes_supported"], json!(["openid", "accounts"]));
        assert!(v["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("sub")));
        assert!(v.get("mtls_aliases").is_none() && v.get("user_grant_types").is_none());
    }

    #[test]
    fn merging_keeps_existing_members_and_never_aliases_authorize() {
        let algs = vec!["ES256".to_owned()];
        let scopes = vec!["openid".to_owned(), "profile".to_owned()];
        let mut doc = json!({
            "issuer": "https://as.example",
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["accounts", "openid"],
            "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.as.example/token"}
        });
        OpenIdDiscovery::new(&input(&algs, &scopes)).merge_into(&mut doc);
        assert_eq!(doc["issuer"], "https://as.example");
        assert_eq!(
            doc["grant_types_supported"],
            json!(["client_credentials", "authorization_code", "refresh_token"])
        );
        assert_eq!(
            doc["scopes_supported"],
            json!(["accounts", "openid", "profile"])
        );
        let aliases = doc["mtls_endpoint_aliases"].as_object().unwrap();
        assert_eq!(aliases["token_endpoint"], "https://mtls.as.example/token");
        assert_eq!(
            aliases["pushed_authorization_request_endpoint"],
            "https://mtls.as.example/par"
        );
        assert_eq!(
            aliases["userinfo_endpoint"],
            "https://mtls.as.example/userinfo"
        );
        assert!(!aliases.contains_key("authorization_endpoint"));
        assert!(!aliases.contains_key("end_session_endpoint"));
    }

    #[test]
    fn no_empty_arrays_are_merged() {
        let scopes = vec![];
        let mut doc = json!({});
        let mut d = OpenIdDiscovery::new(&DiscoveryInput {
            mtls_base_url: None,
            ..input(&[], &scopes)
        });
        d.claims_supported.clear();
        d.merge_into(&mut doc);
        assert!(doc.get("id_token_signing_alg_values_supported").is_none());
        assert!(doc.get("claims_supported").is_none());
        assert!(doc.get("mtls_endpoint_aliases").is_none());
        assert_eq!(doc["scopes_supported"], json!(["openid"]));
    }
}
