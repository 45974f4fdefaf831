//! Access token contents: RFC 9068 JWT claims with the RFC 8705 §3.1 confirmation, and the
//! RFC 7662 introspection response built from them.

use crate::binding::Binding;
use crate::identity::thumbprint::Thumbprint;
use serde::{Deserialize, Serialize};

/// The claims of an access token (RFC 9068 §2.2), whatever its format: a JWT carries them signed,
/// an opaque token has them stored beside its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer identifier.
    pub iss: String,
    /// Subject: the client itself for client_credentials.
    pub sub: String,
    /// Audience: the resource server(s) the token is for.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique token identifier (also the revocation handle for JWTs).
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated; omitted when none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// The binding (`cnf`), when the client is bound.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Binding>,
}

impl AccessTokenClaims {
    /// The thumbprint the token is bound to, if any.
    pub fn bound_thumbprint(&self) -> Option<Thumbprint> {
        self.cnf
            .as_ref()
            .and_then(Binding::certificate_thumbprint)
            .cloned()
    }

    /// Whether the token is expired at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.exp
    }
}

/// An RFC 7662 introspection response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Present only for active tokens; `cnf` sits at the top level (RFC 8705 §3.2).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub claims: Option<IntrospectedClaims>,
}

/// The members of an active token's introspection response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectedClaims {
    /// The token's claims.
    #[serde(flatten)]
    pub claims: AccessTokenClaims,
    /// Always `Bearer`: binding is conveyed by `cnf`, the token type does not change (RFC 8705 §3).
    pub token_type: String,
}

impl Introspection {
    /// `{"active": false}` and nothing else (RFC 7662 §2.2).
    pub fn inactive() -> Self {
        Introspection {
            active: false,
            claims: None,
        }
    }

    /// An active token's response.
    pub fn active(claims: AccessTokenClaims) -> Self {
        Introspection {
            active: true,
            claims: Some(IntrospectedClaims {
                claims,
                token_type: "Bearer".to_owned(),
            }),
        }
    }
}

/// The JWS `typ` of an introspection response in JWT form (RFC 9701 §5). Resource servers accept
/// only `at+jwt` as an access token, so a signed introspection answer can never be replayed as one.
pub const INTROSPECTION_JWT_TYPE: &str = "token-introspection+jwt";

/// The media type a caller asks for (`Accept`) and receives (`Content-Type`) (RFC 9701 §4, §5).
pub const INTROSPECTION_JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The claims of an introspection response in JWT form (RFC 9701 §5): who answered, for whom,
/// when, and the RFC 7662 answer itself. There is deliberately no top-level `exp`, `sub` or
/// `scope` (RFC 9701 §8.1): the document is a statement about a token, not a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionJwtClaims {
    /// The authorization server's issuer identifier.
    pub iss: String,
    /// The authenticated caller's client_id (the resource server that asked).
    pub aud: String,
    /// When the answer was given.
    pub iat: i64,
    /// The RFC 7662 response: `{"active": false}` or the token's members.
    pub token_introspection: Introspection,
}

/// Resolves the scope of a client_credentials request (RFC 6749 §3.3): the registered scopes when
/// none is requested; otherwise every requested scope must be registered for the client.
pub fn grant_scope(registered: &[String], requested: Option<&str>) -> Result<Vec<String>, String> {
    let Some(requested) = requested else {
        return Ok(registered.to_vec());
    };
    let wanted = crate::client::parse_scope(requested)?;
    if let Some(extra) = wanted.iter().find(|s| !registered.contains(s)) {
        return Err(format!("scope '{extra}' is not allowed for this client"));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(cnf: bool) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as".into(),
            sub: "c".into(),
            aud: "https://api".into(),
            exp: 200,
            iat: 100,
            jti: "j".into(),
            client_id: "c".into(),
            scope: Some("read".into()),
            cnf: cnf.then(|| Binding::Certificate {
                x5t_s256: Thumbprint::from_claim("abc"),
            }),
        }
    }

    #[test]
    fn cnf_is_serialised_with_the_registered_member_name() {
        let v = serde_json::to_value(claims(true)).unwrap();
        assert_eq!(v["cnf"]["x5t#S256"], "abc");
        let unbound = serde_json::to_value(claims(false)).unwrap();
        assert!(unbound.get("cnf").is_none());
    }

    #[test]
    fn introspection_puts_cnf_at_top_level_and_inactive_is_bare() {
        let v = serde_json::to_value(Introspection::active(claims(true))).unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["cnf"]["x5t#S256"], "abc");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(
            serde_json::to_string(&Introspection::inactive()).unwrap(),
            r#"{"active":false}"#
        );
    }

    #[test]
    fn the_jwt_form_nests_the_answer_and_has_no_token_claims_at_top_level() {
        let doc = IntrospectionJwtClaims {
            iss: "https://as".into(),
            aud: "gateway".into(),
            iat: 150,
            token_introspection: Introspection::active(claims(true)),
        };
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["aud"], "gateway");
        assert_eq!(v["token_introspection"]["active"], true);
        assert_eq!(v["token_introspection"]["cnf"]["x5t#S256"], "abc");
        assert_eq!(v["token_introspection"]["aud"], "https://api");
        for absent in ["exp", "sub", "scope", "cnf", "client_id", "jti"] {
            assert!(v.get(absent).is_none(), "{absent} at top level");
        }
    }

    #[test]
    fn scope_defaults_and_subsets() {
        let reg = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(grant_scope(&reg, None).unwrap(), reg);
        assert_eq!(grant_scope(&reg, Some("b")).unwrap(), vec!["b"]);
        assert!(grant_scope(&reg, Some("a c")).is_err());
    }
}
