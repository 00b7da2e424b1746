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
    /// untrusted hop. `None` when the header is absent or malformed.
    fn forwarded_client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let mut hops = Vec::new();
        for value in req.headers().get_all("x-forwarded-for") {
            for entry in value.to_str().ok()?.split(',') {
                hops.push(entry.trim().parse::<IpAddr>().ok()?.to_canonical());
                if hops.len() > MAX_FORWARDED_HOPS {
                    return None;
                }
            }
        }
        let leftmost = *hops.first()?;
        Some(
            hops.into_iter()
                .rev()
                .find(|hop| !self.trusts(*hop))
                .unwrap_or(leftmost),
        )
    }
}

pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) if proxies.trusts(peer) => proxies.forwarded_client(req).or(Some(peer)),
        _ => Some(peer),
    }
}

/// The client's address as text, as it is recorded.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client_addr(req).map(|ip| ip.to_string())
}
