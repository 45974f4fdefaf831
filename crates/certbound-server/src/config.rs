//! The `certbound serve` configuration file: one TOML document, every key documented in
//! `docs/configuration.md`, unknown keys refused, relative paths resolved against the file's
//! directory, and a few `CERTBOUND_*` environment variables overlaid.

use certbound_core::client::{ClientMetadata, RegisteredClient};
use certbound_core::dpop::DpopAlg;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `oauth2` (the default) or `fapi2`: under `fapi2` the configuration and every client must
    /// follow the FAPI 2.0 Security Profile rules of [`crate::profile`], or the server refuses to
    /// start; PAR is then required for every client.
    #[serde(default)]
    pub profile: crate::profile::Profile,
    /// The issuer identifier: the public `https` base URL of the conventional listener.
    pub issuer: String,
    /// Listener addresses.
    pub listen: ListenConfig,
    /// Certificates and trust anchors.
    pub tls: TlsConfig,
    /// Persistent state.
    #[serde(default)]
    pub store: StoreConfig,
    /// Access token settings.
    #[serde(default)]
    pub tokens: TokensConfig,
    /// Fetching of self-signed and `private_key_jwt` clients' `jwks_uri`.
    #[serde(default)]
    pub jwks_uri: JwksUriConfig,
    /// `[client_auth]`: rules of `private_key_jwt` client assertions.
    #[serde(default)]
    pub client_auth: ClientAuthConfig,
    /// Where each listener takes client certificates from (TLS, or a trusted proxy's header).
    #[serde(default)]
    pub client_cert: ClientCertTables,
    /// Statically registered clients (RFC 7591 metadata names).
    #[serde(default)]
    pub clients: Vec<ClientMetadata>,
    /// `[limits]`: sizes and timeouts of the listeners.
    #[serde(default)]
    pub limits: certbound_net::Limits,
    /// `[rate_limit]`: brute-force and flood bounds of the OAuth endpoints.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// `[admin]`: the metrics listener.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[authorization]`: the user flows (authorization endpoint, PAR, codes, refresh tokens,
    /// login sessions).
    #[serde(default)]
    pub authorization: AuthorizationConfig,
    /// `[dpop]`: DPoP proofs (RFC 9449) at the token and userinfo endpoints.
    #[serde(default)]
    pub dpop: DpopConfig,
}

/// `[dpop]`: which DPoP proofs the token and userinfo endpoints accept. Validated at load by
/// [`DpopConfig::validate`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// The proof algorithms accepted: a non-empty subset of `PS256`, `ES256`, `EdDSA` (the
    /// FAPI 2.0 set; `none`, HS* and RS256 cannot be configured). Published as
    /// `dpop_signing_alg_values_supported`.
    pub signing_algs: Vec<String>,
    /// How old a proof's `iat` may be, in seconds (1 to 300).
    pub proof_max_age_seconds: u32,
    /// How far in the future a proof's `iat` may be (clock skew), in seconds (0 to 60).
    pub proof_max_future_seconds: u32,
    /// Require server nonces in proofs at /token, /par and /userinfo (RFC 9449 §8, §9): a proof
    /// without an acceptable `nonce` is answered `use_dpop_nonce` with a `DPoP-Nonce` header.
    pub use_nonce: bool,
    /// How often the nonce changes, in seconds (1 to 3600); a nonce is accepted for one to two
    /// periods.
    pub nonce_rotation_seconds: u32,
    /// A file holding the nonce key (at least 32 bytes, used as they are; mode 0600 or
    /// stricter), shared by every instance behind one issuer. Without it the key is random per
    /// process, and instances refuse each other's nonces.
    pub nonce_secret_file: Option<PathBuf>,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            signing_algs: DpopAlg::ALL.iter().map(|a| a.as_str().to_owned()).collect(),
            proof_max_age_seconds: 60,
            proof_max_future_seconds: 10,
            use_nonce: false,
            nonce_rotation_seconds: 300,
            nonce_secret_file: None,
        }
    }
}

impl DpopConfig {
    /// The accepted algorithms (the names were checked by [`DpopConfig::validate`]).
    pub fn algs(&self) -> Vec<DpopAlg> {
        self.signing_algs
            .iter()
            .filter_map(|a| DpopAlg::from_name(a))
            .collect()
    }

