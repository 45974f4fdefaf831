//! The little DER this crate writes and reads by hand: names, OIDs and the certificate splice.
//!
//! rcgen builds the body of every certificate, but its distinguished names are a map keyed by
//! attribute type (no repeated `OU` or `DC`, no multi-valued RDN) and it re-encodes an issuer's
//! name instead of copying it. So [`crate::cert`] lets rcgen produce the certificate with
//! placeholder names, then swaps in the exact issuer and subject `Name` encodings and signs the new
//! `TBSCertificate` with the issuer's key. This module holds the handful of DER primitives for that.

use crate::PkiError;

/// DER tag of a SEQUENCE (constructed).
pub(crate) const SEQUENCE: u8 = 0x30;
/// DER tag of a SET (constructed).
pub(crate) const SET: u8 = 0x31;
/// DER tag of an OBJECT IDENTIFIER.
pub(crate) const OID: u8 = 0x06;
/// DER tag of a BIT STRING.
pub(crate) const BIT_STRING: u8 = 0x03;
/// DER tag of an INTEGER.
pub(crate) const INTEGER: u8 = 0x02;

/// One decoded tag-length-value: the tag byte, the content and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

fn malformed(what: &str) -> PkiError {
    PkiError::Der(what.to_owned())
}

/// Reads one TLV from the front of `input`; returns it and what follows.
///
/// Only low tag numbers (below 31) and definite lengths are accepted, which is all X.509 uses.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), PkiError> {
    let (&tag, after_tag) = input
        .split_first()
        .ok_or_else(|| malformed("unexpected end of data"))?;
    if tag & 0x1f == 0x1f {
        return Err(malformed("high tag numbers are not supported"));
    }
    let (&first, mut rest) = after_tag
        .split_first()
        .ok_or_else(|| malformed("missing length"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(malformed("unsupported length encoding"));
        }
        if rest.len() < count {
            return Err(malformed("truncated length"));
        }
        let mut len = 0usize;
        for &b in &rest[..count] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        return Err(malformed("content shorter than its length"));
    }
    let header = input.len() - rest.len();
    let raw = &input[..header + len];
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            raw,
        },
        &rest[len..],
    ))
}

/// Reads one TLV that must carry `tag`.
pub(crate) fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &str,
) -> Result<(Tlv<'a>, &'a [u8]), PkiError> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag {
        return Err(malformed(&format!(
            "expected {what} (tag {tag:#04x}), found tag {:#04x}",
            tlv.tag
        )));
    }
    Ok((tlv, rest))
}

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in the short form by the check above.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Encodes one TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Encodes an OBJECT IDENTIFIER from its arcs; fails on fewer than two arcs or a bad first pair.
pub(crate) fn oid(arcs: &[u64]) -> Result<Vec<u8>, PkiError> {
    let (first, second) = match arcs {
        [a, b, ..] if *a <= 2 && (*a == 2 || *b < 40) => (*a, *b),
        _ => return Err(PkiError::InvalidOid(arcs_to_string(arcs))),
    };
    let mut content = Vec::new();
    let head = first
        .checked_mul(40)
        .and_then(|v| v.checked_add(second))
        .ok_or_else(|| PkiError::InvalidOid(arcs_to_string(arcs)))?;
    for arc in std::iter::once(head).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        groups.reverse();
        content.extend_from_slice(&groups);
    }
    Ok(tlv(OID, &content))
}

/// Decodes the content of an OBJECT IDENTIFIER into its arcs.
pub(crate) fn oid_arcs(content: &[u8]) -> Result<Vec<u64>, PkiError> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    let mut in_progress = false;
    for &b in content {
        if value > (u64::MAX >> 7) {
            return Err(malformed("object identifier arc too large"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_progress = b & 0x80 != 0;
        if !in_progress {
            if arcs.is_empty() {
                let (a, b) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.push(a);
                arcs.push(b);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if in_progress || arcs.is_empty() {
        return Err(malformed("truncated object identifier"));
    }
    Ok(arcs)
}

/// Dotted-decimal text of OID arcs.
pub(crate) fn arcs_to_string(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        let arcs = [1u64, 2, 840, 113549, 1, 9, 1];
        let enc = oid(&arcs).unwrap();
        assert_eq!(hex(&enc), "06092a864886f70d010901");
        let (t, rest) = read(&enc).unwrap();
        assert!(rest.is_empty());
        assert_eq!(oid_arcs(t.content).unwrap(), arcs);
        assert_eq!(
            oid_arcs(oid(&[0, 9, 2342, 19200300, 100, 1, 25]).unwrap()[2..].as_ref()).unwrap(),
            [0, 9, 2342, 19200300, 100, 1, 25]
        );
        assert_eq!(
            oid_arcs(&oid(&[2, 999, 3]).unwrap()[2..]).unwrap(),
            [2, 999, 3]
        );
    }

    #[test]
    fn bad_oids_are_rejected() {
        assert!(oid(&[1]).is_err());
        assert!(oid(&[3, 1]).is_err());
        assert!(oid(&[1, 40]).is_err());
    }

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let enc = tlv(SEQUENCE, &content);
            let (t, rest) = read(&enc).unwrap();
            assert!(rest.is_empty());
            assert_eq!(t.tag, SEQUENCE);
            assert_eq!(t.content.len(), len);
            assert_eq!(t.raw, &enc[..]);
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(read(&[]).is_err());
        assert!(read(&[0x30]).is_err());
        assert!(read(&[0x30, 0x05, 0x01]).is_err());
        assert!(read(&[0x30, 0x82, 0x01]).is_err());
        assert!(expect(&[0x31, 0x00], SEQUENCE, "a sequence").is_err());
    }
}
