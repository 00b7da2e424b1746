//! The token string: `<prefix><30 random base62><6 base62 of CRC32>`.
//!
//! The checksum lets us reject typos and garbage without touching the
//! database; only the SHA-256 of the whole string is ever stored.

use super::Malformed;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const RANDOM_LEN: usize = 30;
pub const CHECKSUM_LEN: usize = 6;
const MAX_PREFIX_LEN: usize = 16;

/// How tokens of this installation look (the prefix is configurable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFormat {
    prefix: String,
    /// Prefixes this installation used before: their tokens still parse.
    earlier: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenParseError {
    #[error("token has the wrong length")]
    Length,
    #[error("token does not start with the expected prefix")]
    Prefix,
    #[error("token contains characters outside base62")]
    Alphabet,
    #[error("token checksum does not match")]
    Checksum,
}

impl Default for TokenFormat {
    fn default() -> Self {
        TokenFormat {
            prefix: "lk_".to_owned(),
            earlier: Vec::new(),
        }
    }
}

impl TokenFormat {
    /// A prefix is 1–16 ASCII letters, digits, `_` or `-`.
    pub fn new(prefix: &str) -> Result<Self, Malformed> {
        let ok_chars = prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !ok_chars {
            return Err(Malformed(format!(
                "token prefix {prefix:?} must be 1-{MAX_PREFIX_LEN} characters of A-Z, a-z, 0-9, '_' or '-'"
            )));
        }
        Ok(TokenFormat {
            prefix: prefix.to_owned(),
            earlier: Vec::new(),
        })
    }

    /// Also accepts tokens made under `earlier` prefixes (new tokens keep
    /// this format's own).
    pub fn accepting(mut self, earlier: impl IntoIterator<Item = String>) -> Self {
        for p in earlier {
            if p != self.prefix && !self.earlier.contains(&p) && TokenFormat::new(&p).is_ok() {
                self.earlier.push(p);
            }
        }
        self
    }

    /// Every prefix a presented token may have: this one, then earlier ones.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.prefix.as_str()).chain(self.earlier.iter().map(String::as_str))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn token_len(&self) -> usize {
        self.prefix.len() + RANDOM_LEN + CHECKSUM_LEN
    }

    /// A new token from the operating system's CSPRNG (~178 bits).
    pub fn generate(&self) -> Result<TokenSecret, rand::rngs::SysError> {
        let mut out = String::with_capacity(self.token_len());
        out.push_str(&self.prefix);
        let mut filled = 0;
        let mut buf = [0u8; 64];
        while filled < RANDOM_LEN {
            SysRng.try_fill_bytes(&mut buf)?;
            // Rejection sampling: 248 = 4 * 62 keeps every character equally likely.
            for &b in buf.iter().filter(|&&b| b < 248) {
                if filled == RANDOM_LEN {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                filled += 1;
            }
        }
        let checksum = encode_checksum(crc32fast::hash(out.as_bytes()));
        out.push_str(&checksum);
        Ok(TokenSecret(out))
    }

    /// Checks length, prefix, alphabet and checksum; no I/O.
    pub fn parse(&self, raw: &str) -> Result<TokenSecret, TokenParseError> {
        self.check(raw)?;
        Ok(TokenSecret(raw.to_owned()))
    }

    /// What the database keeps for a presented token, after the same
    /// checks as `parse` (the token check: nothing copied or allocated).
    pub fn hash_of(&self, raw: &str) -> Result<TokenHash, TokenParseError> {
        self.check(raw)?;
        Ok(hash_text(raw))
    }

    fn check(&self, raw: &str) -> Result<(), TokenParseError> {
        let body_len = RANDOM_LEN + CHECKSUM_LEN;
        if !self.prefixes().any(|p| raw.len() == p.len() + body_len) {
            return Err(TokenParseError::Length);
        }
        let Some(body) = self
            .prefixes()
            .filter(|p| raw.len() == p.len() + body_len)
            .find_map(|p| raw.strip_prefix(p))
        else {
            return Err(TokenParseError::Prefix);
        };
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenParseError::Alphabet);
        }
        let (signed, checksum) = raw.split_at(raw.len() - CHECKSUM_LEN);
        if checksum_digits(crc32fast::hash(signed.as_bytes())) != checksum.as_bytes() {
            return Err(TokenParseError::Checksum);
        }
        Ok(())
    }
}

/// CRC32 as exactly six base62 digits (62^6 > 2^32), most significant first.
fn checksum_digits(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    digits
}

fn encode_checksum(crc: u32) -> String {
    checksum_digits(crc)
        .iter()
        .map(|&b| char::from(b))
        .collect()
}

fn hash_text(text: &str) -> TokenHash {
    TokenHash(Sha256::digest(text.as_bytes()).into())
}

/// A token's plaintext. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The plaintext, for the one-time reveal only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        hash_text(&self.0)
    }

    /// The last four characters, safe to display.
    pub fn hint(&self) -> String {
        let start = self.0.len().saturating_sub(4);
        self.0.get(start..).unwrap_or_default().to_owned()
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([redacted])")
    }
}

