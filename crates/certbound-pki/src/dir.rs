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

/// Writes a public file (certificate, JWKS) with mode 0644, set explicitly: the `certbound`
/// binary runs with umask 077, and other users (a gateway's service user, nginx, a partner's
/// tooling) must be able to read certificates. Like [`write_private_file`], an existing file is
/// removed first and the new one created exclusively (a planted symlink is not followed).
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_new_file(path, bytes, 0o644)
}

/// Writes a secret file (private key, PKCS#12): removes any existing file, then creates it
/// exclusively with mode 0600, so the content never sits in a file others can read (and a planted
/// symlink is not followed). Tests that hand keys to the binary can use it too.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_new_file(path, bytes, 0o600)
}

/// Replaces `path` with a new file of mode `mode` (Unix; whatever the umask) holding `bytes`.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
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
        options.mode(mode);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    // The umask may have removed bits from `mode` (0644 under umask 077): set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_error(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
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

/// Refuses to replace any of `paths` unless `force` is set.
fn refuse_overwrite(paths: &[&Path], force: bool) -> Result<(), PkiError> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(PkiError::FileExists(p.to_path_buf())),
        None => Ok(()),
    }
}

/// Creates a root CA named `CN=certbound development CA,O=certbound` in `dir` (see
/// [`init_named`]).
pub fn init(dir: &Path, key: KeyAlgorithm, force: bool) -> Result<Written, PkiError> {
    init_named(
        dir,
        &SubjectSpec::cn_o(CA_COMMON_NAME, CA_ORGANIZATION),
        key,
        force,
    )
}

