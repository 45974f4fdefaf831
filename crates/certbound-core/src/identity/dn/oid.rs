//! Attribute-type OIDs with exactly one meaning: dotted strings encoded by certbound itself, and
//! certificate OIDs refused unless their DER is canonical.
//!
//! Attribute types compare by their DER bytes, so every accepted OID must have one encoding and
//! one rendering. `const-oid` 0.9 (what `der` 0.7 / `x509-cert` 0.2 use) breaks that in three
//! ways the fuzzers found (docs/fuzzing.md): its string parser overflows (or wraps, in release
//! builds) on an arc above 2³²−1, its encoder writes arc 128 (and 135 other arcs below 300,000) as
//! a non-minimal `80 00`, and its decoder accepts non-minimal arcs and truncates arcs above 32
//! bits. Here dotted strings are parsed and base-128 encoded by certbound, and a certificate OID
//! that any of those could affect is refused, never reinterpreted.

use der::asn1::ObjectIdentifier;

/// The largest first arc `const-oid` 0.9 can represent.
const MAX_FIRST_ARC: u32 = 2;
/// The largest second arc `const-oid` 0.9 can represent (it keeps both root arcs in one byte).
const MAX_SECOND_ARC: u32 = 39;

/// Parses a dotted-decimal OID (`2.5.4.3`): at least three arcs, digits only, no empty arcs, no
/// leading zeros, every arc within 32 bits, a first arc of 0–2 and a second arc of 0–39.
/// Encodes it with a minimal base-128 encoding, so the result renders back to `word`.
pub(super) fn from_dotted(word: &str) -> Result<ObjectIdentifier, String> {
    let not_dotted = || format!("`{word}` is not a dotted-decimal OID");
    let mut arcs = Vec::new();
    for arc in word.split('.') {
        let well_formed = !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc.len() == 1 || !arc.starts_with('0'));
        if !well_formed {
            return Err(not_dotted());
        }
        let value: u32 = arc.parse().map_err(|_| {
            format!("`{word}` is not a valid OID: the arc {arc} is over 4294967295")
        })?;
        arcs.push(value);
    }
    let [first, second, rest @ ..] = arcs.as_slice() else {
        return Err(not_dotted());
    };
    if *first > MAX_FIRST_ARC {
        return Err(format!(
            "`{word}` is not a valid OID: its first arc is {first} (only 0, 1 and 2 exist)"
        ));
    }
    if *second > MAX_SECOND_ARC {
        return Err(format!(
            "`{word}` is not a valid OID here: its second arc is over {MAX_SECOND_ARC}"
        ));
    }
    let mut der = vec![(*first * (MAX_SECOND_ARC + 1) + *second) as u8];
    for arc in rest {
        push_base128(&mut der, *arc);
    }
    let invalid = |e: der::oid::Error| format!("`{word}` is not a valid OID: {e}");
    if der.len() < 3 {
        // `from_bytes` refuses encodings under 3 bytes; with at most one further arc below 128,
        // const-oid's own encoder is right, and the bytes are checked anyway.
        let oid = ObjectIdentifier::new(word).map_err(invalid)?;
        return if oid.as_bytes() == der.as_slice() {
            Ok(oid)
        } else {
            Err(format!("`{word}` is not a valid OID"))
        };
    }
    // Refuses what const-oid cannot decode: more than 39 bytes, and five-byte arcs whose last
    // byte is 0x10 or more (its decoder's limit, so `2.5.4294967295` is refused).
    ObjectIdentifier::from_bytes(&der).map_err(invalid)
}

