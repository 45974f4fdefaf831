//! HTTPS clients for the command-line tools: trust (`--cacert` or the system roots) and an
//! optional client certificate (PEM pair or PKCS#12).

use anyhow::{bail, Context};
use certbound_core::{CertificateSource, ClientCertificate};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};

/// Where a client certificate comes from on the command line.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ClientCertArgs {
    /// Client certificate (PEM, leaf first, optionally followed by intermediates).
    #[arg(long, requires = "key", conflicts_with = "p12")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert (PEM: PKCS#8, SEC1 or PKCS#1).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Client certificate and key as PKCS#12.
    #[arg(long, requires = "password")]
    pub p12: Option<PathBuf>,
    /// Password of --p12.
    #[arg(long, env = "CERTBOUND_P12_PASSWORD")]
    pub password: Option<String>,
    /// CA certificate(s) (PEM) to trust for the server; default: the system's roots.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
}

/// A loaded client identity: its chain and a PEM bundle reqwest accepts.
pub struct LoadedIdentity {
    /// The certificate as the server will see it (for computing the expected thumbprint).
    pub certificate: ClientCertificate,
    /// Certificates then key, PEM.
    pub pem_bundle: Vec<u8>,
}

impl ClientCertArgs {
    /// Loads the client identity, if one was given.
    pub fn identity(&self) -> anyhow::Result<Option<LoadedIdentity>> {
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let cert_pem =
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            let key_pem =
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
            let chain = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
            rustls_pki_types::PrivateKeyDer::from_pem_slice(&key_pem)
                .with_context(|| format!("{}: no PEM private key", key.display()))?;
            let certificate = ClientCertificate::new(chain, CertificateSource::Tls)
                .with_context(|| format!("{}: no certificate", cert.display()))?;
            let mut pem_bundle = cert_pem;
            pem_bundle.push(b'\n');
            pem_bundle.extend_from_slice(&key_pem);
            return Ok(Some(LoadedIdentity {
                certificate,
                pem_bundle,
            }));
        }
        if let Some(p12) = &self.p12 {
            let password = self.password.as_deref().unwrap_or("");
            return load_p12(p12, password).map(Some);
        }
        Ok(None)
    }

    /// An HTTPS client trusting --cacert (or the system roots) and presenting the identity.
    pub fn http_client(
        &self,
        identity: Option<&LoadedIdentity>,
    ) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .timeout(std::time::Duration::from_secs(30));
        match &self.cacert {
            Some(path) => {
                let pem =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("{}: not PEM certificates", path.display()))?;
                if certs.is_empty() {
                    bail!("{}: no certificate found", path.display());
                }
                builder = builder.tls_built_in_root_certs(false);
                for c in certs {
                    builder = builder.add_root_certificate(c);
                }
            }
            None => builder = builder.tls_built_in_native_certs(true),
        }
        if let Some(id) = identity {
            let identity = reqwest::Identity::from_pem(&id.pem_bundle)
                .context("client certificate and key")?;
            builder = builder.identity(identity);
        }
        builder.build().context("building the HTTPS client")
    }
}

fn load_p12(path: &Path, password: &str) -> anyhow::Result<LoadedIdentity> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let store = p12_keystore::KeyStore::from_pkcs12(
        &data,
        password,
        p12_keystore::Pkcs12ImportPolicy::default(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot open PKCS#12 (wrong password?): {e}",
            path.display()
        )
    })?;
    let (_, chain) = store
        .private_key_chain()
        .with_context(|| format!("{}: no private key with a certificate", path.display()))?;
    let ders: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let mut pem_bundle = String::new();
    for der in &ders {
        pem_bundle.push_str(&pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            der.as_ref().to_vec(),
        )));
    }
    pem_bundle.push_str(&pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        chain.key().as_der().to_vec(),
    )));
    let certificate = ClientCertificate::new(ders, CertificateSource::Tls)
        .with_context(|| format!("{}: no certificate", path.display()))?;
    Ok(LoadedIdentity {
        certificate,
        pem_bundle: pem_bundle.into_bytes(),
    })
}
