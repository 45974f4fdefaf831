//! Which authority a request is for (`Host`, `:authority`, an absolute-form target), and whether
//! this listener serves it.
//!
//! Two checks, for the authorization server's listeners and the gateway alike:
//!
//! - **Syntax (400)**: an HTTP/1.1 request carries exactly one valid `Host` (RFC 9112 §3.2); when
//!   the target also names an authority (HTTP/2 `:authority`, an absolute-form target) the two
//!   agree. A `Host` with user information, spaces, quotes or other bytes outside `host[:port]` is
//!   refused, so it can never break a header it is copied into (`Forwarded`).
//! - **Misdirected (421, RFC 9110 §15.5.20)**: the authority is not one this listener serves. The
//!   AS's two listeners share a certificate, so an HTTP/2 client may reuse a connection to one for
//!   the other's authority (connection coalescing): a request for the mTLS alias on the
//!   conventional listener would arrive without the client certificate it was meant to carry.
//!   421 tells the client to retry on a new connection. The AS refuses exactly the other
//!   listener's authority ([`ServedAuthorities::refuse`]; a proxy in front may rewrite `Host` to
//!   the backend address); the gateway serves a list of names (`[listen] server_names`).
//!
//! On loopback names (`localhost`, `127.0.0.0/8`, `::1`) the check is lenient: they are treated as
//! one host, and a `Host` without a port is accepted (local tools and tests send `Host: 127.0.0.1`).
//! A port, when present, must still match.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri, Version};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// Why a request's authority was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// An HTTP/1.1 request without `Host`.
    #[error("the Host header is required")]
    MissingHost,
    /// More than one `Host` header.
    #[error("more than one Host header")]
    DuplicateHost,
    /// A `Host` (or `:authority`) that is not `host[:port]`.
    #[error("the Host header is not a valid host[:port]")]
    InvalidHost,
    /// `Host` and the target's authority (`:authority`, absolute-form) differ.
    #[error("the Host header does not match the request target's authority")]
    Conflicting,
    /// A valid authority this listener does not serve.
    #[error("this listener does not serve the requested authority")]
    Misdirected,
}

impl AuthorityError {
    /// 421 for a misdirected request, 400 for everything else.
    pub fn status(self) -> StatusCode {
        match self {
            AuthorityError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A JSON error response (`invalid_request`, `no-store`).
    pub fn response(self) -> Response {
        (
            self.status(),
            [(http::header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": self.to_string(),
            })),
        )
            .into_response()
    }
}

/// A parsed `host[:port]`: the host lower-cased (IPv6 in brackets, a trailing dot removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// The host.
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl HostPort {
    /// Parses `host[:port]` strictly: a DNS name (letters, digits, `-`, `.`, `_`), an IPv4
    /// address or a bracketed IPv6 address; no user information, no empty host, a port of 1 to 5
    /// digits within `u16`.
    pub fn parse(s: &str) -> Option<HostPort> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (format!("[{}]", v6.to_ascii_lowercase()), port)
        } else {
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            let name_ok = !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
                && !host.split('.').any(str::is_empty);
            if !name_ok {
                return None;
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => None,
            Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().ok()?)
            }
            Some(_) => return None,
        };
        Some(HostPort { host, port })
    }

    fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        self.host == "localhost"
            || self.host.ends_with(".localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// One served name: a host (or `*.suffix`, one label) and a port, or any port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ServedName {
    host: String,
    port: Option<u16>,
}

/// The authorities one listener answers for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedAuthorities {
    names: Vec<ServedName>,
    any: bool,
    /// Authorities another listener serves: 421 even when `any`.
    others: Vec<ServedName>,
}

impl ServedAuthorities {
    /// Every authority (the 421 check is off; the syntax checks still apply).
    pub fn any() -> Self {
        ServedAuthorities {
            names: Vec::new(),
            any: true,
            others: Vec::new(),
        }
    }

