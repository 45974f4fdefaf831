//! The user story of the demo page, as the web client's backend plays it: push the authorization
//! request over mutual TLS (PAR, RFC 9126; PKCE S256, `state`, `nonce`), send the browser to
//! `/authorize` with only `client_id` and `request_uri`, check the callback (`state`, and `iss`
//! per RFC 9207), exchange the code over mutual TLS with the PKCE verifier, verify the ID token,
//! and refresh the access token. The browser never sees the verifier, the code's tokens or the
//! refresh token's use; it only carries the request there and the code back.

use super::steps::TokenResult;
use super::DemoClientArgs;
use crate::tls_client::ClientCertArgs;
use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::pkce::CodeChallenge;
use serde_json::Value;

/// The scope the web client asks for: an ID token, the user's profile and e-mail, and the API.
pub(super) const SCOPE: &str = "openid profile email transactions";

/// A sign-in this browser started, kept in its session until the callback uses it (once).
#[derive(Clone)]
pub(super) struct Pending {
    /// The `state` sent: the callback must bring it back.
    pub state: String,
    /// The `nonce` sent: the ID token must carry it.
    pub nonce: String,
    /// The PKCE verifier; only its S256 challenge left this backend.
    pub verifier: String,
}

/// What the pushed authorization request returned, for the page.
#[derive(Clone)]
pub(super) struct Pushed {
    /// When it was pushed (Unix seconds).
    pub at: u64,
    /// The PAR endpoint used (the mTLS alias).
    pub endpoint: String,
    /// The `request_uri` the authorization server issued.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// Where the browser was sent.
    pub authorize_url: String,
}

/// An ID token as received, with what the backend checked.
#[derive(Clone)]
pub(super) struct IdToken {
    /// The claims.
    pub claims: Value,
    /// The signature check: the key id used, or why it failed.
    pub signature: Result<String, String>,
    /// Whether `nonce` equals the one sent (`None` when the token carries no nonce).
    pub nonce_matches: Option<bool>,
    /// The raw JWT.
    pub raw: String,
}

/// The tokens of one token-endpoint answer (code exchange or refresh).
#[derive(Clone)]
pub(super) struct UserTokens {
    /// The access token, decoded and verified like steps 1 and 2's.
    pub access: TokenResult,
    /// The ID token, when `openid` was granted.
    pub id_token: Option<IdToken>,
    /// The refresh token (kept server-side; the page shows only that there is one).
    pub refresh_token: Option<String>,
}

/// The authorization server's endpoints, from its OpenID discovery document.
struct Endpoints {
    authorization: String,
    par: String,
    token: String,
    jwks: String,
}

/// 256 random bits, base64url (43 characters): `state`, `nonce` and the PKCE verifier.
fn random() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The web client's id and redirect URI, or why the page cannot run the user story.
pub(super) fn web_client(args: &DemoClientArgs) -> anyhow::Result<(&str, String)> {
    let client_id = args.web_client_id.as_deref().context(
        "this demo client was started without --web-client-id, so it has no web client to sign \
         users in with",
    )?;
    Ok((client_id, redirect_uri(args)))
}

/// The registered redirect URI: `--redirect-uri`, else `http://<listen>/callback`.
pub(super) fn redirect_uri(args: &DemoClientArgs) -> String {
    args.redirect_uri
        .clone()
        .unwrap_or_else(|| format!("http://{}/callback", args.listen))
}

/// An HTTP client presenting the web client's certificate (partner-a's), trusting `--cacert`.
fn mtls(args: &DemoClientArgs) -> anyhow::Result<(reqwest::Client, String)> {
    let tls = ClientCertArgs {
        cert: Some(args.cert.clone()),
        key: Some(args.key.clone()),
        p12: None,
        password: None,
        cacert: args.cacert.clone(),
    };
    let identity = tls.identity()?.context("no client certificate")?;
    let thumbprint = identity.certificate.thumbprint().to_string();
    Ok((tls.http_client(Some(&identity))?, thumbprint))
}

