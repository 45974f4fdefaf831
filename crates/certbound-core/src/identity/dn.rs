//! Distinguished names: registered RFC 4514 strings, certificate subjects decoded from DER, and
//! RFC 4517 `distinguishedNameMatch` between them (RFC 8705 §2.1.2 `tls_client_auth_subject_dn`).
//!
//! This decides whether a client certificate authenticates a `tls_client_auth` client, so every
//! rule below fails closed: anything certbound cannot compare with certainty is either refused at
//! registration ([`DnParseError`]) or never matches. Certificates are compared from their DER
//! (never from a rendered string: renderings collide), registered strings are parsed strictly.
//!
//! # Registered strings (`FromStr`)
//!
//! RFC 4514 syntax, most specific RDN first (`CN=client-a,O=Example\, Inc.,C=US`):
//!
//! * Attribute types: a dotted OID (no leading zeros, at least three arcs, each arc within 32 bits,
//!   a first arc of 0–2 and a second of 0–39) or one of these names,
//!   ASCII case-insensitively: `CN` `L` `ST` `O` `OU` `C` `STREET` `DC` `UID`, `serialNumber`,
//!   `emailAddress`/`E`/`EMAIL`, `organizationIdentifier`, `jurisdictionC`/`jurisdictionCountryName`,
//!   `jurisdictionST`/`jurisdictionStateOrProvinceName`, `jurisdictionL`/`jurisdictionLocalityName`,
//!   `businessCategory`, `title`, `givenName`/`GN`, `surname`/`SN`, `initials`,
//!   `generationQualifier`, `dnQualifier`, `pseudonym`, `postalCode`, `name`, and the long forms
//!   `commonName`, `localityName`, `stateOrProvinceName`, `organizationName`,
//!   `organizationalUnitName`, `countryName`, `streetAddress`, `domainComponent`, `userId`.
//! * Values: text with `\X` escapes (`X` one of ``\ "#+,;<>=``) and `\HH` escapes (bytes of UTF-8,
//!   which must form valid UTF-8), or `#` plus the hex of one DER element. A `#` value of
//!   UTF8String, PrintableString, IA5String, NumericString, VisibleString, BMPString,
//!   UniversalString or TeletexString (read as Latin-1) is decoded to text and compared like any
//!   text; any other `#` value is kept as DER and matches only a certificate value with the same
//!   DER bytes. Plain text is accepted for dotted OIDs too (Python writes it that way).
//! * Multi-valued RDNs with `+` (each attribute type at most once per RDN).
//! * **Leniency**: unescaped spaces at the start and end of every type and value (that is, around
//!   `,` `+` `=` and at both ends of the string) are ignored, so `CN=client-a, O=Example, C=US`
//!   (Java `toString`, RFC 1779 style) parses. Escaped spaces (`\ `) are kept.
//! * **Refused**: the empty string, an empty value (`CN=`), `;` separators, the slash form
//!   (`/C=US/O=…`), RFC 1779 quotes, the `OID.` prefix, unknown keywords, unescaped `<` `>`, a
//!   dangling `\`, bad hex, BER-only encodings (indefinite or non-minimal lengths), invalid UTF-8,
//!   NUL and any value containing a character that can never match (see below), non-ASCII text for
//!   `DC` and `emailAddress`, strings over 4 KiB, more than 64 RDNs, more than 16 attributes in one
//!   RDN, and a type repeated inside one RDN.
//!
//! # Certificate names ([`DistinguishedName::from_name`])
//!
//! Each value is decoded from its DER string type to text (the string type is never
//! significant, so PrintableString `US` equals UTF8String `US`). A value of a string type whose
//! contents are invalid for it (bad UTF-8, non-ASCII in a PrintableString, an odd-length
//! BMPString, …), an attribute type OID that is not canonical DER (a non-minimal arc, an arc over
//! 32 bits: such a type would render as another one) or an empty RDN makes the whole name a
//! [`DnDecodeError`]. Values of other types
//! are kept as DER. Certificates list RDNs in ASN.1 order (`C` first); strings list them reversed
//! (`CN` first): both are stored in ASN.1 order.
//!
//! # Matching ([`DistinguishedName::matches`])
//!
//! RFC 4517 `distinguishedNameMatch`: the same number of RDNs, equal position by position (RDN
//! order matters); within an RDN the attributes are compared as a set (same count, each attribute
//! equal to one of the same type). Attribute types compare by OID, so `CN`, `cn` and `2.5.4.3` are
//! the same type. Values compare by their type's equality rule:
//!
//! * `caseIgnoreMatch` for CN, L, ST, O, OU, C, STREET, UID, serialNumber, organizationIdentifier,
//!   businessCategory, title, givenName, surname, initials, generationQualifier, dnQualifier,
//!   pseudonym, postalCode and name: steps 1–4 below;
//! * `caseIgnoreIA5Match` for DC and emailAddress: every character must be ASCII (else the value
//!   matches nothing; registration refuses it), step 1, ASCII case folding, step 4;
//! * exact comparison of the decoded text (after step 1) for types without an equality rule
//!   (jurisdictionC, jurisdictionST, jurisdictionL) and for every OID certbound does not know.
//!   Strict LDAP would make such comparisons *Undefined*; comparing exactly is the certbound
//!   policy.
//!
//! # Value preparation (the RFC 4518 subset certbound implements)
//!
//! 1. **Prohibit**: C0 and C1 control characters (including NUL, TAB, CR, LF, NEL), DEL, format
//!    and invisible characters (soft hyphen, zero-width space and joiners, bidirectional
//!    controls, the BOM, variation selectors, tag characters, the object replacement character,
//!    …), private-use code points, noncharacters and U+FFFD. A value containing one of these
//!    matches nothing (and is refused at registration). RFC 4518 §2.2 would instead map most of
//!    them to nothing or to a space; certbound refuses them so that `good.example<NUL>.evil` or
//!    `cli<ZWSP>ent-a` can never equal `good.example.evil` or `client-a`. Unassigned code points
//!    are not checked (that needs Unicode tables this crate does not carry).
//! 2. **Map** every space separator (Unicode Zs, Zl, Zp, e.g. NO-BREAK SPACE) to U+0020.
//! 3. **Normalise and fold**: NFKC, then full Unicode case folding, then NFKC again. Folding is
//!    computed per character as lowercase(uppercase(lowercase(c))), which gives `ß`, `ẞ` → `ss`,
//!    final `ς` → `σ`, `ﬀ` → `ff`; dotless `ı` is left alone (Unicode case folding does not fold
//!    it to `i`, and `clıent-a` must not equal `client-a`). This was checked exhaustively against
//!    Python's `str.casefold()` (Unicode 14): both induce the same equivalence classes on every
//!    code point. Confusables from different scripts (Cyrillic `с` vs Latin `c`) stay different.
//!    **Strict matching** ([`Folding::Canonical`], the default) additionally requires the values
//!    to be equal with NFC in place of NFKC, so compatibility look-alikes (fullwidth `ｐ`, `ª`,
//!    `²`, `Ⅰ`) never pass for plain letters; [`Folding::Compatibility`] is RFC 4518 as written.
//! 4. **Insignificant spaces**: leading and trailing spaces are dropped and every inner run of
//!    spaces counts as one space (`Example,  Inc.` equals `Example, Inc.`, but `Example,Inc.`
//!    does not). A value of only spaces equals any other such value.
//!
//! An empty DN (no RDNs) matches nothing, not even another empty DN.
//!
//! Everything `matches` compares is prepared once, when the DN is parsed or decoded, so a match is
//! a handful of slice comparisons.
//!
//! # Rendering (`Display`)
//!
//! Canonical RFC 4514, most specific RDN first, for logs and traces: the names above (OpenSSL's
//! spelling), dotted OIDs with `#`-hex values for unknown types, `#`-hex for non-string values,
//! attributes of a multi-valued RDN in a fixed order, and escapes for `" + , ; < > \`, a leading
//! `#` or space, a trailing space, and as `\HH` for every control, format or private-use
//! character (so a rendering never carries a raw newline or bidi override into a log). Parsing a
//! rendering gives a DN that matches the original whenever the original can match at all (a
//! certificate value containing NUL renders as `\00`, which is refused on parsing; an empty
//! certificate value renders as `CN=`, also refused, and matches nothing).

