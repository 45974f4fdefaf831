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

/// Reads the first private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |reason: String| TlsError::PrivateKey {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| err(e.to_string()))
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
        ClientCertMode::RequiredTrusted { anchors } => {
            let mut roots = rustls::RootCertStore::empty();
            for a in anchors {
                roots.add(a.clone())?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            )
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
