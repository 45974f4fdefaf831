//! A mirror of the OpenID Foundation's FAPI 2.0 Security Profile Final conformance plan
//! (`fapi2-security-profile-final-test-plan`), run against `profile = "fapi2"`.
//!
//! The suite itself cannot run on our machines (Java 21, MongoDB, nginx and registry images;
//! docs/conformance.md is the recipe for running it elsewhere), so each of its modules that
//! applies to certbound is a `#[tokio::test]` here, named after the suite's test name in snake
//! case, with a doc comment naming the suite class and the FAPI 2.0 clause. The fixture
//! ([`fixture`]) plays the suite: two clients per variant (`client_auth_type` mtls or
//! private_key_jwt × `sender_constrain` mtls or dpop, with different subject DNs), `openid`
//! on or off, a user signing in through the AS's own pages, and the AS's `/userinfo` as the
//! resource. The real server runs on 127.0.0.1 with real TLS.

pub use certbound_testkit as support;

mod authorize;
mod client_credentials;
mod code;
mod discovery;
mod dpop;
mod fixture;
mod happy_flow;
mod par;
mod private_key_jwt;
mod refresh;
mod resource;
mod tls;