    /// Checks the names and bounds; errors are (key under `dpop.`, message with the fix).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let names = || DpopAlg::ALL.map(DpopAlg::as_str).join(", ");
        if self.signing_algs.is_empty() {
            return Err((
                "signing_algs",
                format!("must list at least one of {}", names()),
            ));
        }
        if let Some(bad) = self
            .signing_algs
            .iter()
            .find(|a| DpopAlg::from_name(a).is_none())
        {
            return Err((
                "signing_algs",
                format!(
                    "'{}' is not supported; use {}",
                    bad.escape_default(),
                    names()
                ),
            ));
        }
        if !(1..=300).contains(&self.proof_max_age_seconds) {
            return Err((
                "proof_max_age_seconds",
                "must be between 1 and 300 seconds".into(),
            ));
        }
        if self.proof_max_future_seconds > 60 {
            return Err((
                "proof_max_future_seconds",
                "must be between 0 and 60 seconds".into(),
            ));
        }
        let max_rotation = certbound_core::dpop::MAX_NONCE_ROTATION_SECONDS;
        if !(1..=max_rotation).contains(&self.nonce_rotation_seconds) {
            return Err((
                "nonce_rotation_seconds",
                format!("must be between 1 and {max_rotation} seconds"),
            ));
        }
        if self.use_nonce || self.nonce_secret_file.is_some() {
            self.nonce_scheme()
                .map_err(|e| (e.key(), format!("{e}; see docs/dpop.md")))?;
        }
        Ok(())
    }

    /// The nonce scheme `use_nonce` asks for, keyed with `nonce_secret_file` (read and checked
    /// on every call) or, without one, a random key of this process.
    pub fn nonce_scheme(
        &self,
    ) -> Result<certbound_core::dpop::NonceScheme, certbound_net::secret_file::NonceKeyError> {
        certbound_net::secret_file::nonce_scheme(
            self.nonce_secret_file.as_deref(),
            self.nonce_rotation_seconds,
        )
    }
}

/// `[authorization]`: lifetimes and policies of the user flows. Validated at load by
/// [`AuthorizationConfig::validate`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Every client must send its authorization requests through PAR (RFC 9126 §5: published
    /// as `require_pushed_authorization_requests`); a client can also require it for itself.
    pub require_pushed_authorization_requests: bool,
    /// Lifetime of an authorization code (RFC 6749 §4.1.2: short; FAPI 2.0: at most 60 s).
    pub code_ttl_seconds: u32,
    /// Lifetime of a pushed authorization request (`expires_in` of the PAR response): 30 to 599
    /// seconds (FAPI 2.0 §5.3.2.2-12: under 600 s, and long enough for a slow device).
    pub par_ttl_seconds: u32,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl_seconds: u32,
    /// Issue a new refresh token at every refresh and retire the old one (off by default: FAPI
    /// 2.0 clients are confidential and sender-constrained, and its test suite retries the old
    /// refresh token).
    pub refresh_token_rotation: bool,
    /// With rotation, how long the previous refresh token still works (lost responses, retries);
    /// a reuse after this window revokes the grant.
    pub refresh_token_reuse_grace_seconds: u32,
    /// Lifetime of a login session (single sign-on across clients).
    pub session_ttl_seconds: u32,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        AuthorizationConfig {
            require_pushed_authorization_requests: false,
            code_ttl_seconds: 60,
            par_ttl_seconds: 60,
            refresh_token_ttl_seconds: 30 * 86_400,
            refresh_token_rotation: false,
            refresh_token_reuse_grace_seconds: 0,
            session_ttl_seconds: 8 * 3_600,
        }
    }
}

impl AuthorizationConfig {
    /// The longest refresh token or session lifetime accepted (one year).
    pub const MAX_LONG_TTL_SECONDS: u32 = 365 * 86_400;

    /// Checks the bounds; errors are (key under `authorization.`, message with the fix).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let range = |key: &'static str, v: u32, min: u32, max: u32| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err((
                    key,
                    format!("{v} is out of range: must be between {min} and {max} seconds"),
                ))
            }
        };
        range("code_ttl_seconds", self.code_ttl_seconds, 1, 600)?;
        // The bounds the core applies (`par::par_ttl`), refused here rather than silently clamped.
        range(
            "par_ttl_seconds",
            self.par_ttl_seconds,
            certbound_core::authorize::par::MIN_PAR_TTL_SECONDS as u32,
            certbound_core::authorize::par::MAX_PAR_TTL_SECONDS as u32,
        )?;
        range(
            "refresh_token_ttl_seconds",
            self.refresh_token_ttl_seconds,
            1,
            Self::MAX_LONG_TTL_SECONDS,
        )?;
        range(
            "session_ttl_seconds",
            self.session_ttl_seconds,
            1,
            Self::MAX_LONG_TTL_SECONDS,
        )?;
        range(
            "refresh_token_reuse_grace_seconds",
            self.refresh_token_reuse_grace_seconds,
            0,
            60,
        )?;
        if self.refresh_token_reuse_grace_seconds > 0 && !self.refresh_token_rotation {
            return Err((
                "refresh_token_reuse_grace_seconds",
                "a reuse grace window applies only to rotated refresh tokens; set refresh_token_rotation = true or remove it".into(),
            ));
        }
        Ok(())
    }
}

