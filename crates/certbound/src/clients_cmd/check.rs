//! `certbound clients check`: whether a certificate would authenticate a client, step by step in
//! words, with a verdict and the fix. It runs exactly the decision the token endpoint runs
//! (`certbound_core::auth::authenticate`), on the same registrations (file and store).

use anyhow::Context;
use certbound_core::auth::{self, FailureReason, PresentedCredentials};
use certbound_core::client::{ClientCredential, RegisteredClient, SelfSignedKeys, TlsSubject};
use certbound_core::identity::san::describe_sans;
use certbound_core::identity::timestamp::rfc3339;
use certbound_core::{CertificateSource, ClientCertificate};
use certbound_server::config::ValidatedConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::path::Path;
use std::time::Duration;

/// Runs the check; `Ok(false)` when the certificate would be refused.
pub async fn run(config: &Path, client_id: &str, cert: &Path) -> anyhow::Result<bool> {
    let cfg = certbound_server::config::Config::load(config)?;
    let certificate = read_certificate(cert)?;
    describe_certificate(cert, &certificate);

    let store = cfg
        .config
        .store
        .connect()
        .await
        .context("opening the store")?;
    let registry = certbound_server::state::ClientRegistry::new(&cfg.clients);
    registry.reload(&store, &cfg).await?;
    println!();
    let Some(client) = registry.get(client_id) else {
        println!(
            "Client '{client_id}' is not registered (neither in {} nor with `certbound clients add`).",
            config.display()
        );
        println!();
        println!("Result: REFUSED. The token endpoint would answer 401 invalid_client.");
        println!(
            "Fix: register it: add a [[clients]] table to {} or run `certbound clients add --config {} --client-id {client_id} ...`.",
            config.display(),
            config.display()
        );
        return Ok(false);
    };
    let from = if registry.is_configured(client_id) {
        config.display().to_string()
    } else {
        "the store (clients add)".to_owned()
    };
    println!(
        "Client '{client_id}': {}, registered in {from}",
        describe_registration(&client)
    );

    let anchors = anchors(&cfg)?;
    let self_signed = self_signed_certificates(&cfg, &client).await?;
    let creds = PresentedCredentials {
        client_id: Some(client_id),
        certificate: Some(&certificate),
        ..Default::default()
    };
    let result = auth::authenticate(&client, &creds, &anchors, &self_signed, UnixTime::now());
    let (trace, failure) = match &result {
        Ok(a) => (&a.trace, None),
        Err(f) => (&f.trace, Some(f.reason)),
    };
    println!();
    println!("Steps (the decision the token endpoint makes):");
    for (i, step) in trace.steps.iter().enumerate() {
        println!(
            "  {}. {:<12} {:<7}{}",
            i + 1,
            step.check,
            if step.passed { "ok" } else { "FAILED" },
            step.detail
        );
    }
    println!();
    match failure {
        None => {
            println!(
                "Result: ACCEPTED. '{client_id}' authenticates with this certificate ({}).",
                client.credential.method()
            );
            if client.bound_tokens {
                println!(
                    "Its access tokens will be bound to the certificate: cnf.x5t#S256 = {}.",
                    certificate.thumbprint()
                );
            }
            Ok(true)
        }
        Some(reason) => {
            println!("Result: REFUSED. The token endpoint would answer 401 invalid_client.");
            println!("Fix: {}", fix(reason, &client, &certificate, config, cert));
            Ok(false)
        }
    }
}

fn read_certificate(cert: &Path) -> anyhow::Result<ClientCertificate> {
    let pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("{}: not PEM certificates", cert.display()))?;
    ClientCertificate::new(chain, CertificateSource::Tls).with_context(|| {
        format!(
            "{}: holds no certificate (expected PEM, the client's certificate first)",
            cert.display()
        )
    })
}

fn describe_certificate(path: &Path, certificate: &ClientCertificate) {
    println!("Certificate {}", path.display());
    match certificate.parsed() {
        Ok(p) => {
            println!("  subject   {}", p.subject);
            if let Some(issuer) = certificate.issuer() {
                println!("  issuer    {issuer}");
            }
            println!("  SANs      {}", describe_sans(&p.sans));
            println!(
                "  valid     {} to {}",
                rfc3339(p.not_before),
                rfc3339(p.not_after)
            );
        }
        Err(e) => println!("  cannot be read: {e}"),
    }
    println!("  x5t#S256  {}", certificate.thumbprint());
    let n = certificate.intermediates().len();
    if n > 0 {
        println!(
            "  followed by {n} intermediate certificate(s), sent as the client would send them"
        );
    }
}

