//! Distinguished names: what a test asks for ([`SubjectSpec`]) and how it looks (RFC 4514).

use crate::der::{self, Tlv};
use crate::PkiError;

/// The type of one attribute in a distinguished name.
///
/// The named variants are the attributes certbound users meet in client certificates; anything
/// else is [`AttributeType::Other`] with its OID arcs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeType {
    /// `CN`, commonName (2.5.4.3).
    CommonName,
    /// `SN`, surname (2.5.4.4).
    Surname,
    /// `serialNumber` (2.5.4.5): the subject's serial number, not the certificate's.
    SerialNumber,
    /// `C`, countryName (2.5.4.6); always a PrintableString.
    Country,
    /// `L`, localityName (2.5.4.7).
    Locality,
    /// `ST`, stateOrProvinceName (2.5.4.8).
    StateOrProvince,
    /// `STREET`, streetAddress (2.5.4.9).
    Street,
    /// `O`, organizationName (2.5.4.10).
    Organization,
    /// `OU`, organizationalUnitName (2.5.4.11).
    OrganizationalUnit,
    /// `title` (2.5.4.12).
    Title,
    /// `GN`, givenName (2.5.4.42).
    GivenName,
    /// `organizationIdentifier` (2.5.4.97), as in eIDAS/PSD2 certificates.
    OrganizationIdentifier,
    /// `UID`, userId (0.9.2342.19200300.100.1.1).
    UserId,
    /// `DC`, domainComponent (0.9.2342.19200300.100.1.25); an IA5String.
    DomainComponent,
    /// `emailAddress` (1.2.840.113549.1.9.1, PKCS#9); an IA5String.
    EmailAddress,
    /// Any other attribute, by its OID arcs (for example `vec![1, 3, 6, 1, 4, 1, 99999, 1]`).
    Other(Vec<u64>),
}

impl AttributeType {
    /// The OID arcs of this attribute type.
    pub fn oid(&self) -> Vec<u64> {
        const X520: [u64; 3] = [2, 5, 4];
        let x520 = |n: u64| {
            let mut v = X520.to_vec();
            v.push(n);
            v
        };
        match self {
            AttributeType::CommonName => x520(3),
            AttributeType::Surname => x520(4),
            AttributeType::SerialNumber => x520(5),
            AttributeType::Country => x520(6),
            AttributeType::Locality => x520(7),
            AttributeType::StateOrProvince => x520(8),
            AttributeType::Street => x520(9),
            AttributeType::Organization => x520(10),
            AttributeType::OrganizationalUnit => x520(11),
            AttributeType::Title => x520(12),
            AttributeType::GivenName => x520(42),
            AttributeType::OrganizationIdentifier => x520(97),
            AttributeType::UserId => vec![0, 9, 2342, 19200300, 100, 1, 1],
            AttributeType::DomainComponent => vec![0, 9, 2342, 19200300, 100, 1, 25],
            AttributeType::EmailAddress => vec![1, 2, 840, 113549, 1, 9, 1],
            AttributeType::Other(arcs) => arcs.clone(),
        }
    }

    /// The attribute type for OID arcs: a named variant when there is one, else `Other`.
    pub fn from_oid(arcs: &[u64]) -> Self {
        const ALL: [AttributeType; 15] = [
            AttributeType::CommonName,
            AttributeType::Surname,
            AttributeType::SerialNumber,
            AttributeType::Country,
            AttributeType::Locality,
            AttributeType::StateOrProvince,
            AttributeType::Street,
            AttributeType::Organization,
            AttributeType::OrganizationalUnit,
            AttributeType::Title,
            AttributeType::GivenName,
            AttributeType::OrganizationIdentifier,
            AttributeType::UserId,
            AttributeType::DomainComponent,
            AttributeType::EmailAddress,
        ];
        ALL.into_iter()
            .find(|t| t.oid() == arcs)
            .unwrap_or_else(|| AttributeType::Other(arcs.to_vec()))
    }

