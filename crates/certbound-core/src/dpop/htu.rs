//! The RFC 9449 §4.3 comparison of the `htu` claim with the URL of the endpoint.
//!
//! Both sides are parsed and reduced to scheme, host, port and path: scheme and host compare
//! case-insensitively, a default port equals no port, and the query and fragment are ignored
//! (RFC 9449 §4.2). The path gets RFC 3986 §6.2.2 syntax-based normalisation (dot segments,
//! percent-encoding case, unreserved characters decoded). The expected URL is the public URL of
//! the endpoint as configured, never one rebuilt from the `Host` header.

use url::Url;

/// An `http`/`https` URL reduced to the parts RFC 9449 compares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NormalisedHtu(String);

impl NormalisedHtu {
    /// Parses and normalises `raw`; `None` for anything but an absolute `http`/`https` URL
    /// without userinfo.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        // The url crate lower-cases scheme and host and removes dot segments and default ports.
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        Some(NormalisedHtu(format!(
            "{}://{}:{}{}",
            url.scheme(),
            host,
            port,
            normalise_path(url.path())
        )))
    }

    /// The normalised form (the value to key replay entries on, trap 3 of FAPI2.md §2.5).
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// Upper-cases percent-encoding hex digits and decodes percent-encoded unreserved characters.
fn normalise_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = char::from((h * 16 + l) as u8);
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                    out.push(c);
                } else {
                    out.push('%');
                    out.push((bytes[i + 1] as char).to_ascii_uppercase());
                    out.push((bytes[i + 2] as char).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        NormalisedHtu::parse(s).map(NormalisedHtu::into_string)
    }

    #[test]
    fn equal_forms_normalise_alike() {
        let base = n("https://as.example/token").unwrap();
        for same in [
            "HTTPS://AS.Example/token",
            "https://as.example:443/token",
            "https://as.example/token?x=1",
            "https://as.example/token#frag",
            "https://as.example/a/../token",
            "https://as.example/%74oken",
        ] {
            assert_eq!(n(same).as_deref(), Some(base.as_str()), "{same}");
        }
        assert_eq!(n("https://as.example/a%2fb"), n("https://as.example/a%2Fb"));
    }

    #[test]
    fn different_urls_differ() {
        let base = n("https://as.example/token");
        for other in [
            "http://as.example/token",
            "https://as.example:8443/token",
            "https://as.example/Token",
            "https://as.example/token/",
            "https://other.example/token",
        ] {
            assert_ne!(n(other), base, "{other}");
        }
    }

    #[test]
    fn non_http_and_userinfo_are_refused() {
        for bad in [
            "ftp://as.example/token",
            "https://user@as.example/token",
            "/token",
            "",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }
}