/// Creates a root CA with the subject `name` in `dir` (`ca.pem`, `ca.key`).
///
/// Refuses when either file exists unless `force` is set: replacing the CA invalidates every
/// certificate issued so far.
pub fn init_named(
    dir: &Path,
    name: &SubjectSpec,
    key: KeyAlgorithm,
    force: bool,
) -> Result<Written, PkiError> {
    if name.is_empty() {
        return Err(PkiError::InvalidSpec("a CA needs a subject name".into()));
    }
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
    let ca = CertificateAuthority::generate(name, key)?;
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
/// name `<cn>`). Refuses to replace existing files unless `force` is set (a replaced key
/// changes the certificate thumbprint every bound token and registration depends on).
pub fn client(
    dir: &Path,
    spec: &LeafSpec,
    p12_password: Option<&str>,
    force: bool,
) -> Result<Written, PkiError> {
    let cn = spec
        .subject
        .common_name_value()
        .ok_or_else(|| PkiError::InvalidSpec("a client certificate needs a CN".into()))?;
    let stem = file_stem(cn)?;
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    let p12_path = dir.join(format!("{stem}.p12"));
    let mut targets = vec![cert_path.as_path(), key_path.as_path()];
    if p12_password.is_some() {
        targets.push(&p12_path);
    }
    refuse_overwrite(&targets, force)?;
    let ca = load_ca(dir)?;
    let issued = ca.issue(spec)?;
    write_private_file(&key_path, issued.key_pem.as_bytes())?;
    write_public(&cert_path, issued.cert_pem.as_bytes())?;
    let mut files = vec![cert_path, key_path];
    if let Some(password) = p12_password {
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

/// Issues a client certificate from the CA in `dir` for a partner's certificate signing request
/// (the partner keeps its private key): writes the certificate to `out` (default
/// `<dir>/<cn>.pem`), refusing to replace an existing file unless `force` is set. The subject
/// is the request's; the SANs are the request's plus those in `spec`; validity and usage come
/// from `spec` (a client certificate).
pub fn sign_csr(
    dir: &Path,
    request: &crate::CertificateRequest,
    spec: &LeafSpec,
    out: Option<&Path>,
    force: bool,
) -> Result<Written, PkiError> {
    let subject = request.subject_rfc4514()?;
    let out = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let spec_subject = SubjectSpec::from_der(request.subject_der())?;
            let cn = spec_subject.common_name_value().ok_or_else(|| {
                PkiError::InvalidSpec(format!(
                    "the request's subject \"{subject}\" has no CN to name the file after: pass --out"
                ))
            })?;
            dir.join(format!("{}.pem", file_stem(cn)?))
        }
    };
    refuse_overwrite(&[&out], force)?;
    let ca = load_ca(dir)?;
    let mut spec = spec.clone();
    spec.usage = crate::CertUsage::Client;
    spec.san_dns.extend(request.san_dns.iter().cloned());
    spec.san_uri.extend(request.san_uri.iter().cloned());
    spec.san_ip.extend(request.san_ip.iter().copied());
    spec.san_email.extend(request.san_email.iter().cloned());
    for list in [&mut spec.san_dns, &mut spec.san_uri, &mut spec.san_email] {
        dedup_keep_order(list);
    }
    dedup_keep_order(&mut spec.san_ip);
    let cert_der = ca.issue_for_request(request, &spec)?;
    write_public(&out, crate::cert::certs_pem(&[&cert_der]).as_bytes())?;
    Ok(Written {
        files: vec![out],
        subject,
        thumbprint: Thumbprint::of_der(&cert_der),
    })
}

fn dedup_keep_order<T: PartialEq + Clone>(list: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(list.len());
    list.retain(|v| {
        if seen.contains(v) {
            false
        } else {
            seen.push(v.clone());
            true
        }
    });
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
        let c = client(&dir, &spec, Some("pw"), false).unwrap();
        assert_eq!(c.subject, "CN=partner-a,O=Example");
        let before = fs::read(dir.join("partner-a.key")).unwrap();
        let err = client(&dir, &spec, Some("pw"), false).unwrap_err();
        assert!(
            matches!(err, PkiError::FileExists(ref p) if p.ends_with("partner-a.pem")),
            "{err}"
        );
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            before,
            fs::read(dir.join("partner-a.key")).unwrap(),
            "untouched"
        );
        let c = client(&dir, &spec, Some("pw"), true).unwrap();
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

    /// Certificates and JWKS are for others to read: 0644 exactly, whatever the umask (the
    /// binary runs with 077) and whatever the mode of a file they replace.
    #[cfg(unix)]
    #[test]
    fn public_files_are_world_readable_and_replace_private_ones() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        ensure_dir(&dir).unwrap();
        let jwks_path = tmp.path().join("s.jwks.json");
        for f in [dir.join(CA_CERT_FILE), jwks_path.clone()] {
            write_private_file(&f, b"old").unwrap();
        }
        init(&dir, KeyAlgorithm::EcdsaP256, true).unwrap();
        self_signed(
            &dir,
            &LeafSpec::client(SubjectSpec::cn("partner-s")),
            &jwks_path,
        )
        .unwrap();
        let mode = |f: &Path| fs::metadata(f).unwrap().permissions().mode() & 0o7777;
        for f in [
            dir.join(CA_CERT_FILE),
            dir.join("partner-s.pem"),
            jwks_path.clone(),
        ] {
            assert_eq!(format!("{:o}", mode(&f)), "644", "{}", f.display());
        }
        for f in [dir.join(CA_KEY_FILE), dir.join("partner-s.key")] {
            assert_eq!(format!("{:o}", mode(&f)), "600", "{}", f.display());
        }
    }

    #[test]
    fn the_ca_name_is_configurable() {
        let tmp = tempfile::tempdir().unwrap();
        let name = SubjectSpec::new()
            .country("DE")
            .org("Example Bank")
            .common_name("Example Bank Partner CA");
        let w = init_named(tmp.path(), &name, KeyAlgorithm::EcdsaP256, false).unwrap();
        assert_eq!(w.subject, "CN=Example Bank Partner CA,O=Example Bank,C=DE");
        let spec = LeafSpec::client(SubjectSpec::cn("p"));
        let c = load_ca(tmp.path()).unwrap().issue(&spec).unwrap();
        assert_eq!(
            c.issuer_rfc4514().unwrap(),
            "CN=Example Bank Partner CA,O=Example Bank,C=DE"
        );
    }

    /// A partner's request, as its own tooling would make it: its key never leaves it.
    fn partner_request(
        subject: &[(rcgen::DnType, &str)],
        sans: &[&str],
    ) -> (rcgen::KeyPair, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            dn.push(t.clone(), *v);
        }
        params.distinguished_name = dn;
        let csr = params.serialize_request(&key).unwrap();
        (key, csr.pem().unwrap())
    }

    #[test]
    fn a_partner_request_is_issued_with_its_subject_and_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        init(dir, KeyAlgorithm::EcdsaP256, false).unwrap();
        let (key, pem_text) = partner_request(
            &[
                (rcgen::DnType::OrganizationName, "Partner C Ltd"),
                (rcgen::DnType::CommonName, "partner-c"),
            ],
            &["api.partner-c.example"],
        );
        let request = crate::CertificateRequest::from_pem(&pem_text).unwrap();
        let spec = LeafSpec::client(SubjectSpec::new())
            .valid_for_days(30)
            .with_uri("spiffe://partner-c/api");
        let w = sign_csr(dir, &request, &spec, None, false).unwrap();
        assert_eq!(w.files, vec![dir.join("partner-c.pem")]);
        assert_eq!(w.subject, "CN=partner-c,O=Partner C Ltd");
        let cert = read_certificates(&w.files[0]).unwrap().remove(0);
        assert_eq!(Thumbprint::of_der(&cert), w.thumbprint);
        let fields = crate::cert::name_fields(&cert).unwrap();
        assert_eq!(fields.spki, request.spki_der(), "the partner's own key");
        assert_eq!(
            fields.subject,
            request.subject_der(),
            "the requested subject, byte for byte"
        );
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
        let sans = parsed.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = sans.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "DNSName(api.partner-c.example)",
                "URI(spiffe://partner-c/api)"
            ],
        );
        let eku = parsed.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(!parsed.is_ca());
        // The partner's key signs for the certificate: the pair works.
        assert_eq!(
            rcgen::PublicKeyData::subject_public_key_info(&key),
            fields.spki
        );

        let err = sign_csr(dir, &request, &spec, None, false).unwrap_err();
        assert!(matches!(err, PkiError::FileExists(_)), "{err}");
        sign_csr(dir, &request, &spec, None, true).unwrap();
    }

    #[test]
    fn bad_requests_are_refused_in_words() {
        let (_, pem_text) = partner_request(&[(rcgen::DnType::CommonName, "x")], &[]);
        let mut der = pem::parse(&pem_text).unwrap().into_contents();
        let last = der.len() - 1;
        der[last] ^= 1;
        let err = crate::CertificateRequest::from_der(&der).unwrap_err();
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
        let err = crate::CertificateRequest::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE REQUEST"), "{err}");

        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let csr = params.serialize_request(&key).unwrap();
        let err = crate::CertificateRequest::from_pem(&csr.pem().unwrap()).unwrap_err();
        assert!(err.to_string().contains("CA certificate"), "{err}");
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
        assert!(client(tmp.path(), &spec, None, false).is_err());
    }
}
