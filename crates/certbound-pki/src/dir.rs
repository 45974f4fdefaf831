//! The development PKI on disk, as `certbound pki` manages it.
//!
//! One directory holds everything:
//!
//! | file | written by | content |
//! | --- | --- | --- |
//! | `ca.pem`, `ca.key` | [`init`] | root CA certificate; its PKCS#8 key (0600) |
//! | `server.pem`, `server.key` | [`server`] | server certificate followed by the CA; key (0600) |
//! | `<cn>.pem`, `<cn>.key`, `<cn>.p12` | [`client`] | client certificate; key (0600); optional PKCS#12 (0600) |
//! | `<cn>.pem`, `<cn>.key` + a JWKS file | [`self_signed`] | self-signed client certificate; key; `{"keys":[...]}` |
//!
//! `<cn>` is the certificate's common name with every character outside `A-Z a-z 0-9 . _ -`
//! replaced by `_`. Private keys and PKCS#12 files are created with mode 0600 from the start (an
//! existing file is removed first, never chmod-ed), and the CA is never replaced unless asked.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use certbound_core::Thumbprint;

use crate::cert::{parse_certificates_pem, CertificateAuthority, IssuedCertificate, LeafSpec};
use crate::{KeyAlgorithm, PkiError, SubjectSpec};

/// File name of the CA certificate.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the server certificate chain.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// File name of the server private key.
pub const SERVER_KEY_FILE: &str = "server.key";

/// Common name of the CA that [`init`] creates.
pub const CA_COMMON_NAME: &str = "certbound development CA";
/// Organization of the CA that [`init`] creates.
pub const CA_ORGANIZATION: &str = "certbound";

/// What a directory operation wrote, for the CLI to report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Written {
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// The new certificate's subject, RFC 4514.
    pub subject: String,
    /// The new certificate's `x5t#S256`.
    pub thumbprint: Thumbprint,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (mode 0700 for directories it creates) if needed.
fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

/// Writes a public file (certificate, JWKS).
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    fs::write(path, bytes).map_err(io_error(path))
}

/// Writes a secret file (private key, PKCS#12): removes any existing file, then creates it
/// exclusively with mode 0600, so the content never sits in a file others can read (and a planted
/// symlink is not followed). Tests that hand keys to the binary can use it too.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

fn read_text(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io_error(path))
}

fn in_file(path: &Path) -> impl FnOnce(PkiError) -> PkiError + '_ {
    move |e| PkiError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

/// The file stem for a certificate: its common name with unsafe characters replaced by `_`.
///
/// Fails for an empty or dot-leading name and for `ca` and `server`, which would replace the
/// CA's or the server's files.
pub fn file_stem(common_name: &str) -> Result<String, PkiError> {
    let stem: String = common_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        return Err(PkiError::InvalidFileName(common_name.to_owned()));
    }
    if stem == "ca" || stem == "server" {
        return Err(PkiError::InvalidFileName(format!(
            "{common_name} (reserved for the {stem} files)"
        )));
    }
    Ok(stem)
}

/// Creates a root CA in `dir` (`ca.pem`, `ca.key`).
///
/// Refuses when either file exists unless `force` is set: replacing the CA invalidates every
/// certificate issued so far.
pub fn init(dir: &Path, key: KeyAlgorithm, force: bool) -> Result<Written, PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    if !force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(PkiError::AlreadyExists(path.clone()));
            }
        }
    }
    ensure_dir(dir)?;
    let ca =
        CertificateAuthority::generate(&SubjectSpec::cn_o(CA_COMMON_NAME, CA_ORGANIZATION), key)?;
    write_private_file(&key_path, ca.key_pem().as_bytes())?;
    write_public(&cert_path, ca.cert_pem().as_bytes())?;
    Ok(Written {
        files: vec![cert_path, key_path],
        subject: ca.subject_rfc4514()?,
        thumbprint: ca.thumbprint(),
    })
}

