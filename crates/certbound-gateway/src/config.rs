//! The `certbound gateway` configuration file (`gateway.toml`), documented in `docs/gateway.md`.
//! Unknown keys are refused; relative paths resolve against the file's directory.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole gateway configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where to listen.
    pub listen: ListenConfig,
    /// The gateway's TLS identity and optional client trust anchors.
    pub tls: TlsConfig,
    /// The authorization server whose tokens are accepted.
    pub authorization_server: AuthorizationServerConfig,
    /// Proxy timeouts and limits.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// Routes, matched by longest `path_prefix`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Where the listener takes client certificates from (`[client_cert.https]`): the TLS
    /// handshake (default) or a trusted proxy's header. See docs/proxies.md.
    #[serde(default)]
    pub client_cert: GatewayClientCert,
    /// The realm in `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// `[limits]`: connection, header and timeout limits of the listener (the request body limit
    /// of proxied requests is `[proxy] max_body_bytes`).
    #[serde(default)]
    pub limits: certbound_net::Limits,
    /// `[admin]`: plain-HTTP `GET /metrics`, `/livez`, `/readyz` listener (none by default; keep
    /// it on loopback or protect it with `bearer_token_file`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[dpop]`: DPoP-bound tokens (RFC 9449): the public URL proofs name, the proof window and
    /// the replay cache.
    #[serde(default)]
    pub dpop: crate::dpop::DpopConfig,
}

fn default_realm() -> String {
    "certbound".to_owned()
}

/// `[client_cert.https]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayClientCert {
    /// The gateway's listener.
    #[serde(default)]
    pub https: certbound_net::client_cert::ClientCertConfig,
}

/// `[listen]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// The mTLS listener (a client certificate is always required).
    pub https: SocketAddr,
    /// The authorities (`Host`, `:authority`) the gateway serves: `host` (any port),
    /// `host:port`, `*.domain` (one label) or `"*"` (any). Requests for another authority get
    /// 421 Misdirected Request. Default: the DNS names and IP addresses of the server
    /// certificate, and the listen address unless it is unspecified (`0.0.0.0`, `::`).
    #[serde(default)]
    pub server_names: Option<Vec<String>>,
}

/// `[tls]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM chain of the gateway's server certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// Optional: client certificates must also chain to one of these CAs. Without it any
    /// certificate whose key the client proves to hold is accepted (RFC 8705 §6.2): the binding is
    /// what protects, and self-signed clients' bound tokens keep working.
    #[serde(default)]
    pub client_ca: Vec<PathBuf>,
    /// Whether a client must send a certificate in the handshake: `required` (the default: every
    /// client is an mTLS client) or `optional`, for deployments that also serve DPoP clients
    /// without certificates. A certificate-bound token still needs its certificate, and a route
    /// with `sender_constraint = "certificate"` still refuses everything else.
    #[serde(default)]
    pub client_certificate: ClientCertificate,
}

/// `[tls] client_certificate`: whether the handshake requires a client certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertificate {
    /// Every connection presents a certificate (with proof of possession of its key).
    #[default]
    Required,
    /// A certificate is requested but may be absent.
    Optional,
}

/// `[admin]`: the admin listener's address and who may read it (shared with the authorization
/// server; see docs/gateway.md).
pub use certbound_net::metrics::AdminConfig;

