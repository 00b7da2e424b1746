//! Text a stranger types: what may be kept, and how it is compared.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The most characters of anything a stranger typed that the audit log
/// keeps.
pub const MAX_AUDIT_TEXT_CHARS: usize = 254;

/// Control, format and separator characters (Unicode Cc, Cf, Zl, Zp): new
/// lines, NUL, zero-width spaces, bidi overrides, byte-order marks. They
/// make two strings look alike or rewrite how a line reads.
pub fn is_invisible_or_control(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_blank_letter(c)
}

/// Code points Unicode lists as default-ignorable that are letters or
/// marks rather than format characters: they draw nothing (Hangul fillers,
/// the combining grapheme joiner, Khmer inherent vowels, Mongolian
/// variation selectors), so they too make look-alikes. Emoji variation
/// selectors (U+FE00–FE0F) stay allowed: they only choose how a visible
/// character is drawn.
fn is_blank_letter(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// True when `s` holds such a character.
pub fn has_invisible_or_control(s: &str) -> bool {
    s.chars().any(is_invisible_or_control)
}

/// `s` without such characters and cut to `MAX_AUDIT_TEXT_CHARS`: what the
/// audit log keeps of a stranger's input.
pub fn audit_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !is_invisible_or_control(*c))
        .take(MAX_AUDIT_TEXT_CHARS + 1)
        .collect();
    if out.chars().count() > MAX_AUDIT_TEXT_CHARS {
        out = out.chars().take(MAX_AUDIT_TEXT_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// Canonical composition (NFC): "é" typed as one character or as "e" and
/// a combining accent compare equal.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// What search compares: composed and lower-cased for all of Unicode, the
/// same whichever database runs the query.
pub fn fold(s: &str) -> String {
    nfc(&s.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_control_characters() {
        for c in [
            '\0', '\r', '\n', '\t', '\u{7f}', '\u{200b}', '\u{202e}', '\u{feff}', '\u{2028}',
            '\u{2029}', '\u{200d}',
        ] {
            assert!(is_invisible_or_control(c), "{:?}", c);
        }
        for c in ['\u{3164}', '\u{115F}', '\u{1160}', '\u{034F}', '\u{FFA0}'] {
            assert!(is_invisible_or_control(c), "{:?}", c);
        }
        for c in ['a', 'é', ' ', '-', '中', '😀', '\u{FE0F}'] {
            assert!(!is_invisible_or_control(c), "{c:?}");
        }
    }

    #[test]
    fn audit_text_is_clean_and_short() {
        assert_eq!(
            audit_text("x@y\r\n2026,login.succeeded\u{202e}\0"),
            "x@y2026,login.succeeded"
        );
        let long = audit_text(&"a".repeat(70_000));
        assert_eq!(long.chars().count(), MAX_AUDIT_TEXT_CHARS);
        assert!(long.ends_with('…'));
        assert_eq!(audit_text(&"b".repeat(254)), "b".repeat(254));
    }

    #[test]
    fn folds_all_of_unicode() {
        assert_eq!(fold("ÜBERSICHT"), "übersicht");
        assert_eq!(fold("Übersicht"), fold("übersicht"));
        assert_eq!(fold("ÉCOLE"), fold("e\u{301}cole"));
    }

    #[test]
    fn nfc_composes() {
        assert_eq!(nfc("e\u{301}"), "é");
        assert_eq!(nfc("Übersicht"), "Übersicht");
    }
}
