//! `certbound pki ...`: a development PKI on disk, for trying certbound with curl or an SDK.
//!
//! The file layout is documented in `certbound_pki::dir`: `ca.pem`/`ca.key`, `server.pem` (server
//! certificate followed by the CA)/`server.key`, and `<cn>.pem`/`<cn>.key`/`<cn>.p12` per client.
//! Private keys and PKCS#12 files are created with mode 0600.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use certbound_pki::{dir, KeyAlgorithm, LeafSpec, SubjectSpec};

/// Key type of a generated certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA P-256 (ES256): the default, and the fastest in TLS handshakes.
    #[default]
    EcdsaP256,
    /// Ed25519 (EdDSA).
    Ed25519,
    /// RSA 2048 (PS256 in JWKs); for partners whose stack needs RSA.
    Rsa2048,
}

impl From<KeyType> for KeyAlgorithm {
    fn from(k: KeyType) -> Self {
        match k {
            KeyType::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            KeyType::Ed25519 => KeyAlgorithm::Ed25519,
            KeyType::Rsa2048 => KeyAlgorithm::Rsa2048,
        }
    }
}

/// The subjectAltName flags of a client certificate.
#[derive(clap::Args, Debug, Default)]
pub struct SanArgs {
    /// DNS name subjectAltName (repeatable; for tls_client_auth_san_dns).
    #[arg(long = "san-dns", value_name = "NAME")]
    san_dns: Vec<String>,
    /// URI subjectAltName (repeatable; for tls_client_auth_san_uri).
    #[arg(long = "san-uri", value_name = "URI")]
    san_uri: Vec<String>,
    /// IP address subjectAltName (repeatable; for tls_client_auth_san_ip).
    #[arg(long = "san-ip", value_name = "ADDRESS")]
    san_ip: Vec<IpAddr>,
    /// Email subjectAltName (repeatable; for tls_client_auth_san_email).
    #[arg(long = "san-email", value_name = "ADDRESS")]
    san_email: Vec<String>,
}

impl SanArgs {
    /// `spec` with these subjectAltNames.
    fn apply(self, spec: LeafSpec) -> LeafSpec {
        LeafSpec {
            san_dns: self.san_dns,
            san_uri: self.san_uri,
            san_ip: self.san_ip,
            san_email: self.san_email,
            ..spec
        }
    }
}

