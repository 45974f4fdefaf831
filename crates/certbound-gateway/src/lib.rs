//! The resource-server side of certbound.
//!
//! A bound token is only useful if the API checks the binding. This crate provides both ways to
//! do that: [`start`] runs a reverse proxy (the gateway) that terminates mTLS, validates the
//! access token (a JWT against the authorization server's JWKS, or an opaque token swapped for the
//! AS's signed introspection answer, RFC 9701: the phantom-token pattern), compares `cnf.x5t#S256` with the certificate
//! of the connection and forwards to the upstream with a verifiable JWT; and [`layer`] offers the
//! same checks as a tower layer and axum extractor for Rust APIs that terminate mTLS themselves.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod bearer;
pub mod binding;
pub mod config;
pub mod discovery;
pub mod dpop;
pub mod guard;
pub mod headers;
pub mod layer;
pub mod metrics;
pub mod path;
pub mod proxy;
pub mod refusal;
pub mod server;
pub mod tokens;
pub mod upstream;

pub use server::{start, start_on, RunningGateway};
