//! `certbound token`: what a partner runs to get an access token. Reads the issuer's metadata,
//! uses the mTLS alias when it has a certificate (RFC 8705 §5), prints the token, its verified
//! claims, and whether it is bound to the certificate it used.

use crate::tls_client::ClientCertArgs;
use anyhow::{bail, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

/// Arguments of `certbound token`.
#[derive(clap::Args)]
pub struct TokenArgs {
    /// The issuer URL; metadata is read from <issuer>/.well-known/oauth-authorization-server.
    #[arg(long)]
    pub issuer: String,
    /// The client_id.
    #[arg(long)]
    pub client_id: String,
    /// Client secret (client_secret_basic unless --secret-post).
    #[arg(long, env = "CERTBOUND_CLIENT_SECRET")]
    pub secret: Option<String>,
    /// Send the secret in the form body (client_secret_post) instead of the Basic header.
    #[arg(long, requires = "secret")]
    pub secret_post: bool,
    /// Scope to request (space-separated); default: the client's registered scopes.
    #[arg(long)]
    pub scope: Option<String>,
    /// Print only the access token (for scripts).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: ClientCertArgs,
}

/// What `certbound token` obtained.
pub struct Obtained {
    /// The access token.
    pub access_token: String,
    /// The token response.
    pub response: Value,
    /// The claims (JWT payload, or the introspection response for opaque tokens).
    pub claims: Option<Value>,
    /// Whether the signature verified against the issuer's JWKS (JWTs only).
    pub signature: Option<Result<String, String>>,
    /// The thumbprint of the certificate used, if any.
    pub cert_thumbprint: Option<String>,
}

/// Runs the command.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let got = obtain(&args).await?;
    if args.quiet {
        println!("{}", got.access_token);
        return Ok(());
    }
    println!("access_token: {}", got.access_token);
    println!(
        "token response: {}",
        serde_json::to_string_pretty(&redact(&got.response))?
    );
    match &got.signature {
        Some(Ok(kid)) => println!("signature: verified with the issuer's JWKS (kid {kid})"),
        Some(Err(e)) => println!("signature: NOT verified: {e}"),
        None => println!("opaque token: claims below come from the introspection endpoint"),
    }
    if let Some(claims) = &got.claims {
        println!("claims: {}", serde_json::to_string_pretty(claims)?);
    }
    let bound = got
        .claims
        .as_ref()
        .and_then(|c| c.get("cnf"))
        .and_then(|c| c.get("x5t#S256"))
        .and_then(Value::as_str);
    match (bound, &got.cert_thumbprint) {
        (Some(b), Some(t)) if b == t => {
            println!("binding: bound to the certificate used (x5t#S256 {t})")
        }
        (Some(b), Some(t)) => {
            println!("binding: bound to ANOTHER certificate ({b}), not the one used ({t})")
        }
        (Some(b), None) => println!("binding: bound to certificate {b}"),
        (None, _) => println!("binding: not bound (a bearer token)"),
    }
    Ok(())
}

fn redact(response: &Value) -> Value {
    let mut r = response.clone();
    if let Some(o) = r.as_object_mut() {
        if o.contains_key("access_token") {
            o.insert("access_token".into(), Value::String("<above>".into()));
        }
    }
    r
}

/// Discovers the endpoints and requests a token.
pub async fn obtain(args: &TokenArgs) -> anyhow::Result<Obtained> {
    let identity = args.tls.identity()?;
    let http = args.tls.http_client(identity.as_ref())?;
    let issuer = args.issuer.trim_end_matches('/');
    let metadata: Value = http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .context("fetching the authorization server metadata")?
        .error_for_status()?
        .json()
        .await
        .context("metadata is not JSON")?;
    if metadata.get("issuer").and_then(Value::as_str) != Some(args.issuer.as_str()) {
        bail!(
            "the metadata's issuer does not equal {} (RFC 8414 §3.3)",
            args.issuer
        );
    }
    let endpoint = |name: &str| -> anyhow::Result<String> {
        let alias = metadata
            .get("mtls_endpoint_aliases")
            .and_then(|a| a.get(name))
            .and_then(Value::as_str);
        let plain = metadata.get(name).and_then(Value::as_str);
        match (identity.is_some(), alias, plain) {
            (true, Some(a), _) => Ok(a.to_owned()),
            (_, _, Some(p)) => Ok(p.to_owned()),
            _ => bail!("the metadata has no {name}"),
        }
    };
    let token_endpoint = endpoint("token_endpoint")?;

    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(scope) = &args.scope {
        form.push(("scope", scope.clone()));
    }
    let request = |url: &str, mut form: Vec<(&'static str, String)>| {
        let mut req = http.post(url);
        match (&args.secret, args.secret_post) {
            (Some(secret), false) => {
                let enc = |s: &str| {
                    serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].to_owned()
                };
                let basic = STANDARD.encode(format!("{}:{}", enc(&args.client_id), enc(secret)));
                req = req.header(http::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            (Some(secret), true) => {
                form.push(("client_id", args.client_id.clone()));
                form.push(("client_secret", secret.clone()));
            }
            (None, _) => form.push(("client_id", args.client_id.clone())),
        }
        req.form(&form)
    };
    let response = request(&token_endpoint, form)
        .send()
        .await
        .context("calling the token endpoint")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("token response is not JSON")?;
    if !status.is_success() {
        bail!("token endpoint answered {status}: {body}");
    }
    let access_token = body
        .get("access_token")
        .and_then(Value::as_str)
        .context("no access_token in the response")?
        .to_owned();

    let (claims, signature) = if access_token.matches('.').count() == 2 {
        let jwks: Value = http
            .get(
                metadata
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .context("no jwks_uri")?,
            )
            .send()
            .await?
            .json()
            .await?;
        let claims = decode_payload(&access_token)?;
        (
            Some(claims),
            Some(verify(&access_token, &jwks, &args.issuer)),
        )
    } else {
        let introspection = endpoint("introspection_endpoint")?;
        let r: Value = request(&introspection, vec![("token", access_token.clone())])
            .send()
            .await?
            .json()
            .await?;
        (Some(r), None)
    };
    Ok(Obtained {
        access_token,
        response: body,
        claims,
        signature,
        cert_thumbprint: identity.map(|i| i.certificate.thumbprint().to_string()),
    })
}

fn decode_payload(jwt: &str) -> anyhow::Result<Value> {
    let payload = jwt.split('.').nth(1).context("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .context("JWT payload is not base64url")?;
    serde_json::from_slice(&bytes).context("JWT payload is not JSON")
}

/// Verifies a JWT against a JWKS; returns the kid used.
fn verify(jwt: &str, jwks: &Value, issuer: &str) -> Result<String, String> {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
    let header = decode_header(jwt).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(format!("typ is {:?}, expected at+jwt", header.typ));
    }
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::PS256 | Algorithm::EdDSA
    ) {
        return Err(format!("unexpected alg {:?}", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    decode::<Value>(jwt, &key, &validation).map_err(|e| e.to_string())?;
    Ok(kid)
}