/// Reads the OpenID discovery document; endpoints the client authenticates at are the mTLS
/// aliases (RFC 8705 §5), `/authorize` the conventional one (the browser goes there).
async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Endpoints> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Value = http
        .get(&url)
        .send()
        .await
        .context("fetching the OpenID discovery document")?
        .error_for_status()?
        .json()
        .await
        .context("the discovery document is not JSON")?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        bail!("the discovery document's issuer does not equal {issuer} (OpenID Discovery §4.3)");
    }
    let aliased = |name: &str| -> anyhow::Result<String> {
        doc.pointer(&format!("/mtls_endpoint_aliases/{name}"))
            .or_else(|| doc.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("the discovery document has no {name}"))
    };
    Ok(Endpoints {
        authorization: doc
            .get("authorization_endpoint")
            .and_then(Value::as_str)
            .context("the discovery document has no authorization_endpoint")?
            .to_owned(),
        par: aliased("pushed_authorization_request_endpoint")?,
        token: aliased("token_endpoint")?,
        jwks: doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .context("the discovery document has no jwks_uri")?
            .to_owned(),
    })
}

/// Reads a JSON answer; a non-2xx status becomes an error with the body.
async fn json_answer(r: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = r.status();
    let body = r.text().await.with_context(|| format!("reading {what}"))?;
    if !status.is_success() {
        bail!(
            "{what} answered {status}: {}",
            body.chars().take(500).collect::<String>()
        );
    }
    serde_json::from_str(&body).with_context(|| format!("{what} is not JSON"))
}

/// Step 5: pushes the authorization request over mutual TLS and returns what the session keeps
/// and where to send the browser.
pub(super) async fn start(args: &DemoClientArgs) -> anyhow::Result<(Pending, Pushed)> {
    let (client_id, redirect_uri) = web_client(args)?;
    let (http, _) = mtls(args)?;
    let endpoints = discover(&http, &args.issuer).await?;
    let pending = Pending {
        state: random()?,
        nonce: random()?,
        verifier: random()?,
    };
    let challenge = CodeChallenge::s256_of(&pending.verifier);
    let form = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", SCOPE),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", challenge.method()),
    ];
    let answer = http
        .post(&endpoints.par)
        .form(&form)
        .send()
        .await
        .context("calling the PAR endpoint")?;
    let body = json_answer(answer, "the PAR endpoint").await?;
    let request_uri = body
        .get("request_uri")
        .and_then(Value::as_str)
        .context("no request_uri in the PAR answer")?
        .to_owned();
    let expires_in = body
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let mut url = url::Url::parse(&endpoints.authorization)
        .context("the authorization_endpoint is not a URL")?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", &request_uri);
    Ok((
        pending,
        Pushed {
            at: now_secs(),
            endpoint: endpoints.par,
            request_uri,
            expires_in,
            authorize_url: url.into(),
        },
    ))
}

/// Checks the callback's query against the sign-in this browser started: exactly one `state`
/// equal to the one sent (constant time), and `iss` equal to the issuer (RFC 9207, which stops
/// a mix-up with another authorization server). Returns the code, or why the callback is
/// refused (an `error` the server sent, once `state` and `iss` check out, is such a reason).
pub(super) fn check_callback(
    query: &str,
    pending: &Pending,
    issuer: &str,
) -> Result<String, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("the callback repeats the parameter {k}: refused"));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let state = get("state").ok_or("the callback has no state: refused")?;
    let same_state = aws_lc_rs::constant_time::verify_slices_are_equal(
        state.as_bytes(),
        pending.state.as_bytes(),
    )
    .is_ok();
    if !same_state {
        return Err(
            "the callback's state is not the one this browser's sign-in sent: refused".to_owned(),
        );
    }
    match get("iss") {
        Some(iss) if iss == issuer => {}
        Some(_) => {
            return Err(
                "the callback's iss is not this authorization server (RFC 9207): refused"
                    .to_owned(),
            )
        }
        None => return Err("the callback has no iss (RFC 9207): refused".to_owned()),
    }
    if let Some(error) = get("error") {
        let description = get("error_description")
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(format!(
            "the authorization server answered {error}{description}"
        ));
    }
    get("code")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "the callback has no code".to_owned())
}

/// Step 6: exchanges the code at the token endpoint over mutual TLS, with the PKCE verifier and
/// the redirect URI; verifies the access token and the ID token (signature, `iss`, `aud`,
/// `nonce`).
pub(super) async fn exchange(
    args: &DemoClientArgs,
    pending: &Pending,
    code: &str,
) -> anyhow::Result<UserTokens> {
    let (client_id, redirect_uri) = web_client(args)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    token_request(args, client_id, &form, Some(&pending.nonce)).await
}

/// Step 8: a new access token from the refresh token, over mutual TLS.
pub(super) async fn refresh(
    args: &DemoClientArgs,
    refresh_token: &str,
) -> anyhow::Result<UserTokens> {
    let (client_id, _) = web_client(args)?;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", refresh_token),
    ];
    token_request(args, client_id, &form, None).await
}

