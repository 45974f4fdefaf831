//! Secret files shared by the authorization server and the gateway (today the DPoP nonce key,
//! `[dpop] nonce_secret_file`): read only when group and others cannot read them, like an SSH
//! key, the admin `bearer_token_file` and the SQLite store.

use certbound_core::dpop::{NonceScheme, NonceSchemeError};
use std::path::Path;

/// The largest secret file read, in bytes: it holds one key, not a document.
pub const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or others may read the file.
    #[error("{path} is readable by other users (mode {mode:03o}); it holds a secret: run `chmod 600 {path}` (and keep it owned by the service user)")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than [`MAX_SECRET_FILE_BYTES`].
    #[error("{path} is larger than {MAX_SECRET_FILE_BYTES} bytes; it must hold one secret")]
    TooLarge {
        /// The file.
        path: String,
    },
}

/// The bytes of `path`, refused when group or others may read it (Unix) or when it is larger
/// than [`MAX_SECRET_FILE_BYTES`]. The bytes are used as they are (a trailing newline included),
/// so every instance reading a copy of the file gets the same secret.
pub fn read_private(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    let shown = path.display().to_string();
    let read_err = |source| SecretFileError::Read {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Permissions {
                path: shown.clone(),
                mode,
            });
        }
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(SecretFileError::TooLarge { path: shown });
    }
    std::fs::read(path).map_err(read_err)
}

/// Why the DPoP nonce scheme could not be built from `[dpop]`.
#[derive(Debug, thiserror::Error)]
pub enum NonceKeyError {
    /// `nonce_secret_file` is unreadable, readable by others or too large.
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// The secret is too short, or the rotation period out of bounds.
    #[error("{0}")]
    Scheme(#[from] NonceSchemeError),
}

impl NonceKeyError {
    /// The key under `[dpop]` at fault: `nonce_secret_file` or `nonce_rotation_seconds`.
    pub fn key(&self) -> &'static str {
        match self {
            NonceKeyError::Scheme(NonceSchemeError::Rotation) => "nonce_rotation_seconds",
            _ => "nonce_secret_file",
        }
    }
}

/// The DPoP nonce scheme of `[dpop]`: keyed with the bytes of `secret_file` (shared by every
/// instance that must accept the others' nonces), or with a random key of this process when
/// there is none.
pub fn nonce_scheme(
    secret_file: Option<&Path>,
    rotation_seconds: u32,
) -> Result<NonceScheme, NonceKeyError> {
    match secret_file {
        Some(path) => {
            let secret = read_private(path)?;
            Ok(NonceScheme::new(&secret, rotation_seconds)?)
        }
        None => Ok(NonceScheme::random(rotation_seconds)?),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn the_file_must_be_private_long_enough_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good", &[5u8; 32], 0o600);
        let a = nonce_scheme(Some(&good), 300).unwrap();
        let b = nonce_scheme(Some(&good), 300).unwrap();
        assert!(b.accepts(&a.issue(1_000), 1_000), "same file, same nonces");

        let open = write(dir.path(), "open", &[5u8; 32], 0o640);
        let e = nonce_scheme(Some(&open), 300).unwrap_err();
        assert!(matches!(
            e,
            NonceKeyError::File(SecretFileError::Permissions { mode: 0o640, .. })
        ));
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert_eq!(e.key(), "nonce_secret_file");

        let short = write(dir.path(), "short", &[5u8; 31], 0o600);
        let e = nonce_scheme(Some(&short), 300).unwrap_err();
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
        assert_eq!(e.key(), "nonce_secret_file");

        let big = write(dir.path(), "big", &[5u8; 5000], 0o600);
        assert!(matches!(
            nonce_scheme(Some(&big), 300).unwrap_err(),
            NonceKeyError::File(SecretFileError::TooLarge { .. })
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            nonce_scheme(Some(&missing), 300).unwrap_err(),
            NonceKeyError::File(SecretFileError::Read { .. })
        ));
        let e = nonce_scheme(Some(&good), 0).unwrap_err();
        assert_eq!(e.key(), "nonce_rotation_seconds");
        assert!(nonce_scheme(None, 0).is_err());
        assert!(nonce_scheme(None, 60).is_ok());
    }
}