/// Appends the minimal base-128 encoding of one arc (X.690 §8.19.2).
fn push_base128(out: &mut Vec<u8>, arc: u32) {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut rest = arc;
    loop {
        groups[n] = (rest & 0x7f) as u8;
        n += 1;
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    for (i, group) in groups[..n].iter().enumerate().rev() {
        out.push(if i == 0 { *group } else { group | 0x80 });
    }
}

/// Whether an OID decoded from a certificate is canonical DER that `const-oid` renders exactly:
/// a root byte it can split (checked by `ObjectIdentifier` itself), and every further arc
/// minimally encoded (no leading `0x80` group) and within 32 bits.
pub(super) fn is_canonical(oid: &ObjectIdentifier) -> bool {
    let bytes = oid.as_bytes();
    let Some((_root, arcs)) = bytes.split_first() else {
        return false;
    };
    let mut start = true;
    let mut groups = 0usize;
    let mut first_group = 0u8;
    for &b in arcs {
        if start {
            if b == 0x80 {
                return false;
            }
            first_group = b & 0x7f;
            groups = 0;
            start = false;
        }
        groups += 1;
        // Five groups carry 35 bits: the first may hold only the top 4 of 32.
        if groups > 5 || (groups == 5 && first_group > 0x0f) {
            return false;
        }
        if b & 0x80 == 0 {
            start = true;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest arc const-oid decodes in five bytes that end in 0x0f.
    const FIVE_BYTE_ARC: u32 = 0x0f << 28 | 0x7f << 21 | 0x7f << 14 | 0x7f << 7 | 0x0f;

    #[test]
    fn every_arc_round_trips_through_its_rendering() {
        // const-oid 0.9's own encoder gets 135 of these wrong (arc 128 first).
        for arc in (0..300_000u32).chain([1 << 28, (1 << 28) - 1, FIVE_BYTE_ARC]) {
            for dotted in [format!("2.5.4.{arc}"), format!("1.{}.{arc}", arc % 40)] {
                let oid = from_dotted(&dotted).unwrap();
                assert!(is_canonical(&oid), "{dotted}");
                assert_eq!(oid.to_string(), dotted);
            }
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(
            from_dotted("2.5.4.3").unwrap().as_bytes(),
            [0x55, 0x04, 0x03]
        );
        assert_eq!(
            from_dotted("2.5.128").unwrap().as_bytes(),
            [0x55, 0x81, 0x00]
        );
        assert_eq!(from_dotted("1.2.3").unwrap().as_bytes(), [0x2a, 0x03]);
        assert_eq!(
            from_dotted("1.2.840.113549.1.9.1").unwrap().as_bytes(),
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]
        );
        assert_eq!(
            from_dotted(&format!("2.5.4.{FIVE_BYTE_ARC}"))
                .unwrap()
                .as_bytes(),
            [0x55, 0x04, 0x8f, 0xff, 0xff, 0xff, 0x0f]
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "2",
            "2.5",
            "2.",
            ".2.5",
            "2..5",
            "2.5.04",
            "2.5.4.4294967299",
            "2.5.4.99999999999999999999",
            "3.5",
            "2.40",
            "1.39.4294967296",
            // Within 32 bits, but beyond what const-oid 0.9 decodes.
            "2.5.4294967295",
            "2.5.+4",
            "2.5.-4",
            "2.5.٣",
        ] {
            assert!(from_dotted(bad).is_err(), "{bad:?} was accepted");
        }
        // The longest OID const-oid holds is 39 bytes.
        let long = format!("2.5{}", ".4294967295".repeat(8));
        assert!(from_dotted(&long).is_err());
    }

    #[test]
    fn non_canonical_certificate_oids_are_detected() {
        let oid = |b: &[u8]| ObjectIdentifier::from_bytes(b).unwrap();
        assert!(is_canonical(&oid(&[0x55, 0x04, 0x03])));
        assert!(is_canonical(&oid(&[0x55, 0x81, 0x00])));
        // 2.5.4.3 with a leading 0x80 group.
        assert!(!is_canonical(&oid(&[0x55, 0x04, 0x80, 0x03])));
        // const-oid 0.9's own (wrong) encoding of 2.5.128.
        assert!(!is_canonical(&oid(&[0x55, 0x80, 0x00])));
        // 2.5.4.(2^32 + 3): five groups whose first holds bit 32.
        assert!(!is_canonical(&oid(&[
            0x55, 0x04, 0x90, 0x80, 0x80, 0x80, 0x03
        ])));
        // Five groups within 32 bits are fine.
        assert!(is_canonical(&oid(&[
            0x55, 0x04, 0x8f, 0xff, 0xff, 0xff, 0x0f
        ])));
    }
}
