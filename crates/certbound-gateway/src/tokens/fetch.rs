//! Requests to the authorization server, and why one failed in words an operator can act on.
//!
//! reqwest reports every connection failure as "error sending request"; the real cause (DNS,
//! connection refused, an untrusted certificate) is further down the error's `source()` chain,
//! sometimes inside an `io::Error` whose own `source()` skips it. [`FetchCause::of`] walks the
//! chain once and names what it finds.

use std::error::Error as StdError;
use std::fmt;

/// Why a request to the authorization server failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchCause {
    /// The host name did not resolve.
    Dns {
        /// The host.
        host: String,
        /// What the resolver said.
        detail: String,
    },
    /// Nothing listens there.
    Refused {
        /// `host:port`.
        target: String,
    },
    /// No answer in time.
    TimedOut {
        /// `host:port`.
        target: String,
    },
    /// The peer closed the connection before answering (often: not a TLS server, or it is
    /// shutting down).
    Closed {
        /// `host:port`.
        target: String,
    },
    /// The TLS handshake failed.
    Tls(TlsCause),
    /// An HTTP status other than 2xx.
    Status(u16),
    /// The body could not be read or parsed.
    Body(String),
    /// Anything else, with the innermost message.
    Other(String),
}

/// Why a TLS handshake with the authorization server failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsCause {
    /// Its certificate does not chain to a trusted CA.
    UnknownIssuer,
    /// Its certificate has expired (at this time, Unix seconds, when known).
    Expired(Option<u64>),
    /// Its certificate is not valid yet.
    NotValidYet,
    /// Its certificate does not name the host the gateway connected to.
    WrongName {
        /// The host in the issuer URL.
        expected: String,
        /// The names the certificate holds.
        presented: Vec<String>,
    },
    /// Its certificate is revoked.
    Revoked,
    /// Its certificate is not for TLS servers (extended key usage).
    NotAServerCertificate,
    /// Its certificate is otherwise unusable.
    BadCertificate,
    /// It refused the gateway's client certificate (or asked for one the gateway does not have).
    ClientCertificateRefused,
    /// No protocol version or cipher suite in common.
    NoCommonParameters,
    /// It did not answer in TLS (a plain HTTP port?).
    NotTls,
    /// Another TLS failure, in rustls's words.
    Other(String),
}

impl fmt::Display for TlsCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cert = "the authorization server's certificate";
        match self {
            TlsCause::UnknownIssuer => {
                write!(
                    f,
                    "{cert} is not trusted (it is issued by a CA the gateway does not trust)"
                )
            }
            TlsCause::Expired(Some(t)) => write!(f, "{cert} expired at {}", rfc3339(*t)),
            TlsCause::Expired(None) => write!(f, "{cert} has expired"),
            TlsCause::NotValidYet => write!(f, "{cert} is not valid yet (check the clocks)"),
            TlsCause::WrongName {
                expected,
                presented,
            } if presented.is_empty() => {
                write!(f, "{cert} is not issued for {expected}")
            }
            TlsCause::WrongName {
                expected,
                presented,
            } => write!(
                f,
                "{cert} is not issued for {expected} (it names {})",
                presented.join(", ")
            ),
            TlsCause::Revoked => write!(f, "{cert} is revoked"),
            TlsCause::NotAServerCertificate => {
                write!(
                    f,
                    "{cert} is not a TLS server certificate (extended key usage)"
                )
            }
            TlsCause::BadCertificate => write!(f, "{cert} could not be verified"),
            TlsCause::ClientCertificateRefused => write!(
                f,
                "the authorization server refused the gateway's client certificate"
            ),
            TlsCause::NoCommonParameters => write!(
                f,
                "no TLS version or cipher suite in common with the authorization server"
            ),
            TlsCause::NotTls => write!(f, "the authorization server did not answer in TLS"),
            TlsCause::Other(m) => f.write_str(m),
        }
    }
}

impl fmt::Display for FetchCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchCause::Dns { host, detail } => write!(f, "DNS: no such host as {host} ({detail})"),
            FetchCause::Refused { target } => write!(f, "connection refused to {target}"),
            FetchCause::TimedOut { target } => write!(f, "no answer from {target} in time"),
            FetchCause::Closed { target } => {
                write!(f, "{target} closed the connection before answering")
            }
            FetchCause::Tls(t) => write!(f, "TLS: {t}"),
            FetchCause::Status(s) => write!(f, "the authorization server answered HTTP {s}"),
            FetchCause::Body(m) => write!(f, "unreadable answer: {m}"),
            FetchCause::Other(m) => f.write_str(m),
        }
    }
}

impl FetchCause {
    /// Whether the failure is about TLS trust or the handshake (the caller then says which CAs
    /// it trusts).
    pub fn is_tls(&self) -> bool {
        matches!(self, FetchCause::Tls(_))
    }