use std::fmt;
use std::str::FromStr;

use der::asn1::ObjectIdentifier;
use der::{Encode, Tagged};

mod attr;
mod oid;
mod parse;
mod prep;
mod value;

#[cfg(test)]
mod tests;

/// Whether a character is unsafe to show raw (a C0/C1 control, DEL, a format or bidi character,
/// private use, a noncharacter): the characters a DN value can never match with.
pub(crate) fn is_unsafe_char(c: char) -> bool {
    prep::is_prohibited(c)
}

/// The longest registered DN string accepted, in bytes.
pub const MAX_DN_STRING_BYTES: usize = 4096;
/// The most RDNs a registered DN may have.
pub const MAX_RDNS: usize = 64;
/// The most attributes one RDN of a registered DN may have.
pub const MAX_AVAS_PER_RDN: usize = 16;

/// Which Unicode normalisation makes two values equal (docs/subject-matching.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Folding {
    /// Canonical equivalence (NFC) and case folding only: `ｐａｒｔｎｅｒ-ａ` (fullwidth) and
    /// `partner-ª` do **not** equal `partner-a`. The default.
    #[default]
    #[serde(rename = "strict")]
    Canonical,
    /// RFC 4518 as written: compatibility normalisation (NFKC) too, so look-alike fullwidth,
    /// superscript and circled forms equal their plain letters. Only for registrations that
    /// need LDAP's exact semantics.
    #[serde(rename = "rfc4518")]
    Compatibility,
}

