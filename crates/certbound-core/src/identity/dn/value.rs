//! Attribute values as they appear in DER: string types decoded to text, everything else kept as
//! the exact DER encoding. Shared by the certificate side (`from_name`) and the `#hex` form of
//! registered strings, so both sides decode identically.

/// UTF8String.
pub(super) const TAG_UTF8: u8 = 0x0C;
const TAG_NUMERIC: u8 = 0x12;
const TAG_PRINTABLE: u8 = 0x13;
const TAG_TELETEX: u8 = 0x14;
const TAG_IA5: u8 = 0x16;
const TAG_VISIBLE: u8 = 0x1A;
const TAG_UNIVERSAL: u8 = 0x1C;
const TAG_BMP: u8 = 0x1E;

/// The name of a string tag, for messages.
fn tag_name(tag: u8) -> &'static str {
    match tag {
        TAG_UTF8 => "UTF8String",
        TAG_NUMERIC => "NumericString",
        TAG_PRINTABLE => "PrintableString",
        TAG_TELETEX => "TeletexString",
        TAG_IA5 => "IA5String",
        TAG_VISIBLE => "VisibleString",
        TAG_UNIVERSAL => "UniversalString",
        TAG_BMP => "BMPString",
        _ => "value",
    }
}

/// Decodes the contents of a DER value with the given (single-octet) tag.
///
/// * `Ok(Some(text))`: a string type, decoded.
/// * `Ok(None)`: not one of the string types certbound decodes; the caller keeps the raw DER.
/// * `Err(reason)`: a string type whose contents are not valid for it.
///
/// PrintableString, NumericString, VisibleString and IA5String must be 7-bit; their narrower
/// repertoires are not enforced (certificates in the wild put `&` or `@` in PrintableStrings, and
/// the decoded text is what gets compared, so this cannot make two different texts equal).
/// TeletexString is read as Latin-1, as every mainstream X.509 library does.
pub(super) fn decode_string(tag: u8, contents: &[u8]) -> Result<Option<String>, String> {
    let bad = |what: &str| Err(format!("{} {what}", tag_name(tag)));
    match tag {
        TAG_UTF8 => match std::str::from_utf8(contents) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => bad("is not valid UTF-8"),
        },
        TAG_PRINTABLE | TAG_NUMERIC | TAG_VISIBLE | TAG_IA5 => {
            if contents.is_ascii() {
                Ok(Some(contents.iter().map(|&b| char::from(b)).collect()))
            } else {
                bad("contains a byte above 0x7F")
            }
        }
        TAG_TELETEX => Ok(Some(contents.iter().map(|&b| char::from(b)).collect())),
        TAG_BMP => {
            if contents.len() & 1 != 0 {
                return bad("has an odd number of octets");
            }
            let units = contents
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            match char::decode_utf16(units).collect::<Result<String, _>>() {
                Ok(s) => Ok(Some(s)),
                Err(_) => bad("contains an unpaired surrogate"),
            }
        }
        TAG_UNIVERSAL => {
            if contents.len() & 3 != 0 {
                return bad("length is not a multiple of 4");
            }
            let mut s = String::with_capacity(contents.len() / 4);
            for q in contents.chunks_exact(4) {
                match char::from_u32(u32::from_be_bytes([q[0], q[1], q[2], q[3]])) {
                    Some(c) => s.push(c),
                    None => return bad("contains an invalid code point"),
                }
            }
            Ok(Some(s))
        }
        _ => Ok(None),
    }
}

/// A single DER element split into its parts.
pub(super) struct Tlv<'a> {
    /// The identifier octet, or `None` for the high-tag-number form (never a string type).
    pub(super) tag: Option<u8>,
    /// The contents octets.
    pub(super) contents: &'a [u8],
}

/// Splits `der` into exactly one primitive-or-constructed DER element: definite, minimally
/// encoded length, no trailing bytes. BER-only forms (indefinite length, non-minimal lengths) are
/// rejected so that each value has exactly one encoding to compare.
pub(super) fn split_tlv(der: &[u8]) -> Result<Tlv<'_>, &'static str> {
    let (&first, mut rest) = der.split_first().ok_or("is empty")?;
    let tag = if first & 0x1F == 0x1F {
        // High tag number form: base-128 continuation octets, minimal, at most 4 of them.
        let mut n = 0usize;
        loop {
            let (&b, r) = rest.split_first().ok_or("ends inside its tag")?;
            rest = r;
            if n == 0 && b == 0x80 {
                return Err("has a non-minimal tag");
            }
            n += 1;
            if n > 4 {
                return Err("has an oversized tag");
            }
            if b & 0x80 == 0 {
                break;
            }
        }
        None
    } else {
        Some(first)
    };
    let (&len0, mut rest) = rest.split_first().ok_or("has no length")?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else if len0 == 0x80 {
        return Err("uses an indefinite length (BER); write it in DER");
    } else {
        let n = usize::from(len0 & 0x7F);
        if n > 4 || n > rest.len() {
            return Err("has an invalid length");
        }
        let (bytes, r) = rest.split_at(n);
        rest = r;
        if bytes.first() == Some(&0) {
            return Err("has a non-minimal length (BER); write it in DER");
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err("has a non-minimal length (BER); write it in DER");
        }
        len
    };
    if rest.len() != len {
        return Err(if rest.len() < len {
            "is shorter than its length says"
        } else {
            "has bytes after the value"
        });
    }
    Ok(Tlv {
        tag,
        contents: rest,
    })
}

/// Encodes a primitive DER element (used to render text values of unknown types as `#hex`).
pub(super) fn encode_tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        // Fits in one octet by the check above.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
    out
}