/// Loads the CA of `dir`; errors name the file at fault.
pub fn load_ca(dir: &Path) -> Result<CertificateAuthority, PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    let cert_pem = read_text(&cert_path)?;
    let key_pem = read_text(&key_path)?;
    // Report certificate problems against the certificate file, key problems against the key.
    parse_certificates_pem(&cert_pem).map_err(in_file(&cert_path))?;
    CertificateAuthority::from_pem(&cert_pem, &key_pem).map_err(|e| match e {
        PkiError::InvalidKey(_) | PkiError::KeyMismatch => in_file(&key_path)(e),
        other => in_file(&cert_path)(other),
    })
}

/// Issues a server certificate from the CA in `dir`: `server.pem` (certificate then CA) and
/// `server.key`. With no names at all it covers `localhost`, `127.0.0.1` and `::1`.
pub fn server(
    dir: &Path,
    dns: &[String],
    ips: &[IpAddr],
    key: KeyAlgorithm,
) -> Result<Written, PkiError> {
    let ca = load_ca(dir)?;
    let (dns, ips): (Vec<&str>, Vec<IpAddr>) = if dns.is_empty() && ips.is_empty() {
        (
            vec!["localhost"],
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ],
        )
    } else {
        (dns.iter().map(String::as_str).collect(), ips.to_vec())
    };
    let mut spec = LeafSpec::server(&dns, &ips).with_key(key);
    if spec.subject.is_empty() {
        // IP-only server: name it after its first address.
        if let Some(ip) = ips.first() {
            spec.subject = SubjectSpec::cn(ip.to_string());
        }
    }
    let issued = ca.issue(&spec)?;
    let cert_path = dir.join(SERVER_CERT_FILE);
    let key_path = dir.join(SERVER_KEY_FILE);
    write_private_file(&key_path, issued.key_pem.as_bytes())?;
    write_public(&cert_path, issued.chain_pem().as_bytes())?;
    written(vec![cert_path, key_path], &issued)
}

/// Issues a client certificate from the CA in `dir`: `<cn>.pem` (the certificate alone),
/// `<cn>.key` and, when `p12_password` is given, `<cn>.p12` (key, certificate and CA, friendly
/// name `<cn>`).
pub fn client(
    dir: &Path,
    spec: &LeafSpec,
    p12_password: Option<&str>,
) -> Result<Written, PkiError> {
    let cn = spec
        .subject
        .common_name_value()
        .ok_or_else(|| PkiError::InvalidSpec("a client certificate needs a CN".into()))?;
    let stem = file_stem(cn)?;
    let ca = load_ca(dir)?;
    let issued = ca.issue(spec)?;
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    write_private_file(&key_path, issued.key_pem.as_bytes())?;
    write_public(&cert_path, issued.cert_pem.as_bytes())?;
    let mut files = vec![cert_path, key_path];
    if let Some(password) = p12_password {
        let p12_path = dir.join(format!("{stem}.p12"));
        write_private_file(&p12_path, &issued.to_pkcs12(password, cn)?)?;
        files.push(p12_path);
    }
    written(files, &issued)
}

/// Creates a self-signed client certificate in `dir` (`<cn>.pem`, `<cn>.key`) and writes its
/// JWK Set, ready for RFC 7591 `jwks`, to `jwks_out` (a path of its own, not under `dir`).
pub fn self_signed(dir: &Path, spec: &LeafSpec, jwks_out: &Path) -> Result<Written, PkiError> {
    let cn = spec
        .subject
        .common_name_value()
        .ok_or_else(|| PkiError::InvalidSpec("a self-signed certificate needs a CN".into()))?;
    let stem = file_stem(cn)?;
    ensure_dir(dir)?;
    let issued = crate::cert::self_signed(spec)?;
    let jwks = crate::jwk::jwks(&[&issued.cert_der])?;
    let mut json = serde_json::to_string_pretty(&jwks)
        .map_err(|e| PkiError::InvalidSpec(format!("JWKS serialisation: {e}")))?;
    json.push('\n');
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    write_private_file(&key_path, issued.key_pem.as_bytes())?;
    write_public(&cert_path, issued.cert_pem.as_bytes())?;
    write_public(jwks_out, json.as_bytes())?;
    written(vec![cert_path, key_path, jwks_out.to_path_buf()], &issued)
}

