//! `certbound clients add`: registers a client at run time, in the store, from an RFC 7591
//! metadata file or from flags for the common cases. Both build the same `ClientMetadata`
//! (the flags are turned into the JSON a file would hold) and go through the server's one
//! validation, `ValidatedConfig::register`.

use anyhow::Context;
use certbound_core::client::{AuthMethod, ClientCredential, ClientMetadata, TlsSubject};
use certbound_core::identity::dn::DistinguishedName;
use certbound_core::secret::SecretHash;
use certbound_server::config::ValidatedConfig;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The flags of `clients add` that describe a client (everything but `--config` and
/// `--metadata`).
#[derive(clap::Args, Default)]
pub struct ClientFlags {
    /// The client identifier.
    #[arg(long)]
    pub client_id: Option<String>,
    /// How the client authenticates at the token endpoint.
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// tls_client_auth: the certificate's subject DN, RFC 4514, most specific first (`CN=partner-c,O=Example`).
    #[arg(long, value_name = "DN")]
    pub subject_dn: Option<String>,
    /// tls_client_auth: a dNSName SAN the certificate must carry.
    #[arg(long, value_name = "NAME")]
    pub san_dns: Option<String>,
    /// tls_client_auth: a URI SAN the certificate must carry (e.g. spiffe://example/partner-c).
    #[arg(long, value_name = "URI")]
    pub san_uri: Option<String>,
    /// tls_client_auth: an iPAddress SAN the certificate must carry.
    #[arg(long, value_name = "ADDRESS")]
    pub san_ip: Option<String>,
    /// tls_client_auth: an rfc822Name (email) SAN the certificate must carry.
    #[arg(long, value_name = "ADDRESS")]
    pub san_email: Option<String>,
    /// tls_client_auth: CA file(s) this client's certificates must chain to, instead of [tls] client_ca (repeatable).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// self_signed_tls_client_auth: the client's JWK Set file (`certbound pki self-signed` writes one).
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// self_signed_tls_client_auth: the HTTPS URL of the client's JWK Set.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// client_secret_basic / client_secret_post: read the secret from standard input (one line);
    /// only its argon2 hash is stored.
    #[arg(long)]
    pub secret_stdin: bool,
    /// Space-separated scopes the client may request (also its default).
    #[arg(long)]
    pub scope: Option<String>,
    /// The access token format.
    #[arg(long, value_enum)]
    pub token_format: Option<TokenFormatArg>,
    /// Whether access tokens are bound to the client's certificate (default: yes for the
    /// certificate methods, no for secrets).
    #[arg(long, value_name = "BOOL")]
    pub bound_tokens: Option<bool>,
    /// Access tokens are bound to a DPoP key (RFC 9449, `dpop_bound_access_tokens`): the client
    /// must send a DPoP proof at the token endpoint. Excludes certificate-bound tokens.
    #[arg(long)]
    pub dpop_bound_tokens: bool,
    /// A human-readable name, for logs and `clients list`.
    #[arg(long)]
    pub client_name: Option<String>,
    /// The client is a resource server: it may introspect any client's tokens.
    #[arg(long)]
    pub resource_server: bool,
}

/// `--method`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MethodArg {
    /// RFC 8705 §2.1: a CA-issued certificate, matched on one subject field.
    #[value(name = "tls_client_auth")]
    TlsClientAuth,
    /// RFC 8705 §2.2: a self-signed certificate registered in the client's JWK Set.
    #[value(name = "self_signed_tls_client_auth")]
    SelfSigned,
    /// A secret in the Authorization: Basic header.
    #[value(name = "client_secret_basic")]
    SecretBasic,
    /// A secret in the form body.
    #[value(name = "client_secret_post")]
    SecretPost,
    /// RFC 7523: a JWT signed with a key in the client's JWK Set (--jwks-file or --jwks-uri).
    #[value(name = "private_key_jwt")]
    PrivateKeyJwt,
}

