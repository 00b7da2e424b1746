//! Typed ids keep a member id from being passed where a token id belongs.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        /// Ids are positive integers, written with digits only.
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<i64>() {
                    Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok($name(n)),
                    _ => Err(format!("{s:?} is not an id (a positive number)")),
                }
            }
        }
    };
}

id_type!(TokenId);
id_type!(MemberId);
id_type!(OrgId);

#[cfg(test)]
mod tests {
    use super::TokenId;

    #[test]
    fn ids_are_positive_digits() {
        assert_eq!("42".parse::<TokenId>(), Ok(TokenId(42)));
        for bad in [
            "0",
            "-3",
            "+3",
            " 3",
            "3 ",
            "abc",
            "1.5",
            "99999999999999999999",
            "",
        ] {
            assert!(bad.parse::<TokenId>().is_err(), "{bad:?}");
        }
    }
}
