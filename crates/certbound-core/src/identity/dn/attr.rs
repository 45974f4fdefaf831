//! The attribute types certbound knows by name, and the equality rule of each.
//!
//! One table serves three purposes: resolving keywords in registered strings (case-insensitively,
//! with every alias), choosing the RFC 4517 equality rule for an OID, and choosing the name used
//! when a DN is rendered (OpenSSL's `-nameopt RFC2253` names, so operators see in logs what
//! `openssl x509 -subject` shows them).

use der::asn1::ObjectIdentifier;

/// How two values of one attribute type are compared (RFC 4517 equality rules, as certbound
/// implements them; see the module documentation of `dn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// caseIgnoreMatch with the RFC 4518 preparation subset described in `prep`.
    CaseIgnore,
    /// caseIgnoreIA5Match: ASCII only, ASCII case-insensitive, insignificant spaces.
    CaseIgnoreIa5,
    /// No equality rule known: the decoded text must be identical.
    Exact,
}

/// One known attribute type.
pub(super) struct AttrType {
    /// The attribute type.
    pub(super) oid: ObjectIdentifier,
    /// The name used when rendering.
    pub(super) name: &'static str,
    /// Every keyword accepted when parsing (compared ASCII case-insensitively).
    pub(super) aliases: &'static [&'static str],
    /// The equality rule.
    pub(super) rule: Rule,
}

const fn t(
    oid: &str,
    name: &'static str,
    aliases: &'static [&'static str],
    rule: Rule,
) -> AttrType {
    AttrType {
        oid: ObjectIdentifier::new_unwrap(oid),
        name,
        aliases,
        rule,
    }
}

use Rule::{CaseIgnore, CaseIgnoreIa5, Exact};

/// The known attribute types. RFC 4514 §3 names first (those must be recognised), then the
/// names OpenSSL, Java and the OIDF conformance suite produce for certificates in the wild.
pub(super) static TYPES: &[AttrType] = &[
    t("2.5.4.3", "CN", &["CN", "commonName"], CaseIgnore),
    t("2.5.4.7", "L", &["L", "localityName"], CaseIgnore),
    t("2.5.4.8", "ST", &["ST", "stateOrProvinceName"], CaseIgnore),
    t("2.5.4.10", "O", &["O", "organizationName"], CaseIgnore),
    t(
        "2.5.4.11",
        "OU",
        &["OU", "organizationalUnitName"],
        CaseIgnore,
    ),
    t("2.5.4.6", "C", &["C", "countryName"], CaseIgnore),
    t(
        "2.5.4.9",
        "STREET",
        &["STREET", "streetAddress"],
        CaseIgnore,
    ),
    t(
        "0.9.2342.19200300.100.1.25",
        "DC",
        &["DC", "domainComponent"],
        CaseIgnoreIa5,
    ),
    t(
        "0.9.2342.19200300.100.1.1",
        "UID",
        &["UID", "userId"],
        CaseIgnore,
    ),
    t("2.5.4.5", "serialNumber", &["serialNumber"], CaseIgnore),
    t(
        "1.2.840.113549.1.9.1",
        "emailAddress",
        &["emailAddress", "E", "EMAIL"],
        CaseIgnoreIa5,
    ),
    t(
        "2.5.4.97",
        "organizationIdentifier",
        &["organizationIdentifier"],
        CaseIgnore,
    ),
    t(
        "1.3.6.1.4.1.311.60.2.1.3",
        "jurisdictionC",
        &["jurisdictionC", "jurisdictionCountryName"],
        Exact,
    ),
    t(
        "1.3.6.1.4.1.311.60.2.1.2",
        "jurisdictionST",
        &["jurisdictionST", "jurisdictionStateOrProvinceName"],
        Exact,
    ),
    t(
        "1.3.6.1.4.1.311.60.2.1.1",
        "jurisdictionL",
        &["jurisdictionL", "jurisdictionLocalityName"],
        Exact,
    ),
    t(
        "2.5.4.15",
        "businessCategory",
        &["businessCategory"],
        CaseIgnore,
    ),
    t("2.5.4.12", "title", &["title"], CaseIgnore),
    t("2.5.4.42", "GN", &["GN", "givenName"], CaseIgnore),
    t("2.5.4.4", "SN", &["SN", "surname"], CaseIgnore),
    t("2.5.4.43", "initials", &["initials"], CaseIgnore),
    t(
        "2.5.4.44",
        "generationQualifier",
        &["generationQualifier"],
        CaseIgnore,
    ),
    t("2.5.4.46", "dnQualifier", &["dnQualifier"], CaseIgnore),
    t("2.5.4.65", "pseudonym", &["pseudonym"], CaseIgnore),
    t("2.5.4.17", "postalCode", &["postalCode"], CaseIgnore),
    t("2.5.4.41", "name", &["name"], CaseIgnore),
];

/// The known type for a keyword (ASCII case-insensitive), if any.
pub(super) fn by_keyword(keyword: &str) -> Option<&'static AttrType> {
    TYPES
        .iter()
        .find(|t| t.aliases.iter().any(|a| a.eq_ignore_ascii_case(keyword)))
}

/// The known type for an OID, if any.
pub(super) fn by_oid(oid: &ObjectIdentifier) -> Option<&'static AttrType> {
    TYPES.iter().find(|t| t.oid == *oid)
}

/// The equality rule for an OID: unknown types compare exactly.
pub(super) fn rule_for(oid: &ObjectIdentifier) -> Rule {
    by_oid(oid).map_or(Exact, |t| t.rule)
}

/// A short human-readable label for an OID in error messages: its name, or the dotted form.
pub(super) fn label(oid: &ObjectIdentifier) -> String {
    by_oid(oid).map_or_else(|| oid.to_string(), |t| t.name.to_owned())
}