/// PKI subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PkiCommand {
    /// Create a root CA: writes <dir>/ca.pem and <dir>/ca.key.
    Init {
        /// Directory for the PKI files (created if missing).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Replace an existing CA; every certificate it issued stops verifying.
        #[arg(long)]
        force: bool,
        /// Key type of the CA.
        #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
        key: KeyType,
        /// Common name (CN) of the CA, e.g. "Example Bank Partner CA".
        #[arg(long, default_value = dir::CA_COMMON_NAME)]
        ca_cn: String,
        /// Organization (O) of the CA; empty for none.
        #[arg(long, default_value = dir::CA_ORGANIZATION)]
        ca_org: String,
        /// Country (C) of the CA, two letters (ISO 3166), e.g. DE.
        #[arg(long)]
        ca_country: Option<String>,
    },
    /// Issue the TLS server certificate for certbound: writes <dir>/server.pem (certificate then
    /// CA) and <dir>/server.key. Without --dns and --ip it covers localhost, 127.0.0.1 and ::1.
    Server {
        /// Directory holding the CA (from `certbound pki init`).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// DNS name the server is reached at (repeatable); the first is also the CN.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP address the server is reached at (repeatable).
        #[arg(long = "ip", value_name = "ADDRESS")]
        ip: Vec<IpAddr>,
        /// Key type of the server certificate.
        #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
        key: KeyType,
    },
    /// Issue a client certificate for tls_client_auth: writes <dir>/<cn>.pem, <dir>/<cn>.key and,
    /// with --p12, <dir>/<cn>.p12; prints the subject (RFC 4514) and the x5t#S256 thumbprint.
    Client {
        /// Directory holding the CA (from `certbound pki init`).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Common name (CN) of the subject; also names the files.
        #[arg(long)]
        cn: String,
        /// Organization (O) of the subject; the subject is then CN=<cn>,O=<org>.
        #[arg(long)]
        org: Option<String>,
        /// subjectAltNames of the certificate.
        #[command(flatten)]
        sans: SanArgs,
        /// Also write <cn>.p12 (key, certificate and CA) for curl --cert-type P12, Java or .NET;
        /// needs --password.
        #[arg(long)]
        p12: bool,
        /// Password of the PKCS#12 file (or set CERTBOUND_P12_PASSWORD, which keeps it out of
        /// the process list).
        #[arg(long, env = "CERTBOUND_P12_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Validity in days, starting an hour ago.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
        /// Key type of the client certificate.
        #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
        key: KeyType,
        /// Replace existing <cn>.pem/.key/.p12 files (the new key changes the thumbprint).
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for a partner's certificate signing request (PKCS#10, e.g.
    /// from `openssl req -new`): the partner keeps its private key. The subject is the
    /// request's; requested DNS/URI/IP/email subjectAltNames are kept; the certificate is always
    /// a client certificate (clientAuth, not a CA). Writes <dir>/<cn>.pem (or --out) and prints
    /// the subject, the thumbprint and the command that registers the client.
    SignCsr {
        /// Directory holding the CA (from `certbound pki init`).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The request (PEM "CERTIFICATE REQUEST").
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate (default: <dir>/<cn>.pem).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days, starting an hour ago.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
        /// subjectAltNames to add to those the request asks for.
        #[command(flatten)]
        sans: SanArgs,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Create a self-signed client certificate for self_signed_tls_client_auth: writes
    /// <dir>/<cn>.pem, <dir>/<cn>.key and the JWK Set to register as the client's `jwks`.
    SelfSigned {
        /// Directory for the certificate and key (created if missing; no CA needed).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Common name (CN) of the subject; also names the files.
        #[arg(long)]
        cn: String,
        /// Where to write the JWK Set (default: <dir>/<cn>.jwks.json).
        #[arg(long, value_name = "FILE")]
        jwks_out: Option<PathBuf>,
        /// Validity in days, starting an hour ago.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
        /// Key type of the certificate.
        #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
        key: KeyType,
    },
    /// Print the public JWK of a certificate (PEM or DER), with x5c holding every certificate of
    /// the file and kid = x5t#S256.
    Jwks {
        /// Certificate file; with several certificates the first is the key's, the rest its chain.
        cert: PathBuf,
        /// Print a JWK Set ({"keys": [...]}) instead of a single JWK.
        #[arg(long)]
        set: bool,
    },
    /// Print the x5t#S256 thumbprint (RFC 8705 §3.1) of a certificate (PEM or DER): what a bound
    /// token's cnf claim holds.
    Thumbprint {
        /// Certificate file; the first certificate in it is used.
        cert: PathBuf,
    },
}

/// Runs a PKI subcommand.
pub fn run(cmd: PkiCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    execute(cmd, &mut out)
}

/// Runs a PKI subcommand, reporting to `out`.
fn execute(cmd: PkiCommand, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match cmd {
        PkiCommand::Init {
            dir,
            force,
            key,
            ca_cn,
            ca_org,
            ca_country,
        } => {
            // Certificate order: C, O, CN (RFC 4514 prints it reversed: CN=..,O=..,C=..).
            let mut name = SubjectSpec::new();
            if let Some(c) = ca_country {
                if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    bail!("--ca-country must be a two-letter ISO 3166 code such as DE, not {c}");
                }
                name = name.country(c.to_ascii_uppercase());
            }
            if !ca_org.is_empty() {
                name = name.org(ca_org);
            }
            if ca_cn.trim().is_empty() {
                bail!("--ca-cn must not be empty");
            }
            let name = name.common_name(ca_cn);
            let written =
                dir::init_named(&dir, &name, key.into(), force).context("creating the CA")?;
            report(out, &written)?;
        }
        PkiCommand::Server { dir, dns, ip, key } => {
            let written = dir::server(&dir, &dns, &ip, key.into())
                .context("issuing the server certificate")?;
            report(out, &written)?;
        }
        PkiCommand::Client {
            dir,
            cn,
            org,
            sans,
            p12,
            password,
            days,
            key,
            force,
        } => {
            let p12_password = match (p12, password) {
                (true, Some(p)) if p.is_empty() => {
                    bail!("--password must not be empty: OpenSSL and curl handle empty PKCS#12 passwords inconsistently")
                }
                (true, Some(p)) => Some(p),
                (true, None) => bail!(
                    "--p12 needs a password: pass --password <PASSWORD> or set CERTBOUND_P12_PASSWORD"
                ),
                (false, _) => None,
            };
            let subject = match org {
                Some(o) => SubjectSpec::cn_o(cn, o),
                None => SubjectSpec::cn(cn),
            };
            let spec = sans.apply(
                LeafSpec::client(subject)
                    .valid_for_days(days)
                    .with_key(key.into()),
            );
            let written = dir::client(&dir, &spec, p12_password.as_deref(), force)
                .context("issuing the client certificate")?;
            report(out, &written)?;
        }
        PkiCommand::SignCsr {
            dir,
            csr,
            out: out_path,
            days,
            sans,
            force,
        } => {
            let text = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading the certificate request {}", csr.display()))?;
            let request = certbound_pki::CertificateRequest::from_pem(&text)
                .with_context(|| format!("{}", csr.display()))?;
            let spec = sans.apply(LeafSpec::client(SubjectSpec::new()).valid_for_days(days));
            let written = dir::sign_csr(&dir, &request, &spec, out_path.as_deref(), force)
                .context("issuing the certificate for the request")?;
            report(out, &written)?;
            let subject = &written.subject;
            writeln!(
                out,
                "send {} (and {}) to the partner; register the client with:\n  certbound clients add --config certbound.toml --client-id <ID> --method tls_client_auth --subject-dn '{}'",
                written.files[0].display(),
                dir.join(dir::CA_CERT_FILE).display(),
                subject.replace('\'', "'\\''")
            )?;
        }
        PkiCommand::SelfSigned {
            dir,
            cn,
            jwks_out,
            days,
            key,
        } => {
            let jwks_out = match jwks_out {
                Some(p) => p,
                None => dir.join(format!("{}.jwks.json", dir::file_stem(&cn)?)),
            };
            let spec = LeafSpec::client(SubjectSpec::cn(cn))
                .valid_for_days(days)
                .with_key(key.into());
            let written = dir::self_signed(&dir, &spec, &jwks_out)
                .context("creating the self-signed certificate")?;
            report(out, &written)?;
            writeln!(
                out,
                "register the client with token_endpoint_auth_method \"self_signed_tls_client_auth\" and the JWK Set in {}",
                jwks_out.display()
            )?;
        }
        PkiCommand::Jwks { cert, set } => {
            let certs = dir::read_certificates(&cert)?;
            let jwk = certbound_pki::jwk_for_chain(&certs)
                .with_context(|| format!("{}", cert.display()))?;
            let value = if set {
                serde_json::json!({ "keys": [jwk] })
            } else {
                jwk
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        PkiCommand::Thumbprint { cert } => {
            let certs = dir::read_certificates(&cert)?;
            let first = certs
                .first()
                .with_context(|| format!("{}: no certificate", cert.display()))?;
            writeln!(out, "{}", certbound_pki::Thumbprint::of_der(first))?;
        }
    }
    Ok(())
}

/// Prints the files written, then the subject and thumbprint of the new certificate.
fn report(out: &mut dyn std::io::Write, written: &dir::Written) -> anyhow::Result<()> {
    for path in &written.files {
        writeln!(out, "wrote {}{}", path.display(), describe(path))?;
    }
    writeln!(out, "subject: {}", written.subject)?;
    writeln!(out, "x5t#S256: {}", written.thumbprint)?;
    Ok(())
}

fn describe(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("key") => " (private key, mode 0600)",
        Some("p12") => " (PKCS#12, mode 0600)",
        Some("json") => " (JWK Set)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: PkiCommand,
    }

    fn parse(args: &[&str]) -> PkiCommand {
        Cli::try_parse_from(std::iter::once("pki").chain(args.iter().copied()))
            .unwrap()
            .cmd
    }

    fn exec(args: &[&str]) -> anyhow::Result<String> {
        let mut out = Vec::new();
        execute(parse(args), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn full_workflow() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("pki");
        let d = d.to_str().unwrap();

        let init = exec(&["init", "--dir", d]).unwrap();
        assert!(
            init.contains("ca.pem") && init.contains("ca.key (private key, mode 0600)"),
            "{init}"
        );
        let again = exec(&["init", "--dir", d]).unwrap_err();
        assert!(format!("{again:#}").contains("--force"), "{again:#}");
        exec(&["init", "--dir", d, "--force", "--key", "ed25519"]).unwrap();

        let server = exec(&[
            "server",
            "--dir",
            d,
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
        ])
        .unwrap();
        assert!(
            server.contains("server.pem") && server.contains("subject: CN=localhost"),
            "{server}"
        );

        let client = exec(&[
            "client",
            "--dir",
            d,
            "--cn",
            "partner-a",
            "--org",
            "Example",
            "--san-dns",
            "a.example",
            "--san-uri",
            "spiffe://example/a",
            "--san-ip",
            "10.0.0.1",
            "--san-email",
            "a@example.com",
            "--p12",
            "--password",
            "pw",
            "--days",
            "30",
            "--key",
            "rsa2048",
        ])
        .unwrap();
        assert!(
            client.contains("subject: CN=partner-a,O=Example"),
            "{client}"
        );
        assert!(
            client.contains("partner-a.p12 (PKCS#12, mode 0600)"),
            "{client}"
        );
        let pem = std::path::Path::new(d).join("partner-a.pem");
        let thumb = exec(&["thumbprint", pem.to_str().unwrap()]).unwrap();
        assert!(
            client.contains(&format!("x5t#S256: {}", thumb.trim())),
            "{client}\n{thumb}"
        );

        let jwk: serde_json::Value =
            serde_json::from_str(&exec(&["jwks", pem.to_str().unwrap()]).unwrap()).unwrap();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["x5t#S256"], thumb.trim());
        let set: serde_json::Value =
            serde_json::from_str(&exec(&["jwks", "--set", pem.to_str().unwrap()]).unwrap())
                .unwrap();
        assert_eq!(set["keys"][0], jwk);

        let jwks_out = tmp.path().join("partner-s.jwks.json");
        let ss = exec(&[
            "self-signed",
            "--dir",
            d,
            "--cn",
            "partner-s",
            "--jwks-out",
            jwks_out.to_str().unwrap(),
        ])
        .unwrap();
        assert!(ss.contains("partner-s.jwks.json (JWK Set)"), "{ss}");
        let registered: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&jwks_out).unwrap()).unwrap();
        assert_eq!(registered["keys"].as_array().unwrap().len(), 1);
        exec(&["self-signed", "--dir", d, "--cn", "partner-t"]).unwrap();
        assert!(std::path::Path::new(d).join("partner-t.jwks.json").exists());
    }

    #[test]
    fn p12_requires_a_password() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_str().unwrap();
        exec(&["init", "--dir", d]).unwrap();
        let cmd = parse(&["client", "--dir", d, "--cn", "x", "--p12"]);
        let PkiCommand::Client { password, .. } = &cmd else {
            panic!("not a client command")
        };
        if password.is_some() {
            // CERTBOUND_P12_PASSWORD is set in this environment; nothing to check.
            return;
        }
        let err = execute(cmd, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("--p12 needs a password"), "{err}");
        assert!(
            !tmp.path().join("x.pem").exists(),
            "nothing is written on error"
        );
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(Cli::try_parse_from(["pki", "client", "--cn", "x", "--days", "0"]).is_err());
        assert!(Cli::try_parse_from(["pki", "client", "--cn", "x", "--san-ip", "nope"]).is_err());
        assert!(Cli::try_parse_from(["pki", "client"]).is_err());
        assert!(Cli::try_parse_from(["pki", "init", "--key", "dsa"]).is_err());
    }
}