/// The registration in one line: method, subject, binding.
fn describe_registration(client: &RegisteredClient) -> String {
    let method = client.credential.method();
    let what = match &client.credential {
        ClientCredential::TlsClientAuth(subject) => format!("{method}, expects {subject}"),
        ClientCredential::SelfSigned(SelfSignedKeys::Inline(c)) => {
            format!("{method}, {} registered certificate(s)", c.len())
        }
        ClientCredential::SelfSigned(SelfSignedKeys::Uri(u)) => {
            format!("{method}, certificates from {u}")
        }
        ClientCredential::Secret { .. } => format!("{method} (a secret, not a certificate)"),
        ClientCredential::PrivateKeyJwt { .. } => {
            format!("{method} (signed assertions, not a certificate)")
        }
    };
    let bound = if client.bound_tokens {
        "certificate-bound tokens"
    } else {
        "unbound tokens"
    };
    format!("{what}; {bound}")
}

/// What to change so the certificate authenticates the client.
fn fix(
    reason: FailureReason,
    client: &RegisteredClient,
    certificate: &ClientCertificate,
    config: &Path,
    cert: &Path,
) -> String {
    let parsed = certificate.parsed().ok();
    match reason {
        FailureReason::ChainInvalid => format!(
            "issue the client's certificate from a CA in [tls] client_ca of {} (or the client's tls_client_auth_ca), or add the CA that issued it there. Intermediates go in the client's certificate file after its own certificate.",
            config.display()
        ),
        FailureReason::CertificateExpired => {
            "issue a new certificate to the client (for example `certbound pki client --cn ...`); the validity dates are above.".to_owned()
        }
        FailureReason::SubjectMismatch => match (&client.credential, parsed) {
            (ClientCredential::TlsClientAuth(TlsSubject::Dn(dn)), Some(p))
                if dn.same_attributes_in_other_order(&p.subject) =>
            {
                format!(
                    "change the client's tls_client_auth_subject_dn to \"{}\" (the same attributes, in the certificate's order).",
                    p.subject
                )
            }
            (ClientCredential::TlsClientAuth(TlsSubject::Dn(_)), Some(p)) => format!(
                "if this certificate really belongs to '{}', register its subject: tls_client_auth_subject_dn = \"{}\". Otherwise the client is using another client's certificate.",
                client.client_id, p.subject
            ),
            (ClientCredential::TlsClientAuth(TlsSubject::San(_)), Some(p)) => format!(
                "register one of the certificate's SANs ({}) in the client's tls_client_auth_san_* field, or issue a certificate carrying the registered one.",
                describe_sans(&p.sans)
            ),
            _ => "issue a certificate whose names match the registration.".to_owned(),
        },
        FailureReason::CertificateNotRegistered => format!(
            "add this certificate to the client's JWK Set (`certbound pki jwks {}` prints its JWK), or use the certificate already registered.",
            cert.display()
        ),
        FailureReason::UnparsableCertificate => {
            "the certificate cannot be read; issue a new one.".to_owned()
        }
        FailureReason::WrongMethod | FailureReason::BadSecret => format!(
            "'{}' authenticates with a secret ({}), not a certificate: `clients check` checks certificates only.",
            client.client_id,
            client.credential.method()
        ),
        _ => "see the failed step above.".to_owned(),
    }
}

/// The global trust anchors of `[tls] client_ca`.
fn anchors(cfg: &ValidatedConfig) -> anyhow::Result<auth::TrustAnchors> {
    let mut anchors_der = Vec::new();
    for path in &cfg.config.tls.client_ca {
        anchors_der.extend(certbound_net::load_cert_chain(path)?);
    }
    auth::trust_anchors_from_der(&anchors_der).map_err(|e| anyhow::anyhow!("[tls] client_ca: {e}"))
}

/// A self-signed client's registered certificates (inline, or fetched from its `jwks_uri`).
async fn self_signed_certificates(
    cfg: &ValidatedConfig,
    client: &RegisteredClient,
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    Ok(match &client.credential {
        ClientCredential::SelfSigned(SelfSignedKeys::Inline(c)) => c.clone(),
        ClientCredential::SelfSigned(SelfSignedKeys::Uri(url)) => {
            let http = certbound_server::jwks_http_client(cfg)?;
            let cache = certbound_server::jwks_uri::JwksUriCache::new(
                http,
                Duration::from_secs(1),
                Duration::ZERO,
            );
            cache.certificates(url, None).await.to_vec()
        }
        _ => Vec::new(),
    })
}
