//! Subject alternative names: the entries a certificate presents, the registered
//! `tls_client_auth_san_*` values (RFC 8705 §2.1.2), and the rule that matches one against the
//! other.
//!
//! Only the subjectAltName extension is read: a name that appears only in the subject DN (a `CN`
//! that looks like a host name, an `emailAddress` attribute) never counts. Registered values are
//! validated strictly when a client is loaded or registered ([`SanParseError`]), so a value that
//! could never match is refused instead of silently locking the client out.
//!
//! | kind | registered value accepted | matches a presented entry when |
//! |---|---|---|
//! | dNSName | ASCII only (A-labels, `xn--…`), letters, digits, `-`, `_`; labels 1–63 chars, ≤ 253 chars in all; no `*`, no leading, trailing or double dot | equal ignoring ASCII case; entries containing `*`, NUL or non-ASCII never match; a trailing dot is significant (`a.example.` ≠ `a.example`) |
//! | URI | an absolute URI (scheme required; accepted by the `url` crate; only RFC 3986 characters, well-formed `%HH`; an authority written with `//` and a non-empty host) | scheme and host equal ignoring ASCII case, every other byte identical: no percent-decoding, no default-port or empty-path normalisation, no trailing-slash leniency |
//! | iPAddress | IPv4 dotted-decimal or IPv6 text exactly as `std::net` parses it: no leading zeros in IPv4, no zone id, no CIDR suffix, no spaces | the same address bytes: 4 octets for IPv4, 16 for IPv6 (`2001:db8::1` = `2001:DB8:0:0:0:0:0:1`); an IPv4-mapped IPv6 entry (`::ffff:10.0.0.1`) does not match `10.0.0.1`; entries that are not 4 or 16 octets are ignored |
//! | rfc822Name | `local@domain`: exactly one `@`, printable ASCII, no spaces, no display name or angle brackets; the domain is a valid host name | local part byte-identical, domain equal ignoring ASCII case |
//!
//! The SAN matchers never match an entry of another kind, and there is no fallback between kinds
//! or from SAN to subject.

use std::net::IpAddr;

use der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod test_certs;

/// The most SAN entries a certificate may carry before [`presented_sans`] refuses it (bounded
/// work per handshake; real client certificates carry a handful).
pub const MAX_SAN_ENTRIES: usize = 256;

/// The longest dNSName accepted at registration (RFC 1035 §2.3.4, in text form).
pub const MAX_DNS_NAME_LEN: usize = 253;

/// The longest URI or email address accepted at registration, in bytes (a sanity bound).
pub const MAX_SAN_VALUE_LEN: usize = 2048;

/// A SAN entry found in a certificate, of a kind RFC 8705 can register. The text is as encoded
/// in the certificate (never normalised), so decision traces show exactly what was presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresentedSan {
    /// dNSName.
    Dns(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// iPAddress (4 or 16 octets; other lengths are skipped).
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
}

impl std::fmt::Display for PresentedSan {
    /// OpenSSL's spelling (`DNS:a.example`, `URI:spiffe://x`, `IP:10.0.0.1`, `email:a@b`), with
    /// control and format characters of the certificate's text escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::error::printable;
        match self {
            PresentedSan::Dns(v) => write!(f, "DNS:{}", printable(v)),
            PresentedSan::Uri(v) => write!(f, "URI:{}", printable(v)),
            PresentedSan::Ip(v) => write!(f, "IP:{v}"),
            PresentedSan::Email(v) => write!(f, "email:{}", printable(v)),
        }
    }
}

