//! The deployment profile (`profile = "oauth2" | "fapi2"`): under `fapi2` the configuration and
//! every registered client are held to the FAPI 2.0 Security Profile (Final) rules that can be
//! decided from configuration alone. [`fapi2_violations`] is the one pure rule function; the
//! loader refuses a configuration that breaks any rule, `certbound config check` prints them, and
//! [`restrict_metadata`] makes the discovery documents advertise only what is enforced.

use crate::config::{AssertionAudience, Config};
use certbound_core::client::{AssertionKeys, AuthMethod, ClientCredential, RegisteredClient};
use serde::Deserialize;

/// The top-level `profile` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Plain OAuth 2.0 with RFC 8705: every feature available, no FAPI rule enforced.
    #[default]
    Oauth2,
    /// FAPI 2.0 Security Profile: only the FAPI client authentication methods, sender-constrained
    /// tokens, PAR, short codes, no refresh token rotation, FAPI algorithms, issuer-only `aud`.
    Fapi2,
}

impl Profile {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Oauth2 => "oauth2",
            Profile::Fapi2 => "fapi2",
        }
    }
}

/// The client authentication methods FAPI 2.0 allows (§5.3.2.1-6), in metadata order.
pub const FAPI2_AUTH_METHODS: [AuthMethod; 3] = [
    AuthMethod::TlsClientAuth,
    AuthMethod::SelfSignedTlsClientAuth,
    AuthMethod::PrivateKeyJwt,
];

/// The JWS algorithms FAPI 2.0 allows (§5.4.1-1).
pub const FAPI2_ALGS: [&str; 3] = ["ES256", "PS256", "EdDSA"];

/// The longest authorization code lifetime FAPI 2.0 allows (§5.3.2.1-11).
pub const FAPI2_MAX_CODE_TTL_SECONDS: u32 = 60;

/// One broken FAPI 2.0 rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The requirement, e.g. `FAPI 2.0 SP §5.3.2.1-6 (client authentication)`.
    pub rule: &'static str,
    /// The client at fault, if the rule is about one client.
    pub client_id: Option<String>,
    /// The configuration key at fault: a top-level key (`authorization.code_ttl_seconds`) or,
    /// for a client, its metadata field (`token_endpoint_auth_method`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]; fix: {}", self.problem, self.rule, self.fix)
    }
}

/// Every FAPI 2.0 rule `config` and `clients` break, configuration rules first, then clients in
/// order. Pure: no I/O, the same answer at load, in `config check` and in tests.
pub fn fapi2_violations(config: &Config, clients: &[RegisteredClient]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut global = |rule, key: &str, problem: String, fix: String| {
        out.push(Violation {
            rule,
            client_id: None,
            key: key.to_owned(),
            problem,
            fix,
        })
    };
    let a = &config.authorization;
    if a.code_ttl_seconds > FAPI2_MAX_CODE_TTL_SECONDS {
        global(
            "FAPI 2.0 SP §5.3.2.1-11 (authorization code lifetime)",
            "authorization.code_ttl_seconds",
            format!(
                "authorization codes live {} s; FAPI 2.0 allows at most {FAPI2_MAX_CODE_TTL_SECONDS} s",
                a.code_ttl_seconds
            ),
            format!("set [authorization] code_ttl_seconds to {FAPI2_MAX_CODE_TTL_SECONDS} or less"),
        );
    }
    if a.refresh_token_rotation {
        global(
            "FAPI 2.0 SP §5.3.2.1-9 (no refresh token rotation)",
            "authorization.refresh_token_rotation",
            "refresh tokens are rotated; FAPI 2.0 forbids rotation (its test suite reuses the old refresh token)".into(),
            "set [authorization] refresh_token_rotation = false (and remove refresh_token_reuse_grace_seconds)".into(),
        );
    }
    if !FAPI2_ALGS.contains(&config.tokens.signing_alg.as_str()) {
        global(
            "FAPI 2.0 SP §5.4.1-1 (algorithms)",
            "tokens.signing_alg",
            format!(
                "tokens are signed with '{}', not a FAPI 2.0 algorithm",
                config.tokens.signing_alg
            ),
            "set [tokens] signing_alg to ES256, PS256 or EdDSA".into(),
        );
    }
    if config.client_auth.assertion_audience != AssertionAudience::Issuer {
        global(
            "FAPI 2.0 SP §5.3.2.1-8 (client assertion audience)",
            "client_auth.assertion_audience",
            "private_key_jwt assertions may carry an endpoint URL or an array as aud; FAPI 2.0 Final accepts only the issuer, as a string".into(),
            "set [client_auth] assertion_audience = \"issuer\"".into(),
        );
    }
    for client in clients {
        out.extend(client_violations(client));
    }
    out
}

