//! What the page shows: the session's results turned into plain values for the templates
//! (`templates/demo.html`, auto-escaped by askama), with times in RFC 3339 and in words.

use super::steps::{CallResult, TokenResult};
use super::user_flow::{IdToken, Pushed, UserTokens};
use askama::Template;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// A step's result area.
pub(super) enum Shown<T> {
    /// The step has not run in this session.
    Nothing,
    /// It ran and failed: why, in words.
    Failed(String),
    /// It ran.
    Done(T),
}

impl<T> Shown<T> {
    /// Builds the view of an optional result with `f`.
    pub fn of<R>(result: &Option<Result<R, String>>, f: impl FnOnce(&R) -> T) -> Self {
        match result {
            None => Shown::Nothing,
            Some(Err(e)) => Shown::Failed(e.clone()),
            Some(Ok(r)) => Shown::Done(f(r)),
        }
    }
}

/// How a token relates to the certificate used to get it.
pub(super) enum Binding {
    /// No `cnf` claim: a bearer token.
    Unbound,
    /// `cnf.x5t#S256` equals the certificate's thumbprint.
    Matches(String),
    /// `cnf.x5t#S256` (first) differs from the certificate's thumbprint (second).
    Differs(String, String),
    /// Bound, but no certificate was used (cannot happen with this page's clients).
    NoCertificate(String),
}

/// One row of the claims table.
pub(super) struct ClaimRow {
    /// Claim name (`cnf.x5t#S256` for members of an object claim).
    pub name: String,
    /// Its value as text (a time as RFC 3339).
    pub value: String,
    /// For times: the same in words ("in 5 minutes").
    pub when: Option<String>,
    /// Whether this is the certificate thumbprint (highlighted).
    pub is_cnf: bool,
}

/// A token result, ready to show.
pub(super) struct TokenView {
    pub at: String,
    pub at_words: String,
    pub client_id: String,
    pub method: &'static str,
    pub claims: Vec<ClaimRow>,
    pub binding: Binding,
    pub signature: String,
    pub header: String,
    pub raw: String,
}

/// A time found in an answer, readable.
pub(super) struct TimeRow {
    /// The member's name (`created_at`).
    pub name: String,
    /// RFC 3339.
    pub value: String,
    /// In words, relative to now.
    pub words: String,
}

/// A call result, ready to show.
pub(super) struct CallView {
    pub at: String,
    pub at_words: String,
    pub url: String,
    pub status: u16,
    pub reason: String,
    pub ok: bool,
    pub www_authenticate: Option<String>,
    pub body: String,
    /// Times in the answer's top-level members (`created_at`), readable.
    pub times: Vec<TimeRow>,
    pub presented_subject: String,
    pub presented_thumbprint: String,
    pub token_cnf: String,
    pub matches: bool,
}

/// The page.
#[derive(Template)]
#[template(path = "demo.html")]
pub(super) struct HomePage {
    pub issuer: String,
    pub gateway_url: String,
    pub csrf: String,
    pub secret_client: String,
    pub mtls_client: String,
    pub replay_subject: String,
    pub plain: Shown<TokenView>,
    pub bound: Shown<TokenView>,
    pub call: Shown<CallView>,
    pub replay: Shown<CallView>,
    pub web_client: String,
    pub redirect_uri: String,
    pub scope: &'static str,
    pub pushed: Shown<PushedView>,
    pub signed_in: Shown<SignedInView>,
    pub user_call: Shown<CallView>,
    pub refreshed: Shown<RefreshView>,
    pub user_replay: Shown<CallView>,
}

/// Step 5's result: the pushed authorization request.
pub(super) struct PushedView {
    pub at: String,
    pub at_words: String,
    pub endpoint: String,
    pub request_uri: String,
    pub expires_in: u64,
    pub authorize_url: String,
}

/// An ID token, ready to show.
pub(super) struct IdTokenView {
    pub claims: Vec<ClaimRow>,
    pub signature: String,
    /// The `nonce` check, in words.
    pub nonce: String,
    pub raw: String,
}

/// Step 6's result: the user's access token and ID token.
pub(super) struct SignedInView {
    /// The access token (`t` in `demo/token.html`).
    pub t: TokenView,
    pub id_token: Option<IdTokenView>,
    pub has_refresh_token: bool,
}

/// Step 8's result: the refreshed access token, compared with the first.
pub(super) struct RefreshView {
    /// The new access token (`t` in `demo/token.html`).
    pub t: TokenView,
    /// The first token's `jti` and the new one's.
    pub first_jti: String,
    pub new_jti: String,
    /// Same user, client and scope as the first token: the same grant.
    pub same_grant: bool,
}

/// Claims whose value is a time (NumericDate, RFC 7519 §2).
const TIME_CLAIMS: [&str; 4] = ["exp", "iat", "nbf", "auth_time"];