/// SHA-256 of the whole token string: what the database keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, as the revocation feed names a token.
    pub fn to_hex(&self) -> String {
        super::bytes::to_hex(&self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
    /// Working but for a suspension, until resumed.
    Suspended,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
            TokenStatus::Suspended => "suspended",
        }
    }

    /// As a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            TokenStatus::Active => "Active",
            TokenStatus::Expired => "Expired",
            TokenStatus::Revoked => "Revoked",
            TokenStatus::Suspended => "Suspended",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_prefixes_keep_parsing() {
        let old = TokenFormat::default().generate().expect("rng");
        let acme = TokenFormat::new("acme_").expect("prefix");
        assert_eq!(acme.parse(old.expose()), Err(TokenParseError::Length));
        let both = acme.clone().accepting(["lk_".to_owned()]);
        assert!(both.parse(old.expose()).is_ok());
        let new = both.generate().expect("rng");
        assert!(new.expose().starts_with("acme_"));
        assert!(both.parse(new.expose()).is_ok());
        assert!(TokenFormat::default().parse(new.expose()).is_err());
    }
    use proptest::prelude::*;

    fn format() -> TokenFormat {
        TokenFormat::default()
    }

    #[test]
    fn generated_tokens_have_the_contract_shape() {
        let token = format().generate().expect("os rng");
        let s = token.expose();
        assert_eq!(s.len(), 3 + 30 + 6);
        assert!(s.starts_with("lk_"));
        assert!(s[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(format().parse(s), Ok(token.clone()));
        assert_eq!(token.hint(), s[s.len() - 4..]);
    }

    #[test]
    fn tokens_differ() {
        let a = format().generate().expect("os rng");
        let b = format().generate().expect("os rng");
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = format().generate().expect("os rng");
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.expose()));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn rejects_each_kind_of_bad_token() {
        let f = format();
        let good = f.generate().expect("os rng");
        let s = good.expose();
        assert_eq!(f.parse(""), Err(TokenParseError::Length));
        assert_eq!(f.parse(&s[1..]), Err(TokenParseError::Length));
        assert_eq!(f.parse(&format!("{s}x")), Err(TokenParseError::Length));
        assert_eq!(
            f.parse(&format!("gh_{}", &s[3..])),
            Err(TokenParseError::Prefix)
        );
        assert_eq!(
            f.parse(&format!("{}!{}", &s[..10], &s[11..])),
            Err(TokenParseError::Alphabet)
        );
        // A non-ASCII character of the right byte length is not base62 either.
        assert!(f.parse(&format!("{}é{}", &s[..10], &s[12..])).is_err());
    }

    #[test]
    fn custom_prefix() {
        let f = TokenFormat::new("acme_").expect("valid prefix");
        let t = f.generate().expect("os rng");
        assert!(t.expose().starts_with("acme_"));
        assert!(f.parse(t.expose()).is_ok());
        assert_eq!(
            format().parse(t.expose()),
            Err(TokenParseError::Length),
            "another prefix's token is refused"
        );
        assert!(TokenFormat::new("").is_err());
        assert!(TokenFormat::new("a b").is_err());
        assert!(TokenFormat::new("waytoolongprefix_").is_err());
    }

    #[test]
    fn checksum_is_six_base62_digits() {
        assert_eq!(encode_checksum(0), "000000");
        assert_eq!(encode_checksum(61), "00000z");
        assert_eq!(encode_checksum(u32::MAX).len(), 6);
    }

    proptest! {
        #[test]
        fn any_single_character_change_is_rejected(pos in 0usize..39, replacement in 0usize..62) {
            let f = format();
            let token = f.generate().expect("os rng");
            let mut bytes = token.expose().as_bytes().to_vec();
            let new = ALPHABET[replacement];
            prop_assume!(bytes[pos] != new);
            bytes[pos] = new;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(f.parse(&changed).is_err());
        }

        #[test]
        fn parse_never_panics(s in ".{0,60}") {
            let _ = format().parse(&s);
        }

        /// The check's allocation-free path judges every string as `parse`
        /// does, and hashes what it accepts to the same value.
        #[test]
        fn hash_of_agrees_with_parse(s in ".{0,60}", pos in 0usize..64, c in any::<char>()) {
            let f = format();
            let same = |s: &str| (f.hash_of(s).ok(), f.parse(s).ok().map(|t| t.hash()));
            let (fast, slow) = same(&s);
            prop_assert_eq!(fast, slow);
            // A real token, and the same with one character changed (most
            // such changes fail the checksum, some the alphabet).
            let token = f.generate().expect("os rng");
            prop_assert_eq!(f.hash_of(token.expose()), Ok(token.hash()));
            let mut chars: Vec<char> = token.expose().chars().collect();
            let at = pos % chars.len();
            chars[at] = c;
            let changed: String = chars.into_iter().collect();
            let (fast, slow) = same(&changed);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn parse_of_generate_round_trips(_n in 0u8..50) {
            let f = format();
            let token = f.generate().expect("os rng");
            prop_assert_eq!(f.parse(token.expose()), Ok(token));
        }
    }
}
