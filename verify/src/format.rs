//! The token's shape, checked without asking anyone: a prefix, 30
//! base62 characters, and 6 base62 characters of CRC32 over the rest.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;

fn checksum(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    digits
}

/// Whether `token` could be a token Latchkey issued with one of `prefixes`.
pub fn well_formed(token: &str, prefixes: &[String]) -> bool {
    let Some(body) = prefixes.iter().find_map(|p| token.strip_prefix(p.as_str())) else {
        return false;
    };
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (signed, sum) = token.split_at(token.len() - CHECKSUM_LEN);
    checksum(crc32fast::hash(signed.as_bytes())) == sum.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(prefix: &str, random: &str) -> String {
        let mut token = format!("{prefix}{random}");
        let sum = checksum(crc32fast::hash(token.as_bytes()));
        token.push_str(std::str::from_utf8(&sum).expect("ascii"));
        token
    }

    #[test]
    fn shape_and_checksum_are_checked_offline() {
        let prefixes = vec!["lk_".to_owned()];
        let good = make("lk_", &"a".repeat(30));
        assert!(well_formed(&good, &prefixes));
        let mut bad_sum = good.clone();
        bad_sum.pop();
        bad_sum.push(if good.ends_with('0') { '1' } else { '0' });
        for bad in [
            "",
            "lk_",
            "Bearer lk_x",
            bad_sum.as_str(),
            &make("xx_", &"a".repeat(30)),
            &make("lk_", &"a".repeat(29)),
            &make("lk_", &format!("{}-", "a".repeat(29))),
        ] {
            assert!(!well_formed(bad, &prefixes), "{bad:?}");
        }
    }
}