    /// The cause of a failed request to `url`, from the error's source chain.
    pub fn of(err: &(dyn StdError + 'static), url: &str) -> FetchCause {
        let (host, target) = match url::Url::parse(url) {
            Ok(u) => {
                let host = u.host_str().unwrap_or("").to_owned();
                let target = match u.port_or_known_default() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.clone(),
                };
                (host, target)
            }
            Err(_) => (url.to_owned(), url.to_owned()),
        };
        let (mut dns, mut timed_out, mut closed) = (false, false, false);
        let mut innermost = err.to_string();
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                timed_out |= r.is_timeout();
            }
            if let Some(t) = e.downcast_ref::<rustls::Error>() {
                return FetchCause::Tls(tls_cause(t));
            }
            // hyper-util's connector names the failing step ("dns error", "tcp connect error").
            dns |= e.to_string() == "dns error";
            innermost = e.to_string();
            current = e.source();
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::ConnectionRefused => return FetchCause::Refused { target },
                    K::TimedOut => timed_out = true,
                    K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => closed = true,
                    _ => {}
                }
                // An io::Error's source() skips the error it wraps (often another io::Error or
                // a rustls::Error): descend into it instead.
                if let Some(inner) = io.get_ref() {
                    current = Some(inner as &(dyn StdError + 'static));
                }
            }
        }
        if dns {
            FetchCause::Dns {
                host,
                detail: innermost,
            }
        } else if timed_out {
            FetchCause::TimedOut { target }
        } else if closed {
            FetchCause::Closed { target }
        } else {
            FetchCause::Other(innermost)
        }
    }
}

fn tls_cause(e: &rustls::Error) -> TlsCause {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsCause::UnknownIssuer,
            C::Expired => TlsCause::Expired(None),
            C::ExpiredContext { not_after, .. } => TlsCause::Expired(Some(not_after.as_secs())),
            C::NotValidYet | C::NotValidYetContext { .. } => TlsCause::NotValidYet,
            C::NotValidForName => TlsCause::WrongName {
                expected: String::new(),
                presented: Vec::new(),
            },
            C::NotValidForNameContext {
                expected,
                presented,
            } => TlsCause::WrongName {
                expected: expected.to_str().into_owned(),
                presented: presented.clone(),
            },
            C::Revoked => TlsCause::Revoked,
            // A CA with the issuer's name but another key: for an operator, the same mistake
            // as an unknown CA (the wrong ca file).
            C::BadSignature => TlsCause::UnknownIssuer,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => TlsCause::NotAServerCertificate,
            _ => TlsCause::BadCertificate,
        },
        rustls::Error::AlertReceived(a) => match a {
            A::BadCertificate
            | A::CertificateRequired
            | A::UnknownCA
            | A::AccessDenied
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateRevoked => TlsCause::ClientCertificateRefused,
            A::HandshakeFailure | A::ProtocolVersion | A::InsufficientSecurity => {
                TlsCause::NoCommonParameters
            }
            other => TlsCause::Other(format!(
                "the authorization server ended the TLS handshake (alert {})",
                u8::from(*other)
            )),
        },
        rustls::Error::PeerIncompatible(_) => TlsCause::NoCommonParameters,
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => TlsCause::NotTls,
        other => TlsCause::Other(other.to_string()),
    }
}

/// `2026-12-03T18:00:00Z` for Unix seconds (UTC; days-from-civil inverse, no calendar crate).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// GETs `url` and parses its JSON body (at most `MAX_AS_RESPONSE_BYTES`).
pub(crate) async fn get_json(
    http: &reqwest::Client,
    url: &str,
) -> Result<serde_json::Value, FetchCause> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| FetchCause::of(&e, url))?;
    if !r.status().is_success() {
        return Err(FetchCause::Status(r.status().as_u16()));
    }
    let body = super::read_bounded(r, super::MAX_AS_RESPONSE_BYTES)
        .await
        .map_err(FetchCause::Body)?;
    serde_json::from_slice(&body).map_err(|e| FetchCause::Body(format!("not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose Display and source are given, like hyper-util's `ConnectError`.
    #[derive(Debug)]
    struct Step(&'static str, std::io::Error);
    impl fmt::Display for Step {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Step {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn causes_are_named_from_the_source_chain() {
        let url = "https://as.example/.well-known/oauth-authorization-server";
        let dns = Step(
            "dns error",
            std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            ),
        );
        assert_eq!(
            FetchCause::of(&dns, url).to_string(),
            "DNS: no such host as as.example (failed to lookup address information: Name or service not known)"
        );
        let refused = Step(
            "tcp connect error",
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(
            FetchCause::of(&refused, "https://127.0.0.1:8443/x").to_string(),
            "connection refused to 127.0.0.1:8443"
        );
        let untrusted = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let cause = FetchCause::of(&Step("client error (Connect)", untrusted), url);
        assert!(cause.is_tls());
        assert_eq!(
            cause.to_string(),
            "TLS: the authorization server's certificate is not trusted (it is issued by a CA the gateway does not trust)"
        );
        let text = FetchCause::Tls(TlsCause::Expired(Some(1_796_300_000))).to_string();
        assert!(text.ends_with("expired at 2026-12-03T12:13:20Z"), "{text}");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