/// `[rate_limit]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Refuse (429) sources and client ids with too many failed authentications (default on).
    pub failed_auth: bool,
    /// Failed authentications allowed per source address (default 30 per minute).
    pub failed_auth_per_address: certbound_net::rate_limit::Rate,
    /// Failed secret checks allowed per client id (default 10 per minute).
    pub failed_auth_per_client: certbound_net::rate_limit::Rate,
    /// Requests allowed per source address (default: no limit).
    pub requests_per_address: Option<certbound_net::rate_limit::Rate>,
    /// Requests allowed per client id (default: no limit).
    pub requests_per_client: Option<certbound_net::rate_limit::Rate>,
    /// How many addresses or client ids each limit tracks at most.
    pub max_tracked_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            failed_auth: true,
            failed_auth_per_address: certbound_net::rate_limit::Rate::per_minute(30),
            failed_auth_per_client: certbound_net::rate_limit::Rate::per_minute(10),
            requests_per_address: None,
            requests_per_client: None,
            max_tracked_keys: 100_000,
        }
    }
}

/// `[admin]`: the admin listener's address and who may read it (shared with the gateway; see
/// docs/configuration.md and docs/operations.md).
pub use certbound_net::metrics::AdminConfig;

/// `[client_cert.https]` and `[client_cert.mtls]`: see docs/proxies.md.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertTables {
    /// The conventional listener.
    #[serde(default)]
    pub https: certbound_net::client_cert::ClientCertConfig,
    /// The mTLS listener.
    #[serde(default)]
    pub mtls: certbound_net::client_cert::ClientCertConfig,
}

/// `[listen]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Conventional listener: metadata, JWKS and secret clients; requests no client certificate.
    pub https: SocketAddr,
    /// Optional listener that requests (but does not require) a client certificate.
    #[serde(default)]
    pub mtls: Option<SocketAddr>,
    /// Public base URL of the mTLS listener, published as `mtls_endpoint_aliases`.
    #[serde(default)]
    pub mtls_url: Option<String>,
}

/// `[tls]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM chain of the server certificate (leaf first).
    pub cert: PathBuf,
    /// PEM private key of the server certificate.
    pub key: PathBuf,
    /// PEM CA certificates that `tls_client_auth` client certificates must chain to.
    #[serde(default)]
    pub client_ca: Vec<PathBuf>,
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` (created if missing) or `postgres://...`.
    #[serde(default = "default_store_url")]
    pub url: String,
    /// Open a SQLite file that other users can read (with a warning) instead of refusing to
    /// start. Default `false`: the file holds the signing private keys.
    #[serde(default)]
    pub allow_readable_file: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            allow_readable_file: false,
        }
    }
}

impl StoreConfig {
    /// The store options this table asks for.
    pub fn store_options(&self) -> certbound_store::StoreOptions {
        certbound_store::StoreOptions::new().allow_readable_file(self.allow_readable_file)
    }

    /// Opens (and migrates) the store as configured: every command that opens the store from a
    /// configuration goes through here, so every setting of the table is honoured everywhere.
    pub async fn connect(&self) -> Result<certbound_store::Store, certbound_store::StoreError> {
        certbound_store::Store::connect_with(&self.url, self.store_options()).await
    }
}

fn default_store_url() -> String {
    "sqlite://certbound.db".to_owned()
}

/// `[tokens]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// `ES256` (default), `PS256` or `EdDSA`.
    #[serde(default = "default_alg")]
    pub signing_alg: String,
    /// Access token lifetime.
    #[serde(default = "default_ttl")]
    pub access_token_ttl_seconds: u32,
    /// The `aud` of issued tokens; defaults to the issuer.
    #[serde(default)]
    pub audience: Option<String>,
    /// How often every instance re-reads the signing keys from the store (picks up
    /// `certbound keys rotate` without a restart).
    #[serde(default = "default_key_refresh")]
    pub key_refresh_seconds: u32,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            signing_alg: default_alg(),
            access_token_ttl_seconds: default_ttl(),
            audience: None,
            key_refresh_seconds: default_key_refresh(),
        }
    }
}

fn default_alg() -> String {
    "ES256".to_owned()
}
fn default_ttl() -> u32 {
    300
}
fn default_key_refresh() -> u32 {
    10
}

/// `[client_auth]`: how `private_key_jwt` assertions are checked (docs/configuration.md).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Which `aud` an assertion may carry: `any` (the default: the issuer, the token endpoint or
    /// the PAR endpoint, on either listener, as a string or array member; RFC 7523 §3 and
    /// RFC 9126 §2) or `issuer` (FAPI 2.0 Final and draft-ietf-oauth-rfc7523bis: exactly the
    /// issuer, as a string).
    pub assertion_audience: AssertionAudience,
}

