//! rustls server configuration from PEM files.

use crate::danger::{AcceptAnyClientCert, SigningUsageVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a TLS configuration could not be built. Each variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate file could not be read or holds no certificate.
    #[error("{path}: cannot read PEM certificates: {reason}")]
    Certificates {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key file could not be read or holds no private key.
    #[error("{path}: cannot read a PEM private key (PKCS#8, SEC1 or PKCS#1): {reason}")]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The private key is not the one of the certificate (a common copy-paste mistake when a
    /// certificate is renewed).
    #[error(
        "the private key {key} does not belong to the certificate {cert} (their public keys differ): \
         configure the key the certificate was issued for"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Whether and how a listener asks for a client certificate.
#[derive(Clone, Debug)]
pub enum ClientCertMode {
    /// No CertificateRequest: browsers and secret clients are never prompted (RFC 8705 §5).
    None,
    /// Request a certificate, accept any with proof of possession, allow none (the AS's mTLS
    /// listener: a missing certificate becomes `invalid_client`, not a TLS alert).
    Optional {
        /// CA names hinted to clients.
        hints: Vec<CertificateDer<'static>>,
    },
    /// Require a certificate with proof of possession (the gateway).
    Required {
        /// CA names hinted to clients.
        hints: Vec<CertificateDer<'static>>,
    },
    /// Require a certificate that chains to one of `anchors` for clientAuth (the gateway with
    /// `client_ca`): checked once per handshake by rustls-webpki.
    RequiredTrusted {
        /// Trust anchors (CA certificates).
        anchors: Vec<CertificateDer<'static>>,
    },
    /// As [`ClientCertMode::RequiredTrusted`] when a certificate is sent, but allow none (the
    /// gateway with `client_ca` and `client_certificate = "optional"`, for DPoP clients without
    /// certificates).
    OptionalTrusted {
        /// Trust anchors (CA certificates).
        anchors: Vec<CertificateDer<'static>>,
    },
}

/// Reads every certificate of a PEM file, leaf first.
pub fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Certificates {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file, with a warning when others can read the file
/// ([`warn_if_key_readable`]).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |reason: String| TlsError::PrivateKey {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    warn_if_key_readable(path);
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| err(e.to_string()))
}

/// Logs a WARN naming a private key file that users other than the service can read, and the
/// fix. OpenSSH's rule: a key owned by the user running certbound must have no group or other
/// bits (`chmod 600`); a key owned by another user (root, with read access for the service's
/// group, as deploy/README.md sets up) must have no other bits (`chmod o-rwx`). Not a refusal
/// (nginx does not refuse either), and Unix only. Also for keys a library user loads itself.
pub fn warn_if_key_readable(path: &Path) {
    if let Some((mode, fix)) = key_file_fix(path) {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:04o}"),
            fix = %format!("{fix} {}", path.display()),
            "private key file is readable by other users: anyone who can read it can \
             impersonate this service"
        );
    }
}

/// The mode of a private key file that others can read, and the command that fixes it; `None`
/// for a private file, a file that cannot be inspected, and on other systems than Unix.
fn key_file_fix(path: &Path) -> Option<(u32, &'static str)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let mode = meta.mode() & 0o7777;
        key_mode_fix(mode, meta.uid() == effective_uid()).map(|fix| (mode, fix))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The command that makes a private key file of mode `mode` private, if it is not: a key owned
/// by this process's user must have no group or other bits, any other key no other bits.
#[cfg(unix)]
fn key_mode_fix(mode: u32, owned_by_us: bool) -> Option<&'static str> {
    if owned_by_us {
        (mode & 0o077 != 0).then_some("chmod 600")
    } else {
        (mode & 0o007 != 0).then_some("chmod o-rwx")
    }
}

/// The effective user id of this process.
#[cfg(unix)]
#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no argument, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// Reads a certificate chain and its private key, and checks that the key is the certificate's:
/// a mismatch names both files instead of rustls' bare `KeyMismatch`.
pub fn load_key_pair(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = load_cert_chain(cert)?;
    let private = load_private_key(key)?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private.clone_key())
        .map_err(|e| TlsError::PrivateKey {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public half; rustls checks again at the handshake.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok((chain, private))
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            })
        }
        Err(e) => Err(TlsError::Certificates {
            path: cert.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Builds a server configuration: TLS 1.3 and 1.2 with rustls' default (AEAD, ECDHE) suites on
/// aws-lc-rs, ALPN h2 and http/1.1, and the requested client-certificate behaviour.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: &ClientCertMode,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match mode {
        ClientCertMode::None => builder.with_no_client_auth(),
        ClientCertMode::Optional { hints } => builder.with_client_cert_verifier(Arc::new(
            AcceptAnyClientCert::new(false, hint_names(hints)),
        )),
        ClientCertMode::Required { hints } => builder
            .with_client_cert_verifier(Arc::new(AcceptAnyClientCert::new(true, hint_names(hints)))),
        ClientCertMode::RequiredTrusted { anchors }
        | ClientCertMode::OptionalTrusted { anchors } => {
            let mut roots = rustls::RootCertStore::empty();
            for a in anchors {
                roots.add(a.clone())?;
            }
            let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            );
            if matches!(mode, ClientCertMode::OptionalTrusted { .. }) {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(Arc::new(SigningUsageVerifier(verifier)))
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn hint_names(certs: &[CertificateDer<'static>]) -> Vec<rustls::DistinguishedName> {
    certs
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .map(|a| rustls::DistinguishedName::in_sequence(a.subject.as_ref()))
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_files_others_can_read_are_named_with_the_fix() {
        let tmp = std::env::temp_dir().join(format!("certbound-key-mode-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let key = tmp.join("server.key");
        std::fs::write(&key, "x").unwrap();
        for (mode, expected) in [
            (0o600, None),
            (0o400, None),
            (0o640, Some((0o640, "chmod 600"))),
            (0o644, Some((0o644, "chmod 600"))),
            (0o604, Some((0o604, "chmod 600"))),
        ] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(key_file_fix(&key), expected, "{mode:o}");
        }
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(key_file_fix(&tmp.join("missing.key")), None);
    }

    #[test]
    fn a_key_owned_by_another_user_may_be_group_readable() {
        // deploy/README.md: root:certbound 0640, read by the service through its group.
        assert_eq!(key_mode_fix(0o640, false), None);
        assert_eq!(key_mode_fix(0o600, false), None);
        assert_eq!(key_mode_fix(0o644, false), Some("chmod o-rwx"));
        assert_eq!(key_mode_fix(0o641, false), Some("chmod o-rwx"));
        assert_eq!(key_mode_fix(0o640, true), Some("chmod 600"));
        assert_eq!(key_mode_fix(0o660, true), Some("chmod 600"));
    }
}
