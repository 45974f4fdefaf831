//! Which client headers reach the upstream, and in what shape.
//!
//! The gateway is the only source of identity for its upstreams. A client header that could claim
//! one (a certificate, an address, a user, a rewritten URL) is dropped, whatever its spelling:
//!
//! - by name and prefix ([`is_identity_header`]): the gateway's own (`Authorization`,
//!   `Forwarded`, `X-Forwarded*`), certificate headers of TLS-terminating proxies, and the identity
//!   headers of cloud proxies (`True-Client-IP`, `X-Amzn-Oidc-*`, `X-Goog-Authenticated-*`,
//!   `X-MS-CLIENT-PRINCIPAL*`, `X-Original-URL` ...);
//! - names with an underscore, by default: CGI, WSGI, PHP and Rack turn `X_Forwarded_For` and
//!   `X-Forwarded-For` into the same `HTTP_X_FORWARDED_FOR` variable, so the underscore spelling
//!   of a stripped header would reach the application as the real one (nginx's
//!   `underscores_in_headers off`, Envoy's `headers_with_underscores_action`).
//!
//! HTTP/2 clients may split `Cookie` into several fields (RFC 9113 §8.2.3); they are joined with
//! `"; "` into one before the request goes out as HTTP/1.1, where a second `Cookie` line is not
//! allowed (RFC 6265 §5.4).

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// Incoming headers that could claim an identity to the upstream, by exact name.
const IDENTITY_HEADERS: [&str; 25] = [
    "authorization",
    "forwarded",
    "client-cert",
    "client-cert-chain",
    "ssl-client-cert",
    "x-real-ip",
    "remote-user",
    "x-remote-user",
    "x-user",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-host",
    "x-goog-iap-jwt-assertion",
    "x-endpoint-api-userinfo",
    "x-apigateway-api-userinfo",
    "x-webauth-user",
    "x-proxy-user",
    "proxy-authorization",
];

/// And by prefix (`x-forwarded` covers `X-Forwarded` itself and every `X-Forwarded-*`).
const IDENTITY_PREFIXES: [&str; 16] = [
    "x-forwarded",
    "x-ssl-",
    "x-client-cert",
    "x-client-verify",
    "x-amzn-mtls-",
    "x-amzn-oidc-",
    "x-goog-authenticated-",
    "x-ms-client-principal",
    "x-authenticated-",
    "x-certbound-",
    "x-remote-",
    "x-auth-",
    "x-envoy-",
    "cf-access-",
    "x-original-",
    "x-webauth-",
];

/// Headers the gateway writes itself: never passed through, whatever the configuration says.
const GATEWAY_OWNED: [&str; 5] = [
    "authorization",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// Whether an incoming header (lower-case name) could claim an identity to the upstream.
pub fn is_identity_header(name: &str) -> bool {
    IDENTITY_HEADERS.contains(&name) || IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// What to do with a header whose name contains `_` (`[proxy] headers_with_underscores`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnderscoreAction {
    /// Remove it and forward the request (default; nginx's `underscores_in_headers off`).
    #[default]
    Drop,
    /// Refuse the request with 400.
    Reject,
    /// Forward it (only for upstreams that do not map headers to CGI-style variables).
    Allow,
}

/// Why a header was dropped, the label of `certbound_gateway_headers_dropped_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// The name contains `_`.
    Underscore,
    /// An identity header the client may not set (`Authorization`, replaced on every request, is
    /// not counted).
    Identity,
}

impl Dropped {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Dropped::Underscore => "underscore",
            Dropped::Identity => "identity",
        }
    }
}

/// A request refused for its headers (`headers_with_underscores = "reject"`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("header names with underscores are not accepted")]
pub struct UnderscoreRefused;

/// The header rules of one gateway, from `[proxy]`.
#[derive(Clone, Debug, Default)]
pub struct HeaderPolicy {
    underscores: UnderscoreAction,
    /// Identity headers (lower-case) the operator lets through.
    pass: Vec<HeaderName>,
}

impl HeaderPolicy {
    /// The policy; `pass` names identity headers to forward anyway (for an upstream that relies
    /// on one set by a proxy in front of the gateway). Names the gateway sets itself and names
    /// with an underscore are refused.
    pub fn new(underscores: UnderscoreAction, pass: &[String]) -> Result<Self, String> {
        let mut names = Vec::new();
        for p in pass {
            let lower = p.to_ascii_lowercase();
            if GATEWAY_OWNED.contains(&lower.as_str()) || lower.contains('_') {
                return Err(format!(
                    "'{p}' cannot be passed through: the gateway sets it, or it has an underscore"
                ));
            }
            let name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| format!("'{p}' is not a header name"))?;
            names.push(name);
        }
        Ok(HeaderPolicy {
            underscores,
            pass: names,
        })
    }

    /// Removes the headers the client may not send upstream; calls `dropped` once per removed
    /// name. Fails only with `headers_with_underscores = "reject"`.
    pub fn strip(
        &self,
        headers: &mut HeaderMap,
        mut dropped: impl FnMut(Dropped),
    ) -> Result<(), UnderscoreRefused> {
        let mut remove: Vec<(HeaderName, Option<Dropped>)> = Vec::new();
        for name in headers.keys() {
            let n = name.as_str();
            if n.contains('_') {
                match self.underscores {
                    UnderscoreAction::Allow => {}
                    UnderscoreAction::Reject => return Err(UnderscoreRefused),
                    UnderscoreAction::Drop => {
                        remove.push((name.clone(), Some(Dropped::Underscore)));
                        continue;
                    }
                }
            }
            // An underscore spelling is checked as the dashed name CGI would make of it.
            let identity = if n.contains('_') {
                is_identity_header(&n.replace('_', "-"))
            } else {
                is_identity_header(n)
            };
            if identity && !self.pass.contains(name) {
                let counted = (n != "authorization").then_some(Dropped::Identity);
                remove.push((name.clone(), counted));
            }
        }
        for (name, why) in remove {
            headers.remove(&name);
            if let Some(why) = why {
                dropped(why);
            }
        }
        Ok(())
    }
}

