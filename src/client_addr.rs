//! The client's address, for the brakes on guessing (login, scans) and the logs.
//!
//! Why: `X-Forwarded-For` is written by whoever sends the request. Believed from
//! anyone, it lets an attacker pick the address each guess is charged to (escaping the
//! per-address ceiling, or charging a victim's address). So the address is the TCP
//! peer, unless the peer is one of the configured `trusted_proxies`; then it is the
//! right-most address of `X-Forwarded-For` that is not itself a trusted proxy (each
//! proxy appends the peer it saw, so everything left of the first untrusted hop is the
//! client's own claim). Every place that needs an address calls [`client_ip`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use serde::{Deserialize, Deserializer};

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Cidr, String> {
        let raw = raw.trim();
        let refuse = || {
            format!("trusted_proxies: {raw:?} is not an IP address or a network such as 10.0.0.0/8")
        };
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| refuse())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(refuse)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The configured `trusted_proxies`: a TOML list (`["10.0.0.1", "10.1.0.0/16"]`) or,
/// from the environment, the same separated by commas
/// (`PASSNUM_TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16`). Empty by default: no header is
/// believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<TrustedProxies, String> {
        items
            .iter()
            .flat_map(|item| item.as_ref().split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TrustedProxies, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let items = match Raw::deserialize(deserializer)? {
            Raw::One(s) => vec![s],
            Raw::Many(v) => v,
        };
        TrustedProxies::parse(&items).map_err(serde::de::Error::custom)
    }
}

/// An address as a proxy may write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
/// `[::1]:5678`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(ip, _)| ip.parse().ok())
            .map(canonical);
    }
    raw.rsplit_once(':')
        .and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
        .map(canonical)
}

/// The client behind `peer` given the request's `X-Forwarded-For` values (in the order
/// they came): see the module's doc.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .collect();
    // The nearest trusted hop so far: the answer when every hop is trusted, or when a
    // trusted proxy wrote something that is not an address.
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => nearest = ip,
            Some(ip) => return ip,
            None => return nearest,
        }
    }
    nearest
}

/// The client's address for `req` (see the module's doc); `None` when the connection
/// has no IP peer (never the case over TCP).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let values = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    Some(resolve(peer, values, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let list = TrustedProxies::parse(&["10.0.0.0/8, 192.168.1.7", "fd00::/8"]).unwrap();
        for (addr, expected) in [
            ("10.20.30.40", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("::ffff:10.1.1.1", true),
            ("fd12::1", true),
            ("fe80::1", false),
        ] {
            assert_eq!(list.contains(ip(addr)), expected, "{addr}");
        }
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0"])
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "proxy.example.org", "10.0.0.1/x", "::1/129"] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn the_header_counts_only_behind_a_trusted_proxy() {
        let trusted = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let none = TrustedProxies::default();
        type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a TrustedProxies, &'a str);
        let cases: &[Case] = &[
            (
                "no proxy trusted",
                "127.0.0.1",
                &["9.9.9.9"],
                &none,
                "127.0.0.1",
            ),
            (
                "untrusted peer",
                "203.0.113.5",
                &["9.9.9.9"],
                &trusted,
                "203.0.113.5",
            ),
            (
                "trusted peer, one hop",
                "127.0.0.1",
                &["198.51.100.7"],
                &trusted,
                "198.51.100.7",
            ),
            (
                "spoofed left part is ignored",
                "127.0.0.1",
                &["6.6.6.6, 198.51.100.7"],
                &trusted,
                "198.51.100.7",
            ),
            (
                "chain of trusted proxies",
                "127.0.0.1",
                &["6.6.6.6", "198.51.100.7, 10.1.2.3"],
                &trusted,
                "198.51.100.7",
            ),
            ("no header", "127.0.0.1", &[], &trusted, "127.0.0.1"),
            (
                "all hops trusted",
                "127.0.0.1",
                &["10.0.0.9, 10.0.0.8"],
                &trusted,
                "10.0.0.9",
            ),
            (
                "garbage from the proxy",
                "127.0.0.1",
                &["6.6.6.6, unknown"],
                &trusted,
                "127.0.0.1",
            ),
            (
                "with ports",
                "127.0.0.1",
                &["198.51.100.7:4711"],
                &trusted,
                "198.51.100.7",
            ),
            (
                "ipv6 with port",
                "127.0.0.1",
                &["[2001:db8::1]:443"],
                &trusted,
                "2001:db8::1",
            ),
            (
                "mapped peer",
                "::ffff:127.0.0.1",
                &["198.51.100.7"],
                &trusted,
                "198.51.100.7",
            ),
        ];
        for (case, peer, headers, list, expected) in cases {
            let got = resolve(ip(peer), headers.iter().copied(), list);
            assert_eq!(got, ip(expected), "{case}");
        }
    }
}
