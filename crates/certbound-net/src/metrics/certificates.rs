//! `certbound_certificate_expiry_timestamp_seconds`: when the certificates a process was
//! configured with stop being valid, so an operator can alert weeks before an outage.
//!
//! Unix seconds are the Prometheus convention for timestamps (`time() > ...` in alert rules).
//! The series are replaced as a whole on every (re)load, so a certificate removed from the
//! configuration stops being reported.

use certbound_core::{CertificateSource, ClientCertificate};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rustls_pki_types::CertificateDer;

/// Labels of one certificate.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// What the certificate is for: `server`, `server_intermediate`, `client_ca`,
    /// `authorization_server_ca`, `client`.
    pub role: &'static str,
    /// Its subject, as an RFC 4514 string.
    pub subject: String,
    /// Its `x5t#S256`, which tells apart two certificates with one subject (a CA rollover).
    pub thumbprint: String,
}

/// The expiry gauges of one process part. Cheap to clone (shares the series).
#[derive(Clone, Default)]
pub struct CertificateExpiry {
    family: Family<CertificateLabels, Gauge>,
}

impl std::fmt::Debug for CertificateExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateExpiry").finish_non_exhaustive()
    }
}

impl CertificateExpiry {
    /// The family to register.
    pub(super) fn family(&self) -> Family<CertificateLabels, Gauge> {
        self.family.clone()
    }

    /// Replaces every series with the certificates in `sets` (a role and its certificates, DER).
    /// A certificate that cannot be parsed is left out, with a warning.
    pub fn replace(&self, sets: &[(&'static str, &[CertificateDer<'_>])]) {
        self.family.clear();
        for (role, certs) in sets {
            for der in certs.iter() {
                let parsed = ClientCertificate::new(
                    vec![CertificateDer::from(der.as_ref().to_vec())],
                    CertificateSource::Tls,
                );
                let Some(cert) = parsed else { continue };
                match cert.parsed() {
                    Ok(leaf) => {
                        let labels = CertificateLabels {
                            role,
                            subject: leaf.subject.to_string(),
                            thumbprint: cert.thumbprint().to_string(),
                        };
                        let not_after = i64::try_from(leaf.not_after).unwrap_or(i64::MAX);
                        self.family.get_or_create(&labels).set(not_after);
                    }
                    Err(reason) => tracing::warn!(
                        role = *role,
                        %reason,
                        "a configured certificate could not be read; its expiry is not exported"
                    ),
                }
            }
        }
    }
}
