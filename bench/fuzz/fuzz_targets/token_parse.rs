#![no_main]
//! The token parser must refuse or accept any string without panicking, and
//! whatever it accepts must have the contract's shape.

use latchkey::domain::TokenFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for format in [TokenFormat::default(), TokenFormat::new("acme-").expect("prefix")] {
        if let Ok(token) = format.parse(s) {
            assert_eq!(token.expose(), s);
            assert_eq!(s.len(), format.token_len());
            assert!(s[format.prefix().len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
            let _ = token.hash();
            assert_eq!(token.hint().len(), 4);
        }
    }
});