/// The FAPI 2.0 rules one client breaks (also applied to clients registered at run time).
pub fn client_violations(client: &RegisteredClient) -> Vec<Violation> {
    let mut out = Vec::new();
    let method = client.credential.method();
    let id = &client.client_id;
    if !FAPI2_AUTH_METHODS.contains(&method) {
        out.push(Violation {
            rule: "FAPI 2.0 SP §5.3.2.1-6 (client authentication)",
            client_id: Some(id.clone()),
            key: "token_endpoint_auth_method".into(),
            problem: format!("client '{id}' authenticates with {method}, a shared secret"),
            fix: format!(
                "register '{id}' with tls_client_auth, self_signed_tls_client_auth or private_key_jwt"
            ),
        });
    }
    // Either sender constraint satisfies the rule: certificate binding or DPoP binding
    // (`dpop_bound_access_tokens`: the token endpoint then requires a proof).
    if !client.bound_tokens && !client.dpop_bound {
        out.push(Violation {
            rule: "FAPI 2.0 SP §5.3.2.1-4 (sender-constrained access tokens)",
            client_id: Some(id.clone()),
            key: "tls_client_certificate_bound_access_tokens".into(),
            problem: format!("client '{id}' gets access tokens not bound to a certificate or a DPoP key"),
            fix: format!(
                "set tls_client_certificate_bound_access_tokens = true (or dpop_bound_access_tokens = true) for '{id}'"
            ),
        });
    }
    // §5.4.1-2/-3: RSA keys of at least 2048 bits, elliptic curves of at least 224 bits. Inline
    // keys are checked here; keys behind `jwks_uri` are checked when used (verification refuses
    // weak keys).
    if let ClientCredential::PrivateKeyJwt {
        keys: AssertionKeys::Inline(jwks),
        ..
    } = &client.credential
    {
        for (index, why) in certbound_core::client_assertion::weak_keys(jwks) {
            out.push(Violation {
                rule: "FAPI 2.0 SP §5.4.1-2 (key sizes)",
                client_id: Some(id.clone()),
                key: format!("jwks.keys[{index}]"),
                problem: format!("client '{id}' registers {why}"),
                fix: format!(
                    "register an RSA key of at least 2048 bits, a P-256 key or an Ed25519 key for '{id}'"
                ),
            });
        }
    }
    out
}