    /// The authority of an `https://host[:port]` URL (the port defaults to 443): what a listener
    /// published as its base URL serves.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("'{url}' is not an https URL"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let hp = HostPort::parse(authority)
            .ok_or_else(|| format!("'{url}' has no valid host[:port]"))?;
        Ok(ServedAuthorities {
            names: vec![ServedName {
                host: hp.host,
                port: Some(hp.port.unwrap_or(443)),
            }],
            any: false,
            others: Vec::new(),
        })
    }

    /// Names as configured: `host` (any port), `host:port`, `*.example.com` (exactly one more
    /// label) or `*` (every authority). An empty list serves nothing.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut served = ServedAuthorities {
            names: Vec::new(),
            any: false,
            others: Vec::new(),
        };
        for n in names {
            served.add(n)?;
        }
        Ok(served)
    }

    /// Adds one name (as in [`ServedAuthorities::from_names`]).
    pub fn add(&mut self, name: &str) -> Result<(), String> {
        if name == "*" {
            self.any = true;
            return Ok(());
        }
        let (wild, rest) = match name.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, name),
        };
        let hp = HostPort::parse(rest)
            .filter(|hp| !wild || !hp.host.starts_with('['))
            .ok_or_else(|| format!("'{name}' is not host, host:port, *.domain or *"))?;
        let host = if wild {
            format!("*.{}", hp.host)
        } else {
            hp.host
        };
        let served = ServedName {
            host,
            port: hp.port,
        };
        if !self.names.contains(&served) {
            self.names.push(served);
        }
        Ok(())
    }

    /// Marks `host[:port]` (the port defaults to 443) as another listener's: a request for it is
    /// 421 here, whatever else is served. Compared exactly (a `Host` without a port is for 443),
    /// loopback names standing for each other.
    pub fn refuse(&mut self, authority: &str) -> Result<(), String> {
        let hp = HostPort::parse(authority)
            .ok_or_else(|| format!("'{authority}' is not host[:port]"))?;
        self.others.push(ServedName {
            host: hp.host,
            port: Some(hp.port.unwrap_or(443)),
        });
        Ok(())
    }

    /// Whether a valid authority is served here.
    pub fn serves(&self, a: &HostPort) -> bool {
        let another_listeners = self.others.iter().any(|n| {
            let other = HostPort {
                host: n.host.clone(),
                port: n.port,
            };
            let same_host = a.host == n.host || (other.is_loopback() && a.is_loopback());
            same_host && a.port.unwrap_or(443) == n.port.unwrap_or(443)
        });
        !another_listeners && (self.any || self.names.iter().any(|n| name_serves(n, a)))
    }

    /// The full check of one request: syntax (400), then whether it is served (421).
    pub fn check(
        &self,
        version: Version,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<HostPort, AuthorityError> {
        let authority = request_authority(version, uri, headers)?;
        if self.serves(&authority) {
            Ok(authority)
        } else {
            Err(AuthorityError::Misdirected)
        }
    }
}

fn name_serves(n: &ServedName, a: &HostPort) -> bool {
    let loopback = HostPort {
        host: n.host.clone(),
        port: n.port,
    }
    .is_loopback();
    let host_ok = if let Some(suffix) = n.host.strip_prefix("*.") {
        a.host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
    } else {
        a.host == n.host || (loopback && a.is_loopback())
    };
    let port_ok = match (n.port, a.port) {
        (None, _) => true,
        (Some(p), Some(q)) => p == q,
        (Some(p), None) => p == 443 || loopback,
    };
    host_ok && port_ok
}

/// The authority a request is for, with the syntax checks of RFC 9112 §3.2 and RFC 9113 §8.3.1:
/// one valid `Host`, required on HTTP/1.1 and equal to the target's authority when both are
/// present (HTTP/2 `:authority`, HTTP/1.1 absolute-form).
pub fn request_authority(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<HostPort, AuthorityError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(AuthorityError::DuplicateHost);
    }
    let host = match host {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(HostPort::parse)
                .ok_or(AuthorityError::InvalidHost)?,
        ),
        None => None,
    };
    let target = match uri.authority() {
        Some(a) => Some(HostPort::parse(a.as_str()).ok_or(AuthorityError::InvalidHost)?),
        None => None,
    };
    match (host, target) {
        (Some(h), Some(t)) if h == t => Ok(h),
        (Some(_), Some(_)) => Err(AuthorityError::Conflicting),
        (Some(h), None) => Ok(h),
        (None, Some(t)) if version >= Version::HTTP_2 => Ok(t),
        // HTTP/1.x needs Host, even with an absolute-form target (RFC 9112 §3.2).
        (None, _) => Err(AuthorityError::MissingHost),
    }
}

