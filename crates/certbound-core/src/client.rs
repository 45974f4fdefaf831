//! Registered clients: RFC 7591 metadata as written in configuration, and the validated form the
//! authentication decision works on.
//!
//! Validation happens once, at load: a registered DN that does not parse, two subject fields on one
//! client, a secret on a certificate client are configuration errors that name the field and the
//! fix, never surprises at request time.

pub mod redirect_uri;

use crate::client_assertion::{validate_client_jwks, AssertionAlg};
use crate::grant::{GrantType, GrantTypes, ResponseType};
use crate::identity::dn::DistinguishedName;
use crate::identity::san::SanMatcher;
use crate::jwks;
use crate::secret::SecretHash;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A client as declared in configuration, with RFC 7591 (and RFC 8705 §2.1.2) metadata names.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// `client_id`.
    pub client_id: String,
    /// `token_endpoint_auth_method`: `tls_client_auth`, `self_signed_tls_client_auth`,
    /// `private_key_jwt`, `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    /// Plaintext secret for `client_secret_*` clients; hashed with argon2id at load and dropped.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// Alternatively, the argon2 PHC hash of the secret, so the plaintext is never on disk.
    #[serde(default)]
    pub client_secret_hash: Option<String>,
    /// Expected subject DN (RFC 4514) of a `tls_client_auth` client's certificate.
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    /// Expected dNSName SAN.
    #[serde(default)]
    pub tls_client_auth_san_dns: Option<String>,
    /// Expected URI SAN.
    #[serde(default)]
    pub tls_client_auth_san_uri: Option<String>,
    /// Expected iPAddress SAN.
    #[serde(default)]
    pub tls_client_auth_san_ip: Option<String>,
    /// Expected rfc822Name SAN.
    #[serde(default)]
    pub tls_client_auth_san_email: Option<String>,
    /// Inline JWK Set of a `self_signed_tls_client_auth` client (its certificates in `x5c`) or of
    /// a `private_key_jwt` client (the public keys its assertions are signed with).
    #[serde(default)]
    pub jwks: Option<Value>,
    /// HTTPS URL of the JWK Set of a `self_signed_tls_client_auth` or `private_key_jwt` client.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `token_endpoint_auth_signing_alg` (RFC 7591 §2) of a `private_key_jwt` client: the one
    /// algorithm its assertions may use (`PS256`, `ES256` or `EdDSA`); without it, any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// Whether the client's access tokens are bound to its certificate (RFC 8705 §3.4).
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): the client must present a DPoP proof at the
    /// token endpoint and its access tokens are always DPoP-bound. Exclusive with
    /// `tls_client_certificate_bound_access_tokens`: one proof-of-possession method per token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// Grant types the client may use (default `["client_credentials"]`).
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// `redirect_uris` (RFC 7591 §2) of an `authorization_code` client: absolute `https` URIs
    /// (`http` only on a loopback host), compared as exact strings at the authorization endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// `response_types` (RFC 7591 §2): only `code`; defaults to `["code"]` for an
    /// `authorization_code` client and to none otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6): this client's authorization
    /// requests must come through PAR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// Space-separated scopes the client may request; also the default when it asks for none.
    #[serde(default)]
    pub scope: Option<String>,
    /// `jwt` (RFC 9068, the default) or `opaque` (introspect to read it).
    #[serde(default)]
    pub access_token_format: TokenFormat,
    /// Whether this client is a resource server allowed to introspect any client's tokens
    /// (otherwise a client may introspect only its own).
    #[serde(default)]
    pub resource_server: bool,
    /// A human-readable name, for logs.
    #[serde(default)]
    pub client_name: Option<String>,
    /// certbound extension: PEM CA files this `tls_client_auth` client's certificates must chain
    /// to, instead of the global `[tls] client_ca` (RFC 8705 §7.4: limit the CAs that can vouch
    /// for a client). Loaded by the server configuration.
    #[serde(default)]
    pub tls_client_auth_ca: Vec<std::path::PathBuf>,
    /// certbound extension: how `tls_client_auth_subject_dn` values are compared: `strict`
    /// (the default: canonical equivalence and case folding; look-alike fullwidth or
    /// compatibility characters never match) or `rfc4518` (compatibility normalisation too).
    /// See docs/subject-matching.md.
    #[serde(default)]
    pub tls_client_auth_subject_dn_matching: crate::identity::dn::Folding,
}

