//! Strict `application/x-www-form-urlencoded` decoding: repeated fields
//! (`ids`, `scopes`) are kept, and invalid percent-encoding or UTF-8 is an
//! error instead of being silently replaced.

#[derive(Debug, Default, Clone)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("The form data is not valid: bad percent-encoding.")]
    Encoding,
    #[error("The form data is not valid UTF-8.")]
    Utf8,
    #[error("The form has too many fields.")]
    TooManyFields,
}

/// More than any of our forms sends (1,000 ids for a bulk revoke).
const MAX_FIELDS: usize = 2000;

impl FormData {
    pub fn parse(body: &[u8]) -> Result<FormData, FormError> {
        let mut pairs = Vec::new();
        for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_FIELDS {
                return Err(FormError::TooManyFields);
            }
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(FormData { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, or "" when the field is absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(FormError::Encoding)?;
                let s = std::str::from_utf8(hex).map_err(|_| FormError::Encoding)?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| FormError::Encoding)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_repeated_fields_and_decodes() {
        let f = FormData::parse(b"name=CI+deploy%21&scopes=a&scopes=b&empty=&flag").expect("valid");
        assert_eq!(f.get("name"), Some("CI deploy!"));
        assert_eq!(f.all("scopes"), vec!["a", "b"]);
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("missing"), None);
    }

    fn encode(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = FormData::parse(&body);
        }

        #[test]
        fn round_trips_any_text(key in "\\PC{0,20}", value in "\\PC{0,60}") {
            let body = format!("{}={}&other=1", encode(&key), encode(&value));
            let form = FormData::parse(body.as_bytes()).expect("valid encoding");
            proptest::prop_assert_eq!(form.all(&key).first().copied(), Some(value.as_str()));
        }
    }

    #[test]
    fn rejects_bad_encoding_and_utf8() {
        assert_eq!(FormData::parse(b"a=%zz").err(), Some(FormError::Encoding));
        assert_eq!(FormData::parse(b"a=%4").err(), Some(FormError::Encoding));
        assert_eq!(FormData::parse(b"a=%ff%fe").err(), Some(FormError::Utf8));
        assert_eq!(FormData::parse(b"a=\xff").err(), Some(FormError::Utf8));
        assert_eq!(FormData::parse(b"a=%00").map(|f| f.text("a").len()), Ok(1));
    }
}