fn written(files: Vec<PathBuf>, issued: &IssuedCertificate) -> Result<Written, PkiError> {
    Ok(Written {
        files,
        subject: issued.subject_rfc4514()?,
        thumbprint: issued.thumbprint(),
    })
}

/// The certificates in a file: every `CERTIFICATE` block of a PEM file, or one DER certificate.
pub fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, PkiError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let certs = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => parse_certificates_pem(text),
        _ => crate::cert::name_fields(&bytes).map(|_| vec![bytes.clone()]),
    };
    certs.map_err(in_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(file_stem("partner-a").unwrap(), "partner-a");
        assert_eq!(file_stem("Partner A/B").unwrap(), "Partner_A_B");
        assert!(file_stem("").is_err());
        assert!(file_stem("..").is_err());
        assert!(file_stem("ca").is_err());
        assert!(file_stem("server").is_err());
    }

    #[test]
    fn layout_modes_and_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let w = init(&dir, KeyAlgorithm::EcdsaP256, false).unwrap();
        assert_eq!(w.files, vec![dir.join("ca.pem"), dir.join("ca.key")]);
        assert_eq!(w.subject, "CN=certbound development CA,O=certbound");
        let err = init(&dir, KeyAlgorithm::EcdsaP256, false).unwrap_err();
        assert!(
            matches!(err, PkiError::AlreadyExists(ref p) if p.ends_with("ca.pem")),
            "{err}"
        );
        let first = fs::read(dir.join("ca.pem")).unwrap();
        init(&dir, KeyAlgorithm::EcdsaP256, true).unwrap();
        assert_ne!(first, fs::read(dir.join("ca.pem")).unwrap());

        let s = server(&dir, &[], &[], KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(s.subject, "CN=localhost");
        let chain = read_certificates(&dir.join("server.pem")).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], read_certificates(&dir.join("ca.pem")).unwrap()[0]);

        let spec = LeafSpec::client(SubjectSpec::cn_o("partner-a", "Example"));
        let c = client(&dir, &spec, Some("pw")).unwrap();
        assert_eq!(c.subject, "CN=partner-a,O=Example");
        assert_eq!(c.files.len(), 3);
        let certs = read_certificates(&c.files[0]).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(Thumbprint::of_der(&certs[0]), c.thumbprint);

        let jwks_path = tmp.path().join("s.jwks.json");
        let ss = self_signed(
            &dir,
            &LeafSpec::client(SubjectSpec::cn("partner-s")),
            &jwks_path,
        )
        .unwrap();
        let jwks: serde_json::Value =
            serde_json::from_slice(&fs::read(&jwks_path).unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["x5t#S256"], ss.thumbprint.as_str());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [
                "ca.key",
                "server.key",
                "partner-a.key",
                "partner-a.p12",
                "partner-s.key",
            ] {
                let mode = fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f}");
            }
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    #[test]
    fn errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load_ca(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        init(tmp.path(), KeyAlgorithm::EcdsaP256, false).unwrap();
        fs::write(tmp.path().join("ca.key"), "garbage").unwrap();
        let err = load_ca(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("ca.key"), "{err}");
        fs::write(tmp.path().join("ca.pem"), "not pem").unwrap();
        let err = load_ca(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        let other = tempfile::tempdir().unwrap();
        init(other.path(), KeyAlgorithm::EcdsaP256, false).unwrap();
        fs::copy(other.path().join("ca.pem"), tmp.path().join("ca.pem")).unwrap();
        init(other.path(), KeyAlgorithm::EcdsaP256, true).unwrap();
        fs::copy(other.path().join("ca.key"), tmp.path().join("ca.key")).unwrap();
        let err = load_ca(tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("ca.key") && err.to_string().contains("match"),
            "{err}"
        );
    }

    #[test]
    fn client_needs_a_cn() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), KeyAlgorithm::EcdsaP256, false).unwrap();
        let spec = LeafSpec::client(SubjectSpec::new().org("x"));
        assert!(client(tmp.path(), &spec, None).is_err());
    }
}
