//! `application/x-www-form-urlencoded` request bodies, parsed the way RFC 6749 §3.2 requires.
//!
//! Parameters sent without a value are treated as omitted; a parameter sent more than once is an
//! error (never "first wins" or "last wins", which lets a proxy and the server disagree); invalid
//! UTF-8 after percent-decoding is an error rather than a silent replacement character.

use std::collections::HashMap;

/// Why a form body was rejected; every variant maps to `invalid_request`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    /// The same parameter appeared more than once (RFC 6749 §3.2).
    #[error("parameter '{0}' is repeated")]
    Repeated(String),
    /// A name or value is not valid UTF-8 once decoded.
    #[error("the request body is not valid UTF-8 form data")]
    InvalidUtf8,
    /// More parameters than any OAuth request needs.
    #[error("too many parameters")]
    TooMany,
}

/// The parameters of a form body, each present at most once and never empty.
#[derive(Debug, Default, Clone)]
pub struct Form {
    params: HashMap<String, String>,
}

/// The most parameters a single request may carry; a bound on work for hostile input.
const MAX_PARAMS: usize = 64;

impl Form {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut params: HashMap<String, String> = HashMap::new();
        let mut seen: Vec<String> = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if seen.len() >= MAX_PARAMS {
                return Err(FormError::TooMany);
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[..0]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if seen.contains(&name) {
                return Err(FormError::Repeated(name));
            }
            seen.push(name.clone());
            if !value.is_empty() {
                params.insert(name, value);
            }
        }
        Ok(Form { params })
    }

    /// The value of a parameter, or `None` if absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether a (non-empty) parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// Every (non-empty) parameter, in no particular order: for endpoints that hand the whole
    /// body to a validator (PAR passes it to the authorization request rules).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| FormError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let f =
            Form::parse(b"grant_type=client_credentials&scope=a+b%20c&client_id=x%2By").unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("a b c"));
        assert_eq!(f.get("client_id"), Some("x+y"));
    }

    #[test]
    fn repeated_parameter_is_rejected_even_if_equal() {
        assert_eq!(
            Form::parse(b"scope=a&scope=a").unwrap_err(),
            FormError::Repeated("scope".into())
        );
        assert_eq!(
            Form::parse(b"client_id=&client_id=x").unwrap_err(),
            FormError::Repeated("client_id".into())
        );
    }

    #[test]
    fn empty_values_are_absent() {
        let f = Form::parse(b"client_id=&scope").unwrap();
        assert_eq!(f.get("client_id"), None);
        assert!(!f.has("scope"));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert_eq!(
            Form::parse(b"a=%ff%fe").unwrap_err(),
            FormError::InvalidUtf8
        );
    }

    #[test]
    fn too_many_parameters_are_rejected() {
        let body: String = (0..100).map(|i| format!("p{i}=v&")).collect();
        assert_eq!(
            Form::parse(body.as_bytes()).unwrap_err(),
            FormError::TooMany
        );
    }
}
