//! Registration rules for `redirect_uris` (RFC 6749 §3.1.2, RFC 8252 §7.3 and §8.3, RFC 9700
//! §4.1): what may be registered, so that the authorization endpoint can compare a requested
//! `redirect_uri` with the registered ones as exact strings, with no normalisation.
//!
//! A registered URI must be written the way it will be compared: absolute, `https` (or `http` on
//! a loopback host, for native apps), printable ASCII only, no fragment, no user information, no
//! wildcard, and in the canonical form a URL parser gives it (lower-case scheme and host, no
//! default port, no dot segments), so two spellings of one address can never be registered as
//! different strings or compared as equal ones.

/// The longest redirect URI that can be registered, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// The hosts on which `http` is allowed (RFC 8252 §7.3: loopback redirects for native apps).
/// Only the IP literals: RFC 8252 §8.3 and FAPI 2.0 advise against `localhost`, whose resolution
/// the client does not control.
const LOOPBACK_HOSTS: [&str; 2] = ["127.0.0.1", "[::1]"];

/// Checks one registered redirect URI; the error says what is wrong and how to fix it.
pub fn validate(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("an empty redirect URI; remove it".into());
    }
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "a redirect URI is longer than {MAX_REDIRECT_URI_LEN} bytes; register a shorter one"
        ));
    }
    if let Some(c) = uri.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(format!(
            "'{}' has the character {} (only printable ASCII is allowed: percent-encode it, and use the punycode form of an internationalised host)",
            uri.escape_default(),
            c.escape_unicode()
        ));
    }
    if uri.contains('*') {
        return Err(format!(
            "'{uri}' has a wildcard; redirect URIs are compared as exact strings, so register every URI in full"
        ));
    }
    if uri.contains('#') {
        return Err(format!(
            "'{uri}' has a fragment; RFC 6749 §3.1.2 forbids it, remove the '#' part"
        ));
    }
    if let Some(c) = uri
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~:/?[]@!$&'()+,;=%".contains(*c)))
    {
        return Err(format!(
            "'{uri}' has the character '{c}', which RFC 3986 does not allow in a URI; percent-encode it"
        ));
    }
    let url = url::Url::parse(uri).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => format!(
            "'{uri}' is relative; register the absolute URI, e.g. https://app.example.com/callback"
        ),
        e => format!("'{uri}' is not a URI: {e}"),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{uri}' has user information before the host; remove the 'user@' part"
        ));
    }
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => {}
        "http" if LOOPBACK_HOSTS.contains(&host) => {}
        "http" => {
            return Err(format!(
                "'{uri}' is http on a host that is not loopback; use https (http is allowed only on 127.0.0.1 and [::1], RFC 8252 §7.3 and §8.3)"
            ))
        }
        other => {
            return Err(format!(
                "'{uri}' has the scheme '{other}'; use https (or http on a loopback host)"
            ))
        }
    }
    if host.is_empty() {
        return Err(format!("'{uri}' has no host"));
    }
    // The parser adds "/" to an empty path; anything else it changes means the registered text
    // is not what a browser will be sent to.
    let canonical = url.as_str();
    if canonical != uri && canonical != format!("{uri}/") {
        return Err(format!(
            "'{uri}' is not in canonical form; register it as '{canonical}' (redirect URIs are compared as exact strings)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let ok = [
            "https://app.example.com/callback",
            "https://app.example.com",
            "https://app.example.com:8443/cb?tenant=a&x=1",
            "https://app.example.com/a%20b",
            "https://xn--bcher-kva.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:8080/cb",
            "https://localhost/cb",
        ];
        for uri in ok {
            assert_eq!(validate(uri), Ok(()), "{uri}");
        }
        let bad = [
            ("", "empty"),
            ("/callback", "relative"),
            ("callback", "relative"),
            ("//app.example.com/cb", "relative"),
            ("http://app.example.com/cb", "use https"),
            ("http://127.0.0.2/cb", "use https"),
            ("http://localhost.example.com/cb", "use https"),
            ("http://localhost:3000/callback", "use https"),
            ("ftp://app.example.com/cb", "scheme"),
            ("com.example.app:/cb", "scheme"),
            ("javascript:alert(1)", "scheme"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://app.example.com/cb#", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("https://app.example.com/*", "wildcard"),
            ("https://bücher.example/cb", "printable ASCII"),
            ("https://app.example.com/caf\u{e9}", "printable ASCII"),
            ("https://app.example.com/\u{202e}cb", "printable ASCII"),
            ("https://app.example.com/a\nb", "printable ASCII"),
            ("https://app.example.com/a b", "' '"),
            ("https://app.example.com\\@evil.example/", "'\\'"),
            ("https://user@app.example.com/cb", "user information"),
            ("https://user:pw@app.example.com/cb", "user information"),
            ("https://App.Example.com/cb", "canonical"),
            ("HTTPS://app.example.com/cb", "canonical"),
            ("https://app.example.com:443/cb", "canonical"),
            ("https://app.example.com/a/../cb", "canonical"),
            ("http://127.1/cb", "canonical"),
            ("https://", "not a URI"),
        ];
        for (uri, why) in bad {
            let e = validate(uri).expect_err(uri);
            assert!(e.contains(why), "{uri}: {e}");
        }
        let long = format!(
            "https://app.example.com/{}",
            "a".repeat(MAX_REDIRECT_URI_LEN)
        );
        assert!(validate(&long).unwrap_err().contains("longer"));
    }
}
