//! The random id a console session cookie carries. The database keeps only
//! its SHA-256, so a copy of the database signs no one in.

use super::bytes::{random_hex, to_hex};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

/// 32 random bytes, as 64 hex characters (256 bits).
const SECRET_HEX_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

impl SessionSecret {
    pub fn generate() -> Result<SessionSecret, rand::rngs::SysError> {
        random_hex(SECRET_HEX_LEN / 2).map(SessionSecret)
    }

    /// The value a cookie brought back, if it has the shape of ours.
    pub fn from_cookie(raw: &str) -> Option<SessionSecret> {
        (raw.len() == SECRET_HEX_LEN && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| SessionSecret(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keeps.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The CSRF token of this session: derived from the id, so the cookie
    /// carries nothing else, and useless to anyone who does not hold it.
    pub fn csrf_token(&self) -> String {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"latchkey csrf v1");
        to_hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_checked_on_the_way_back() {
        let a = SessionSecret::generate().expect("os rng");
        let b = SessionSecret::generate().expect("os rng");
        assert_ne!(a, b);
        assert_eq!(SessionSecret::from_cookie(a.expose()), Some(a.clone()));
        assert_eq!(SessionSecret::from_cookie("abc"), None);
        assert_eq!(SessionSecret::from_cookie(&"G".repeat(64)), None);
        assert_ne!(a.csrf_token(), b.csrf_token());
        assert_eq!(a.csrf_token(), a.clone().csrf_token());
        assert_ne!(to_hex(&a.hash()), a.csrf_token());
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
