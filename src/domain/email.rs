use super::FieldError;
use super::text::{is_invisible_or_control, nfc};

/// RFC 5321's limit for a forward path.
pub const MAX_EMAIL_CHARS: usize = 254;
use std::fmt;

/// A member's email, trimmed and lower-cased so that lookups are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        // Composed (NFC) and lower-cased: "josé" typed either way is one
        // member.
        let email = nfc(raw.trim()).to_lowercase();
        let invalid = || {
            FieldError::new(
                "email",
                format!("{:?} is not a valid email address.", raw.trim()),
            )
        };
        if email.is_empty() {
            return Err(FieldError::new("email", "Enter an email address."));
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(FieldError::new(
                "email",
                format!("An email address has at most {MAX_EMAIL_CHARS} characters."),
            ));
        }
        if email
            .chars()
            .any(|c| c.is_whitespace() || is_invisible_or_control(c))
        {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_spellings_are_one_address() {
        assert_eq!(
            Email::parse("jose\u{301}@x.io").map(|e| e.0),
            Email::parse("jos\u{e9}@x.io").map(|e| e.0)
        );
    }

    #[test]
    fn long_addresses_are_refused_with_their_own_message() {
        let long = format!("{}@example.com", "a".repeat(300));
        let err = Email::parse(&long).expect_err("too long");
        assert!(err.message.contains("at most 254"));
        assert!(err.message.len() < 100, "the address is not echoed");
    }

    #[test]
    fn normalises_and_validates() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_owned())
        );
        assert!(Email::parse("admin@localhost").is_ok());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
            "ada@.com",
            "ada@x..com",
            "d@x.io\u{200b}",
            "x@y\u{202e}",
            "\u{feff}a@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
