use super::FieldError;
use super::text::{has_invisible_or_control, nfc};
use std::fmt;

pub const MAX_NAME_CHARS: usize = 100;
/// The longest description a token may carry.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// What a token is for, in its maker's words: optional (empty is none),
/// trimmed, at most 500 characters; new lines are kept, other control and
/// invisible characters refused.
pub fn parse_description(raw: &str) -> Result<Option<String>, FieldError> {
    let composed = nfc(raw).replace("\r\n", "\n");
    let text = composed.trim();
    if text
        .chars()
        .any(|c| c != '\n' && super::text::is_invisible_or_control(c))
    {
        return Err(FieldError::new(
            "description",
            "The description cannot contain control characters (other than new lines) or invisible ones.",
        ));
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(FieldError::new(
            "description",
            format!("The description must be at most {MAX_DESCRIPTION_CHARS} characters."),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// A token's name: 1–100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName, FieldError> {
        // Composed first, so the rules below hold for what is stored.
        let composed = nfc(raw);
        let name = composed.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "Enter a name for the token."));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new(
                "name",
                format!("The name must be at most {MAX_NAME_CHARS} characters."),
            ));
        }
        if has_invisible_or_control(name) {
            return Err(FieldError::new(
                "name",
                "The name cannot contain control characters (tabs, new lines, NUL) or invisible ones (zero-width spaces, direction marks).",
            ));
        }
        // Compared and stored composed, so look-alike spellings are one name.
        Ok(TokenName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_accepts_ordinary_names() {
        assert_eq!(
            TokenName::parse("  CI deploy  ").map(|n| n.as_str().to_owned()),
            Ok("CI deploy".to_owned())
        );
        assert!(TokenName::parse("<script>alert(1)</script>").is_ok());
        assert!(TokenName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_control() {
        assert!(TokenName::parse("").is_err());
        assert!(TokenName::parse("   ").is_err());
        assert!(TokenName::parse(&"a".repeat(101)).is_err());
        assert!(TokenName::parse("a\0b").is_err());
        assert!(TokenName::parse("a\nb").is_err());
        assert!(TokenName::parse("a\u{7f}b").is_err());
        for invisible in [
            "prod\u{200b}-deploy",
            "\u{feff}prod",
            "prod\u{202e}",
            "a\u{2028}b",
        ] {
            assert!(TokenName::parse(invisible).is_err(), "{invisible:?}");
        }
        assert_eq!(
            TokenName::parse("Caf\u{65}\u{301}").map(|n| n.as_str().to_owned()),
            Ok("Café".to_owned())
        );
    }

    proptest! {
        #[test]
        fn parsed_names_obey_the_rules(s in "\\PC{0,120}") {
            if let Ok(name) = TokenName::parse(&s) {
                let n = name.as_str();
                prop_assert!(!n.is_empty() && n.chars().count() <= 100);
                prop_assert_eq!(n, n.trim());
            }
        }
    }
}

pub const MAX_SERVICE_NAME_CHARS: usize = 64;

/// A service account's name: 1–64 characters of `[a-z0-9._-]`, starting
/// with a letter or digit. Never holds `@`, so it cannot pass for an
/// email (it is kept where a person's email is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(raw: &str) -> Result<ServiceName, FieldError> {
        let name = raw.trim();
        let mut bytes = name.bytes();
        let first_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'));
        let rest_ok = bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
        if name.is_empty() || name.chars().count() > MAX_SERVICE_NAME_CHARS || !first_ok || !rest_ok
        {
            return Err(FieldError::new(
                "name",
                format!(
                    "A service account's name has 1 to {MAX_SERVICE_NAME_CHARS} characters: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit (e.g. billing-worker)."
                ),
            ));
        }
        Ok(ServiceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod service_name_tests {
    use super::ServiceName;

    #[test]
    fn service_names_follow_the_pattern() {
        for good in ["ci", "billing-worker", "a.b_c-1", "0day", &"x".repeat(64)] {
            assert!(ServiceName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-ci",
            ".ci",
            "CI",
            "ci bot",
            "ci@example.com",
            "ü",
            &"x".repeat(65),
        ] {
            assert!(ServiceName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