    /// The short name used in RFC 4514 strings, or `None` when the dotted OID is used instead.
    ///
    /// RFC 4514 §3's table (`CN L ST O OU C STREET DC UID`) plus registered LDAP descriptors
    /// that OpenSSL also prints with `-nameopt RFC2253` (`serialNumber`, `emailAddress`, `SN`,
    /// `GN`, `title`, `organizationIdentifier`), so our output and OpenSSL's agree (OpenSSL
    /// spells `STREET` in lower case; descriptors are case-insensitive).
    pub fn short_name(&self) -> Option<&'static str> {
        Some(match self {
            AttributeType::CommonName => "CN",
            AttributeType::Surname => "SN",
            AttributeType::SerialNumber => "serialNumber",
            AttributeType::Country => "C",
            AttributeType::Locality => "L",
            AttributeType::StateOrProvince => "ST",
            AttributeType::Street => "STREET",
            AttributeType::Organization => "O",
            AttributeType::OrganizationalUnit => "OU",
            AttributeType::Title => "title",
            AttributeType::GivenName => "GN",
            AttributeType::OrganizationIdentifier => "organizationIdentifier",
            AttributeType::UserId => "UID",
            AttributeType::DomainComponent => "DC",
            AttributeType::EmailAddress => "emailAddress",
            AttributeType::Other(_) => return None,
        })
    }

    /// The string type used when none is chosen: PrintableString for `C` and `serialNumber`
    /// (X.520), IA5String for `DC` and `emailAddress` (RFC 4519, PKCS#9), UTF8String otherwise
    /// (RFC 5280 §4.1.2.6).
    pub fn default_kind(&self) -> StringKind {
        match self {
            AttributeType::Country | AttributeType::SerialNumber => StringKind::Printable,
            AttributeType::DomainComponent | AttributeType::EmailAddress => StringKind::Ia5,
            _ => StringKind::Utf8,
        }
    }
}

/// The ASN.1 string type an attribute value is encoded with.
///
/// Matching rules compare values after normalisation, but the bytes differ, and so does the
/// thumbprint; tests need both PrintableString and UTF8String subjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StringKind {
    /// UTF8String (tag 12).
    Utf8,
    /// PrintableString (tag 19): `A-Z a-z 0-9 '()+,-./:=?` and space only.
    Printable,
    /// IA5String (tag 22): ASCII.
    Ia5,
    /// TeletexString (tag 20), read and written as Latin-1 (characters up to U+00FF).
    Teletex,
    /// BMPString (tag 30): UTF-16BE, Basic Multilingual Plane only.
    Bmp,
    /// UniversalString (tag 28): UTF-32BE.
    Universal,
}

impl StringKind {
    /// The universal tag byte of this string type.
    fn tag(self) -> u8 {
        match self {
            StringKind::Utf8 => 0x0c,
            StringKind::Printable => 0x13,
            StringKind::Ia5 => 0x16,
            StringKind::Teletex => 0x14,
            StringKind::Bmp => 0x1e,
            StringKind::Universal => 0x1c,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            0x0c => StringKind::Utf8,
            0x13 => StringKind::Printable,
            0x16 => StringKind::Ia5,
            0x14 => StringKind::Teletex,
            0x1e => StringKind::Bmp,
            0x1c => StringKind::Universal,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            StringKind::Utf8 => "UTF8String",
            StringKind::Printable => "PrintableString",
            StringKind::Ia5 => "IA5String",
            StringKind::Teletex => "TeletexString",
            StringKind::Bmp => "BMPString",
            StringKind::Universal => "UniversalString",
        }
    }

    /// The content octets of `value` in this string type, or `None` if it cannot hold it.
    fn encode(self, value: &str) -> Option<Vec<u8>> {
        match self {
            StringKind::Utf8 => Some(value.as_bytes().to_vec()),
            StringKind::Printable => value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
                .then(|| value.as_bytes().to_vec()),
            StringKind::Ia5 => value.is_ascii().then(|| value.as_bytes().to_vec()),
            StringKind::Teletex => value
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect(),
            StringKind::Bmp => {
                let mut out = Vec::new();
                for c in value.chars() {
                    let unit = u16::try_from(u32::from(c)).ok()?;
                    out.extend_from_slice(&unit.to_be_bytes());
                }
                Some(out)
            }
            StringKind::Universal => Some(
                value
                    .chars()
                    .flat_map(|c| u32::from(c).to_be_bytes())
                    .collect(),
            ),
        }
    }

