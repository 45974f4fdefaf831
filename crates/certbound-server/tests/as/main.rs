//! Black-box tests of the authorization server: the real server on 127.0.0.1 with real TLS, a PKI
//! generated per test, and real HTTPS clients (reqwest/rustls, curl, openssl).

pub use certbound_testkit as support;

mod authority;
mod authorize;
mod code_grant;
mod diagnostics;
mod discovery;
mod dpop;
mod dpop_flows;
mod dpop_nonce;
mod hostile;
mod introspection;
mod introspection_jwt;
mod mtls_auth;
mod oidc_discovery;
mod oversized_ids;
mod par;
mod private_key_jwt;
mod profile;
mod refresh;
mod resumption;
mod secrets;
mod self_signed;
mod subject_matching;
mod tools;
mod userinfo;
