//! The client's address: the socket's peer, or — only when that peer is a
//! trusted proxy — the nearest untrusted address in `X-Forwarded-For`.

use crate::domain::IpRange;
use actix_web::{HttpRequest, web};
use std::net::IpAddr;

/// Most `X-Forwarded-For` entries looked at; a longer chain is not ours.
const MAX_FORWARDED_HOPS: usize = 32;

/// `LATCHKEY_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpRange>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }

    /// Walks the chain from the nearest hop outwards, skipping trusted
    /// proxies: the first other address is the client. Anyone can write
    /// the far end of the header, so it is believed only up to the first
    /// untrusted hop. A hop that is not an address, met before the client
    /// is found, makes the client unknown: it is never the proxy itself,
    /// which would let a garbage entry pass an allow-list or move a
    /// sign-in limit.
    fn forwarded_client(&self, req: &HttpRequest) -> Forwarded {
        let mut hops: Vec<&str> = Vec::new();
        for value in req.headers().get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return Forwarded::Unknown;
            };
            hops.extend(text.split(',').map(str::trim));
            if hops.len() > MAX_FORWARDED_HOPS {
                return Forwarded::Unknown;
            }
        }
        if hops.is_empty() {
            return Forwarded::Absent;
        }
        let mut outermost = None;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                return Forwarded::Unknown;
            };
            if !self.trusts(addr) {
                return Forwarded::Client(addr);
            }
            outermost = Some(addr);
        }
        // Every hop is a trusted proxy: the outermost one asked.
        outermost.map_or(Forwarded::Unknown, Forwarded::Client)
    }
}

/// What `X-Forwarded-For` says about the client.
enum Forwarded {
    Absent,
    Client(IpAddr),
    Unknown,
}

/// One hop: an address, with a port (`203.0.113.7:4444`,
/// `[2001:db8::1]:443`) or brackets as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = hop.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The client's address, or `None` when a trusted proxy forwarded a chain
/// that does not say (then allow-lists refuse, and limits count it under
/// "unknown").
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) if proxies.trusts(peer) => match proxies.forwarded_client(req) {
            Forwarded::Absent => Some(peer),
            Forwarded::Client(addr) => Some(addr),
            Forwarded::Unknown => None,
        },
        _ => Some(peer),
    }
}

/// The client's address as text, as it is recorded.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client_addr(req).map(|ip| ip.to_string())
}
