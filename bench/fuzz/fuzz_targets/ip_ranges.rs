#![no_main]
//! IP allow-lists as typed into the generate form or `--allow-ip`: any
//! input is refused with a message or parsed into ranges that survive
//! storage unchanged and contain their own network address.

use latchkey::domain::{IpAllowList, IpRange};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match IpAllowList::parse_input(text) {
        Err(e) => assert!(!e.message.is_empty()),
        Ok(list) => {
            let stored = list.to_stored();
            assert_eq!(IpAllowList::from_stored(&stored), Ok(list.clone()));
            for range in list.ranges() {
                let shown = range.to_string();
                assert_eq!(IpRange::parse(&shown), Ok(*range));
                let network: IpAddr = shown
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("a range shows its network address");
                assert!(range.contains(network));
                assert!(list.permits(Some(network)));
            }
        }
    }
});
