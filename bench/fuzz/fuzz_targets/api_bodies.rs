#![no_main]
//! The JSON and form bodies of introspection and of leak reports.

use latchkey::web::api::{introspect_token, leak_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in ["application/json", "application/x-www-form-urlencoded", "text/plain"] {
        if let Ok(token) = introspect_token(content_type, data) {
            assert!(!token.is_empty());
        }
    }
    if let Ok(tokens) = leak_report(data) {
        assert!(tokens.len() <= 1000);
    }
});
