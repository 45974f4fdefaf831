//! TLS listeners for certbound.
//!
//! This crate owns the socket edge shared by the authorization server and the gateway: the rustls
//! configuration (TLS 1.3 and 1.2, aws-lc-rs), the verifier that accepts any client certificate whose
//! holder proves possession of its key ([`danger::AcceptAnyClientCert`]: trust is decided per client
//! by the core, not by the TLS layer), and the accept loop that parses the client certificate
//! **once per connection** and hands it to every request as a [`ConnectionInfo`] extension.
// One audited `unsafe` call: geteuid(2) in `tls::effective_uid`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod activity;
pub mod authority;
pub mod bind;
pub mod client_cert;
pub mod danger;
pub mod forwarded;
pub mod limits;
mod linger;
pub mod log_format;
pub mod metrics;
pub mod rate_limit;
pub mod secret_file;
pub mod serve;
pub mod tls;
pub mod token_cache;

pub use bind::{bind, BindError};
pub use limits::Limits;
pub use serve::{serve, serve_plain, CloseReason, ConnectionInfo, ServeOptions, TlsHandle};
pub use tls::{
    load_cert_chain, load_key_pair, load_private_key, server_config, ClientCertMode, TlsError,
};