/// A certificate's SANs for a trace or a terminal: `DNS:a.example, IP:10.0.0.1`, or `none`.
pub fn describe_sans(sans: &[PresentedSan]) -> String {
    if sans.is_empty() {
        return "none".to_owned();
    }
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a certificate's subjectAltName extension could not be read: malformed DER, the extension
/// present twice, or more than [`MAX_SAN_ENTRIES`] entries.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SanDecodeError(pub String);

/// Why a registered SAN value is not accepted. The message says what is wrong and is safe to
/// return to the registering client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SanParseError(pub String);

/// Extracts the dNSName, URI, iPAddress and rfc822Name entries of a certificate, in certificate
/// order. Other kinds (otherName, directoryName, registeredID, …) are skipped, as are iPAddress
/// entries that are not 4 or 16 octets. No subjectAltName extension gives an empty list.
pub fn presented_sans(cert: &x509_cert::Certificate) -> Result<Vec<PresentedSan>, SanDecodeError> {
    let extensions = cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    let mut found = extensions
        .iter()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME);
    let Some(ext) = found.next() else {
        return Ok(Vec::new());
    };
    if found.next().is_some() {
        return Err(SanDecodeError(
            "the certificate has more than one subjectAltName extension".into(),
        ));
    }
    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
        .map_err(|e| SanDecodeError(format!("malformed subjectAltName extension: {e}")))?;
    if san.0.len() > MAX_SAN_ENTRIES {
        return Err(SanDecodeError(format!(
            "the subjectAltName extension has {} entries; at most {MAX_SAN_ENTRIES} are accepted",
            san.0.len()
        )));
    }
    let mut out = Vec::with_capacity(san.0.len());
    for name in &san.0 {
        match name {
            GeneralName::DnsName(s) => out.push(PresentedSan::Dns(s.to_string())),
            GeneralName::UniformResourceIdentifier(s) => out.push(PresentedSan::Uri(s.to_string())),
            GeneralName::Rfc822Name(s) => out.push(PresentedSan::Email(s.to_string())),
            GeneralName::IpAddress(octets) => {
                let bytes = octets.as_bytes();
                if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                    out.push(PresentedSan::Ip(IpAddr::from(v4)));
                } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                    out.push(PresentedSan::Ip(IpAddr::from(v6)));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A registered SAN value, validated at configuration time, that matches presented SANs.
///
/// Build it with [`SanMatcher::dns`], [`SanMatcher::uri`], [`SanMatcher::ip`] or
/// [`SanMatcher::email`], which validate the value; the variants are public so callers can
/// render them. Matching stays sound (never wider than documented) even for a variant built
/// directly with an unvalidated value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SanMatcher {
    /// `tls_client_auth_san_dns`: the registered host name, as registered.
    Dns(String),
    /// `tls_client_auth_san_uri`: the registered URI, as registered (never re-serialised).
    Uri(String),
    /// `tls_client_auth_san_ip`: the registered address.
    Ip(IpAddr),
    /// `tls_client_auth_san_email`: the registered mailbox, as registered.
    Email(String),
}

impl SanMatcher {
    /// Validates a `tls_client_auth_san_dns` value (see the module documentation).
    pub fn dns(value: &str) -> Result<Self, SanParseError> {
        check_host_name(value)
            .map_err(|m| SanParseError(format!("tls_client_auth_san_dns {m}")))?;
        Ok(SanMatcher::Dns(value.to_owned()))
    }

    /// Validates a `tls_client_auth_san_uri` value (see the module documentation).
    pub fn uri(value: &str) -> Result<Self, SanParseError> {
        let bad = |m: &str| Err(SanParseError(format!("tls_client_auth_san_uri {m}")));
        if value.is_empty() {
            return bad("is empty");
        }
        if value.len() > MAX_SAN_VALUE_LEN {
            return bad("is too long");
        }
        if let Some(c) = value.chars().find(|&c| !is_uri_char(c)) {
            return Err(SanParseError(format!(
                "tls_client_auth_san_uri contains {}, which RFC 3986 does not allow (percent-encode it)",
                describe_char(c)
            )));
        }
        if !percent_escapes_well_formed(value) {
            return bad("has a `%` not followed by two hex digits");
        }
        let parsed = match url::Url::parse(value) {
            Ok(u) => u,
            Err(e) => {
                return Err(SanParseError(format!(
                    "tls_client_auth_san_uri is not an absolute URI: {e}"
                )))
            }
        };
        let Some(parts) = UriParts::split(value) else {
            return bad("is not an absolute URI");
        };
        if parts.rest.is_empty() && parts.host.is_none() {
            return bad("has nothing after the scheme");
        }
        if parts.host == Some("") {
            return bad("has an empty host");
        }
        if parsed.has_host() != parts.scheme_has_authority {
            return bad(
                "must write its authority with `//` after the scheme (e.g. https://host/path)",
            );
        }
        Ok(SanMatcher::Uri(value.to_owned()))
    }

    /// Validates a `tls_client_auth_san_ip` value (see the module documentation).
    pub fn ip(value: &str) -> Result<Self, SanParseError> {
        value.parse::<IpAddr>().map(SanMatcher::Ip).map_err(|_| {
            SanParseError(
                "tls_client_auth_san_ip must be an IPv4 address in dotted-decimal (no leading zeros) or an IPv6 address, without zone id, prefix length or spaces"
                    .into(),
            )
        })
    }

    /// Validates a `tls_client_auth_san_email` value (see the module documentation).
    pub fn email(value: &str) -> Result<Self, SanParseError> {
        let bad = |m: &str| Err(SanParseError(format!("tls_client_auth_san_email {m}")));
        if value.len() > MAX_SAN_VALUE_LEN {
            return bad("is too long");
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("must be a bare ASCII address like ops@example.com (no display name, spaces or non-ASCII)");
        }
        if value.contains(['<', '>']) {
            return bad("must be a bare address like ops@example.com, without a display name or angle brackets");
        }
        let Some((local, domain)) = split_mailbox(value) else {
            return bad(
                "must contain exactly one `@` with a local part before it and a domain after it",
            );
        };
        if local.is_empty() {
            return bad("has an empty local part");
        }
        if let Err(m) = check_host_name(domain) {
            return Err(SanParseError(format!(
                "tls_client_auth_san_email domain {m}"
            )));
        }
        Ok(SanMatcher::Email(value.to_owned()))
    }

    /// Whether one of the presented SANs matches this registered value.
    pub fn matches_any(&self, presented: &[PresentedSan]) -> bool {
        presented.iter().any(|p| self.matches(p))
    }

    /// Whether one presented SAN matches this registered value (see the module documentation).
    pub fn matches(&self, presented: &PresentedSan) -> bool {
        match (self, presented) {
            (SanMatcher::Dns(registered), PresentedSan::Dns(p)) => {
                is_plain_ascii_name(p) && !p.contains('*') && registered.eq_ignore_ascii_case(p)
            }
            (SanMatcher::Uri(registered), PresentedSan::Uri(p)) => uri_matches(registered, p),
            (SanMatcher::Ip(registered), PresentedSan::Ip(p)) => registered == p,
            (SanMatcher::Email(registered), PresentedSan::Email(p)) => {
                match (split_mailbox(registered), split_mailbox(p)) {
                    (Some((rl, rd)), Some((pl, pd))) => {
                        !pl.is_empty()
                            && rl == pl
                            && rd.eq_ignore_ascii_case(pd)
                            && is_plain_ascii_name(pd)
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// One character for an error message: `'x'`, or `U+XXXX` when it is not printable or a space.
fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() || crate::identity::dn::is_unsafe_char(c) {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// The characters RFC 3986 allows in a URI: unreserved, reserved and `%`.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Every `%` is followed by two hex digits.
fn percent_escapes_well_formed(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Printable ASCII only: no NUL, controls, spaces or non-ASCII.
fn is_plain_ascii_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// `local@domain` with exactly one `@`.
fn split_mailbox(s: &str) -> Option<(&str, &str)> {
    let (local, domain) = s.split_once('@')?;
    if domain.contains('@') {
        return None;
    }
    Some((local, domain))
}

/// A registered host name: ASCII (A-labels), no wildcard, no empty labels, bounded lengths.
fn check_host_name(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if !value.is_ascii() {
        return Err(
            "must be ASCII: write internationalised names as A-labels (e.g. xn--bcher-kva.example for bücher.example)"
                .into(),
        );
    }
    if value.contains('*') {
        return Err(
            "must not contain a wildcard `*`: register the exact name the certificate carries"
                .into(),
        );
    }
    if value.len() > MAX_DNS_NAME_LEN {
        return Err(format!("is longer than {MAX_DNS_NAME_LEN} characters"));
    }
    if value.ends_with('.') {
        return Err("must not end with a dot".into());
    }
    for label in value.split('.') {
        if label.is_empty() {
            return Err("has an empty label (leading or double dot)".into());
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("may contain only letters, digits, `-`, `_` and dots".into());
        }
    }
    Ok(())
}

/// The parts of an absolute URI that compare case-insensitively, and the rest.
struct UriParts<'a> {
    scheme: &'a str,
    /// Whether `//` follows the scheme.
    scheme_has_authority: bool,
    /// userinfo including its trailing `@`, if any.
    userinfo: &'a str,
    /// The host (for an authority), compared ignoring ASCII case.
    host: Option<&'a str>,
    /// Everything after the host: `:port`, path, query, fragment; compared byte for byte.
    rest: &'a str,
}

impl<'a> UriParts<'a> {
    /// Splits `scheme ":" ["//" [userinfo "@"] host] rest` (RFC 3986 §3). `None` without a
    /// valid scheme.
    fn split(s: &'a str) -> Option<UriParts<'a>> {
        let (scheme, after) = s.split_once(':')?;
        let mut bytes = scheme.bytes();
        let valid_scheme = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return None;
        }
        let Some(hier) = after.strip_prefix("//") else {
            return Some(UriParts {
                scheme,
                scheme_has_authority: false,
                userinfo: "",
                host: None,
                rest: after,
            });
        };
        let authority_end = hier.find(['/', '?', '#']).unwrap_or(hier.len());
        let (authority, path) = hier.split_at(authority_end);
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let host_end = if host_port.starts_with('[') {
            host_port.find(']').map_or(host_port.len(), |i| i + 1)
        } else {
            host_port.find(':').unwrap_or(host_port.len())
        };
        let (host, port) = host_port.split_at(host_end);
        // `rest` must cover port and path contiguously: they are adjacent in `s`.
        let rest_start = s.len() - port.len() - path.len();
        Some(UriParts {
            scheme,
            scheme_has_authority: true,
            userinfo,
            host: Some(host),
            rest: &s[rest_start..],
        })
    }
}

/// Scheme and host ignoring ASCII case, everything else byte for byte.
fn uri_matches(registered: &str, presented: &str) -> bool {
    if !is_plain_ascii_name(presented) {
        return false;
    }
    match (UriParts::split(registered), UriParts::split(presented)) {
        (Some(r), Some(p)) => {
            r.scheme.eq_ignore_ascii_case(p.scheme)
                && r.scheme_has_authority == p.scheme_has_authority
                && r.userinfo == p.userinfo
                && match (r.host, p.host) {
                    (Some(rh), Some(ph)) => rh.eq_ignore_ascii_case(ph),
                    (None, None) => true,
                    _ => false,
                }
                && r.rest == p.rest
        }
        _ => false,
    }
}