    /// The text of content octets in this string type, or `None` if they are not valid.
    fn decode(self, content: &[u8]) -> Option<String> {
        match self {
            StringKind::Utf8 => std::str::from_utf8(content).ok().map(str::to_owned),
            StringKind::Printable | StringKind::Ia5 => {
                let s = std::str::from_utf8(content).ok()?;
                self.encode(s).map(|_| s.to_owned())
            }
            StringKind::Teletex => Some(content.iter().map(|&b| char::from(b)).collect()),
            StringKind::Bmp => {
                let units = content.chunks_exact(2);
                if !units.remainder().is_empty() {
                    return None;
                }
                units
                    .map(|c| char::from_u32(u32::from(u16::from_be_bytes([c[0], c[1]]))))
                    .collect()
            }
            StringKind::Universal => {
                let units = content.chunks_exact(4);
                if !units.remainder().is_empty() {
                    return None;
                }
                units
                    .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect()
            }
        }
    }
}

/// One attribute of a distinguished name: type, value and the string type it is encoded with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnAttribute {
    /// The attribute type.
    pub ty: AttributeType,
    /// The value, as text.
    pub value: String,
    /// The ASN.1 string type of the value.
    pub kind: StringKind,
}

impl DnAttribute {
    /// An attribute encoded with its type's [default string kind](AttributeType::default_kind).
    pub fn new(ty: AttributeType, value: impl Into<String>) -> Self {
        let kind = ty.default_kind();
        DnAttribute {
            ty,
            value: value.into(),
            kind,
        }
    }

    /// An attribute encoded with an explicit string kind.
    pub fn with_kind(ty: AttributeType, value: impl Into<String>, kind: StringKind) -> Self {
        DnAttribute {
            ty,
            value: value.into(),
            kind,
        }
    }

    /// DER `AttributeTypeAndValue`.
    fn to_der(&self) -> Result<Vec<u8>, PkiError> {
        let content = self
            .kind
            .encode(&self.value)
            .ok_or_else(|| PkiError::InvalidString {
                attribute: attribute_label(&self.ty),
                value: self.value.clone(),
                kind: self.kind.name(),
            })?;
        let mut seq = der::oid(&self.ty.oid())?;
        seq.extend(der::tlv(self.kind.tag(), &content));
        Ok(der::tlv(der::SEQUENCE, &seq))
    }
}

fn attribute_label(ty: &AttributeType) -> String {
    ty.short_name()
        .map(str::to_owned)
        .unwrap_or_else(|| der::arcs_to_string(&ty.oid()))
}

/// A distinguished name to put in a certificate: RDNs in certificate (ASN.1) order.
///
/// # Order convention
///
/// RDNs are listed in **certificate (ASN.1) order**: the first RDN appended is the first in the
/// DER `Name`, so a conventional subject is built country first and common name last:
///
/// ```
/// use certbound_pki::SubjectSpec;
/// let subject = SubjectSpec::new().country("DE").org("Example").common_name("partner-a");
/// assert_eq!(subject.to_rfc4514().unwrap(), "CN=partner-a,O=Example,C=DE");
/// ```
///
/// RFC 4514 strings (what `openssl x509 -nameopt RFC2253` prints and what RFC 8705
/// `tls_client_auth_subject_dn` holds) list the same RDNs in the **reverse** order, last RDN first.
/// RFC 4517 distinguishedNameMatch is order-sensitive (DESIGN §7 T6), so the order here is exactly
/// the order a matcher will see.
///
/// Each `with*` call and each shorthand (`country`, `org`, `common_name`, ...) appends one
/// single-valued RDN; [`SubjectSpec::with_rdn`] appends a multi-valued one. Repeated attribute
/// types (`OU`, `DC`) are allowed and kept in order. Values are encoded with their type's
/// [default string kind](AttributeType::default_kind) unless chosen with
/// [`SubjectSpec::with_kind`] (PrintableString vs UTF8String).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubjectSpec {
    rdns: Vec<Vec<DnAttribute>>,
}

impl SubjectSpec {
    /// An empty name (valid only with a critical subjectAltName, RFC 5280 §4.1.2.6).
    pub fn new() -> Self {
        SubjectSpec::default()
    }

    /// `CN=<cn>` alone.
    pub fn cn(cn: impl Into<String>) -> Self {
        SubjectSpec::new().common_name(cn)
    }