fn default_grant_types() -> Vec<String> {
    vec!["client_credentials".to_owned()]
}

impl fmt::Debug for ClientMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetadata")
            .field("client_id", &self.client_id)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The access token format a client receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// A signed JWT (RFC 9068).
    #[default]
    Jwt,
    /// A random reference; only its SHA-256 is stored.
    Opaque,
}

/// The client authentication methods certbound implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// RFC 8705 §2.1: CA-issued certificate, matched on one subject field.
    TlsClientAuth,
    /// RFC 8705 §2.2: self-signed certificate registered in the client's JWKS.
    SelfSignedTlsClientAuth,
    /// RFC 6749 §2.3.1: secret in the `Authorization: Basic` header.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1: secret in the form body.
    ClientSecretPost,
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT signed with a key in the client's JWK Set.
    PrivateKeyJwt,
}

impl AuthMethod {
    /// Every method, in the order published in the metadata.
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
    ];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses a registered name.
    pub fn parse(name: &str) -> Option<Self> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the method authenticates with a client certificate.
    pub fn uses_certificate(self) -> bool {
        matches!(
            self,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        )
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one subject field a `tls_client_auth` client is matched on (RFC 8705 §2.1.2).
#[derive(Clone, Debug)]
pub enum TlsSubject {
    /// `tls_client_auth_subject_dn`, compared with distinguishedNameMatch.
    Dn(DistinguishedName),
    /// One of the `tls_client_auth_san_*` fields.
    San(SanMatcher),
}

impl fmt::Display for TlsSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSubject::Dn(dn) => write!(f, "subject DN \"{dn}\""),
            TlsSubject::San(SanMatcher::Dns(v)) => write!(f, "SAN dNSName \"{v}\""),
            TlsSubject::San(SanMatcher::Uri(v)) => write!(f, "SAN URI \"{v}\""),
            TlsSubject::San(SanMatcher::Ip(v)) => write!(f, "SAN iPAddress {v}"),
            TlsSubject::San(SanMatcher::Email(v)) => write!(f, "SAN rfc822Name \"{v}\""),
        }
    }
}