/// `[authorization_server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServerConfig {
    /// The issuer; metadata and JWKS are discovered from it.
    pub issuer: String,
    /// PEM CA trusted for the AS's TLS (default: the system's roots).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The `aud` tokens must carry (default: the issuer, which is what certbound issues by default).
    #[serde(default)]
    pub audience: Option<String>,
    /// The gateway's own client_id, for introspecting opaque tokens.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The gateway's client certificate (mTLS client authentication at the introspection alias).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Or a client secret (client_secret_basic).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// How long an introspection result is reused. A revoked opaque token keeps working at most this
    /// long (and never beyond its expiry).
    #[serde(default = "default_introspection_cache")]
    pub introspection_cache_seconds: u64,
    /// How many active introspection answers are remembered.
    #[serde(default = "default_introspection_entries")]
    pub introspection_cache_entries: usize,
    /// How long an inactive answer (unknown, revoked, garbage token) is remembered.
    #[serde(default = "default_introspection_negative_cache")]
    pub introspection_negative_cache_seconds: u64,
    /// How many inactive answers are remembered, in a cache of their own: a flood of garbage
    /// tokens can never evict or crowd out active ones.
    #[serde(default = "default_introspection_entries")]
    pub introspection_negative_cache_entries: usize,
    /// Introspection calls (cache misses) allowed per presenting client certificate, as
    /// `{ per_second, burst }`; beyond it the request gets 429 with `Retry-After`.
    #[serde(default = "default_introspection_rate")]
    pub introspection_calls_per_certificate: certbound_net::rate_limit::Rate,
    /// How many certificates' introspection rates are tracked at most.
    #[serde(default = "default_introspection_entries")]
    pub introspection_tracked_certificates: usize,
    /// The shortest interval between two JWKS fetches triggered by an unknown `kid`.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_min_refresh_seconds: u64,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_introspection_cache() -> u64 {
    30
}
fn default_introspection_entries() -> usize {
    10_000
}
fn default_introspection_negative_cache() -> u64 {
    5
}
fn default_introspection_rate() -> certbound_net::rate_limit::Rate {
    crate::tokens::IntrospectionLimits::default().calls_per_certificate
}

impl AuthorizationServerConfig {
    /// The bounds of the phantom-token exchange.
    pub fn introspection_limits(&self) -> crate::tokens::IntrospectionLimits {
        crate::tokens::IntrospectionLimits {
            cache_ttl: std::time::Duration::from_secs(self.introspection_cache_seconds),
            cache_entries: self.introspection_cache_entries,
            negative_ttl: std::time::Duration::from_secs(self.introspection_negative_cache_seconds),
            negative_entries: self.introspection_negative_cache_entries,
            calls_per_certificate: self.introspection_calls_per_certificate,
            tracked_certificates: self.introspection_tracked_certificates,
        }
    }
}
fn default_jwks_refresh() -> u64 {
    5
}
fn default_leeway() -> u64 {
    30
}

/// `[proxy]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Connecting to an upstream; failure → 502.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// Waiting for the upstream's response head; exceeded → 504.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_seconds: u64,
    /// The largest request body forwarded; larger → 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Client headers whose name contains `_`: `drop` (default), `reject` (400) or `allow`.
    /// CGI-style upstreams read `X_Forwarded_For` as `X-Forwarded-For`.
    #[serde(default)]
    pub headers_with_underscores: crate::headers::UnderscoreAction,
    /// Identity headers (docs/gateway.md) to forward anyway, by exact name, for an upstream that
    /// relies on one set by a trusted proxy in front of the gateway. The gateway's own
    /// (`Authorization`, `Forwarded`, `X-Forwarded-For/-Proto/-Host`) cannot be listed.
    #[serde(default)]
    pub pass_identity_headers: Vec<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout_seconds: default_connect_timeout(),
            response_timeout_seconds: default_response_timeout(),
            max_body_bytes: default_max_body(),
            headers_with_underscores: Default::default(),
            pass_identity_headers: Vec::new(),
        }
    }
}

fn default_connect_timeout() -> u64 {
    5
}
fn default_response_timeout() -> u64 {
    30
}
fn default_max_body() -> usize {
    10 * 1024 * 1024
}

/// `[[routes]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Requests whose path starts with this are handled by this route.
    pub path_prefix: String,
    /// `http://host:port` of the upstream; the request path and query are appended unchanged.
    pub upstream: String,
    /// Refuse tokens without `cnf.x5t#S256` on this route. Bound tokens are always checked
    /// against the connection's certificate, whatever this says.
    #[serde(default = "default_true")]
    pub require_bound_token: bool,
    /// Which bound tokens this route accepts: `"none"` (bearer too), `"certificate"`, `"dpop"`
    /// or `"any"` (`"sender_constrained"`: certificate or DPoP). When set it replaces
    /// `require_bound_token`; unset, `require_bound_token = true` means `"certificate"`.
    #[serde(default)]
    pub sender_constraint: Option<crate::binding::SenderConstraint>,
    /// Scopes the token must all carry.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Overrides `[proxy] response_timeout_seconds` for this route.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

