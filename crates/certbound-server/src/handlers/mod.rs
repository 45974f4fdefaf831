//! Thin HTTP handlers: extract, call one function, map the result. The plumbing of the
//! client-authenticated endpoints (form, origin, client authentication) is in
//! [`crate::extract`].

pub mod discovery;
pub mod introspect;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;