/// Where a self-signed client's certificates are registered.
#[derive(Clone, Debug)]
pub enum SelfSignedKeys {
    /// Inline `jwks`: the `x5c[0]` certificates, decoded at load.
    Inline(Vec<CertificateDer<'static>>),
    /// `jwks_uri`, fetched over HTTPS and cached by the server.
    Uri(url::Url),
}

/// Where a `private_key_jwt` client's public keys are registered.
#[derive(Clone, Debug)]
pub enum AssertionKeys {
    /// Inline `jwks`, checked with [`validate_client_jwks`] at load.
    Inline(Value),
    /// `jwks_uri`, fetched over HTTPS and cached by the server (checked again on every fetch).
    Uri(url::Url),
}

/// How a registered client proves its identity.
#[derive(Clone, Debug)]
pub enum ClientCredential {
    /// `client_secret_basic` or `client_secret_post` with the secret's hash.
    Secret {
        /// Basic or post.
        method: AuthMethod,
        /// The hash of the secret.
        hash: SecretHash,
    },
    /// `tls_client_auth` with its one subject field.
    TlsClientAuth(TlsSubject),
    /// `self_signed_tls_client_auth` with its registered certificates.
    SelfSigned(SelfSignedKeys),
    /// `private_key_jwt` with its public keys and optional single signing algorithm.
    PrivateKeyJwt {
        /// The JWK Set its assertions are verified with.
        keys: AssertionKeys,
        /// `token_endpoint_auth_signing_alg`: when set, the only algorithm accepted.
        signing_alg: Option<AssertionAlg>,
    },
}

impl ClientCredential {
    /// The registered `token_endpoint_auth_method`.
    pub fn method(&self) -> AuthMethod {
        match self {
            ClientCredential::Secret { method, .. } => *method,
            ClientCredential::TlsClientAuth(_) => AuthMethod::TlsClientAuth,
            ClientCredential::SelfSigned(_) => AuthMethod::SelfSignedTlsClientAuth,
            ClientCredential::PrivateKeyJwt { .. } => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// A validated client registration: what every request of this client is checked against.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    /// `client_id`.
    pub client_id: String,
    /// How it authenticates.
    pub credential: ClientCredential,
    /// Whether its access tokens are bound to its certificate.
    pub bound_tokens: bool,
    /// Whether it must present a DPoP proof at the token endpoint (`dpop_bound_access_tokens`);
    /// never set together with [`RegisteredClient::bound_tokens`].
    pub dpop_bound: bool,
    /// The grant types it may use.
    pub grant_types: GrantTypes,
    /// Its registered redirect URIs, exactly as registered.
    pub redirect_uris: Vec<String>,
    /// The response types it may use at the authorization endpoint.
    pub response_types: Vec<ResponseType>,
    /// Whether its authorization requests must come through PAR (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// The scopes it may request, in registration order.
    pub scopes: Vec<String>,
    /// The format of its access tokens.
    pub token_format: TokenFormat,
    /// Whether it may introspect any client's tokens.
    pub resource_server: bool,
    /// Per-client trust anchors replacing the global ones (`tls_client_auth_ca`), set by the
    /// configuration loader.
    pub trust_anchors: Option<crate::auth::TrustAnchors>,
    /// How its registered subject DN is compared (`tls_client_auth_subject_dn_matching`).
    pub subject_folding: crate::identity::dn::Folding,
    /// Its human-readable name (`client_name`), shown to users on the consent page.
    pub client_name: Option<String>,
}

/// A configuration mistake in one client's metadata.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("client '{client_id}': {field}: {message}")]
pub struct ClientMetadataError {
    /// The client in question.
    pub client_id: String,
    /// The metadata field at fault.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The longest `client_id` that can be registered, in bytes (registered ids are printable
/// ASCII, so also in characters). A presented id longer than this names no client: it is refused
/// before it is tracked by a rate limit or written to a log.
pub const MAX_CLIENT_ID_LEN: usize = 255;

impl ClientMetadata {
    /// Validates the metadata and builds the registration, hashing a plaintext secret.
    pub fn validate(&self) -> Result<RegisteredClient, ClientMetadataError> {
        let err = |field: &'static str, message: String| ClientMetadataError {
            client_id: self.client_id.clone(),
            field,
            message,
        };
        if self.client_id.is_empty()
            || self.client_id.len() > MAX_CLIENT_ID_LEN
            || !self.client_id.chars().all(|c| (' '..='~').contains(&c))
        {
            return Err(err(
                "client_id",
                "must be 1 to 255 printable ASCII characters".into(),
            ));
        }
        if self.dpop_bound_access_tokens && self.tls_client_certificate_bound_access_tokens {
            return Err(err(
                "dpop_bound_access_tokens",
                "a client's tokens are bound by one method: set either dpop_bound_access_tokens or tls_client_certificate_bound_access_tokens, not both".into(),
            ));
        }
        let method = AuthMethod::parse(&self.token_endpoint_auth_method).ok_or_else(|| {
            err(
                "token_endpoint_auth_method",
                format!(
                    "unknown method '{}'; use one of: {}",
                    self.token_endpoint_auth_method,
                    AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
                ),
            )
        })?;

        let subject_fields = [
            (
                "tls_client_auth_subject_dn",
                &self.tls_client_auth_subject_dn,
            ),
            ("tls_client_auth_san_dns", &self.tls_client_auth_san_dns),
            ("tls_client_auth_san_uri", &self.tls_client_auth_san_uri),
            ("tls_client_auth_san_ip", &self.tls_client_auth_san_ip),
            ("tls_client_auth_san_email", &self.tls_client_auth_san_email),
        ];
        let given: Vec<(&'static str, &String)> = subject_fields
            .iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| (*name, v)))
            .collect();
        let has_secret = self.client_secret.is_some() || self.client_secret_hash.is_some();
        let has_jwks = self.jwks.is_some() || self.jwks_uri.is_some();

        if method != AuthMethod::TlsClientAuth {
            if let Some((name, _)) = given.first() {
                return Err(err(
                    name,
                    format!("only tls_client_auth clients have a subject field; remove it or set token_endpoint_auth_method = \"tls_client_auth\" (this client uses {method})"),
                ));
            }
        }
        if !matches!(
            method,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        ) && has_secret
        {
            let with = if method == AuthMethod::PrivateKeyJwt {
                "signed assertions"
            } else {
                "its certificate"
            };
            return Err(err(
                "client_secret",
                format!("a {method} client authenticates with {with}; remove the secret"),
            ));
        }
        if method != AuthMethod::TlsClientAuth && !self.tls_client_auth_ca.is_empty() {
            return Err(err(
                "tls_client_auth_ca",
                format!("only tls_client_auth clients have trust anchors; remove it (this client uses {method})"),
            ));
        }
        if !matches!(
            method,
            AuthMethod::SelfSignedTlsClientAuth | AuthMethod::PrivateKeyJwt
        ) && has_jwks
        {
            return Err(err(
                if self.jwks.is_some() {
                    "jwks"
                } else {
                    "jwks_uri"
                },
                "only self_signed_tls_client_auth and private_key_jwt clients register a JWK Set here; remove it"
                    .into(),
            ));
        }
        if method != AuthMethod::PrivateKeyJwt && self.token_endpoint_auth_signing_alg.is_some() {
            return Err(err(
                "token_endpoint_auth_signing_alg",
                format!("only private_key_jwt clients sign assertions; remove it (this client uses {method})"),
            ));
        }

        let credential = match method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                let hash = match (&self.client_secret, &self.client_secret_hash) {
                    (Some(_), Some(_)) => {
                        return Err(err(
                            "client_secret",
                            "set client_secret or client_secret_hash, not both".into(),
                        ))
                    }
                    (Some(plain), None) => {
                        SecretHash::hash(plain).map_err(|e| err("client_secret", e.to_string()))?
                    }
                    (None, Some(phc)) => SecretHash::from_phc(phc)
                        .map_err(|e| err("client_secret_hash", e.to_string()))?,
                    (None, None) => {
                        return Err(err(
                            "client_secret",
                            format!("a {method} client needs client_secret (or client_secret_hash)"),
                        ))
                    }
                };
                ClientCredential::Secret { method, hash }
            }
            AuthMethod::TlsClientAuth => {
                let (name, value) = match given.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(err(
                            "tls_client_auth_subject_dn",
                            "a tls_client_auth client needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email".into(),
                        ))
                    }
                    [first, second, ..] => {
                        return Err(err(
                            second.0,
                            format!("RFC 8705 §2.1.2 allows exactly one subject field per client, but both {} and {} are set; keep one", first.0, second.0),
                        ))
                    }
                };
                let subject = match name {
                    "tls_client_auth_subject_dn" => value
                        .parse::<DistinguishedName>()
                        .map(TlsSubject::Dn)
                        .map_err(|e| err(name, format!("not an RFC 4514 distinguished name: {e}")))?,
                    "tls_client_auth_san_dns" => SanMatcher::dns(value)
                        .map(TlsSubject::San)
                        .map_err(|e| err(name, e.to_string()))?,
                    "tls_client_auth_san_uri" => SanMatcher::uri(value)
                        .map(TlsSubject::San)
                        .map_err(|e| err(name, e.to_string()))?,
                    "tls_client_auth_san_ip" => SanMatcher::ip(value)
                        .map(TlsSubject::San)
                        .map_err(|e| err(name, e.to_string()))?,
                    _ => SanMatcher::email(value)
                        .map(TlsSubject::San)
                        .map_err(|e| err(name, e.to_string()))?,
                };
                ClientCredential::TlsClientAuth(subject)
            }
            AuthMethod::SelfSignedTlsClientAuth => match (&self.jwks, &self.jwks_uri) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        "jwks_uri",
                        "RFC 7591 §2: jwks and jwks_uri must not both be set; keep one".into(),
                    ))
                }
                (Some(set), None) => ClientCredential::SelfSigned(SelfSignedKeys::Inline(
                    jwks::registered_certificates(set).map_err(|e| err("jwks", e.to_string()))?,
                )),
                (None, Some(uri)) => {
                    let url = url::Url::parse(uri)
                        .map_err(|e| err("jwks_uri", format!("not a URL: {e}")))?;
                    if url.scheme() != "https" {
                        return Err(err("jwks_uri", "must be an https URL".into()));
                    }
                    ClientCredential::SelfSigned(SelfSignedKeys::Uri(url))
                }
                (None, None) => {
                    return Err(err(
                        "jwks",
                        "a self_signed_tls_client_auth client needs jwks (inline, with x5c) or jwks_uri".into(),
                    ))
                }
            },
            AuthMethod::PrivateKeyJwt => self.private_key_jwt_credential()?,
        };

        let grant_types = self
            .grant_types
            .iter()
            .map(|g| {
                GrantType::parse(g).map_err(|_| {
                    err(
                        "grant_types",
                        format!(
                            "grant type '{}' is not supported; supported: {}",
                            g.escape_default(),
                            GrantType::ALL.map(GrantType::as_str).join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<GrantTypes, _>>()?;
        let (redirect_uris, response_types) = self.authorization_code_fields(&grant_types)?;
        let scopes =
            parse_scope(self.scope.as_deref().unwrap_or("")).map_err(|e| err("scope", e))?;

        Ok(RegisteredClient {
            client_id: self.client_id.clone(),
            credential,
            bound_tokens: self.tls_client_certificate_bound_access_tokens,
            dpop_bound: self.dpop_bound_access_tokens,
            grant_types,
            redirect_uris,
            response_types,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            scopes,
            token_format: self.access_token_format,
            resource_server: self.resource_server,
            trust_anchors: None,
            subject_folding: self.tls_client_auth_subject_dn_matching,
            client_name: self.client_name.clone(),
        })
    }
}

impl ClientMetadata {
    /// The credential of a `private_key_jwt` client: exactly one of `jwks` (public keys only,
    /// [`validate_client_jwks`]) and an `https` `jwks_uri`, and an optional signing algorithm
    /// from the FAPI set (never `none`, HS* or RS256).
    fn private_key_jwt_credential(&self) -> Result<ClientCredential, ClientMetadataError> {
        let err = |field: &'static str, message: String| ClientMetadataError {
            client_id: self.client_id.clone(),
            field,
            message,
        };
        let signing_alg = match &self.token_endpoint_auth_signing_alg {
            None => None,
            Some(name) => Some(AssertionAlg::from_name(name).ok_or_else(|| {
                err(
                    "token_endpoint_auth_signing_alg",
                    format!(
                        "'{}' is not accepted for client assertions; use PS256, ES256 or EdDSA",
                        name.escape_default()
                    ),
                )
            })?),
        };
        let keys = match (&self.jwks, &self.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "jwks_uri",
                    "RFC 7591 §2: jwks and jwks_uri must not both be set; keep one".into(),
                ))
            }
            (Some(set), None) => {
                validate_client_jwks(set).map_err(|e| err("jwks", e.to_string()))?;
                AssertionKeys::Inline(set.clone())
            }
            (None, Some(uri)) => {
                let url =
                    url::Url::parse(uri).map_err(|e| err("jwks_uri", format!("not a URL: {e}")))?;
                if url.scheme() != "https" {
                    return Err(err("jwks_uri", "must be an https URL".into()));
                }
                AssertionKeys::Uri(url)
            }
            (None, None) => {
                return Err(err(
                    "jwks",
                    "a private_key_jwt client needs jwks (its public keys) or jwks_uri".into(),
                ))
            }
        };
        Ok(ClientCredential::PrivateKeyJwt { keys, signing_alg })
    }

    /// Validates the metadata of the authorization code flow against the grant types:
    /// `authorization_code` needs at least one redirect URI and the `code` response type,
    /// `refresh_token` needs `authorization_code`, and a client without `authorization_code`
    /// registers none of its fields (a stray field is a mistake, not something to ignore).
    fn authorization_code_fields(
        &self,
        grants: &GrantTypes,
    ) -> Result<(Vec<String>, Vec<ResponseType>), ClientMetadataError> {
        let err = |field: &'static str, message: String| ClientMetadataError {
            client_id: self.client_id.clone(),
            field,
            message,
        };
        let code_flow = grants.allows(GrantType::AuthorizationCode);
        if grants.allows(GrantType::RefreshToken) && !code_flow {
            return Err(err(
                "grant_types",
                "refresh_token is issued only with authorization_code; add \"authorization_code\" to grant_types or remove \"refresh_token\"".into(),
            ));
        }
        let mut redirect_uris: Vec<String> = Vec::with_capacity(self.redirect_uris.len());
        for uri in &self.redirect_uris {
            redirect_uri::validate(uri).map_err(|m| err("redirect_uris", m))?;
            if redirect_uris.contains(uri) {
                return Err(err(
                    "redirect_uris",
                    format!("'{uri}' is listed twice; list each redirect URI once"),
                ));
            }
            redirect_uris.push(uri.clone());
        }
        let mut response_types = Vec::new();
        for name in self.response_types.iter().flatten() {
            let rt = ResponseType::parse(name).ok_or_else(|| {
                err(
                    "response_types",
                    format!(
                        "response type '{}' is not supported; use [\"code\"] (FAPI 2.0 and OAuth 2.1 allow only the code flow)",
                        name.escape_default()
                    ),
                )
            })?;
            if !response_types.contains(&rt) {
                response_types.push(rt);
            }
        }
        if !code_flow {
            let stray = if !redirect_uris.is_empty() {
                Some("redirect_uris")
            } else if !response_types.is_empty() {
                Some("response_types")
            } else if self.require_pushed_authorization_requests {
                Some("require_pushed_authorization_requests")
            } else {
                None
            };
            if let Some(field) = stray {
                return Err(err(
                    field,
                    "is used only by the authorization_code grant; add \"authorization_code\" to grant_types or remove it".into(),
                ));
            }
            return Ok((redirect_uris, response_types));
        }
        if redirect_uris.is_empty() {
            return Err(err(
                "redirect_uris",
                "an authorization_code client needs at least one redirect URI, e.g. redirect_uris = [\"https://app.example.com/callback\"]".into(),
            ));
        }
        if self.response_types.is_none() {
            response_types.push(ResponseType::Code);
        } else if !response_types.contains(&ResponseType::Code) {
            return Err(err(
                "response_types",
                "an authorization_code client needs the response type \"code\"; set response_types = [\"code\"] or leave it out".into(),
            ));
        }
        Ok((redirect_uris, response_types))
    }
}

