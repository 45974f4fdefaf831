//! The RFC 4514 string parser for registered DNs (`tls_client_auth_subject_dn`).
//!
//! Works on bytes: every syntax character is ASCII, and bytes of multi-byte UTF-8 characters are
//! always ≥ 0x80, so they can only ever be part of a value. The value's bytes (raw, `\X` and `\HH`)
//! are collected and then decoded as UTF-8 in one go.

use super::attr;
use super::prep::{self, PrepError};
use super::value;
use super::{Ava, AvaValue, DnParseError, Rdn, MAX_AVAS_PER_RDN, MAX_DN_STRING_BYTES, MAX_RDNS};
use der::asn1::ObjectIdentifier;

/// Parses a registered DN string into RDNs in ASN.1 order (the string's last RDN first).
pub(super) fn parse(s: &str) -> Result<Vec<Rdn>, DnParseError> {
    if s.len() > MAX_DN_STRING_BYTES {
        return Err(DnParseError(format!(
            "the DN is {} bytes long; at most {MAX_DN_STRING_BYTES} are accepted",
            s.len()
        )));
    }
    let trimmed = s.trim_start_matches(' ');
    if trimmed.trim_end_matches(' ').is_empty() {
        return Err(DnParseError("the DN is empty".into()));
    }
    if trimmed.starts_with('/') {
        return Err(DnParseError(
            "the OpenSSL/nginx slash form (/C=US/O=…/CN=…) is not RFC 4514; write CN=…,O=…,C=US (most specific first, comma-separated)"
                .into(),
        ));
    }
    let mut p = Parser {
        b: s.as_bytes(),
        pos: 0,
    };
    let mut rdns: Vec<Rdn> = Vec::new();
    let mut avas: Vec<Ava> = Vec::new();
    loop {
        let ava = p.ava()?;
        if avas.iter().any(|a| a.oid == ava.oid) {
            return Err(p.err(format!(
                "attribute type {} appears twice in one multi-valued RDN",
                attr::label(&ava.oid)
            )));
        }
        avas.push(ava);
        if avas.len() > MAX_AVAS_PER_RDN {
            return Err(p.err(format!(
                "more than {MAX_AVAS_PER_RDN} attributes in one multi-valued RDN"
            )));
        }
        match p.peek() {
            None => {
                rdns.push(Rdn::new(std::mem::take(&mut avas)));
                break;
            }
            Some(b',') => {
                p.pos += 1;
                rdns.push(Rdn::new(std::mem::take(&mut avas)));
                if rdns.len() >= MAX_RDNS {
                    return Err(p.err(format!("more than {MAX_RDNS} RDNs")));
                }
            }
            Some(b'+') => p.pos += 1,
            // `value()` stops only at `,`, `+` or the end.
            Some(other) => return Err(p.err(format!("unexpected `{}`", char::from(other)))),
        }
    }
    rdns.reverse();
    Ok(rdns)
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> DnParseError {
        DnParseError(format!("{msg} (at byte {})", self.pos))
    }

    /// `type = value`, with spaces around the `=` and at both ends ignored.
    fn ava(&mut self) -> Result<Ava, DnParseError> {
        self.skip_spaces();
        let oid = self.attribute_type()?;
        self.skip_spaces();
        match self.peek() {
            Some(b'=') => self.pos += 1,
            Some(c) => {
                return Err(self.err(format!(
                    "expected `=` after the attribute type, found `{}`",
                    char::from(c)
                )))
            }
            None => return Err(self.err("expected `=` after the attribute type, found the end")),
        }
        self.skip_spaces();
        let rule = attr::rule_for(&oid);
        let label = attr::label(&oid);
        let start = self.pos;
        let value = match self.peek() {
            Some(b'#') => self.hex_value()?,
            Some(b',' | b'+') | None => {
                return Err(self.err(format!("empty value for {label}")));
            }
            Some(_) => AvaValue::Text {
                text: self.string_value()?,
                prepared: None,
                strict: None,
            },
        };
        let value = match value {
            AvaValue::Text { text, .. } => {
                if text.is_empty() {
                    return Err(self.err(format!("empty value for {label}")));
                }
                let prepared =
                    prep::prepare(rule, &text).map_err(|e| prep_error(&label, start, e))?;
                AvaValue::Text {
                    strict: prep::prepare_strict(rule, &text, &prepared),
                    text,
                    prepared: Some(prepared),
                }
            }
            der @ AvaValue::Der(_) => der,
        };
        Ok(Ava { oid, value })
    }

    /// A keyword or a dotted OID.
    fn attribute_type(&mut self) -> Result<ObjectIdentifier, DnParseError> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        {
            self.pos += 1;
        }
        // Only ASCII bytes were consumed, so this slice is on character boundaries.
        let word = std::str::from_utf8(&self.b[start..self.pos]).unwrap_or("");
        if word.is_empty() {
            self.pos = start;
            return Err(match self.peek() {
                None if start == 0 => self.err("the DN is empty"),
                None => {
                    self.err("expected an attribute type after the last separator, found the end")
                }
                Some(b'"') => self.err(
                    "RFC 1779 quoted values are not accepted; escape special characters with `\\`",
                ),
                Some(b';') => self.err("`;` is not a separator; use `,`"),
                Some(c) if c >= 0x80 => {
                    self.err("expected an attribute type, found a non-ASCII character")
                }
                Some(c) => self.err(format!(
                    "expected an attribute type, found `{}`",
                    char::from(c)
                )),
            });
        }
        if word.as_bytes()[0].is_ascii_digit() {
            return super::oid::from_dotted(word)
                .map_err(|m| DnParseError(format!("{m} (at byte {start})")));
        }
        if word.len() >= 4 && word[..4].eq_ignore_ascii_case("oid.") {
            return Err(DnParseError(format!(
                "the `OID.` prefix (RFC 1779) is not accepted; write `{}` (at byte {start})",
                &word[4..]
            )));
        }
        if word.contains('.') {
            return Err(DnParseError(format!(
                "`{word}` is neither a known attribute name nor a dotted OID (at byte {start})"
            )));
        }
        attr::by_keyword(word).map(|t| t.oid).ok_or_else(|| {
            DnParseError(format!(
                "unknown attribute type `{word}`; use a known name (CN, O, OU, C, L, ST, STREET, DC, UID, serialNumber, emailAddress, organizationIdentifier, …) or a dotted OID (at byte {start})"
            ))
        })
    }

    /// `#` followed by the hex of one DER element.
    fn hex_value(&mut self) -> Result<AvaValue, DnParseError> {
        let start = self.pos;
        self.pos += 1;
        let hex_start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let hex_end = self.pos;
        self.skip_spaces();
        match self.peek() {
            None | Some(b',' | b'+') => {}
            Some(_) => {
                return Err(self.err(
                    "a value starting with `#` must be hex digits only (the BER encoding); escape a literal leading `#` as `\\#`",
                ))
            }
        }
        let digits = &self.b[hex_start..hex_end];
        if digits.is_empty() || digits.len() & 1 != 0 {
            return Err(DnParseError(format!(
                "the `#` value needs a non-empty, even number of hex digits (at byte {start})"
            )));
        }
        let bytes: Vec<u8> = digits
            .chunks_exact(2)
            .map(|p| (hex_digit(p[0]) << 4) | hex_digit(p[1]))
            .collect();
        let tlv = value::split_tlv(&bytes).map_err(|m| {
            DnParseError(format!(
                "the `#` value is not one DER element: it {m} (at byte {start})"
            ))
        })?;
        match tlv.tag.map(|t| value::decode_string(t, tlv.contents)) {
            Some(Ok(Some(text))) => Ok(AvaValue::Text {
                text,
                prepared: None,
                strict: None,
            }),
            Some(Err(m)) => Err(DnParseError(format!(
                "the `#` value's {m} (at byte {start})"
            ))),
            Some(Ok(None)) | None => Ok(AvaValue::Der(bytes)),
        }
    }

    /// An RFC 4514 `string`, up to an unescaped `,` or `+` or the end; unescaped trailing spaces
    /// are dropped (leading ones were skipped by the caller).
    fn string_value(&mut self) -> Result<String, DnParseError> {
        let mut out: Vec<u8> = Vec::new();
        let mut significant = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b',' | b'+' => break,
                b'\\' => {
                    let esc = self.pos;
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(DnParseError(format!("dangling `\\` at the end (at byte {esc})"))),
                        Some(h) if h.is_ascii_hexdigit() => {
                            let lo = self.b.get(self.pos + 1).copied();
                            match lo {
                                Some(l) if l.is_ascii_hexdigit() => {
                                    let byte = (hex_digit(h) << 4) | hex_digit(l);
                                    if byte == 0 {
                                        return Err(DnParseError(format!(
                                            "`\\00` (NUL) is not allowed in a value (at byte {esc})"
                                        )));
                                    }
                                    out.push(byte);
                                    self.pos += 2;
                                }
                                _ => {
                                    return Err(DnParseError(format!(
                                        "`\\` must be followed by two hex digits or one of `\\ \"#+,;<>=` (at byte {esc})"
                                    )))
                                }
                            }
                        }
                        Some(s @ (b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'>' | b'=' | b'\\')) => {
                            out.push(s);
                            self.pos += 1;
                        }
                        Some(_) => {
                            return Err(DnParseError(format!(
                                "`\\` must be followed by two hex digits or one of `\\ \"#+,;<>=` (at byte {esc})"
                            )))
                        }
                    }
                    significant = out.len();
                }
                b'"' => {
                    return Err(self.err(
                        "RFC 1779 quoted values are not accepted; escape special characters with `\\` instead",
                    ))
                }
                b';' => return Err(self.err("`;` is not a separator; use `,` (or write `\\;` inside a value)")),
                b'<' | b'>' => return Err(self.err("`<` and `>` must be escaped as `\\<` and `\\>`")),
                0 => return Err(self.err("NUL is not allowed in a value")),
                b' ' => {
                    out.push(b' ');
                    self.pos += 1;
                }
                other => {
                    out.push(other);
                    self.pos += 1;
                    significant = out.len();
                }
            }
        }
        out.truncate(significant);
        String::from_utf8(out)
            .map_err(|_| self.err("the value's `\\HH` escapes do not form valid UTF-8"))
    }
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn prep_error(label: &str, start: usize, e: PrepError) -> DnParseError {
    DnParseError(format!("the value of {label} {e} (at byte {start})"))
}
