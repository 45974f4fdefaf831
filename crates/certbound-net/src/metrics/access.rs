//! Who may read the admin listener: `[admin]` of the authorization server and the gateway.
//!
//! Without `bearer_token_file` the admin listener answers anyone who reaches it, which is only
//! acceptable on loopback or a management network: a listener on another address logs a warning
//! at start. With it, every request must carry `Authorization: Bearer <token>` (compared in
//! constant time) or gets `401` with `WWW-Authenticate: Bearer realm="certbound-admin"`;
//! `/livez`, `/health` and `/readyz` stay open for orchestrator probes unless `open_probes =
//! false` (they reveal only "ok" / "ready" / one line of why not). The token file must be
//! unreadable by group and others, like an SSH key: certbound refuses to start otherwise.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The realm of the admin listener's `WWW-Authenticate` challenge.
pub const ADMIN_REALM: &str = "certbound-admin";

/// The shortest accepted token, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[admin]` of a configuration file (the authorization server and the gateway share it).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Plain-HTTP listener for `GET /metrics`, `/livez` and `/readyz`; none by default.
    pub listen: Option<SocketAddr>,
    /// A file holding the bearer token every admin request must present (one line, at least 16
    /// visible ASCII characters, mode 0600 or stricter). None: no authentication.
    pub bearer_token_file: Option<PathBuf>,
    /// Whether `/livez`, `/health` and `/readyz` answer without the token (default true, so
    /// orchestrator probes keep working); `/metrics` always needs it when a token is set.
    pub open_probes: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: None,
            bearer_token_file: None,
            open_probes: true,
        }
    }
}

/// Why the admin token could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminAccessError {
    /// The file could not be read.
    #[error("[admin] bearer_token_file {path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Group or others may read the file.
    #[error("[admin] bearer_token_file {path} is readable by other users (mode {mode:03o}); it holds the admin token: run `chmod 600 {path}` (and keep it owned by the service user)")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The token is empty, too short or holds characters a header cannot carry.
    #[error("[admin] bearer_token_file {path}: the token must be one line of at least {MIN_TOKEN_LEN} visible ASCII characters (for example `openssl rand -hex 32`)")]
    BadToken {
        /// The file.
        path: String,
    },
}

/// The admin listener's access rule, built once at start.
#[derive(Clone)]
pub struct AdminAccess {
    token: Option<Arc<[u8]>>,
    open_probes: bool,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("open_probes", &self.open_probes)
            .finish()
    }
}

impl AdminAccess {
    /// No authentication (loopback or a management network only).
    pub fn unauthenticated() -> Self {
        AdminAccess {
            token: None,
            open_probes: true,
        }
    }

    /// Every request but (with `open_probes`) the probes must present `token`.
    pub fn bearer(token: &str, open_probes: bool) -> Self {
        AdminAccess {
            token: Some(Arc::from(token.as_bytes())),
            open_probes,
        }
    }

    /// The rule `[admin]` asks for: reads and checks the token file if one is set.
    pub fn from_config(config: &AdminConfig) -> Result<Self, AdminAccessError> {
        match &config.bearer_token_file {
            None => Ok(Self::unauthenticated()),
            Some(path) => Ok(Self::bearer(&read_token(path)?, config.open_probes)),
        }
    }

    /// Whether a token is required.
    pub fn is_protected(&self) -> bool {
        self.token.is_some()
    }

    /// The warning to log when the admin listener on `addr` is reachable from other hosts
    /// without authentication (`None` on loopback, or with a token).
    pub fn exposure_warning(&self, addr: SocketAddr) -> Option<String> {
        if self.is_protected() || addr.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "the admin listener ([admin] listen = \"{addr}\") is not on a loopback address and \
             has no authentication: anyone who reaches it reads /metrics. Set [admin] \
             bearer_token_file, or bind it to 127.0.0.1 or a management network only"
        ))
    }

    fn allows(&self, req: &Request) -> Result<(), bool> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        if self.open_probes && matches!(req.uri().path(), "/livez" | "/health" | "/readyz") {
            return Ok(());
        }
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, value) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(value.trim_start())
            });
        match presented {
            None => Err(false),
            Some(value) if bool::from(value.as_bytes().ct_eq(&token[..])) => Ok(()),
            Some(_) => Err(true),
        }
    }
}