/// A distinguished name reduced to what distinguishedNameMatch compares, with every value already
/// prepared for comparison. Built from a registered string ([`FromStr`]) or a certificate name
/// ([`DistinguishedName::from_name`]); compared with [`DistinguishedName::matches`], never with
/// string equality.
#[derive(Clone)]
pub struct DistinguishedName {
    /// RDNs in ASN.1 order: the first is the least specific (usually `C`).
    rdns: Vec<Rdn>,
}

/// Why a registered DN string is not accepted. The message says what is wrong and where (byte
/// offset); it is safe to return to the registering client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DnParseError(pub String);

/// Why a certificate's DER name could not be decoded for matching (a string-typed value whose
/// contents are invalid for its type, or an empty RDN).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DnDecodeError(pub String);

/// One RDN: its attributes sorted by (OID, prepared value) so set comparison is pairwise.
#[derive(Clone)]
struct Rdn {
    avas: Vec<Ava>,
    /// False if some value could not be prepared: the RDN then matches nothing.
    matchable: bool,
}

#[derive(Clone)]
struct Ava {
    oid: ObjectIdentifier,
    value: AvaValue,
}

#[derive(Clone)]
enum AvaValue {
    /// A decoded string; `prepared` is `None` when the value can never match. `strict` is the
    /// value prepared with canonical instead of compatibility normalisation, when that differs
    /// (see [`Folding`]).
    Text {
        text: String,
        prepared: Option<String>,
        strict: Option<String>,
    },
    /// A value of a non-string type: its complete DER encoding.
    Der(Vec<u8>),
}

