//! Binding listening sockets, with errors that name the setting to change.
//!
//! "Address already in use (os error 98)" says nothing about *which* of a process's listeners
//! failed or where its address comes from: [`BindError`] carries the configuration key (and its
//! environment variable, if any) and says what the operating system's refusal means.

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (set by {setting}): {}", explain(source))]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Where the address is configured, e.g. `[listen] https in the configuration file, or
    /// CERTBOUND_LISTEN_HTTPS`.
    pub setting: &'static str,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr`; `setting` names where the address is configured, for the error message.
pub async fn bind(addr: SocketAddr, setting: &'static str) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| BindError {
        addr,
        setting,
        source,
    })
}

/// What a bind failure means and what to do about it.
fn explain(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => {
            "the address is already in use by another process (another certbound?): stop it or \
             choose another port"
                .to_owned()
        }
        ErrorKind::PermissionDenied => {
            "permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability \
             (see deploy/certbound.service), or choose a port above 1023"
                .to_owned()
        }
        ErrorKind::AddrNotAvailable => {
            "no network interface of this machine has that address: use 127.0.0.1, 0.0.0.0 or one \
             of this machine's addresses"
                .to_owned()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_names_the_setting_and_the_fix() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr, "[listen] https").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");
        assert!(text.contains("set by [listen] https"), "{text}");
        assert!(text.contains("already in use"), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }

    #[tokio::test]
    async fn an_address_of_another_machine_says_so() {
        // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
        let addr: SocketAddr = "192.0.2.1:0".parse().unwrap();
        let err = bind(addr, "[admin] listen").await.unwrap_err();
        assert!(err.to_string().contains("no network interface"), "{err}");
    }
}