/// One token request as the web client; the answer decoded and verified.
async fn token_request(
    args: &DemoClientArgs,
    client_id: &str,
    form: &[(&str, &str)],
    nonce: Option<&str>,
) -> anyhow::Result<UserTokens> {
    let (http, thumbprint) = mtls(args)?;
    let endpoints = discover(&http, &args.issuer).await?;
    let answer = http
        .post(&endpoints.token)
        .form(form)
        .send()
        .await
        .context("calling the token endpoint")?;
    let body = json_answer(answer, "the token endpoint").await?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token").context("no access_token in the answer")?;
    let jwks: Value = http
        .get(&endpoints.jwks)
        .send()
        .await
        .context("fetching the JWKS")?
        .error_for_status()?
        .json()
        .await
        .context("the JWKS is not JSON")?;
    let access = TokenResult {
        at: now_secs(),
        client_id: client_id.to_owned(),
        method: "tls_client_auth",
        claims: decode_payload(&access_token).unwrap_or(Value::Null),
        signature: Some(verify(&access_token, &jwks, &args.issuer, "at+jwt", None)),
        access_token,
        cert_thumbprint: Some(thumbprint),
    };
    let id_token = text("id_token").map(|raw| {
        let claims = decode_payload(&raw).unwrap_or(Value::Null);
        let nonce_matches = claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(|n| nonce.is_some_and(|sent| sent == n));
        IdToken {
            signature: verify(&raw, &jwks, &args.issuer, "JWT", Some(client_id)),
            claims,
            nonce_matches,
            raw,
        }
    });
    if let (Some(id), Some(_)) = (&id_token, nonce) {
        if id.nonce_matches != Some(true) {
            bail!("the ID token's nonce is not the one this sign-in sent: refused");
        }
    }
    Ok(UserTokens {
        access,
        id_token,
        refresh_token: text("refresh_token"),
    })
}

/// A JWT's payload (not verified).
fn decode_payload(jwt: &str) -> anyhow::Result<Value> {
    let payload = jwt.split('.').nth(1).context("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .context("the JWT payload is not base64url")?;
    serde_json::from_slice(&bytes).context("the JWT payload is not JSON")
}

/// Verifies a JWT against the JWKS: header `typ`, an asymmetric `alg`, the signature, `exp`,
/// `iss` and, when given, `aud`. Returns the key id used.
fn verify(
    jwt: &str,
    jwks: &Value,
    issuer: &str,
    typ: &str,
    audience: Option<&str>,
) -> Result<String, String> {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
    let header = decode_header(jwt).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some(typ) {
        return Err(format!("typ is {:?}, expected {typ}", header.typ));
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
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation.set_issuer(&[issuer]);
    decode::<Value>(jwt, &key, &validation).map_err(|e| e.to_string())?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            state: "s-123".into(),
            nonce: "n".into(),
            verifier: "v".into(),
        }
    }

    const ISS: &str = "https://localhost:8443";

    #[test]
    fn the_callback_needs_its_state_and_the_issuer() {
        let p = pending();
        let iss = "iss=https%3A%2F%2Flocalhost%3A8443";
        assert_eq!(
            check_callback(&format!("code=abc&state=s-123&{iss}"), &p, ISS),
            Ok("abc".to_owned())
        );
        for (query, why) in [
            (format!("code=abc&{iss}"), "no state"),
            (format!("code=abc&state=s-12&{iss}"), "not the one"),
            (format!("code=abc&state=s-1234&{iss}"), "not the one"),
            ("code=abc&state=s-123".to_owned(), "no iss"),
            (
                "code=abc&state=s-123&iss=https%3A%2F%2Fevil.example".to_owned(),
                "RFC 9207",
            ),
            (format!("code=abc&state=s-123&state=s-123&{iss}"), "repeats"),
            (format!("state=s-123&{iss}"), "no code"),
            (format!("code=&state=s-123&{iss}"), "no code"),
            (
                format!("error=access_denied&state=s-123&{iss}"),
                "answered access_denied",
            ),
        ] {
            let got = check_callback(&query, &p, ISS);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{query}: {got:?}"
            );
        }
        // An error with a forged state is reported as the forgery, not as the error.
        let got = check_callback(&format!("error=access_denied&state=x&{iss}"), &p, ISS);
        assert!(got.is_err_and(|e| e.contains("not the one")));
    }

    #[test]
    fn random_values_are_fresh_and_long_enough_for_pkce() {
        let (a, b) = (random().unwrap(), random().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(certbound_core::pkce::verifier_is_well_formed(&a));
    }
}
