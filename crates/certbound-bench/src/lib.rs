//! The load generator behind `certbound-bench`, also used by the smoke test that runs every
//! scenario briefly in CI: requests ([`load`]) and user flows ([`flow`], with the browser of
//! [`browser`]), measured alike (`measure`).
#![forbid(unsafe_code)]

pub mod browser;
pub mod flow;
pub mod jws;
pub mod load;
mod measure;
