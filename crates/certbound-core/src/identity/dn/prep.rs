//! String preparation (an RFC 4518 subset) that turns a decoded attribute value into the form
//! `matches` compares. Computed once per value when a DN is parsed or decoded. The exact steps
//! are documented in the `dn` module documentation ("Value preparation"); keep the two in sync.

use super::attr::Rule;
use unicode_normalization::UnicodeNormalization;

/// Why a value cannot be prepared (so it can never match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PrepError {
    /// A prohibited character (see the module documentation).
    Prohibited(char),
    /// A non-ASCII character in a value whose equality rule is caseIgnoreIA5Match.
    NotIa5(char),
}

impl std::fmt::Display for PrepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepError::Prohibited(c) => write!(
                f,
                "contains U+{:04X}, a control, format, private-use or noncharacter code point, which never matches",
                u32::from(*c)
            ),
            PrepError::NotIa5(c) => write!(
                f,
                "contains the non-ASCII character U+{:04X}, but this attribute is an IA5 (ASCII) string",
                u32::from(*c)
            ),
        }
    }
}

/// Whether `c` is refused in any compared value.
pub(super) fn is_prohibited(c: char) -> bool {
    let cp = u32::from(c);
    matches!(cp,
        // C0, DEL, C1 controls.
        0x0000..=0x001F | 0x007F..=0x009F
        // Format (Cf) and "mapped to nothing" characters of RFC 4518 §2.2.
        | 0x00AD | 0x034F | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
        | 0x08E2 | 0x1806 | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFE00..=0xFE0F | 0xFEFF | 0xFFF9..=0xFFFD
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0001 | 0xE0020..=0xE007F | 0xE0100..=0xE01EF
        // Private use.
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
        // Noncharacters.
        | 0xFDD0..=0xFDEF
    ) || cp & 0xFFFE == 0xFFFE
}

/// Unicode space separators (Zs, Zl, Zp).
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        '\u{0020}' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// The strict form of an already preparable `text`: the same steps as [`prepare`] with
/// canonical (NFC) instead of compatibility (NFKC) normalisation, so `ｐａｒｔｎｅｒ` (fullwidth),
/// `ª` or `²` keep their identity. `None` when it equals the prepared form (every ASCII value,
/// every value of the other rules), so only names with compatibility characters carry a second
/// string.
pub(super) fn prepare_strict(rule: Rule, text: &str, prepared: &str) -> Option<String> {
    if rule != Rule::CaseIgnore || text.is_ascii() {
        return None;
    }
    let mapped = text
        .chars()
        .map(|c| if is_space_separator(c) { ' ' } else { c });
    let nfc: String = mapped.nfc().collect();
    let mut folded = String::with_capacity(nfc.len());
    for c in nfc.chars() {
        fold_into(c, &mut folded);
    }
    let strict = squeeze_spaces(
        folded
            .nfc()
            .map(|c| if is_space_separator(c) { ' ' } else { c }),
    );
    (strict != prepared).then_some(strict)
}

/// Prepares `text` for comparison under `rule`.
pub(super) fn prepare(rule: Rule, text: &str) -> Result<String, PrepError> {
    match rule {
        Rule::Exact => {
            if let Some(c) = text.chars().find(|&c| is_prohibited(c)) {
                return Err(PrepError::Prohibited(c));
            }
            Ok(text.to_owned())
        }
        Rule::CaseIgnoreIa5 => {
            if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
                return Err(PrepError::NotIa5(c));
            }
            if let Some(c) = text.chars().find(|&c| is_prohibited(c)) {
                return Err(PrepError::Prohibited(c));
            }
            Ok(squeeze_spaces(text.chars().map(|c| c.to_ascii_lowercase())))
        }
        Rule::CaseIgnore => {
            if let Some(c) = text.chars().find(|&c| is_prohibited(c)) {
                return Err(PrepError::Prohibited(c));
            }
            if text.is_ascii() {
                // ASCII is NFKC-stable and folds to ASCII: skip the Unicode machinery.
                return Ok(squeeze_spaces(text.chars().map(|c| c.to_ascii_lowercase())));
            }
            let mapped = text
                .chars()
                .map(|c| if is_space_separator(c) { ' ' } else { c });
            let nfkc: String = mapped.nfkc().collect();
            let mut folded = String::with_capacity(nfkc.len());
            for c in nfkc.chars() {
                fold_into(c, &mut folded);
            }
            let renormalised: String = folded.nfkc().collect();
            if let Some(c) = renormalised.chars().find(|&c| is_prohibited(c)) {
                return Err(PrepError::Prohibited(c));
            }
            Ok(squeeze_spaces(renormalised.chars().map(|c| {
                if is_space_separator(c) {
                    ' '
                } else {
                    c
                }
            })))
        }
    }
}