    /// `O=<o>` then `CN=<cn>` in the certificate, that is `CN=<cn>,O=<o>` in RFC 4514.
    pub fn cn_o(cn: impl Into<String>, o: impl Into<String>) -> Self {
        SubjectSpec::new().org(o).common_name(cn)
    }

    /// Appends a single-valued RDN with the type's default string kind.
    pub fn with(mut self, ty: AttributeType, value: impl Into<String>) -> Self {
        self.rdns.push(vec![DnAttribute::new(ty, value)]);
        self
    }

    /// Appends a single-valued RDN with an explicit string kind (PrintableString vs UTF8String).
    pub fn with_kind(
        mut self,
        ty: AttributeType,
        value: impl Into<String>,
        kind: StringKind,
    ) -> Self {
        self.rdns
            .push(vec![DnAttribute::with_kind(ty, value, kind)]);
        self
    }

    /// Appends a multi-valued RDN (`CN=a+UID=b`). DER sorts the values of a SET, so the order
    /// given here does not survive encoding.
    pub fn with_rdn(mut self, attributes: Vec<DnAttribute>) -> Self {
        self.rdns.push(attributes);
        self
    }

    /// Appends `C` (PrintableString).
    pub fn country(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::Country, value)
    }

    /// Appends `ST`.
    pub fn state(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::StateOrProvince, value)
    }

    /// Appends `L`.
    pub fn locality(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::Locality, value)
    }

    /// Appends `O`.
    pub fn org(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::Organization, value)
    }

    /// Appends `OU`.
    pub fn org_unit(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::OrganizationalUnit, value)
    }

    /// Appends `CN`.
    pub fn common_name(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::CommonName, value)
    }

    /// Appends `UID`.
    pub fn uid(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::UserId, value)
    }

    /// Appends `serialNumber` (PrintableString).
    pub fn serial_number(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::SerialNumber, value)
    }

    /// Appends `emailAddress` (IA5String).
    pub fn email(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::EmailAddress, value)
    }

    /// Appends `DC` (IA5String); call once per label, most significant first
    /// (`.dc("com").dc("example")` is `DC=example,DC=com`).
    pub fn dc(self, value: impl Into<String>) -> Self {
        self.with(AttributeType::DomainComponent, value)
    }

    /// Appends an attribute by OID arcs (UTF8String unless the OID is a named type).
    pub fn oid(self, arcs: &[u64], value: impl Into<String>) -> Self {
        self.with(AttributeType::from_oid(arcs), value)
    }

    /// The RDNs, in certificate order.
    pub fn rdns(&self) -> &[Vec<DnAttribute>] {
        &self.rdns
    }

    /// Whether the name has no RDN.
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The value of the last (most specific) `CN`, if any.
    pub fn common_name_value(&self) -> Option<&str> {
        self.rdns
            .iter()
            .rev()
            .flatten()
            .find(|a| a.ty == AttributeType::CommonName)
            .map(|a| a.value.as_str())
    }

    /// The DER `Name` (RDNSequence); fails when a value does not fit its string kind.
    pub fn to_der(&self) -> Result<Vec<u8>, PkiError> {
        let mut seq = Vec::new();
        for rdn in &self.rdns {
            if rdn.is_empty() {
                return Err(PkiError::InvalidName(
                    "an RDN needs at least one attribute".into(),
                ));
            }
            let mut values = rdn
                .iter()
                .map(DnAttribute::to_der)
                .collect::<Result<Vec<_>, _>>()?;
            // DER: the components of a SET OF are in ascending order of their encodings.
            values.sort();
            seq.extend(der::tlv(der::SET, &values.concat()));
        }
        Ok(der::tlv(der::SEQUENCE, &seq))
    }

    /// The RFC 4514 string of this name (last RDN first), rendered from its DER encoding so that
    /// it is exactly what a certificate carrying it will show.
    pub fn to_rfc4514(&self) -> Result<String, PkiError> {
        rfc4514(&self.to_der()?)
    }

    /// Decodes a DER `Name` into a spec that re-encodes to the same bytes.
    ///
    /// Fails for values that are not one of the [`StringKind`]s.
    pub fn from_der(name: &[u8]) -> Result<Self, PkiError> {
        let mut rdns = Vec::new();
        for set in name_sets(name)? {
            let mut rdn = Vec::new();
            for (arcs, value) in set_attributes(set)? {
                let kind = StringKind::from_tag(value.tag).ok_or_else(|| {
                    PkiError::InvalidName(format!(
                        "attribute {} has a non-string value (tag {:#04x})",
                        der::arcs_to_string(&arcs),
                        value.tag
                    ))
                })?;
                let text = kind.decode(value.content).ok_or_else(|| {
                    PkiError::InvalidName(format!(
                        "attribute {} is not a valid {}",
                        der::arcs_to_string(&arcs),
                        kind.name()
                    ))
                })?;
                rdn.push(DnAttribute::with_kind(
                    AttributeType::from_oid(&arcs),
                    text,
                    kind,
                ));
            }
            rdns.push(rdn);
        }
        Ok(SubjectSpec { rdns })
    }

    /// The subject of a DER certificate, as a spec (for building look-alike certificates).
    pub fn of_certificate(cert_der: &[u8]) -> Result<Self, PkiError> {
        SubjectSpec::from_der(&crate::cert::name_fields(cert_der)?.subject)
    }
}