/// Joins several `Cookie` fields into one, separated by `"; "` (RFC 9113 §8.2.3).
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    let (Some(_), Some(_)) = (values.next(), values.next()) else {
        return;
    };
    let mut joined: Vec<u8> = Vec::new();
    for v in headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, v);
    }
}

/// `s` as an RFC 7230 quoted-string (for `Forwarded` parameters, RFC 7239 §4): `"` and `\` are
/// escaped, and `None` if `s` has a byte a quoted-string cannot carry (controls, non-ASCII).
pub fn quoted_string(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '\t' => out.push(c),
            c if c.is_ascii_graphic() => out.push(c),
            _ => return None,
        }
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn underscore_spellings_and_cloud_identity_headers_are_dropped_and_counted() {
        let mut h = map(&[
            ("x_forwarded_for", "6.6.6.6"),
            ("x_ssl_client_cert", "forged"),
            ("client_cert", ":Zm9yZ2Vk:"),
            ("x_remote_user", "admin"),
            ("true-client-ip", "6.6.6.6"),
            ("x-client-ip", "6.6.6.6"),
            ("x-original-url", "/admin"),
            ("x-forwarded", "for=6.6.6.6"),
            ("x-amzn-oidc-identity", "admin"),
            ("x-amzn-oidc-data", "e30.e30.x"),
            (
                "x-goog-authenticated-user-email",
                "accounts.google.com:admin@example.com",
            ),
            ("x-ms-client-principal", "e30="),
            ("x-ms-client-principal-name", "admin"),
            ("authorization", "Bearer x"),
            ("accept", "application/json"),
            ("x-request-id", "abc"),
        ]);
        let mut counted = Vec::new();
        HeaderPolicy::default()
            .strip(&mut h, |d| counted.push(d))
            .unwrap();
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-request-id"]);
        assert_eq!(
            counted
                .iter()
                .filter(|d| **d == Dropped::Underscore)
                .count(),
            4
        );
        assert_eq!(
            counted.iter().filter(|d| **d == Dropped::Identity).count(),
            9,
            "authorization is replaced, not counted"
        );
    }

    #[test]
    fn underscores_can_be_refused_or_allowed_and_identity_headers_passed() {
        let mut h = map(&[("x_custom", "1"), ("x-client-ip", "10.0.0.1")]);
        let reject = HeaderPolicy::new(UnderscoreAction::Reject, &[]).unwrap();
        assert_eq!(reject.strip(&mut h.clone(), |_| {}), Err(UnderscoreRefused));
        let allow = HeaderPolicy::new(UnderscoreAction::Allow, &["X-Client-IP".into()]).unwrap();
        allow.strip(&mut h, |_| {}).unwrap();
        assert_eq!(h.len(), 2);
        // Even allowed, an underscore spelling of an identity header is stripped.
        let mut h = map(&[("x_forwarded_for", "6.6.6.6")]);
        allow.strip(&mut h, |_| {}).unwrap();
        assert!(h.is_empty());
        for owned in ["Authorization", "x-forwarded-for", "Forwarded", "x_user"] {
            assert!(
                HeaderPolicy::new(UnderscoreAction::Drop, &[owned.into()]).is_err(),
                "{owned}"
            );
        }
    }

    #[test]
    fn cookie_crumbs_are_joined() {
        let mut h = map(&[("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "c=3")]);
        join_cookies(&mut h);
        assert_eq!(h.get_all("cookie").iter().count(), 1);
        assert_eq!(h["cookie"], "a=1; b=2; c=3");
        let mut one = map(&[("cookie", "a=1")]);
        join_cookies(&mut one);
        assert_eq!(one["cookie"], "a=1");
    }

    #[test]
    fn quoted_strings_cannot_be_broken_out_of() {
        assert_eq!(quoted_string("a.example").unwrap(), "\"a.example\"");
        assert_eq!(
            quoted_string("a\\\";for=6.6.6.6").unwrap(),
            "\"a\\\\\\\";for=6.6.6.6\""
        );
        assert_eq!(quoted_string("a\r\nb"), None);
        assert_eq!(quoted_string("é"), None);
    }
}