/// Makes the discovery documents advertise only what the `fapi2` profile enforces: the FAPI
/// client authentication methods and `require_pushed_authorization_requests: true`.
pub fn restrict_metadata(doc: &mut serde_json::Value) {
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    let methods: Vec<&str> = FAPI2_AUTH_METHODS.iter().map(|m| m.as_str()).collect();
    for name in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        if doc.contains_key(name) {
            doc.insert(name.to_owned(), serde_json::json!(methods));
        }
    }
    doc.insert(
        "require_pushed_authorization_requests".to_owned(),
        serde_json::Value::Bool(true),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ValidatedConfig;

    const BASE: &str = r#"
issuer = "https://as.example"
[listen]
https = "127.0.0.1:8443"
mtls = "127.0.0.1:8444"
mtls_url = "https://mtls.as.example"
[tls]
cert = "server.pem"
key = "server.key"
client_ca = ["ca.pem"]
"#;
    const STRICT_AUD: &str = "[client_auth]\nassertion_audience = \"issuer\"\n";
    const BOUND: &str = "[[clients]]\nclient_id = \"bank\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=bank\"\ntls_client_certificate_bound_access_tokens = true\n";
    const SECRET: &str = "[[clients]]\nclient_id = \"legacy\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\n";

    fn load(profile: &str, text: &str) -> Result<ValidatedConfig, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        for f in ["server.pem", "server.key", "ca.pem"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let text = format!("profile = \"{profile}\"\n{BASE}{text}");
        crate::config::Config::from_toml(&text, "c.toml", dir.path(), |_| None)
    }

    fn rules(text: &str) -> Vec<(Option<String>, String)> {
        let v = load("oauth2", text).unwrap();
        fapi2_violations(&v.config, &v.clients)
            .into_iter()
            .map(|v| (v.client_id, v.key))
            .collect()
    }

    #[test]
    fn a_clean_fapi2_configuration_has_no_violation_and_forces_par() {
        let v = load("fapi2", &format!("{STRICT_AUD}{BOUND}")).unwrap();
        assert_eq!(v.config.profile, Profile::Fapi2);
        assert!(fapi2_violations(&v.config, &v.clients).is_empty());
        assert!(v.config.authorization.require_pushed_authorization_requests);
        let v = load("oauth2", &format!("{STRICT_AUD}{BOUND}")).unwrap();
        assert!(!v.config.authorization.require_pushed_authorization_requests);
    }

    #[test]
    fn each_rule_is_reported_with_its_key() {
        assert_eq!(
            rules(BOUND),
            [(None, "client_auth.assertion_audience".to_owned())]
        );
        let cases = [
            (
                "[authorization]\ncode_ttl_seconds = 61\n",
                "authorization.code_ttl_seconds",
            ),
            (
                "[authorization]\nrefresh_token_rotation = true\n",
                "authorization.refresh_token_rotation",
            ),
        ];
        for (table, key) in cases {
            assert_eq!(
                rules(&format!("{STRICT_AUD}{table}{BOUND}")),
                [(None, key.to_owned())],
                "{table}"
            );
        }
        let unbound = BOUND.replace("tls_client_certificate_bound_access_tokens = true\n", "");
        assert_eq!(
            rules(&format!("{STRICT_AUD}{unbound}")),
            [(
                Some("bank".to_owned()),
                "tls_client_certificate_bound_access_tokens".to_owned()
            )]
        );
        // A secret client breaks two rules: the method, and no sender constraint.
        assert_eq!(
            rules(&format!("{STRICT_AUD}{BOUND}{SECRET}")),
            [
                (
                    Some("legacy".to_owned()),
                    "token_endpoint_auth_method".to_owned()
                ),
                (
                    Some("legacy".to_owned()),
                    "tls_client_certificate_bound_access_tokens".to_owned()
                )
            ]
        );
        // A private_key_jwt client with a 1024-bit RSA key beside a P-256 one: the weak key is
        // named by its index.
        let n_1024 = "w".repeat(171);
        let weak = format!(
            "[[clients]]\nclient_id = \"pk\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
             tls_client_certificate_bound_access_tokens = true\n\
             jwks = {{ keys = [{{ kty = \"EC\", crv = \"P-256\", kid = \"a\", x = \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\", y = \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\" }}, \
             {{ kty = \"RSA\", kid = \"b\", n = \"{n_1024}\", e = \"AQAB\" }}] }}\n"
        );
        assert_eq!(
            rules(&format!("{STRICT_AUD}{BOUND}{weak}")),
            [(Some("pk".to_owned()), "jwks.keys[1]".to_owned())]
        );
        // The loader rejects other algorithms already; the rule holds on its own.
        let mut v = load("oauth2", &format!("{STRICT_AUD}{BOUND}")).unwrap();
        v.config.tokens.signing_alg = "RS256".into();
        let found = fapi2_violations(&v.config, &v.clients);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "tokens.signing_alg");
        assert!(found[0].rule.contains("5.4.1-1"), "{}", found[0].rule);
    }

    #[test]
    fn fapi2_refuses_at_load_with_one_line_per_violation() {
        let text = format!("[authorization]\ncode_ttl_seconds = 120\n{BOUND}{SECRET}");
        let e = load("fapi2", &text).unwrap_err();
        assert_eq!(e.key, "profile");
        let lines: Vec<&str> = e.message.lines().skip(1).collect();
        assert_eq!(lines.len(), 4, "{}", e.message);
        assert!(
            lines[0].contains("authorization.code_ttl_seconds") && lines[0].contains("§5.3.2.1-11")
        );
        assert!(
            lines[1].contains("client_auth.assertion_audience") && lines[1].contains("\"issuer\"")
        );
        assert!(lines[2].starts_with("  clients[1].token_endpoint_auth_method: client 'legacy'"));
        assert!(
            lines[2].contains("§5.3.2.1-6")
                && lines[2].contains("fix: register 'legacy' with tls_client_auth")
        );
        assert!(lines[3].contains("clients[1].tls_client_certificate_bound_access_tokens"));
        // The same text loads under the default profile.
        assert!(load("oauth2", &text).is_ok());
        assert!(load("fapi3", "").unwrap_err().message.contains("fapi3"));
    }

    #[test]
    fn run_time_clients_are_held_to_the_profile() {
        let v = load("fapi2", &format!("{STRICT_AUD}{BOUND}")).unwrap();
        let meta: certbound_core::client::ClientMetadata = toml::from_str(
            "client_id = \"late\"\ntoken_endpoint_auth_method = \"client_secret_post\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        let (key, message) = v.config.register(&meta, &v.base).unwrap_err();
        assert_eq!(key, "token_endpoint_auth_method");
        assert!(message.contains("client 'late'"), "{message}");
        assert!(v.config.register_unchecked(&meta, &v.base).is_ok());
    }

    #[test]
    fn metadata_lists_only_enforced_methods() {
        let mut doc = serde_json::json!({
            "token_endpoint_auth_methods_supported": ["tls_client_auth", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post"],
            "require_pushed_authorization_requests": false,
        });
        restrict_metadata(&mut doc);
        let want = serde_json::json!([
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "private_key_jwt"
        ]);
        assert_eq!(doc["token_endpoint_auth_methods_supported"], want);
        assert_eq!(doc["revocation_endpoint_auth_methods_supported"], want);
        assert!(doc
            .get("introspection_endpoint_auth_methods_supported")
            .is_none());
        assert_eq!(doc["require_pushed_authorization_requests"], true);
    }
}