/// The SETs (RDNs) of a DER `Name`.
fn name_sets(name: &[u8]) -> Result<Vec<Tlv<'_>>, PkiError> {
    let (seq, rest) = der::expect(name, der::SEQUENCE, "a Name")?;
    if !rest.is_empty() {
        return Err(PkiError::Der("trailing data after a Name".into()));
    }
    let mut sets = Vec::new();
    let mut input = seq.content;
    while !input.is_empty() {
        let (set, rest) = der::expect(input, der::SET, "an RDN")?;
        sets.push(set);
        input = rest;
    }
    Ok(sets)
}

/// The (type, value) pairs of one RDN.
fn set_attributes(set: Tlv<'_>) -> Result<Vec<(Vec<u64>, Tlv<'_>)>, PkiError> {
    let mut out = Vec::new();
    let mut input = set.content;
    if input.is_empty() {
        return Err(PkiError::InvalidName("empty RDN".into()));
    }
    while !input.is_empty() {
        let (atv, rest) = der::expect(input, der::SEQUENCE, "an AttributeTypeAndValue")?;
        let (oid, after) = der::expect(atv.content, der::OID, "an attribute type")?;
        let (value, tail) = der::read(after)?;
        if !tail.is_empty() {
            return Err(PkiError::Der("trailing data in an attribute".into()));
        }
        out.push((der::oid_arcs(oid.content)?, value));
        input = rest;
    }
    Ok(out)
}

/// Escapes an attribute value per RFC 4514 §2.4.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Uppercase hex, as OpenSSL prints `#` values (RFC 4514 hex pairs are case-insensitive).
fn hex_upper(bytes: &[u8]) -> String {
    der::hex(bytes).to_ascii_uppercase()
}

