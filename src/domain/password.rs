//! Passwords: argon2id hashes; plaintext wrapped so it never reaches a log.

use super::FieldError;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::TryRng;
use rand::rngs::SysRng;
use std::fmt;

pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// A password chosen by a person (new members, `--password-stdin`).
    pub fn parse_new(raw: &str) -> Result<Password, FieldError> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                format!("The password must be at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(FieldError::new("password", "The password is too long."));
        }
        Ok(Password(raw.to_owned()))
    }

    /// A password typed at sign-in: never validated beyond size, only checked.
    pub fn attempt(raw: &str) -> Password {
        Password(raw.to_owned())
    }

    /// A random 20-character password for first start and new members.
    pub fn generate() -> Result<Password, rand::rngs::SysError> {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut out = String::with_capacity(20);
        let mut buf = [0u8; 64];
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        while out.len() < 20 {
            SysRng.try_fill_bytes(&mut buf)?;
            for &b in buf.iter().filter(|&&b| b < limit) {
                if out.len() == 20 {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
        Ok(Password(out))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Slow by design: call it off the async threads.
    pub fn hash(&self) -> Result<PasswordHash, String> {
        Argon2::default()
            .hash_password(self.0.as_bytes())
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| format!("password hashing failed: {e}"))
    }

    /// Slow by design: call it off the async threads.
    pub fn verify(&self, hash: &PasswordHash) -> bool {
        Argon2::default()
            .verify_password(self.0.as_bytes(), hash.0.as_str())
            .is_ok()
    }
}

/// A PHC-format argon2id hash string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(s: String) -> Self {
        PasswordHash(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let pw = Password::parse_new("correct horse battery").expect("long enough");
        let hash = pw.hash().expect("hash");
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(pw.verify(&hash));
        assert!(!Password::attempt("wrong horse battery").verify(&hash));
        assert!(!Password::attempt("x").verify(&PasswordHash::from_stored("garbage".into())));
    }

    #[test]
    fn rules_and_redaction() {
        assert!(Password::parse_new("short").is_err());
        let generated = Password::generate().expect("os rng");
        assert_eq!(generated.expose().len(), 20);
        assert!(!format!("{generated:?}").contains(generated.expose()));
    }
}