impl RegisteredClient {
    /// Whether `uri` is one of the client's registered redirect URIs, compared as exact strings
    /// (RFC 9700 §4.1.3: no normalisation, no prefix or wildcard matching).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
}

/// Splits a space-delimited scope string (RFC 6749 §3.3), rejecting characters outside
/// `%x21 / %x23-5B / %x5D-7E` and duplicates.
pub fn parse_scope(scope: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !token
            .chars()
            .all(|c| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c))
        {
            return Err(format!(
                "scope token '{}' has characters RFC 6749 §3.3 does not allow",
                token.escape_default()
            ));
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(method: &str) -> ClientMetadata {
        ClientMetadata {
            client_id: "c".into(),
            token_endpoint_auth_method: method.into(),
            client_secret: None,
            client_secret_hash: None,
            tls_client_auth_subject_dn: None,
            tls_client_auth_san_dns: None,
            tls_client_auth_san_uri: None,
            tls_client_auth_san_ip: None,
            tls_client_auth_san_email: None,
            jwks: None,
            jwks_uri: None,
            token_endpoint_auth_signing_alg: None,
            tls_client_certificate_bound_access_tokens: true,
            dpop_bound_access_tokens: false,
            grant_types: default_grant_types(),
            redirect_uris: Vec::new(),
            response_types: None,
            require_pushed_authorization_requests: false,
            scope: Some("read write".into()),
            access_token_format: TokenFormat::Jwt,
            resource_server: false,
            client_name: None,
            tls_client_auth_ca: Vec::new(),
            tls_client_auth_subject_dn_matching: Default::default(),
        }
    }

    #[test]
    fn private_key_jwt_needs_public_keys_and_an_allowed_alg() {
        let set = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]});
        assert_eq!(
            base("private_key_jwt").validate().unwrap_err().field,
            "jwks"
        );
        let mut m = base("private_key_jwt");
        m.jwks = Some(set.clone());
        m.token_endpoint_auth_signing_alg = Some("ES256".into());
        match m.validate().unwrap().credential {
            ClientCredential::PrivateKeyJwt {
                keys: AssertionKeys::Inline(_),
                signing_alg,
            } => assert_eq!(signing_alg, Some(AssertionAlg::Es256)),
            other => panic!("{other:?}"),
        }
        for bad in ["none", "HS256", "RS256"] {
            m.token_endpoint_auth_signing_alg = Some(bad.into());
            assert_eq!(
                m.validate().unwrap_err().field,
                "token_endpoint_auth_signing_alg"
            );
        }
        let mut private = base("private_key_jwt");
        private.jwks = Some(serde_json::json!({"keys": [{"kty": "EC", "d": "secret"}]}));
        assert!(private.validate().unwrap_err().message.contains("private"));
        let mut uri = base("private_key_jwt");
        uri.jwks_uri = Some("http://keys.example/jwks".into());
        assert_eq!(uri.validate().unwrap_err().field, "jwks_uri");
        uri.jwks_uri = Some("https://keys.example/jwks".into());
        assert!(matches!(
            uri.validate().unwrap().credential,
            ClientCredential::PrivateKeyJwt {
                keys: AssertionKeys::Uri(_),
                signing_alg: None
            }
        ));
        uri.client_secret = Some("0123456789abcdef0123".into());
        assert_eq!(uri.validate().unwrap_err().field, "client_secret");
        let mut tls = base("tls_client_auth");
        tls.tls_client_auth_san_dns = Some("a.example".into());
        tls.token_endpoint_auth_signing_alg = Some("ES256".into());
        assert_eq!(
            tls.validate().unwrap_err().field,
            "token_endpoint_auth_signing_alg"
        );
    }

    #[test]
    fn tls_client_auth_needs_exactly_one_subject_field() {
        let m = base("tls_client_auth");
        assert_eq!(
            m.validate().unwrap_err().field,
            "tls_client_auth_subject_dn"
        );
        let mut two = base("tls_client_auth");
        two.tls_client_auth_subject_dn = Some("CN=a".into());
        two.tls_client_auth_san_dns = Some("a.example".into());
        let e = two.validate().unwrap_err();
        assert_eq!(e.field, "tls_client_auth_san_dns");
        assert!(e.message.contains("exactly one"), "{e}");
        let mut one = base("tls_client_auth");
        one.tls_client_auth_san_ip = Some("10.0.0.1".into());
        assert!(matches!(
            one.validate().unwrap().credential,
            ClientCredential::TlsClientAuth(TlsSubject::San(_))
        ));
    }

    #[test]
    fn secrets_are_hashed_and_required() {
        assert_eq!(
            base("client_secret_basic").validate().unwrap_err().field,
            "client_secret"
        );
        let mut m = base("client_secret_post");
        m.client_secret = Some("0123456789abcdef0123".into());
        match m.validate().unwrap().credential {
            ClientCredential::Secret { method, hash } => {
                assert_eq!(method, AuthMethod::ClientSecretPost);
                assert!(hash.verify("0123456789abcdef0123"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn certificate_clients_may_not_have_secrets_or_foreign_fields() {
        let mut m = base("tls_client_auth");
        m.tls_client_auth_subject_dn = Some("CN=a".into());
        m.client_secret = Some("0123456789abcdef0123".into());
        assert_eq!(m.validate().unwrap_err().field, "client_secret");
        let mut s = base("client_secret_basic");
        s.client_secret = Some("0123456789abcdef0123".into());
        s.tls_client_auth_san_dns = Some("a.example".into());
        assert_eq!(s.validate().unwrap_err().field, "tls_client_auth_san_dns");
    }

    #[test]
    fn self_signed_needs_one_jwks_source() {
        assert_eq!(
            base("self_signed_tls_client_auth")
                .validate()
                .unwrap_err()
                .field,
            "jwks"
        );
        let mut m = base("self_signed_tls_client_auth");
        m.jwks_uri = Some("http://insecure.example/jwks".into());
        assert_eq!(m.validate().unwrap_err().field, "jwks_uri");
        m.jwks = Some(serde_json::json!({"keys": []}));
        m.jwks_uri = Some("https://a.example/jwks".into());
        assert_eq!(m.validate().unwrap_err().field, "jwks_uri");
    }

    #[test]
    fn unknown_method_and_grant_are_rejected_with_the_fix() {
        let e = base("client_secret_jwt").validate().unwrap_err();
        assert!(e.message.contains("tls_client_auth"), "{e}");
        let mut m = base("client_secret_basic");
        m.client_secret = Some("0123456789abcdef0123".into());
        m.grant_types = vec!["password".into()];
        assert_eq!(m.validate().unwrap_err().field, "grant_types");
    }

    fn code_client() -> ClientMetadata {
        let mut m = base("tls_client_auth");
        m.tls_client_auth_subject_dn = Some("CN=a".into());
        m.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
        m.redirect_uris = vec!["https://app.example/cb".into()];
        m.scope = Some("openid profile email accounts".into());
        m
    }

    #[test]
    fn grant_types_become_a_set() {
        let c = base_cc().validate().unwrap();
        assert!(c.grant_types.allows(GrantType::ClientCredentials));
        assert!(!c.grant_types.allows(GrantType::AuthorizationCode));
        assert!(c.redirect_uris.is_empty() && c.response_types.is_empty());
        let mut none = base_cc();
        none.grant_types = vec![];
        assert!(none.validate().unwrap().grant_types.is_empty());
    }

    #[test]
    fn an_authorization_code_client_is_registered_with_its_defaults() {
        let c = code_client().validate().unwrap();
        assert!(c.grant_types.allows(GrantType::AuthorizationCode));
        assert!(c.grant_types.allows(GrantType::RefreshToken));
        assert!(!c.grant_types.allows(GrantType::ClientCredentials));
        assert_eq!(c.response_types, vec![ResponseType::Code]);
        assert_eq!(c.scopes, vec!["openid", "profile", "email", "accounts"]);
        assert!(c.has_redirect_uri("https://app.example/cb"));
        assert!(!c.has_redirect_uri("https://app.example/cb/"));
        assert!(!c.has_redirect_uri("https://APP.example/cb"));
        assert!(!c.require_pushed_authorization_requests);
        let mut par = code_client();
        par.require_pushed_authorization_requests = true;
        par.response_types = Some(vec!["code".into()]);
        let c = par.validate().unwrap();
        assert!(c.require_pushed_authorization_requests);
        assert_eq!(c.response_types, vec![ResponseType::Code]);
    }

    #[test]
    fn grant_consistency_is_checked_with_the_fix() {
        type Change = Box<dyn Fn(&mut ClientMetadata)>;
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                Box::new(|m| m.redirect_uris.clear()),
                "redirect_uris",
                "at least one",
            ),
            (
                Box::new(|m| m.grant_types = vec!["refresh_token".into()]),
                "grant_types",
                "add \"authorization_code\"",
            ),
            (
                Box::new(|m| m.grant_types = vec!["client_credentials".into()]),
                "redirect_uris",
                "used only by the authorization_code grant",
            ),
            (
                Box::new(|m| m.response_types = Some(vec!["token".into()])),
                "response_types",
                "only the code flow",
            ),
            (
                Box::new(|m| m.response_types = Some(vec!["code id_token".into()])),
                "response_types",
                "not supported",
            ),
            (
                Box::new(|m| m.response_types = Some(vec![])),
                "response_types",
                "needs the response type",
            ),
            (
                Box::new(|m| m.redirect_uris.push("https://app.example/cb".into())),
                "redirect_uris",
                "twice",
            ),
            (
                Box::new(|m| m.redirect_uris = vec!["http://app.example/cb".into()]),
                "redirect_uris",
                "use https",
            ),
            (
                Box::new(|m| m.grant_types = vec!["implicit".into()]),
                "grant_types",
                "supported: client_credentials, authorization_code, refresh_token",
            ),
        ];
        for (change, field, words) in cases {
            let mut m = code_client();
            change(&mut m);
            let e = m.validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.message.contains(words), "{e}");
        }
        for field in ["response_types", "require_pushed_authorization_requests"] {
            let mut m = base_cc();
            if field == "response_types" {
                m.response_types = Some(vec!["code".into()]);
            } else {
                m.require_pushed_authorization_requests = true;
            }
            assert_eq!(m.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn new_fields_are_not_written_for_clients_that_do_not_use_them() {
        let v = serde_json::to_value(base_cc()).unwrap();
        for absent in [
            "redirect_uris",
            "response_types",
            "require_pushed_authorization_requests",
        ] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        let v = serde_json::to_value(code_client()).unwrap();
        assert_eq!(v["redirect_uris"][0], "https://app.example/cb");
        let back: ClientMetadata = serde_json::from_value(v).unwrap();
        assert_eq!(back.redirect_uris, code_client().redirect_uris);
    }

    /// A client_credentials client (certificate: no argon2 work in these tests).
    fn base_cc() -> ClientMetadata {
        let mut m = base("tls_client_auth");
        m.tls_client_auth_subject_dn = Some("CN=a".into());
        m
    }

    #[test]
    fn one_proof_of_possession_method_per_client() {
        let mut both = base_cc();
        both.dpop_bound_access_tokens = true;
        assert_eq!(
            both.validate().unwrap_err().field,
            "dpop_bound_access_tokens"
        );
        let mut dpop = base_cc();
        dpop.tls_client_certificate_bound_access_tokens = false;
        dpop.dpop_bound_access_tokens = true;
        let c = dpop.validate().unwrap();
        assert!(c.dpop_bound && !c.bound_tokens);
        assert!(!base_cc().validate().unwrap().dpop_bound);
    }

    #[test]
    fn scope_parsing() {
        assert_eq!(parse_scope(" a  b a ").unwrap(), vec!["a", "b"]);
        assert!(parse_scope("a\"b").is_err());
        assert!(parse_scope("a\\b").is_err());
    }
}