/// Full case folding of one character (see the module documentation).
fn fold_into(c: char, out: &mut String) {
    if c == '\u{0131}' {
        out.push(c);
        return;
    }
    for l in c.to_lowercase() {
        for u in l.to_uppercase() {
            out.extend(u.to_lowercase());
        }
    }
}

/// Drops leading and trailing U+0020 and collapses inner runs of U+0020 to one.
fn squeeze_spaces(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for c in chars {
        if c == ' ' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(s: &str) -> String {
        prepare(Rule::CaseIgnore, s).expect("preparable")
    }

    #[test]
    fn case_ignore_folds_normalises_and_squeezes() {
        assert_eq!(ci("  Example,   Inc.  "), "example, inc.");
        assert_eq!(ci("Stra\u{00DF}e"), ci("STRASSE"));
        assert_eq!(ci("\u{1E9E}"), "ss");
        assert_eq!(ci("Zo\u{00EB}"), ci("Zoe\u{0308}"));
        assert_eq!(ci("\u{FB00}"), "ff");
        assert_eq!(ci("\u{03A3}\u{03C2}"), "\u{03C3}\u{03C3}");
        assert_eq!(ci("a\u{00A0}\u{3000}b"), "a b");
        assert_eq!(ci("\u{212A}elvin"), "kelvin");
        assert_eq!(ci("\u{0130}"), "i\u{0307}");
        assert_eq!(ci("   "), "");
    }

    #[test]
    fn dotless_i_and_confusables_stay_distinct() {
        assert_ne!(ci("cl\u{0131}ent-a"), ci("client-a"));
        assert_ne!(ci("CL\u{0131}ENT-A"), ci("client-a"));
        assert_ne!(ci("\u{0441}lient-a"), ci("client-a"));
    }

    #[test]
    fn prohibited_characters_fail() {
        for c in [
            '\0',
            '\t',
            '\n',
            '\u{7F}',
            '\u{85}',
            '\u{AD}',
            '\u{200B}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{E000}',
            '\u{FFFF}',
            '\u{FFFD}',
            '\u{10FFFF}',
            '\u{FE0F}',
        ] {
            let s = format!("a{c}b");
            assert_eq!(
                prepare(Rule::CaseIgnore, &s),
                Err(PrepError::Prohibited(c)),
                "{c:?}"
            );
            assert!(prepare(Rule::Exact, &s).is_err(), "{c:?}");
        }
        assert_eq!(
            prepare(Rule::CaseIgnoreIa5, "a\0b"),
            Err(PrepError::Prohibited('\0'))
        );
    }

    #[test]
    fn ia5_is_ascii_only_and_case_insensitive() {
        assert_eq!(
            prepare(Rule::CaseIgnoreIa5, " Ops@Example.COM "),
            Ok("ops@example.com".into())
        );
        assert_eq!(
            prepare(Rule::CaseIgnoreIa5, "b\u{FC}cher"),
            Err(PrepError::NotIa5('\u{FC}'))
        );
    }

    #[test]
    fn exact_keeps_everything() {
        assert_eq!(prepare(Rule::Exact, " UK "), Ok(" UK ".into()));
    }
}