/// `secs` as RFC 3339 in UTC.
pub(super) fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// `at` relative to `now`, in words: "in 5 minutes", "2 minutes ago", "just now".
pub(super) fn in_words(at: u64, now: u64) -> String {
    let (ahead, d) = if at >= now {
        (true, at - now)
    } else {
        (false, now - at)
    };
    if d < 10 {
        return "just now".to_owned();
    }
    let (n, unit) = match d {
        0..=59 => (d, "second"),
        60..=3599 => ((d + 30) / 60, "minute"),
        3600..=86_399 => ((d + 1800) / 3600, "hour"),
        _ => ((d + 43_200) / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if ahead {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The claims as table rows: object claims one level flattened, times readable.
fn claim_rows(claims: &Value, now: u64) -> Vec<ClaimRow> {
    let Some(map) = claims.as_object() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (name, value) in map {
        match value {
            Value::Object(members) => {
                for (member, v) in members {
                    let full = format!("{name}.{member}");
                    rows.push(ClaimRow {
                        is_cnf: full == "cnf.x5t#S256",
                        name: full,
                        value: text_of(v),
                        when: None,
                    });
                }
            }
            Value::Number(n) if TIME_CLAIMS.contains(&name.as_str()) && n.as_u64().is_some() => {
                let secs = n.as_u64().unwrap_or_default();
                let mut when = in_words(secs, now);
                if name == "exp" && secs < now {
                    when = format!("expired {when}");
                }
                rows.push(ClaimRow {
                    name: name.clone(),
                    value: rfc3339(secs),
                    when: Some(when),
                    is_cnf: false,
                });
            }
            other => rows.push(ClaimRow {
                name: name.clone(),
                value: text_of(other),
                when: None,
                is_cnf: false,
            }),
        }
    }
    rows
}

/// The JWT's header, pretty-printed (empty for opaque tokens).
fn header_of(jwt: &str) -> String {
    jwt.split('.')
        .next()
        .filter(|_| jwt.matches('.').count() == 2)
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default()
}

/// The view of a token obtained by step 1 or 2.
pub(super) fn token_view(t: &TokenResult, now: u64) -> TokenView {
    let binding = match (t.cnf(), &t.cert_thumbprint) {
        (None, _) => Binding::Unbound,
        (Some(c), Some(cert)) if c == cert => Binding::Matches(c.to_owned()),
        (Some(c), Some(cert)) => Binding::Differs(c.to_owned(), cert.clone()),
        (Some(c), None) => Binding::NoCertificate(c.to_owned()),
    };
    let signature = match &t.signature {
        Some(Ok(kid)) => {
            format!("verified with the authorization server's published key (key id {kid})")
        }
        Some(Err(e)) => format!("not verified: {e}"),
        None => "an opaque token: the claims come from the introspection endpoint".to_owned(),
    };
    TokenView {
        at: rfc3339(t.at),
        at_words: in_words(t.at, now),
        client_id: t.client_id.clone(),
        method: t.method,
        claims: claim_rows(&t.claims, now),
        binding,
        signature,
        header: header_of(&t.access_token),
        raw: t.access_token.clone(),
    }
}

/// The view of a call made by step 3 or 4.
pub(super) fn call_view(c: &CallResult, now: u64) -> CallView {
    let json = serde_json::from_str::<Value>(&c.body).ok();
    let body = json
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| c.body.clone());
    let times = json
        .as_ref()
        .and_then(Value::as_object)
        .map(|members| {
            members
                .iter()
                .filter(|(k, _)| k.ends_with("_at") || TIME_CLAIMS.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k, v.as_u64()?)))
                .map(|(k, secs)| TimeRow {
                    name: k.clone(),
                    value: rfc3339(secs),
                    words: in_words(secs, now),
                })
                .collect()
        })
        .unwrap_or_default();
    CallView {
        at: rfc3339(c.at),
        at_words: in_words(c.at, now),
        url: c.url.clone(),
        status: c.status,
        reason: c.reason.clone(),
        ok: (200..300).contains(&c.status),
        www_authenticate: c.www_authenticate.clone(),
        body,
        times,
        presented_subject: c.presented_subject.clone(),
        presented_thumbprint: c.presented_thumbprint.clone(),
        token_cnf: c.token_cnf.clone().unwrap_or_else(|| "none".to_owned()),
        matches: c.token_cnf.as_deref() == Some(c.presented_thumbprint.as_str()),
    }
}

/// The view of step 5's pushed request.
pub(super) fn pushed_view(p: &Pushed, now: u64) -> PushedView {
    PushedView {
        at: rfc3339(p.at),
        at_words: in_words(p.at, now),
        endpoint: p.endpoint.clone(),
        request_uri: p.request_uri.clone(),
        expires_in: p.expires_in,
        authorize_url: p.authorize_url.clone(),
    }
}

fn id_token_view(id: &IdToken, now: u64) -> IdTokenView {
    IdTokenView {
        claims: claim_rows(&id.claims, now),
        signature: match &id.signature {
            Ok(kid) => format!(
                "verified with the authorization server's published key (key id {kid}); iss, aud \
                 and exp checked"
            ),
            Err(e) => format!("not verified: {e}"),
        },
        nonce: match id.nonce_matches {
            Some(true) => "nonce equals the one this sign-in sent".to_owned(),
            Some(false) => "nonce differs from the one this sign-in sent".to_owned(),
            None => "no nonce (ID tokens from a refresh carry none)".to_owned(),
        },
        raw: id.raw.clone(),
    }
}

/// The view of step 6's tokens.
pub(super) fn signed_in_view(tokens: &UserTokens, now: u64) -> SignedInView {
    SignedInView {
        t: token_view(&tokens.access, now),
        id_token: tokens.id_token.as_ref().map(|i| id_token_view(i, now)),
        has_refresh_token: tokens.refresh_token.is_some(),
    }
}

/// The view of step 8's refreshed token, against the first token (`None` when it is gone).
pub(super) fn refresh_view(new: &UserTokens, first: Option<&TokenResult>, now: u64) -> RefreshView {
    let claim = |t: &TokenResult, name: &str| t.claims.get(name).map(text_of).unwrap_or_default();
    let first_jti = first.map(|f| claim(f, "jti")).unwrap_or_default();
    let same_grant = first.is_some_and(|f| {
        ["sub", "client_id", "scope"]
            .iter()
            .all(|c| claim(f, c) == claim(&new.access, c))
    });
    RefreshView {
        t: token_view(&new.access, now),
        first_jti,
        new_jti: claim(&new.access, "jti"),
        same_grant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_words() {
        let now = 1_000_000;
        assert_eq!(in_words(now, now), "just now");
        assert_eq!(in_words(now - 5, now), "just now");
        assert_eq!(in_words(now + 300, now), "in 5 minutes");
        assert_eq!(in_words(now + 299, now), "in 5 minutes");
        assert_eq!(in_words(now - 120, now), "2 minutes ago");
        assert_eq!(in_words(now - 45, now), "45 seconds ago");
        assert_eq!(in_words(now + 60, now), "in 1 minute");
        assert_eq!(in_words(now + 7200, now), "in 2 hours");
        assert_eq!(in_words(now - 86_400 * 3, now), "3 days ago");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_000_000), "2026-11-30T00:53:20Z");
    }

    #[test]
    fn claims_are_rows_with_readable_times() {
        let now = 1_796_000_000;
        let claims = serde_json::json!({
            "client_id": "partner-a",
            "exp": now + 300,
            "iat": now - 120,
            "cnf": {"x5t#S256": "abc"},
            "scope": "transactions read",
        });
        let rows = claim_rows(&claims, now);
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
        assert_eq!(row("exp").value, "2026-11-30T00:58:20Z");
        assert_eq!(row("exp").when.as_deref(), Some("in 5 minutes"));
        assert_eq!(row("iat").when.as_deref(), Some("2 minutes ago"));
        assert!(row("cnf.x5t#S256").is_cnf);
        assert_eq!(row("cnf.x5t#S256").value, "abc");
        assert_eq!(row("client_id").value, "partner-a");
        let expired = claim_rows(&serde_json::json!({"exp": now - 60}), now);
        assert_eq!(expired[0].when.as_deref(), Some("expired 1 minute ago"));
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let page = HomePage {
            issuer: "https://as.example/<x>".into(),
            gateway_url: "https://gw.example/api".into(),
            csrf: "tok\"en".into(),
            secret_client: "s".into(),
            mtls_client: "m".into(),
            replay_subject: "CN=b".into(),
            plain: Shown::Failed("<script>alert(1)</script>".into()),
            bound: Shown::Nothing,
            call: Shown::Nothing,
            replay: Shown::Done(CallView {
                at: rfc3339(0),
                at_words: "just now".into(),
                url: "u".into(),
                status: 401,
                reason: "Unauthorized".into(),
                ok: false,
                www_authenticate: Some(r#"Bearer error="invalid_token""#.into()),
                body: String::new(),
                times: Vec::new(),
                presented_subject: "CN=b".into(),
                presented_thumbprint: "t".into(),
                token_cnf: "c".into(),
                matches: false,
            }),
            web_client: "w".into(),
            redirect_uri: "http://127.0.0.1:5002/callback?<x>".into(),
            scope: "openid",
            pushed: Shown::Nothing,
            signed_in: Shown::Failed("<script>alert(2)</script>".into()),
            user_call: Shown::Nothing,
            refreshed: Shown::Nothing,
            user_replay: Shown::Nothing,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("callback?<x>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("tok\"en"), "{html}");
        assert!(!html.contains(r#"error="invalid_token""#), "{html}");
        assert!(html.contains("401"), "{html}");
    }
}
