//! Address ranges: a token's IP allow-list and the trusted proxies.

use super::FieldError;
use super::Malformed;
use std::fmt;
use std::net::IpAddr;

/// Most ranges one token may list.
pub const MAX_ALLOWED_RANGES: usize = 32;

/// The part of a client address that rate limits count by: the whole
/// IPv4 address, or the /64 of an IPv6 one (one customer's network; its
/// hosts can change their last 64 bits at will).
pub fn rate_limit_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

/// An address range in CIDR notation: `203.0.113.0/24`, `2001:db8::/32`;
/// a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(input: &str) -> Result<IpRange, Malformed> {
        let text = input.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| Malformed(format!("“{text}” is not an IPv4 or IPv6 address or range")))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                Malformed(format!("“{text}”: the prefix length must be 0 to {max}"))
            })?,
        };
        let range = IpRange { network, prefix };
        let masked = range.masked(network);
        if masked != network {
            return Err(Malformed(format!(
                "“{text}” has bits set past /{prefix}; did you mean {masked}/{prefix}?"
            )));
        }
        // IPv4 written the IPv6 way (`::ffff:192.0.2.0/120`) is IPv4: clients
        // are matched as IPv4 addresses.
        if let IpAddr::V6(v6) = network
            && prefix >= 96
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            return Ok(IpRange {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(range)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// IPv4 addresses seen through an IPv6 socket (`::ffff:a.b.c.d`) match
    /// IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }

    /// Every address of `other` is in this range.
    pub fn covers(&self, other: &IpRange) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Ranges a token may be used from; empty means anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpRange>);

/// Ranges as a person types them: separated by commas, spaces or new
/// lines. The message names the first bad entry.
pub fn parse_ranges(input: &str) -> Result<Vec<IpRange>, Malformed> {
    input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(IpRange::parse)
        .collect()
}

/// As stored, read once where a row is loaded.
impl TryFrom<String> for IpAllowList {
    type Error = Malformed;
    fn try_from(stored: String) -> Result<Self, Malformed> {
        if stored.is_empty() {
            return Ok(IpAllowList::default());
        }
        IpAllowList::from_stored(&stored)
    }
}

impl IpAllowList {
    /// From the generate form's field.
    pub fn parse_input(input: &str) -> Result<IpAllowList, FieldError> {
        let ranges =
            parse_ranges(input).map_err(|message| FieldError::new("allowed_ips", message))?;
        Self::from_ranges(ranges)
    }

    /// At most `MAX_ALLOWED_RANGES`; a range given twice is kept once.
    pub fn from_ranges(ranges: Vec<IpRange>) -> Result<IpAllowList, FieldError> {
        if ranges.len() > MAX_ALLOWED_RANGES {
            return Err(FieldError::new(
                "allowed_ips",
                format!("At most {MAX_ALLOWED_RANGES} address ranges per token."),
            ));
        }
        let mut unique: Vec<IpRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            if !unique.contains(&range) {
                unique.push(range);
            }
        }
        Ok(IpAllowList(unique))
    }

    /// As stored: `203.0.113.0/24,2001:db8::/32`.
    pub fn from_stored(stored: &str) -> Result<IpAllowList, Malformed> {
        let ranges =
            parse_ranges(stored).map_err(|e| Malformed(format!("stored allow-list: {e}")))?;
        Self::from_ranges(ranges)
            .map_err(|e| Malformed(format!("stored allow-list: {}", e.message)))
    }

    pub fn to_stored(&self) -> String {
        self.ranges()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> impl Iterator<Item = &IpRange> {
        self.0.iter()
    }

    /// Whether a request from `ip` may use the token; an unknown address
    /// passes only an empty list.
    /// Every address `other` lets in, this list lets in too (an empty
    /// list lets in everything).
    pub fn covers(&self, other: &IpAllowList) -> bool {
        self.is_empty()
            || (!other.is_empty()
                && other
                    .ranges()
                    .all(|r| self.ranges().any(|mine| mine.covers(r))))
    }

    pub fn permits(&self, ip: Option<IpAddr>) -> bool {
        self.0.is_empty() || ip.is_some_and(|ip| self.contains(ip))
    }

    /// Whether any of the ranges holds `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_keys_group_ipv6_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(rate_limit_key(Some(a)), rate_limit_key(Some(b)));
        assert_eq!(rate_limit_key(Some(a)), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(rate_limit_key(Some(mapped)), "192.0.2.7");
        assert_eq!(rate_limit_key(None), "unknown");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ranges_parse_and_match_both_families() {
        let v4 = IpRange::parse("203.0.113.0/24").expect("v4");
        assert!(v4.contains(ip("203.0.113.200")));
        assert!(!v4.contains(ip("203.0.114.1")));
        assert!(v4.contains(ip("::ffff:203.0.113.9")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6 = IpRange::parse("2001:db8::/32").expect("v6");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("203.0.113.1")));
        let one = IpRange::parse(" 192.0.2.7 ").expect("bare");
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(
            IpRange::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(IpRange::parse("::/0").expect("all v6").contains(ip("::1")));
        let mapped = IpRange::parse("::ffff:192.0.2.0/120").expect("mapped");
        assert_eq!(mapped.to_string(), "192.0.2.0/24");
        assert!(mapped.contains(ip("192.0.2.9")));
        assert!(mapped.contains(ip("::ffff:192.0.2.9")));
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        for (input, needle) in [
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("2001:db8::/129", "0 to 128"),
            ("10.0.0.0/x", "prefix length"),
            ("10.0.0", "not an IPv4 or IPv6"),
            ("example.com", "not an IPv4 or IPv6"),
            ("10.0.0.0/-1", "prefix length"),
        ] {
            let err = IpRange::parse(input).expect_err(input);
            assert!(err.0.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn allow_lists_round_trip_and_permit() {
        let list = IpAllowList::parse_input("203.0.113.0/24,\n 2001:db8::/32  203.0.113.0/24")
            .expect("list");
        assert_eq!(list.to_stored(), "203.0.113.0/24,2001:db8::/32");
        assert_eq!(
            IpAllowList::from_stored(&list.to_stored()),
            Ok(list.clone())
        );
        assert!(list.permits(Some(ip("2001:db8::5"))));
        assert!(!list.permits(Some(ip("198.51.100.1"))));
        assert!(!list.permits(None));
        assert!(IpAllowList::default().permits(None));
        let err = IpAllowList::parse_input("10.0.0.0/8 nonsense").expect_err("bad");
        assert_eq!(err.field, "allowed_ips");
        assert!(err.message.contains("“nonsense”"), "{}", err.message);
        let many = vec!["10.0.0.1"; MAX_ALLOWED_RANGES + 1].join(",");
        assert!(IpAllowList::parse_input(&many).is_err());
    }

    #[test]
    fn a_list_covers_narrower_lists_only() {
        let list = |s: &str| IpAllowList::parse_input(s).expect("ranges");
        assert!(list("10.0.0.0/8").covers(&list("10.1.0.0/16, 10.2.3.4")));
        assert!(!list("10.0.0.0/8").covers(&list("10.0.0.0/7")));
        assert!(!list("10.0.0.0/8").covers(&list("192.0.2.1")));
        assert!(!list("10.0.0.0/8").covers(&IpAllowList::default()));
        assert!(IpAllowList::default().covers(&list("192.0.2.1")));
        assert!(!list("2001:db8::/32").covers(&list("10.0.0.1")));
    }
}