impl Ava {
    /// The sort key within an RDN: equal keys exactly when the attributes are equal (for
    /// matchable values).
    fn sort_key(&self) -> (&[u8], u8, &[u8]) {
        let (rank, bytes) = match &self.value {
            AvaValue::Text {
                prepared: Some(p), ..
            } => (0, p.as_bytes()),
            AvaValue::Text { text, .. } => (1, text.as_bytes()),
            AvaValue::Der(der) => (2, der.as_slice()),
        };
        (self.oid.as_bytes(), rank, bytes)
    }

    fn matches(&self, other: &Ava, folding: Folding) -> bool {
        self.oid == other.oid
            && match (&self.value, &other.value) {
                (
                    AvaValue::Text {
                        prepared: Some(a),
                        strict: strict_a,
                        ..
                    },
                    AvaValue::Text {
                        prepared: Some(b),
                        strict: strict_b,
                        ..
                    },
                ) => {
                    a == b
                        && (folding == Folding::Compatibility
                            || strict_a.as_ref().unwrap_or(a) == strict_b.as_ref().unwrap_or(b))
                }
                (AvaValue::Der(a), AvaValue::Der(b)) => a == b,
                _ => false,
            }
    }
}

impl Rdn {
    fn new(mut avas: Vec<Ava>) -> Rdn {
        avas.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let matchable = !avas.is_empty()
            && avas
                .iter()
                .all(|a| !matches!(a.value, AvaValue::Text { prepared: None, .. }));
        Rdn { avas, matchable }
    }

    fn matches(&self, other: &Rdn, folding: Folding) -> bool {
        self.matchable
            && other.matchable
            && self.avas.len() == other.avas.len()
            && self
                .avas
                .iter()
                .zip(&other.avas)
                .all(|(a, b)| a.matches(b, folding))
    }
}

impl DistinguishedName {
    /// Decodes a certificate's subject or issuer name (see the module documentation). Values
    /// that can never match (e.g. containing NUL) are kept for display but make their RDN
    /// unmatchable; only structurally undecodable values are an error.
    pub fn from_name(name: &x509_cert::name::Name) -> Result<Self, DnDecodeError> {
        let mut rdns = Vec::with_capacity(name.0.len());
        for (i, rdn) in name.0.iter().enumerate() {
            let set = rdn.0.as_slice();
            if set.is_empty() {
                return Err(DnDecodeError(format!("RDN {} is empty", i + 1)));
            }
            let mut avas = Vec::with_capacity(set.len());
            for atv in set {
                if !oid::is_canonical(&atv.oid) {
                    return Err(DnDecodeError(format!(
                        "RDN {}: an attribute type OID is not canonically encoded",
                        i + 1
                    )));
                }
                let tag = u8::from(atv.value.tag());
                let value = match value::decode_string(tag, atv.value.value()) {
                    Ok(Some(text)) => {
                        // An empty value can never equal a registered one (those are refused).
                        let rule = attr::rule_for(&atv.oid);
                        let prepared = if text.is_empty() {
                            None
                        } else {
                            prep::prepare(rule, &text).ok()
                        };
                        let strict = prepared
                            .as_deref()
                            .and_then(|p| prep::prepare_strict(rule, &text, p));
                        AvaValue::Text {
                            text,
                            prepared,
                            strict,
                        }
                    }
                    Ok(None) => AvaValue::Der(atv.value.to_der().map_err(|e| {
                        DnDecodeError(format!("RDN {}: {}: {e}", i + 1, attr::label(&atv.oid)))
                    })?),
                    Err(m) => {
                        return Err(DnDecodeError(format!(
                            "RDN {}: the {} value's {m}",
                            i + 1,
                            attr::label(&atv.oid)
                        )))
                    }
                };
                avas.push(Ava {
                    oid: atv.oid,
                    value,
                });
            }
            rdns.push(Rdn::new(avas));
        }
        Ok(DistinguishedName { rdns })
    }

    /// RFC 4517 distinguishedNameMatch with [`Folding::Canonical`] (the default for
    /// `tls_client_auth`; see the module documentation). Symmetric; an empty DN matches nothing.
    pub fn matches(&self, other: &DistinguishedName) -> bool {
        self.matches_with(other, Folding::Canonical)
    }