fn default_true() -> bool {
    true
}

/// A configuration mistake, naming the file, the key and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}{message}", key_prefix(key))]
pub struct GatewayConfigError {
    /// The file.
    pub file: String,
    /// The key.
    pub key: String,
    /// What to fix.
    pub message: String,
}

/// `key: `, or nothing when the mistake is not about one key (`-`: unreadable file).
fn key_prefix(key: &str) -> String {
    match key {
        "" | "-" => String::new(),
        k => format!("{k}: "),
    }
}

impl GatewayConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<GatewayConfig, GatewayConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| GatewayConfigError {
            file: file.clone(),
            key: "-".into(),
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such configuration file. `certbound quickstart` \
                    writes a working example (certbound-dev/gateway.toml); for production start \
                    from deploy/gateway.toml; or pass --config FILE (or set \
                    CERTBOUND_GATEWAY_CONFIG). Every key is in docs/gateway.md"
                        .to_owned()
                }
                _ => format!("cannot read the configuration file: {e}"),
            },
        })?;
        Self::from_toml(&text, &file, path.parent().unwrap_or(Path::new("")))
    }

    /// Parses and validates TOML text; `base` resolves relative paths.
    pub fn from_toml(
        text: &str,
        file: &str,
        base: &Path,
    ) -> Result<GatewayConfig, GatewayConfigError> {
        let err = |key: &str, message: String| GatewayConfigError {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        let mut c: GatewayConfig = toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("-").to_owned();
            err(
                &key,
                format!(
                    "{}; see docs/gateway.md for every accepted key",
                    e.message().trim()
                ),
            )
        })?;
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut c.tls.cert);
        abs(&mut c.tls.key);
        c.tls.client_ca.iter_mut().for_each(abs);
        if let Some(p) = &mut c.admin.bearer_token_file {
            abs(p);
        }
        if let Some(p) = &mut c.dpop.nonce_secret_file {
            abs(p);
        }
        let a = &mut c.authorization_server;
        for p in [&mut a.ca, &mut a.client_cert, &mut a.client_key]
            .into_iter()
            .flatten()
        {
            abs(p);
        }
        match url::Url::parse(&c.authorization_server.issuer) {
            Ok(u) if u.scheme() == "https" => {}
            _ => {
                return Err(err(
                    "authorization_server.issuer",
                    "must be the AS's https issuer URL".into(),
                ))
            }
        }
        let a = &c.authorization_server;
        if a.client_cert.is_some() != a.client_key.is_some() {
            return Err(err(
                "authorization_server.client_key",
                "client_cert and client_key go together".into(),
            ));
        }
        if a.client_secret.is_some() && a.client_cert.is_some() {
            return Err(err(
                "authorization_server.client_secret",
                "use client_cert/client_key or client_secret, not both".into(),
            ));
        }
        if (a.client_secret.is_some() || a.client_cert.is_some()) && a.client_id.is_none() {
            return Err(err(
                "authorization_server.client_id",
                "set the gateway's client_id for introspection".into(),
            ));
        }
        a.introspection_calls_per_certificate
            .validate()
            .map_err(|m| {
                err(
                    "authorization_server.introspection_calls_per_certificate",
                    m,
                )
            })?;
        if c.routes.is_empty() {
            return Err(err(
                "routes",
                "add at least one [[routes]] with path_prefix and upstream".into(),
            ));
        }
        for (i, r) in c.routes.iter().enumerate() {
            if !r.path_prefix.starts_with('/') {
                return Err(err(
                    &format!("routes[{i}].path_prefix"),
                    "must start with '/'".into(),
                ));
            }
            // Requests are matched on their canonical path (crate::path): a prefix that is not
            // canonical would never match.
            match crate::path::normalize(&r.path_prefix) {
                Ok(p) if p == r.path_prefix => {}
                Ok(p) => {
                    return Err(err(
                        &format!("routes[{i}].path_prefix"),
                        format!("write it in canonical form: '{p}'"),
                    ))
                }
                Err(e) => return Err(err(&format!("routes[{i}].path_prefix"), e.to_string())),
            }
            match url::Url::parse(&r.upstream) {
                Ok(u) if u.scheme() == "http" && u.host().is_some() && (u.path() == "/" || u.path().is_empty()) => {}
                _ => {
                    return Err(err(
                        &format!("routes[{i}].upstream"),
                        format!("'{}' must be http://host:port with no path (https upstreams are not supported yet)", r.upstream),
                    ))
                }
            }
        }
        if let Some(public) = &c.dpop.public_url {
            match url::Url::parse(public) {
                Ok(u)
                    if u.scheme() == "https"
                        && u.host().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && (u.path() == "/" || u.path().is_empty())
                        && u.query().is_none()
                        && u.fragment().is_none() => {}
                _ => {
                    return Err(err(
                        "dpop.public_url",
                        format!("'{public}' must be an https origin such as https://api.example.com (no path)"),
                    ))
                }
            }
        }
        if c.dpop.proof_max_age_seconds == 0 || c.dpop.proof_max_age_seconds > 3600 {
            return Err(err(
                "dpop.proof_max_age_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if c.dpop.proof_max_future_seconds > 60 {
            return Err(err(
                "dpop.proof_max_future_seconds",
                "must be at most 60 (FAPI 2.0 refuses proofs issued further ahead)".into(),
            ));
        }
        if c.dpop.replay_cache_entries == 0 {
            return Err(err(
                "dpop.replay_cache_entries",
                "must be at least 1".into(),
            ));
        }
        let max_rotation = certbound_core::dpop::MAX_NONCE_ROTATION_SECONDS;
        if !(1..=max_rotation).contains(&c.dpop.nonce_rotation_seconds) {
            return Err(err(
                "dpop.nonce_rotation_seconds",
                format!("must be between 1 and {max_rotation} seconds"),
            ));
        }
        if c.dpop.use_nonce || c.dpop.nonce_secret_file.is_some() {
            let check = crate::dpop::DpopConfig {
                use_nonce: true,
                ..c.dpop.clone()
            };
            check.nonce_scheme().map_err(|e| {
                err(
                    &format!("dpop.{}", e.key()),
                    format!("{e}; see docs/dpop.md"),
                )
            })?;
        }
        if let Some(names) = &c.listen.server_names {
            certbound_net::authority::ServedAuthorities::from_names(
                names.iter().map(String::as_str),
            )
            .map_err(|m| err("listen.server_names", m))?;
        }
        crate::headers::HeaderPolicy::new(
            c.proxy.headers_with_underscores,
            &c.proxy.pass_identity_headers,
        )
        .map_err(|m| err("proxy.pass_identity_headers", m))?;
        c.client_cert
            .https
            .to_policy(true)
            .map_err(|(k, m)| err(&format!("client_cert.https.{k}"), m))?;
        for (key, path) in [("tls.cert", &c.tls.cert), ("tls.key", &c.tls.key)] {
            if let Err(e) = std::fs::metadata(path) {
                return Err(err(key, format!("cannot read {}: {e}", path.display())));
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.pem"), "x").unwrap();
        std::fs::write(dir.path().join("s.key"), "x").unwrap();
        let text = r#"
[listen]
https = "127.0.0.1:9443"
[tls]
cert = "s.pem"
key = "s.key"
[authorization_server]
issuer = "https://localhost:8443"
client_id = "gateway"
client_secret = "0123456789abcdefgh"
[[routes]]
path_prefix = "/api/"
upstream = "http://127.0.0.1:3000"
scopes = ["transactions"]
"#
        .to_owned();
        (dir, text)
    }

    #[test]
    fn defaults_and_paths() {
        let (dir, text) = base();
        let c = GatewayConfig::from_toml(&text, "g.toml", dir.path()).unwrap();
        assert_eq!(c.tls.cert, dir.path().join("s.pem"));
        assert!(
            c.routes[0].require_bound_token,
            "binding is required by default"
        );
        assert_eq!(c.authorization_server.introspection_cache_seconds, 30);
        let limits = c.authorization_server.introspection_limits();
        assert_eq!(limits.negative_ttl, std::time::Duration::from_secs(5));
        assert_eq!(limits.negative_entries, 10_000);
        assert_eq!(limits.calls_per_certificate.burst, 20);
        assert_eq!(c.proxy.response_timeout_seconds, 30);
    }

    #[test]
    fn dpop_nonce_keys_are_checked_at_load() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, text) = base();
        let key = |name: &str, bytes: &[u8], mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        key("good.key", &[3u8; 48], 0o600);
        key("short.key", &[3u8; 31], 0o600);
        key("open.key", &[3u8; 48], 0o604);
        let with = |lines: &str| format!("{text}[dpop]\n{lines}\n");

        let c = GatewayConfig::from_toml(&text, "g.toml", dir.path()).unwrap();
        assert!(!c.dpop.use_nonce);
        assert_eq!(c.dpop.nonce_rotation_seconds, 300);
        assert!(c.dpop.nonce_scheme().unwrap().is_none());
        let c = GatewayConfig::from_toml(
            &with("use_nonce = true\nnonce_secret_file = \"good.key\""),
            "g.toml",
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.dpop.nonce_secret_file, Some(dir.path().join("good.key")));
        assert!(c.dpop.nonce_scheme().unwrap().is_some());

        for (lines, key, words) in [
            (
                "use_nonce = true\nnonce_secret_file = \"short.key\"",
                "dpop.nonce_secret_file",
                "at least 32 bytes",
            ),
            (
                "use_nonce = true\nnonce_secret_file = \"open.key\"",
                "dpop.nonce_secret_file",
                "chmod 600",
            ),
            (
                "nonce_secret_file = \"open.key\"",
                "dpop.nonce_secret_file",
                "chmod 600",
            ),
            (
                "use_nonce = true\nnonce_rotation_seconds = 0",
                "dpop.nonce_rotation_seconds",
                "between 1 and 3600",
            ),
            (
                "nonce_rotation_seconds = 7200",
                "dpop.nonce_rotation_seconds",
                "between 1 and 3600",
            ),
        ] {
            let e = GatewayConfig::from_toml(&with(lines), "g.toml", dir.path()).unwrap_err();
            assert_eq!(e.key, key, "{lines}: {e}");
            assert!(e.message.contains(words), "{lines}: {e}");
        }
    }

    #[test]
    fn mistakes_name_the_key() {
        let (dir, text) = base();
        for (bad, key) in [
            (
                text.replace("[[routes]]", "[[routes]]\nstrip = true"),
                "strip",
            ),
            (
                text.replace("http://127.0.0.1:3000", "https://127.0.0.1:3000"),
                "routes[0].upstream",
            ),
            (text.replace("/api/", "api/"), "routes[0].path_prefix"),
            (text.replace("/api/", "/api/../"), "routes[0].path_prefix"),
            (text.replace("/api/", "/%61pi/"), "routes[0].path_prefix"),
            (
                text.replace("[tls]", "server_names = [\"user@x\"]\n[tls]"),
                "listen.server_names",
            ),
            (
                text.replace(
                    "[[routes]]",
                    "[proxy]\npass_identity_headers = [\"Forwarded\"]\n[[routes]]",
                ),
                "proxy.pass_identity_headers",
            ),
            (
                text.replace("client_id = \"gateway\"\n", ""),
                "authorization_server.client_id",
            ),
            (
                text.replace("https://localhost:8443", "http://localhost:8443"),
                "authorization_server.issuer",
            ),
        ] {
            let e = GatewayConfig::from_toml(&bad, "g.toml", dir.path()).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }
}