/// Reads a token file: owner-only permissions (Unix), one line of visible ASCII.
fn read_token(path: &Path) -> Result<String, AdminAccessError> {
    let shown = path.display().to_string();
    let read_err = |source| AdminAccessError::Read {
        path: shown.clone(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(read_err)?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(AdminAccessError::Permissions {
                path: shown.clone(),
                mode,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let token = text.trim();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AdminAccessError::BadToken { path: shown });
    }
    Ok(token.to_owned())
}

/// Middleware enforcing [`AdminAccess`] on the admin routes.
pub(crate) async fn require(
    State(access): State<AdminAccess>,
    req: Request,
    next: Next,
) -> Response {
    match access.allows(&req) {
        Ok(()) => next.run(req).await,
        Err(presented) => {
            let challenge = if presented {
                format!("Bearer realm=\"{ADMIN_REALM}\", error=\"invalid_token\"")
            } else {
                format!("Bearer realm=\"{ADMIN_REALM}\"")
            };
            (
                StatusCode::UNAUTHORIZED,
                [
                    (http::header::WWW_AUTHENTICATE, challenge),
                    (
                        http::header::CONTENT_TYPE,
                        "text/plain; charset=utf-8".to_owned(),
                    ),
                    (http::header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                "unauthorized\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, authorization: Option<&str>) -> Request {
        let mut b = http::Request::get(path);
        if let Some(a) = authorization {
            b = b.header(http::header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_unprotected_listeners_off_loopback_are_warned_about() {
        let open = AdminAccess::unauthenticated();
        assert!(open
            .exposure_warning("127.0.0.1:9464".parse().unwrap())
            .is_none());
        assert!(open
            .exposure_warning("[::1]:9464".parse().unwrap())
            .is_none());
        let warning = open
            .exposure_warning("0.0.0.0:9464".parse().unwrap())
            .unwrap();
        assert!(
            warning.contains("[admin] listen = \"0.0.0.0:9464\""),
            "{warning}"
        );
        assert!(warning.contains("bearer_token_file"), "{warning}");
        let protected = AdminAccess::bearer("0123456789abcdef0123", true);
        assert!(protected
            .exposure_warning("10.1.2.3:9464".parse().unwrap())
            .is_none());
    }

    #[test]
    fn the_bearer_token_is_checked_and_probes_stay_open_when_asked() {
        let token = "0123456789abcdef0123";
        let a = AdminAccess::bearer(token, true);
        assert_eq!(a.allows(&request("/metrics", None)), Err(false));
        assert_eq!(
            a.allows(&request("/metrics", Some("Bearer 0123456789abcdef012"))),
            Err(true)
        );
        assert_eq!(
            a.allows(&request("/metrics", Some("Basic 0123456789abcdef0123"))),
            Err(false)
        );
        assert_eq!(
            a.allows(&request("/metrics", Some(&format!("bearer {token}")))),
            Ok(())
        );
        assert_eq!(a.allows(&request("/livez", None)), Ok(()));
        assert_eq!(a.allows(&request("/readyz", None)), Ok(()));
        let closed = AdminAccess::bearer(token, false);
        assert_eq!(closed.allows(&request("/readyz", None)), Err(false));
        assert!(!format!("{closed:?}").contains(token));
    }

    #[cfg(unix)]
    #[test]
    fn token_files_readable_by_others_or_too_short_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("certbound-admin-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        let config = AdminConfig {
            bearer_token_file: Some(path.clone()),
            ..AdminConfig::default()
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AdminAccess::from_config(&config).unwrap_err().to_string();
        assert!(
            e.contains("chmod 600") && e.contains("admin.token") && e.contains("644"),
            "{e}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let access = AdminAccess::from_config(&config).unwrap();
        assert!(access.is_protected());
        std::fs::write(&path, "short\n").unwrap();
        let e = AdminAccess::from_config(&config).unwrap_err().to_string();
        assert!(e.contains("at least 16"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn admin_tables_default_to_open_probes_and_refuse_unknown_keys() {
        let c: AdminConfig = toml::from_str("listen = \"127.0.0.1:9464\"").unwrap();
        assert!(c.open_probes && c.bearer_token_file.is_none());
        assert!(toml::from_str::<AdminConfig>("bearer_token = \"x\"").is_err());
    }
}
