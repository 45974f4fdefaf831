//! The load generator behind `certbound-bench`, also used by the smoke test that runs every
//! scenario briefly in CI.
#![forbid(unsafe_code)]

pub mod jws;
pub mod load;