    /// distinguishedNameMatch with the given [`Folding`].
    pub fn matches_with(&self, other: &DistinguishedName, folding: Folding) -> bool {
        !self.rdns.is_empty()
            && self.rdns.len() == other.rdns.len()
            && self
                .rdns
                .iter()
                .zip(&other.rdns)
                .all(|(a, b)| a.matches(b, folding))
    }

    /// The number of RDNs (zero only for a certificate with an empty subject).
    pub fn rdn_count(&self) -> usize {
        self.rdns.len()
    }

    /// Whether every value can take part in a match. False for a certificate name carrying, for
    /// example, a NUL, a bidi override or an empty string in some value: such a name matches
    /// nothing. Useful in a
    /// decision trace to explain a mismatch.
    pub fn is_matchable(&self) -> bool {
        !self.rdns.is_empty() && self.rdns.iter().all(|r| r.matchable)
    }

    /// Whether the names match under [`Folding::Compatibility`] but not under
    /// [`Folding::Canonical`]: they differ only in look-alike compatibility characters
    /// (fullwidth letters, `ª`, superscripts...). For a decision trace.
    pub fn matches_only_by_compatibility(&self, other: &DistinguishedName) -> bool {
        self.matches_with(other, Folding::Compatibility)
            && !self.matches_with(other, Folding::Canonical)
    }

    /// Whether the two names hold the same attributes (same types, values equal under their
    /// matching rules, counted as a multiset over the whole name) yet do not match, because the
    /// attributes sit at other positions: `O=Example,CN=partner-a` against a certificate's
    /// `CN=partner-a,O=Example`. distinguishedNameMatch compares by position, so such names never
    /// match; a decision trace says so and shows the string to register.
    pub fn same_attributes_in_other_order(&self, other: &DistinguishedName) -> bool {
        if !self.is_matchable()
            || !other.is_matchable()
            || self.matches_with(other, Folding::Compatibility)
        {
            return false;
        }
        fn keys(dn: &DistinguishedName) -> Vec<(&[u8], u8, &[u8])> {
            let mut keys: Vec<_> = dn
                .rdns
                .iter()
                .flat_map(|r| r.avas.iter().map(Ava::sort_key))
                .collect();
            keys.sort();
            keys
        }
        keys(self) == keys(other)
    }
}

impl FromStr for DistinguishedName {
    type Err = DnParseError;

    /// Parses a registered `tls_client_auth_subject_dn` (see the module documentation).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DistinguishedName {
            rdns: parse::parse(s)?,
        })
    }
}

impl fmt::Display for DistinguishedName {
    /// Canonical RFC 4514, most specific RDN first (see the module documentation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write_ava(f, ava)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DistinguishedName")
            .field(&self.to_string())
            .finish()
    }
}

fn write_ava(f: &mut fmt::Formatter<'_>, ava: &Ava) -> fmt::Result {
    let known = attr::by_oid(&ava.oid);
    match known {
        Some(t) => f.write_str(t.name)?,
        None => write!(f, "{}", ava.oid)?,
    }
    f.write_str("=")?;
    match (&ava.value, known) {
        (AvaValue::Der(der), _) => write_hex(f, der),
        (AvaValue::Text { text, .. }, None) => {
            write_hex(f, &value::encode_tlv(value::TAG_UTF8, text.as_bytes()))
        }
        (AvaValue::Text { text, .. }, Some(_)) => write_escaped(f, text),
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("#")?;
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => write!(f, "\\{c}")?,
            '#' if i == 0 => f.write_str("\\#")?,
            ' ' if i == 0 || i == last => f.write_str("\\ ")?,
            c if prep::is_prohibited(c) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(f, "\\{b:02X}")?;
                }
            }
            c => write!(f, "{c}")?,
        }
    }
    Ok(())
}