/// The `[client_auth] assertion_audience` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssertionAudience {
    /// The issuer or an endpoint URL.
    #[default]
    Any,
    /// Exactly the issuer, as a string.
    Issuer,
}

impl Config {
    /// The `private_key_jwt` assertion policy of this deployment: the configured audience rule
    /// over the issuer and the token and PAR endpoints of both listeners.
    pub fn assertion_policy(&self) -> certbound_core::auth::AssertionPolicy {
        use certbound_core::client_assertion::AudienceRule;
        let audience = match self.client_auth.assertion_audience {
            AssertionAudience::Issuer => AudienceRule::IssuerOnly(self.issuer.clone()),
            AssertionAudience::Any => {
                let mut accepted = vec![self.issuer.clone()];
                let bases =
                    std::iter::once(self.issuer.as_str()).chain(self.listen.mtls_url.as_deref());
                for base in bases {
                    let base = base.trim_end_matches('/');
                    for path in ["/token", "/par"] {
                        accepted.push(format!("{base}{path}"));
                    }
                }
                AudienceRule::Any(accepted)
            }
        };
        certbound_core::auth::AssertionPolicy::new(audience)
    }
}

/// `[jwks_uri]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksUriConfig {
    /// How long a fetched client JWK Set is used before it is fetched again.
    #[serde(default = "default_jwks_ttl")]
    pub cache_ttl_seconds: u32,
    /// The shortest interval between two fetches of one URL when a presented certificate is not
    /// in the cached set (a new key), so a flood of bad certificates cannot turn into a flood of
    /// fetches.
    #[serde(default = "default_jwks_min_refresh")]
    pub min_refresh_seconds: u32,
    /// Extra PEM CA files trusted for `jwks_uri` HTTPS servers, beside the system's roots.
    #[serde(default)]
    pub ca: Vec<PathBuf>,
}

impl Default for JwksUriConfig {
    fn default() -> Self {
        JwksUriConfig {
            cache_ttl_seconds: default_jwks_ttl(),
            min_refresh_seconds: default_jwks_min_refresh(),
            ca: Vec::new(),
        }
    }
}

fn default_jwks_ttl() -> u32 {
    300
}
fn default_jwks_min_refresh() -> u32 {
    10
}

/// A configuration mistake, with the file, the key and the fix.
#[derive(Debug)]
pub struct ConfigError {
    /// The configuration file (or `environment`).
    pub file: String,
    /// The key at fault, e.g. `clients[1].tls_client_auth_subject_dn`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `-` stands for "no particular key" (an unreadable file, a TOML syntax error).
        match self.key.as_str() {
            "" | "-" => write!(f, "{}: {}", self.file, self.message),
            key => write!(f, "{}: {key}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The configuration after validation: clients registered, URLs checked.
#[derive(Clone, Debug)]
pub struct ValidatedConfig {
    /// The parsed file, paths made absolute.
    pub config: Config,
    /// The registered clients, in file order.
    pub clients: Vec<RegisteredClient>,
    /// The configuration file, for messages.
    pub source: String,
    /// The directory relative paths are resolved against (also for clients added at run time).
    pub base: PathBuf,
    /// The certificate policy of the conventional listener.
    pub https_cert_policy: certbound_net::client_cert::ClientCertPolicy,
    /// The certificate policy of the mTLS listener.
    pub mtls_cert_policy: certbound_net::client_cert::ClientCertPolicy,
}

impl Config {
    /// Reads, overlays the environment, resolves paths and validates.
    pub fn load(path: &Path) -> Result<ValidatedConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "-".into(),
            message: match e.kind() {
                std::io::ErrorKind::NotFound => "no such configuration file. To try certbound, \
                    `certbound quickstart` writes a working development setup (certbound-dev/certbound.toml); \
                    for production start from deploy/certbound.toml; or pass --config FILE \
                    (or set CERTBOUND_CONFIG). Every key is in docs/configuration.md"
                    .to_owned(),
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied: this user cannot read the configuration file (fix its owner \
                     or mode; it holds secrets, so keep it unreadable by others)"
                        .to_owned()
                }
                _ => format!("cannot read the configuration file: {e}"),
            },
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &file, &base, |k| std::env::var(k).ok())
    }

    /// Like [`Config::load`], but a configuration that breaks its profile's rules is returned
    /// rather than refused (for `certbound config check`, which lists the violations).
    pub fn load_unenforced(path: &Path) -> Result<ValidatedConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "-".into(),
            message: format!("cannot read the configuration file: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &file, &base, |k| std::env::var(k).ok(), false)
    }