impl MethodArg {
    fn method(self) -> AuthMethod {
        match self {
            MethodArg::TlsClientAuth => AuthMethod::TlsClientAuth,
            MethodArg::SelfSigned => AuthMethod::SelfSignedTlsClientAuth,
            MethodArg::SecretBasic => AuthMethod::ClientSecretBasic,
            MethodArg::SecretPost => AuthMethod::ClientSecretPost,
            MethodArg::PrivateKeyJwt => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// `--token-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TokenFormatArg {
    /// A signed JWT (RFC 9068).
    Jwt,
    /// A random reference, read through introspection.
    Opaque,
}

impl ClientFlags {
    /// Whether any flag describing a client was given.
    fn any(&self) -> bool {
        self.client_id.is_some()
            || self.method.is_some()
            || self.subject_flags().iter().any(|(_, v)| v.is_some())
            || !self.ca.is_empty()
            || self.jwks_file.is_some()
            || self.jwks_uri.is_some()
            || self.secret_stdin
            || self.scope.is_some()
            || self.token_format.is_some()
            || self.bound_tokens.is_some()
            || self.dpop_bound_tokens
            || self.client_name.is_some()
            || self.resource_server
    }

    fn subject_flags(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("--subject-dn", &self.subject_dn),
            ("--san-dns", &self.san_dns),
            ("--san-uri", &self.san_uri),
            ("--san-ip", &self.san_ip),
            ("--san-email", &self.san_email),
        ]
    }

    /// The metadata JSON these flags describe; `secret` supplies the secret for `--secret-stdin`.
    fn to_metadata(
        &self,
        secret: impl FnOnce() -> anyhow::Result<String>,
    ) -> anyhow::Result<Value> {
        let client_id = self
            .client_id
            .as_deref()
            .context("--client-id is required (or give --metadata FILE)")?;
        let method = self
            .method
            .context("--method is required: tls_client_auth, self_signed_tls_client_auth, private_key_jwt, client_secret_basic or client_secret_post")?
            .method();
        let mut m = Map::new();
        m.insert("client_id".into(), json!(client_id));
        m.insert("token_endpoint_auth_method".into(), json!(method.as_str()));
        let subjects: Vec<(&str, &String)> = self
            .subject_flags()
            .into_iter()
            .filter_map(|(flag, v)| v.as_ref().map(|v| (flag, v)))
            .collect();
        let only_for = |flag: &str, allowed: &str| {
            anyhow::anyhow!("{flag} is only for {allowed}, not {method}")
        };
        match method {
            AuthMethod::TlsClientAuth => {
                let [(flag, value)] = subjects[..] else {
                    anyhow::bail!(
                        "tls_client_auth needs exactly one of --subject-dn, --san-dns, --san-uri, --san-ip, --san-email (got {})",
                        if subjects.is_empty() { "none".to_owned() } else { subjects.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ") }
                    );
                };
                let (key, value) = match flag {
                    "--subject-dn" => {
                        let dn: DistinguishedName = value
                            .parse()
                            .map_err(|e| anyhow::anyhow!("--subject-dn \"{value}\": {e}"))?;
                        ("tls_client_auth_subject_dn", dn.to_string())
                    }
                    "--san-dns" => ("tls_client_auth_san_dns", value.clone()),
                    "--san-uri" => ("tls_client_auth_san_uri", value.clone()),
                    "--san-ip" => ("tls_client_auth_san_ip", value.clone()),
                    _ => ("tls_client_auth_san_email", value.clone()),
                };
                m.insert(key.into(), json!(value));
                if !self.ca.is_empty() {
                    // Absolute: the server resolves relative paths against its configuration's
                    // directory, not the directory this command ran in.
                    let ca = self
                        .ca
                        .iter()
                        .map(|p| {
                            std::fs::canonicalize(p)
                                .with_context(|| format!("--ca {}", p.display()))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    m.insert("tls_client_auth_ca".into(), json!(ca));
                }
            }
            _ if !subjects.is_empty() => return Err(only_for(subjects[0].0, "tls_client_auth")),
            _ if !self.ca.is_empty() => return Err(only_for("--ca", "tls_client_auth")),
            _ => {}
        }
        match method {
            AuthMethod::SelfSignedTlsClientAuth | AuthMethod::PrivateKeyJwt => match (&self.jwks_file, &self.jwks_uri) {
                (Some(file), None) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let jwks: Value = serde_json::from_str(&text)
                        .with_context(|| format!("{}: not JSON", file.display()))?;
                    m.insert("jwks".into(), jwks);
                }
                (None, Some(uri)) => {
                    m.insert("jwks_uri".into(), json!(uri));
                }
                _ if method == AuthMethod::PrivateKeyJwt => anyhow::bail!(
                    "private_key_jwt needs exactly one of --jwks-file (the client's public JWK Set) and --jwks-uri"
                ),
                _ => anyhow::bail!(
                    "self_signed_tls_client_auth needs exactly one of --jwks-file (the JWK Set `certbound pki self-signed` wrote) and --jwks-uri"
                ),
            },
            _ if self.jwks_file.is_some() => {
                return Err(only_for(
                    "--jwks-file",
                    "self_signed_tls_client_auth and private_key_jwt",
                ))
            }
            _ if self.jwks_uri.is_some() => {
                return Err(only_for(
                    "--jwks-uri",
                    "self_signed_tls_client_auth and private_key_jwt",
                ))
            }
            _ => {}
        }
        if method.uses_certificate() || method == AuthMethod::PrivateKeyJwt {
            if self.secret_stdin {
                return Err(only_for(
                    "--secret-stdin",
                    "client_secret_basic and client_secret_post",
                ));
            }
        } else {
            if !self.secret_stdin {
                anyhow::bail!("{method} needs the secret: pass --secret-stdin and write it to standard input (only its hash is stored)");
            }
            m.insert("client_secret".into(), json!(secret()?));
        }
        if self.dpop_bound_tokens && self.bound_tokens == Some(true) {
            anyhow::bail!("--dpop-bound-tokens and --bound-tokens true exclude each other: a token has one proof-of-possession method");
        }
        let bound = self
            .bound_tokens
            .unwrap_or(method.uses_certificate() && !self.dpop_bound_tokens);
        m.insert(
            "tls_client_certificate_bound_access_tokens".into(),
            json!(bound),
        );
        if self.dpop_bound_tokens {
            m.insert("dpop_bound_access_tokens".into(), json!(true));
        }
        if let Some(scope) = &self.scope {
            m.insert("scope".into(), json!(scope));
        }
        if let Some(f) = self.token_format {
            let f = match f {
                TokenFormatArg::Jwt => "jwt",
                TokenFormatArg::Opaque => "opaque",
            };
            m.insert("access_token_format".into(), json!(f));
        }
        if let Some(name) = &self.client_name {
            m.insert("client_name".into(), json!(name));
        }
        if self.resource_server {
            m.insert("resource_server".into(), json!(true));
        }
        Ok(Value::Object(m))
    }
}

/// Reads one secret line from standard input (without its line ending).
fn secret_from_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .context("reading the secret from standard input")?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        anyhow::bail!("--secret-stdin: standard input held no secret");
    }
    if secret.contains(['\n', '\r']) {
        anyhow::bail!("--secret-stdin: the secret must be a single line");
    }
    Ok(secret.to_owned())
}

/// Runs `clients add`.
pub async fn run(
    config: &Path,
    metadata: Option<&Path>,
    flags: &ClientFlags,
) -> anyhow::Result<bool> {
    let cfg = certbound_server::config::Config::load(config)?;
    let (label, mut meta): (String, ClientMetadata) = match metadata {
        Some(path) => {
            if flags.any() {
                anyhow::bail!("give either --metadata FILE or the client flags (--client-id, --method, ...), not both");
            }
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            };
            let meta = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not client metadata JSON: {e} (docs/examples/README.md lists the fields)",
                    path.display()
                )
            })?;
            (path.display().to_string(), meta)
        }
        None => {
            if !flags.any() {
                anyhow::bail!("describe the client with --metadata FILE, or with --client-id and --method (see `certbound clients add --help`)");
            }
            let value = flags.to_metadata(secret_from_stdin)?;
            let meta = serde_json::from_value(value)
                .context("the flags do not make valid client metadata")?;
            ("the flags".to_owned(), meta)
        }
    };
    if cfg.clients.iter().any(|c| c.client_id == meta.client_id) {
        anyhow::bail!(
            "client '{}' is declared in {}; change it there",
            meta.client_id,
            config.display()
        );
    }
    if let Some(secret) = meta.client_secret.take() {
        meta.client_secret_hash = Some(
            SecretHash::hash(&secret)
                .map_err(|e| anyhow::anyhow!("client_secret: {e}"))?
                .phc()
                .to_owned(),
        );
    }
    let registered = cfg
        .config
        .register(&meta, &cfg.base)
        .map_err(|(key, message)| anyhow::anyhow!("{label}: {key}: {message}"))?;
    let store = cfg
        .config
        .store
        .connect()
        .await
        .context("opening the store")?;
    store
        .upsert_client(
            &meta.client_id,
            &serde_json::to_string(&meta)?,
            certbound_server::state::now_secs(),
        )
        .await?;
    print_registered(&cfg, config, &meta, &registered);
    Ok(true)
}