/// The RFC 4514 string of a DER `Name`: RDNs last-first, separated by `,`; the values of a
/// multi-valued RDN joined by `+`; short names where registered (see
/// [`AttributeType::short_name`]), else the dotted OID; string values escaped (§2.4); values of
/// other types or unnamed attribute types as `#` and the hex of their BER encoding (§2.4).
pub fn rfc4514(name_der: &[u8]) -> Result<String, PkiError> {
    let mut rdns = Vec::new();
    for set in name_sets(name_der)? {
        let mut parts = Vec::new();
        for (arcs, value) in set_attributes(set)? {
            let ty = AttributeType::from_oid(&arcs);
            let text = match (ty.short_name(), StringKind::from_tag(value.tag)) {
                (Some(name), Some(kind)) => match kind.decode(value.content) {
                    Some(text) => format!("{name}={}", escape(&text)),
                    None => format!("{name}=#{}", hex_upper(value.raw)),
                },
                (Some(name), None) => format!("{name}=#{}", hex_upper(value.raw)),
                (None, _) => format!("{}=#{}", der::arcs_to_string(&arcs), hex_upper(value.raw)),
            };
            parts.push(text);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_certificate_order_and_rfc4514_reverses_it() {
        let s = SubjectSpec::new()
            .country("US")
            .state("CA")
            .locality("San Francisco")
            .org("Example")
            .org_unit("Eng")
            .org_unit("Partners")
            .common_name("partner-a");
        assert_eq!(
            s.to_rfc4514().unwrap(),
            "CN=partner-a,OU=Partners,OU=Eng,O=Example,L=San Francisco,ST=CA,C=US"
        );
        assert_eq!(
            SubjectSpec::cn_o("a", "B").to_rfc4514().unwrap(),
            "CN=a,O=B"
        );
        assert_eq!(s.common_name_value(), Some("partner-a"));
    }

    #[test]
    fn string_kinds_are_encoded_as_asked() {
        let printable = SubjectSpec::new()
            .with_kind(AttributeType::CommonName, "x", StringKind::Printable)
            .to_der()
            .unwrap();
        let utf8 = SubjectSpec::cn("x").to_der().unwrap();
        assert_ne!(printable, utf8);
        // SEQ { SET { SEQ { OID 2.5.4.3, <tag> "x" } } }
        assert_eq!(
            der::hex(&printable),
            "300c310a300806035504031301 78".replace(' ', "")
        );
        assert_eq!(
            der::hex(&utf8),
            "300c310a30080603550403 0c0178".replace(' ', "")
        );
        let c = SubjectSpec::new().country("DE").to_der().unwrap();
        assert!(der::hex(&c).ends_with("13024445"));
    }

    #[test]
    fn invalid_printable_string_is_an_error_naming_the_attribute() {
        let err = SubjectSpec::new()
            .with_kind(AttributeType::CommonName, "a@b", StringKind::Printable)
            .to_der()
            .unwrap_err();
        assert!(err.to_string().contains("CN"), "{err}");
        assert!(SubjectSpec::new().email("ä@example.com").to_der().is_err());
    }

    #[test]
    fn der_round_trip_keeps_bytes() {
        let s = SubjectSpec::new()
            .dc("com")
            .dc("example")
            .with_kind(AttributeType::Organization, "Ex", StringKind::Printable)
            .with_kind(AttributeType::OrganizationalUnit, "Ünits", StringKind::Bmp)
            .with_kind(AttributeType::Locality, "Zoë", StringKind::Teletex)
            .with_kind(AttributeType::StateOrProvince, "𝔘", StringKind::Universal)
            .oid(&[1, 3, 6, 1, 4, 1, 99999, 1], "custom")
            .serial_number("1234")
            .uid("u-1")
            .email("a@example.com")
            .with_rdn(vec![
                DnAttribute::new(AttributeType::CommonName, "multi"),
                DnAttribute::new(AttributeType::UserId, "m1"),
            ]);
        let der = s.to_der().unwrap();
        let back = SubjectSpec::from_der(&der).unwrap();
        assert_eq!(back.to_der().unwrap(), der);
    }

    #[test]
    fn rfc4514_escaping_and_unknown_oids() {
        let s = SubjectSpec::new()
            .oid(&[1, 3, 6, 1, 4, 1, 99999, 1], "x")
            .org("Example, Inc.")
            .common_name(" #lead+trail ");
        assert_eq!(
            s.to_rfc4514().unwrap(),
            "CN=\\ #lead\\+trail\\ ,O=Example\\, Inc.,1.3.6.1.4.1.99999.1=#0C0178"
        );
        assert_eq!(
            SubjectSpec::cn("#x;<>\"\\").to_rfc4514().unwrap(),
            "CN=\\#x\\;\\<\\>\\\"\\\\"
        );
        let multi = SubjectSpec::new().with_rdn(vec![
            DnAttribute::new(AttributeType::UserId, "u"),
            DnAttribute::new(AttributeType::CommonName, "c"),
        ]);
        // DER sorts the SET by encoding: the shorter CN attribute sorts first.
        assert_eq!(multi.to_rfc4514().unwrap(), "CN=c+UID=u");
        assert_eq!(
            SubjectSpec::new()
                .dc("com")
                .dc("example")
                .uid("x")
                .to_rfc4514()
                .unwrap(),
            "UID=x,DC=example,DC=com"
        );
    }

    #[test]
    fn empty_name() {
        assert_eq!(SubjectSpec::new().to_der().unwrap(), vec![0x30, 0x00]);
        assert_eq!(SubjectSpec::new().to_rfc4514().unwrap(), "");
        assert!(SubjectSpec::new().with_rdn(vec![]).to_der().is_err());
    }
}