    /// Parses TOML text; `base` resolves relative paths; `env` reads `CERTBOUND_*` overrides.
    /// Under `profile = "fapi2"`, every FAPI 2.0 violation is refused, one line each.
    pub fn from_toml(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ValidatedConfig, ConfigError> {
        Self::parse(text, file, base, env, true)
    }

    fn parse(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
        enforce_profile: bool,
    ) -> Result<ValidatedConfig, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("-").to_owned();
            let span = e
                .span()
                .map(|s| {
                    format!(
                        " (line {})",
                        text[..s.start.min(text.len())].lines().count().max(1)
                    )
                })
                .unwrap_or_default();
            err(
                &key,
                format!(
                    "{}{span}; see docs/configuration.md for every accepted key",
                    e.message().trim()
                ),
            )
        })?;

        config.apply_env(&env).map_err(|(k, m)| ConfigError {
            file: "environment".into(),
            key: k,
            message: m,
        })?;
        config.resolve_paths(base);
        config.check_urls(file)?;

        if !["ES256", "PS256", "EdDSA"].contains(&config.tokens.signing_alg.as_str()) {
            return Err(err(
                "tokens.signing_alg",
                format!(
                    "'{}' is not supported; use ES256, PS256 or EdDSA",
                    config.tokens.signing_alg
                ),
            ));
        }
        if config.tokens.access_token_ttl_seconds == 0
            || config.tokens.access_token_ttl_seconds > 86_400
        {
            return Err(err(
                "tokens.access_token_ttl_seconds",
                "must be between 1 and 86400 seconds".into(),
            ));
        }
        config.limits.validate().map_err(|m| err("limits", m))?;
        config
            .authorization
            .validate()
            .map_err(|(k, m)| err(&format!("authorization.{k}"), m))?;
        config
            .dpop
            .validate()
            .map_err(|(k, m)| err(&format!("dpop.{k}"), m))?;
        let r = &config.rate_limit;
        for (key, rate) in [
            (
                "rate_limit.failed_auth_per_address",
                Some(&r.failed_auth_per_address),
            ),
            (
                "rate_limit.failed_auth_per_client",
                Some(&r.failed_auth_per_client),
            ),
            (
                "rate_limit.requests_per_address",
                r.requests_per_address.as_ref(),
            ),
            (
                "rate_limit.requests_per_client",
                r.requests_per_client.as_ref(),
            ),
        ] {
            if let Some(rate) = rate {
                rate.validate().map_err(|m| err(key, m))?;
            }
        }
        if r.max_tracked_keys == 0 {
            return Err(err(
                "rate_limit.max_tracked_keys",
                "must be positive".into(),
            ));
        }
        for (name, path) in [("tls.cert", &config.tls.cert), ("tls.key", &config.tls.key)]
            .into_iter()
            .chain(config.tls.client_ca.iter().map(|p| ("tls.client_ca", p)))
        {
            if let Err(e) = std::fs::metadata(path) {
                return Err(err(name, format!("cannot read {}: {e}; check the path (relative paths are resolved against the configuration file's directory)", path.display())));
            }
        }

        let https_cert_policy = config
            .client_cert
            .https
            .to_policy(false)
            .map_err(|(k, m)| err(&format!("client_cert.https.{k}"), m))?;
        let mtls_cert_policy = config
            .client_cert
            .mtls
            .to_policy(true)
            .map_err(|(k, m)| err(&format!("client_cert.mtls.{k}"), m))?;
        let mut clients = Vec::with_capacity(config.clients.len());
        for (i, meta) in config.clients.iter().enumerate() {
            if config.clients[..i]
                .iter()
                .any(|c| c.client_id == meta.client_id)
            {
                return Err(err(
                    &format!("clients[{i}].client_id"),
                    format!(
                        "client_id '{}' is registered twice; client ids must be unique",
                        meta.client_id
                    ),
                ));
            }
            let client = config
                .register_unchecked(meta, base)
                .map_err(|(k, m)| err(&format!("clients[{i}].{k}"), m))?;
            clients.push(client);
        }
        if config.profile == crate::profile::Profile::Fapi2 {
            // FAPI 2.0 §5.3.2.2-3: PAR for every authorization request, whatever the table says.
            config.authorization.require_pushed_authorization_requests = true;
            let violations = crate::profile::fapi2_violations(&config, &clients);
            if enforce_profile && !violations.is_empty() {
                let lines: Vec<String> = violations
                    .iter()
                    .map(|v| {
                        let key = match &v.client_id {
                            Some(id) => {
                                let i = config
                                    .clients
                                    .iter()
                                    .position(|c| &c.client_id == id)
                                    .unwrap_or_default();
                                format!("clients[{i}].{}", v.key)
                            }
                            None => v.key.clone(),
                        };
                        format!("  {key}: {v}")
                    })
                    .collect();
                return Err(err(
                    "profile",
                    format!(
                        "profile = \"fapi2\" refuses this configuration ({} violation(s); `certbound config check` lists them too):\n{}",
                        violations.len(),
                        lines.join("\n")
                    ),
                ));
            }
        }
        Ok(ValidatedConfig {
            config,
            clients,
            source: file.to_owned(),
            base: base.to_path_buf(),
            https_cert_policy,
            mtls_cert_policy,
        })
    }

    /// Validates one client's metadata against this server's configuration (trust anchors,
    /// listeners) and builds its registration. Used for clients in the file and for clients
    /// registered in the store at run time, so both are held to the same rules. Errors are
    /// (metadata key, message).
    /// Under `profile = "fapi2"` a client that breaks a FAPI 2.0 rule is refused here, so a
    /// run-time client cannot weaken the profile either.
    pub fn register(
        &self,
        meta: &ClientMetadata,
        base: &Path,
    ) -> Result<RegisteredClient, (String, String)> {
        let client = self.register_unchecked(meta, base)?;
        if self.profile == crate::profile::Profile::Fapi2 {
            if let Some(v) = crate::profile::client_violations(&client)
                .into_iter()
                .next()
            {
                return Err((v.key.clone(), v.to_string()));
            }
        }
        Ok(client)
    }

    /// [`Config::register`] without the profile's rules (the loader reports them all at once;
    /// `config check` lists them).
    pub fn register_unchecked(
        &self,
        meta: &ClientMetadata,
        base: &Path,
    ) -> Result<RegisteredClient, (String, String)> {
        let mut client = meta.validate().map_err(|e| {
            (
                e.field.to_owned(),
                format!("client '{}': {}", e.client_id, e.message),
            )
        })?;
        if !meta.tls_client_auth_ca.is_empty() {
            let key = "tls_client_auth_ca".to_owned();
            let mut ders = Vec::new();
            for p in &meta.tls_client_auth_ca {
                let path = if p.is_relative() {
                    base.join(p)
                } else {
                    p.clone()
                };
                ders.extend(
                    certbound_net::load_cert_chain(&path)
                        .map_err(|e| (key.clone(), e.to_string()))?,
                );
            }
            let anchors = certbound_core::auth::trust_anchors_from_der(&ders)
                .map_err(|e| (key.clone(), e))?;
            client.trust_anchors = Some(anchors);
        }
        if client.credential.method() == certbound_core::client::AuthMethod::TlsClientAuth
            && self.tls.client_ca.is_empty()
            && client.trust_anchors.is_none()
        {
            return Err((
                "tls_client_auth_ca".to_owned(),
                format!("client '{}' uses tls_client_auth, which needs trust anchors: list the CA files in [tls] client_ca (or in the client's tls_client_auth_ca)", client.client_id),
            ));
        }
        if client.credential.method().uses_certificate() && self.listen.mtls.is_none() {
            return Err((
                "token_endpoint_auth_method".to_owned(),
                format!("client '{}' authenticates with a certificate, which needs the mTLS listener: set [listen] mtls and mtls_url", client.client_id),
            ));
        }
        Ok(client)
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), (String, String)> {
        if let Some(v) = env("CERTBOUND_ISSUER") {
            self.issuer = v;
        }
        if let Some(v) = env("CERTBOUND_STORE_URL") {
            self.store.url = v;
        }
        let addr = |k: &str, v: String| -> Result<SocketAddr, (String, String)> {
            v.parse()
                .map_err(|e| (k.to_owned(), format!("'{v}' is not an address:port: {e}")))
        };
        if let Some(v) = env("CERTBOUND_LISTEN_HTTPS") {
            self.listen.https = addr("CERTBOUND_LISTEN_HTTPS", v)?;
        }
        if let Some(v) = env("CERTBOUND_LISTEN_MTLS") {
            self.listen.mtls = Some(addr("CERTBOUND_LISTEN_MTLS", v)?);
        }
        if let Some(v) = env("CERTBOUND_MTLS_URL") {
            self.listen.mtls_url = Some(v);
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.tls.cert);
        abs(&mut self.tls.key);
        self.tls.client_ca.iter_mut().for_each(abs);
        self.jwks_uri.ca.iter_mut().for_each(abs);
        if let Some(p) = &mut self.admin.bearer_token_file {
            abs(p);
        }
        if let Some(p) = &mut self.dpop.nonce_secret_file {
            abs(p);
        }
        if let Some(rest) = self.store.url.strip_prefix("sqlite://") {
            let path = Path::new(rest.split('?').next().unwrap_or(rest));
            if path.is_relative() && !rest.starts_with(':') {
                self.store.url = format!("sqlite://{}", base.join(rest).display());
            }
        }
    }

    fn check_urls(&self, file: &str) -> Result<(), ConfigError> {
        let check = |key: &str, value: &str| -> Result<(), ConfigError> {
            let err = |m: String| ConfigError {
                file: file.to_owned(),
                key: key.to_owned(),
                message: m,
            };
            let url =
                url::Url::parse(value).map_err(|e| err(format!("'{value}' is not a URL: {e}")))?;
            if url.scheme() != "https" {
                return Err(err(format!("'{value}' must be an https URL (RFC 8414 §2)")));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(err(format!("'{value}' must have no query or fragment")));
            }
            if url.path() != "/" || value.ends_with('/') {
                return Err(err(format!("'{value}' must be scheme://host[:port] with no path or trailing slash (path-based issuers are not supported yet)")));
            }
            Ok(())
        };
        check("issuer", &self.issuer)?;
        match (&self.listen.mtls, &self.listen.mtls_url) {
            (Some(_), Some(u)) => check("listen.mtls_url", u)?,
            (Some(_), None) => {
                return Err(ConfigError {
                    file: file.to_owned(),
                    key: "listen.mtls_url".into(),
                    message: "set the public base URL of the mTLS listener (published as mtls_endpoint_aliases), e.g. \"https://localhost:8444\"".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    file: file.to_owned(),
                    key: "listen.mtls".into(),
                    message: "mtls_url is set but there is no mTLS listener address; set [listen] mtls".into(),
                })
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The audience of issued tokens.
    pub fn audience(&self) -> &str {
        self.tokens.audience.as_deref().unwrap_or(&self.issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in ["server.pem", "server.key", "ca.pem"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        dir
    }

    const BASE: &str = r#"
issuer = "https://as.example"
[listen]
https = "127.0.0.1:8443"
mtls = "127.0.0.1:8444"
mtls_url = "https://mtls.as.example"
[tls]
cert = "server.pem"
key = "server.key"
client_ca = ["ca.pem"]
"#;

    #[test]
    fn relative_paths_resolve_against_the_config_directory_and_env_overrides() {
        let dir = files();
        let env = |k: &str| match k {
            "CERTBOUND_STORE_URL" => Some("postgres://db/certbound".to_owned()),
            "CERTBOUND_LISTEN_HTTPS" => Some("127.0.0.1:9000".to_owned()),
            _ => None,
        };
        let v = Config::from_toml(BASE, "c.toml", dir.path(), env).unwrap();
        assert_eq!(v.config.tls.cert, dir.path().join("server.pem"));
        assert_eq!(v.config.store.url, "postgres://db/certbound");
        assert_eq!(v.config.listen.https.port(), 9000);
        assert_eq!(v.config.audience(), "https://as.example");

        let v = Config::from_toml(BASE, "c.toml", dir.path(), |_| None).unwrap();
        assert_eq!(
            v.config.store.url,
            format!("sqlite://{}", dir.path().join("certbound.db").display())
        );
        let bad = Config::from_toml(BASE, "c.toml", dir.path(), |k| {
            (k == "CERTBOUND_LISTEN_MTLS").then(|| "nope".to_owned())
        })
        .unwrap_err();
        assert_eq!(bad.key, "CERTBOUND_LISTEN_MTLS");
    }

    #[test]
    fn mistakes_name_the_key() {
        let dir = files();
        let cases = [
            (format!("{BASE}[tokens]\nttl = 3\n"), "ttl"),
            (BASE.replace("https://as.example\"", "https://as.example/\""), "issuer"),
            (BASE.replace("mtls_url = \"https://mtls.as.example\"\n", ""), "listen.mtls_url"),
            (format!("{BASE}[authorization]\ncode_ttl = 30\n"), "code_ttl"),
            (format!("{BASE}[authorization]\ncode_ttl_seconds = 0\n"), "authorization.code_ttl_seconds"),
            (format!("{BASE}[tokens]\naccess_token_ttl_seconds = 0\n"), "tokens.access_token_ttl_seconds"),
            (
                format!("{BASE}[[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=a\"\n[[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=a\"\n"),
                "clients[1].client_id",
            ),
            (
                format!("{BASE}[[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\ntls_client_auth_subject_dn = \"CN=\"\n"),
                "clients[0].tls_client_auth_subject_dn",
            ),
        ];
        for (text, key) in cases {
            let e = Config::from_toml(&text, "c.toml", dir.path(), |_| None).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert_eq!(e.file, "c.toml");
        }
    }

    #[test]
    fn authorization_table_defaults_and_bounds() {
        let dir = files();
        let v = Config::from_toml(BASE, "c.toml", dir.path(), |_| None).unwrap();
        let a = &v.config.authorization;
        assert_eq!(a, &AuthorizationConfig::default());
        assert!(!a.require_pushed_authorization_requests && !a.refresh_token_rotation);
        assert_eq!(
            (a.code_ttl_seconds, a.par_ttl_seconds, a.session_ttl_seconds),
            (60, 60, 28_800)
        );
        assert_eq!(a.refresh_token_ttl_seconds, 2_592_000);

        let set = "[authorization]\nrequire_pushed_authorization_requests = true\ncode_ttl_seconds = 30\npar_ttl_seconds = 90\nrefresh_token_ttl_seconds = 86400\nrefresh_token_rotation = true\nrefresh_token_reuse_grace_seconds = 10\nsession_ttl_seconds = 3600\n";
        let v = Config::from_toml(&format!("{BASE}{set}"), "c.toml", dir.path(), |_| None).unwrap();
        let a = &v.config.authorization;
        assert!(a.require_pushed_authorization_requests && a.refresh_token_rotation);
        assert_eq!(a.refresh_token_reuse_grace_seconds, 10);

        let bad = [
            ("code_ttl_seconds = 0", "authorization.code_ttl_seconds"),
            ("code_ttl_seconds = 601", "authorization.code_ttl_seconds"),
            ("par_ttl_seconds = 0", "authorization.par_ttl_seconds"),
            ("par_ttl_seconds = 600000", "authorization.par_ttl_seconds"),
            (
                "refresh_token_ttl_seconds = 0",
                "authorization.refresh_token_ttl_seconds",
            ),
            (
                "session_ttl_seconds = 0",
                "authorization.session_ttl_seconds",
            ),
            (
                "session_ttl_seconds = 40000000",
                "authorization.session_ttl_seconds",
            ),
            (
                "refresh_token_reuse_grace_seconds = 5",
                "authorization.refresh_token_reuse_grace_seconds",
            ),
            (
                "refresh_token_rotation = true\nrefresh_token_reuse_grace_seconds = 61",
                "authorization.refresh_token_reuse_grace_seconds",
            ),
            ("allow_plain_pkce = true", "allow_plain_pkce"),
        ];
        for (line, key) in bad {
            let text = format!("{BASE}[authorization]\n{line}\n");
            let e = Config::from_toml(&text, "c.toml", dir.path(), |_| None).unwrap_err();
            assert_eq!(e.key, key, "{line}: {e}");
        }
        let negative = format!("{BASE}[authorization]\ncode_ttl_seconds = -1\n");
        assert!(Config::from_toml(&negative, "c.toml", dir.path(), |_| None).is_err());
        let e = AuthorizationConfig {
            refresh_token_reuse_grace_seconds: 5,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.1.contains("refresh_token_rotation = true"), "{}", e.1);
    }

    #[test]
    fn dpop_nonce_keys_are_checked_at_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = files();
        let key = |name: &str, bytes: &[u8], mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        key("good.key", &[3u8; 48], 0o600);
        key("short.key", &[3u8; 31], 0o600);
        key("open.key", &[3u8; 48], 0o644);

        let v = Config::from_toml(BASE, "c.toml", dir.path(), |_| None).unwrap();
        let d = &v.config.dpop;
        assert!(!d.use_nonce && d.nonce_secret_file.is_none());
        assert_eq!(d.nonce_rotation_seconds, 300);

        let on = "[dpop]\nuse_nonce = true\nnonce_rotation_seconds = 60\nnonce_secret_file = \"good.key\"\n";
        let v = Config::from_toml(&format!("{BASE}{on}"), "c.toml", dir.path(), |_| None).unwrap();
        assert_eq!(
            v.config.dpop.nonce_secret_file.as_deref(),
            Some(dir.path().join("good.key").as_path())
        );
        assert_eq!(v.config.dpop.nonce_scheme().unwrap().rotation_seconds(), 60);

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
                "use_nonce = true\nnonce_secret_file = \"missing.key\"",
                "dpop.nonce_secret_file",
                "cannot read",
            ),
            (
                "nonce_secret_file = \"open.key\"",
                "dpop.nonce_secret_file",
                "chmod 600",
            ),
            (
                "nonce_rotation_seconds = 0",
                "dpop.nonce_rotation_seconds",
                "between 1 and 3600",
            ),
            (
                "use_nonce = true\nnonce_rotation_seconds = 3601",
                "dpop.nonce_rotation_seconds",
                "between 1 and 3600",
            ),
        ] {
            let text = format!("{BASE}[dpop]\n{lines}\n");
            let e = Config::from_toml(&text, "c.toml", dir.path(), |_| None).unwrap_err();
            assert_eq!(e.key, key, "{lines}: {e}");
            assert!(e.message.contains(words), "{lines}: {e}");
        }
    }
}
