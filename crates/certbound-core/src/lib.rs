//! Pure RFC 8705 protocol logic for certbound.
//!
//! This crate knows what a client certificate *means* (thumbprint, RFC 4514 subject, SANs), what a
//! registered client is (RFC 7591 metadata), how a client authenticates at the token endpoint
//! (RFC 8705 §2, RFC 6749 §2.3), what an access token says (RFC 9068, `cnf.x5t#S256`) and how every
//! failure is reported (RFC 6749 §5.2). It has no sockets, no async runtime and no SQL, so every
//! decision can be unit-tested with plain values; the network and storage crates feed it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod authorize;
pub mod binding;
pub mod client;
pub mod client_assertion;
pub mod dpop;
pub mod error;
pub mod form;
pub mod grant;
pub mod identity;
pub mod jose_json;
pub mod jwks;
pub mod metadata;
pub mod oidc;
pub mod pkce;
pub mod presentation;
pub mod secret;
pub mod token;

pub use error::{OAuthError, OAuthErrorCode};
pub use identity::certificate::{CertificateSource, ClientCertificate};
pub use identity::thumbprint::Thumbprint;