/// The path load balancers probe by address: exempt from the 421 check (not from the syntax
/// checks), so a health check sent to `10.0.0.5:8443` keeps working.
pub const HEALTH_PATH: &str = "/health";

/// Middleware: refuses requests whose authority is malformed (400) or not served here (421),
/// before anything else runs. `GET /health` is exempt from the 421.
pub async fn enforce(
    State(served): State<Arc<ServedAuthorities>>,
    req: Request,
    next: Next,
) -> Response {
    match served.check(req.version(), req.uri(), req.headers()) {
        Ok(_) => next.run(req).await,
        Err(AuthorityError::Misdirected) if req.uri().path() == HEALTH_PATH => next.run(req).await,
        Err(e) => {
            tracing::debug!(error = %e, path = req.uri().path(), "request refused for its authority");
            e.response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn check(
        served: &ServedAuthorities,
        version: Version,
        uri: &str,
        hosts: &[&[u8]],
    ) -> Result<HostPort, AuthorityError> {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(http::header::HOST, HeaderValue::from_bytes(v).unwrap());
        }
        served.check(version, &uri.parse().unwrap(), &h)
    }

    #[test]
    fn host_syntax() {
        for ok in [
            "as.example",
            "AS.Example:8443",
            "as.example.",
            "127.0.0.1:1",
            "[::1]:443",
            "[2001:DB8::1]",
            "xn--bcher-kva.example",
        ] {
            assert!(HostPort::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            ":443",
            "user@as.example",
            "as.example:",
            "as.example:65536",
            "as.example:+1",
            "as.example:443:1",
            "as example",
            "as.example\"",
            "as.example\\",
            "as.example;for=1",
            "as.example,evil",
            "as..example",
            "[::1",
            "[not-ip]",
            "[::1]x",
            "bücher.example",
        ] {
            assert!(HostPort::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            HostPort::parse("AS.Example.:8443").unwrap().to_string(),
            "as.example:8443"
        );
    }

    #[test]
    fn listeners_serve_their_own_authority_only() {
        let https = ServedAuthorities::from_url("https://as.example").unwrap();
        let mtls = ServedAuthorities::from_url("https://mtls.as.example:8444").unwrap();
        let v = Version::HTTP_11;
        assert!(check(&https, v, "/token", &[b"as.example"]).is_ok());
        assert!(check(&https, v, "/token", &[b"AS.EXAMPLE:443"]).is_ok());
        assert_eq!(
            check(&https, v, "/token", &[b"mtls.as.example:8444"]),
            Err(AuthorityError::Misdirected)
        );
        assert_eq!(
            check(&mtls, v, "/token", &[b"as.example"]),
            Err(AuthorityError::Misdirected)
        );
        assert_eq!(
            check(&mtls, v, "/token", &[b"mtls.as.example"]),
            Err(AuthorityError::Misdirected),
            "no port means 443, another listener"
        );
        assert!(check(&mtls, v, "/token", &[b"mtls.as.example:8444"]).is_ok());
        assert_eq!(
            check(&https, v, "/token", &[b"as.example:8444"]),
            Err(AuthorityError::Misdirected)
        );
    }

    #[test]
    fn host_header_hygiene() {
        let any = ServedAuthorities::any();
        let v = Version::HTTP_11;
        assert_eq!(check(&any, v, "/", &[]), Err(AuthorityError::MissingHost));
        assert_eq!(
            check(&any, v, "/", &[b"a.example", b"a.example"]),
            Err(AuthorityError::DuplicateHost)
        );
        assert_eq!(
            check(&any, v, "/", &[b"a.example\"x"]),
            Err(AuthorityError::InvalidHost)
        );
        assert_eq!(
            check(&any, v, "/", &[b"\xffa.example"]),
            Err(AuthorityError::InvalidHost)
        );
        assert_eq!(
            check(&any, v, "https://a.example/x", &[b"b.example"]),
            Err(AuthorityError::Conflicting)
        );
        assert!(check(&any, v, "https://a.example/x", &[b"A.example"]).is_ok());
        assert_eq!(
            check(&any, v, "https://a.example/x", &[]),
            Err(AuthorityError::MissingHost)
        );
        // HTTP/2: :authority alone is enough; with a Host, they agree.
        let h2 = Version::HTTP_2;
        assert!(check(&any, h2, "https://a.example/x", &[]).is_ok());
        assert_eq!(
            check(&any, h2, "https://a.example/x", &[b"b.example"]),
            Err(AuthorityError::Conflicting)
        );
        assert_eq!(
            check(&any, h2, "https://user@a.example/x", &[]),
            Err(AuthorityError::InvalidHost)
        );
    }

    #[test]
    fn configured_names_wildcards_and_loopback() {
        let s = ServedAuthorities::from_names(["api.example", "*.gw.example", "10.0.0.5:9443"])
            .unwrap();
        let v = Version::HTTP_11;
        assert!(check(&s, v, "/", &[b"api.example:9443"]).is_ok());
        assert!(check(&s, v, "/", &[b"a.gw.example"]).is_ok());
        assert!(check(&s, v, "/", &[b"gw.example"]).is_err());
        assert!(check(&s, v, "/", &[b"a.b.gw.example"]).is_err());
        assert!(check(&s, v, "/", &[b"10.0.0.5:9443"]).is_ok());
        assert!(check(&s, v, "/", &[b"10.0.0.5:443"]).is_err());
        assert!(check(&s, v, "/", &[b"other.example"]).is_err());
        for bad in ["", "a b", "user@x", "*.[::1]", "x:0x1"] {
            assert!(ServedAuthorities::from_names([bad]).is_err(), "{bad}");
        }
        let local = ServedAuthorities::from_url("https://127.0.0.1:8443").unwrap();
        for ok in [
            "127.0.0.1:8443",
            "localhost:8443",
            "[::1]:8443",
            "127.0.0.1",
        ] {
            assert!(check(&local, v, "/", &[ok.as_bytes()]).is_ok(), "{ok}");
        }
        assert_eq!(
            check(&local, v, "/", &[b"127.0.0.1:8444"]),
            Err(AuthorityError::Misdirected)
        );
        assert_eq!(
            check(&local, v, "/", &[b"as.example:8443"]),
            Err(AuthorityError::Misdirected)
        );
    }

    #[test]
    fn any_but_another_listeners_authority() {
        let mut https = ServedAuthorities::any();
        https.refuse("127.0.0.1:8444").unwrap();
        let v = Version::HTTP_11;
        for refused in ["127.0.0.1:8444", "localhost:8444", "[::1]:8444"] {
            assert_eq!(
                check(&https, v, "/", &[refused.as_bytes()]),
                Err(AuthorityError::Misdirected),
                "{refused}"
            );
        }
        for ok in [
            "127.0.0.1:8443",
            "127.0.0.1",
            "backend.internal:8443",
            "as.example",
        ] {
            assert!(check(&https, v, "/", &[ok.as_bytes()]).is_ok(), "{ok}");
        }
        let mut mtls = ServedAuthorities::any();
        mtls.refuse("as.example").unwrap();
        assert_eq!(
            check(&mtls, v, "/", &[b"AS.example:443"]),
            Err(AuthorityError::Misdirected)
        );
        assert!(check(&mtls, v, "/", &[b"as.example:8443"]).is_ok());
        assert!(check(&mtls, v, "/", &[b"mtls.as.example"]).is_ok());
        assert!(mtls.refuse("user@x").is_err());
    }
}
