//! Grant types (RFC 6749 §4, RFC 7591 §2 `grant_types`) and response types (RFC 7591 §2
//! `response_types`) as closed enums, so a client's registration, the token endpoint's dispatch
//! and the metadata document are all derived from one list.

use crate::error::{OAuthError, OAuthErrorCode};
use std::fmt;

/// A grant type certbound knows by name. Knowing a name does not mean the token endpoint serves
/// it: the server publishes and dispatches only the grants it implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4): a client acting on its own behalf.
    ClientCredentials,
    /// `authorization_code` (RFC 6749 §4.1, with PKCE): a user signs in at the authorization
    /// endpoint and the client redeems the code.
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6): a new access token from a grant the user already gave.
    RefreshToken,
}

/// A `grant_type` value that names no grant certbound knows. At the token endpoint it is answered
/// with `unsupported_grant_type` (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("grant_type '{0}' is not supported")]
pub struct UnknownGrantType(pub String);

impl From<UnknownGrantType> for OAuthError {
    fn from(e: UnknownGrantType) -> Self {
        OAuthError::new(OAuthErrorCode::UnsupportedGrantType, e.to_string())
    }
}

impl GrantType {
    /// Every grant type, in the order registrations and documents list them.
    pub const ALL: [GrantType; 3] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
    ];

    /// The registered name (RFC 7591 §2, RFC 8414 §2).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    /// Parses a registered name, byte for byte (grant type names are case-sensitive).
    pub fn parse(name: &str) -> Result<GrantType, UnknownGrantType> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| UnknownGrantType(name.to_owned()))
    }

    /// The answer to a token request for a grant this server knows but does not serve: the same
    /// `unsupported_grant_type` as for an unknown name, so nothing tells the two apart.
    pub fn not_served(self) -> OAuthError {
        UnknownGrantType(self.as_str().to_owned()).into()
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grant types one client may use, each at most once, in registration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    /// The set of `grants` (duplicates dropped).
    pub fn new(grants: impl IntoIterator<Item = GrantType>) -> Self {
        let mut set = Vec::new();
        for g in grants {
            if !set.contains(&g) {
                set.push(g);
            }
        }
        GrantTypes(set)
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    /// Whether the client may use no grant at all (e.g. a resource server that only introspects).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The grants, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<GrantType> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        GrantTypes::new(iter)
    }
}

/// A response type of the authorization endpoint (RFC 6749 §3.1.1). Only `code`: FAPI 2.0 and
/// OAuth 2.1 remove the implicit and hybrid flows, so `token` and `id_token` are never accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseType {
    /// `code`: the authorization code flow.
    Code,
}

impl ResponseType {
    /// Every response type certbound implements.
    pub const ALL: [ResponseType; 1] = [ResponseType::Code];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
        }
    }

    /// Parses a registered name, byte for byte.
    pub fn parse(name: &str) -> Option<ResponseType> {
        ResponseType::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_exact() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Ok(g));
            assert_eq!(g.to_string(), g.as_str());
        }
        for bad in [
            "",
            "password",
            "Client_Credentials",
            "client_credentials ",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token\0",
        ] {
            assert_eq!(GrantType::parse(bad), Err(UnknownGrantType(bad.to_owned())));
        }
    }

    #[test]
    fn unknown_and_unserved_grants_get_the_same_oauth_error() {
        let unknown: OAuthError = GrantType::parse("password").unwrap_err().into();
        assert_eq!(unknown.code, OAuthErrorCode::UnsupportedGrantType);
        assert_eq!(
            unknown.description,
            "grant_type 'password' is not supported"
        );
        let unserved = GrantType::AuthorizationCode.not_served();
        assert_eq!(unserved.code, OAuthErrorCode::UnsupportedGrantType);
        assert_eq!(
            unserved.description,
            "grant_type 'authorization_code' is not supported"
        );
    }

    #[test]
    fn grant_sets_drop_duplicates_and_answer_allows() {
        let set = GrantTypes::new([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::AuthorizationCode,
        ]);
        assert_eq!(set.iter().count(), 2);
        assert!(set.allows(GrantType::RefreshToken));
        assert!(!set.allows(GrantType::ClientCredentials));
        assert!(GrantTypes::default().is_empty());
    }

    #[test]
    fn only_code_is_a_response_type() {
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        for bad in ["token", "id_token", "code id_token", "Code", ""] {
            assert_eq!(ResponseType::parse(bad), None);
        }
    }
}