/// What was registered, and the commands to try next.
fn print_registered(
    cfg: &ValidatedConfig,
    config: &Path,
    meta: &ClientMetadata,
    client: &certbound_core::client::RegisteredClient,
) {
    let id = &client.client_id;
    let method = client.credential.method();
    println!("Registered client '{id}' ({method}) in the store.");
    match &client.credential {
        ClientCredential::TlsClientAuth(TlsSubject::Dn(dn)) => {
            println!("  subject DN     {dn}  (RFC 4514; certificates must hold these attributes in this order)")
        }
        ClientCredential::TlsClientAuth(subject) => println!("  matches        {subject}"),
        ClientCredential::SelfSigned(_) => {
            println!("  certificates   those in its JWK Set (x5c[0] of each key)")
        }
        ClientCredential::Secret { .. } => println!("  secret         stored as an argon2id hash"),
        ClientCredential::PrivateKeyJwt { .. } => {
            println!("  assertions     signed with a key in its JWK Set (private_key_jwt)")
        }
    }
    println!(
        "  tokens         {}, {}",
        if client.bound_tokens {
            "bound to the client's certificate (cnf.x5t#S256)"
        } else if client.dpop_bound {
            "bound to a DPoP key (cnf.jkt; a proof is required)"
        } else {
            "not bound"
        },
        match client.token_format {
            certbound_core::client::TokenFormat::Jwt => "JWT",
            certbound_core::client::TokenFormat::Opaque => "opaque",
        }
    );
    if !client.scopes.is_empty() {
        println!("  scope          {}", client.scopes.join(" "));
    }
    if meta.resource_server {
        println!("  may introspect any client's tokens (resource server)");
    }
    println!(
        "Running servers pick it up within {} s. Try:",
        cfg.config.tokens.key_refresh_seconds
    );
    let conventional = cfg.config.issuer.trim_end_matches('/');
    let mtls = cfg
        .config
        .listen
        .mtls_url
        .as_deref()
        .unwrap_or(conventional)
        .trim_end_matches('/');
    match method {
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
            println!(
                "  certbound clients check --config {} --client-id {id} --cert CLIENT.pem",
                config.display()
            );
            println!("  curl --cert CLIENT.pem --key CLIENT.key --cacert SERVER-CA.pem \\");
            println!("       -d grant_type=client_credentials -d client_id={id} {mtls}/token");
        }
        AuthMethod::ClientSecretBasic => {
            println!("  curl --cacert SERVER-CA.pem -u {id}:SECRET -d grant_type=client_credentials {conventional}/token");
        }
        AuthMethod::ClientSecretPost => {
            println!("  curl --cacert SERVER-CA.pem -d grant_type=client_credentials -d client_id={id} \\");
            println!("       -d client_secret=SECRET {conventional}/token");
        }
        AuthMethod::PrivateKeyJwt => {
            println!("  curl --cacert SERVER-CA.pem -d grant_type=client_credentials \\");
            println!("       -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\");
            println!("       -d client_assertion=SIGNED_JWT {conventional}/token");
        }
    }
}
