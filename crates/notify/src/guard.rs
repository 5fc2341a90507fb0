//! SSRF guard for webhook destinations (notification, lifecycle and validation URLs).
//!
//! Rules:
//! * The URL must be `https`, except `http` to a loopback host: an IP literal in `127.0.0.0/8`
//!   or `::1`, or the name `localhost` (which must then resolve to loopback addresses only).
//! * Every address the host resolves to must be allowed. Allowed by default: loopback and
//!   public (globally routable) addresses. Private and special-purpose ranges are refused unless
//!   they fall inside a CIDR of the allow list (`--webhook-allow CIDR,...`):
//!   `10/8`, `172.16/12`, `192.168/16`, `169.254/16`, `100.64/10`, `fc00::/7`, `fe80::/10`, and
//!   also `0/8`, `192.0.0/24`, `198.18/15`, `224/4` (multicast), `240/4` (reserved, broadcast),
//!   `::/128`, `::/96` (IPv4-compatible), `ff00::/8` (multicast).
//! * IPv6 addresses that embed an IPv4 address (`::ffff:0:0/96` mapped, `64:ff9b::/96` NAT64,
//!   `2002::/16` 6to4) are judged by the embedded IPv4 address as well, so
//!   `::ffff:10.0.0.1` is as private as `10.0.0.1`.
//!
//! [`WebhookGuard::check_url`] does the whole check up front (for a clear error at subscription
//! time); [`GuardedResolver`] applies the same address rule inside reqwest's DNS resolution, so a
//! name that re-resolves to a private address at delivery time (DNS rebinding) is refused too.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use reqwest::Url;

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Not an absolute URL with a host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A scheme other than https (or http to loopback).
    #[error("only https URLs are allowed (http only to a loopback host): {0}")]
    SchemeNotAllowed(String),
    /// The host is, or resolves to, an address outside the allowed ranges.
    #[error("destination address {addr} ({range}) is not allowed")]
    AddressNotAllowed {
        /// The refused address.
        addr: IpAddr,
        /// The range it falls in.
        range: &'static str,
    },
    /// An http URL whose host resolves to a non-loopback address.
    #[error("http is only allowed to loopback; {host} resolves to {addr}")]
    HttpNotLoopback {
        /// The host name.
        host: String,
        /// The non-loopback address it resolves to.
        addr: IpAddr,
    },
    /// The host name did not resolve.
    #[error("could not resolve {host}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// Resolver message.
        reason: String,
    },
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address means
/// a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid CIDR {s:?}: prefix must be 0..={max}"))?,
        };
        // `::ffff:a.b.c.d/n` (n >= 96) is the IPv4 network `a.b.c.d/(n-96)`.
        match (addr, canonical(addr)) {
            (IpAddr::V6(_), IpAddr::V4(v4)) if prefix >= 96 => Ok(Self {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            }),
            _ => Ok(Self { addr, prefix }),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) → IPv4; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// How an address is classified by the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// `127.0.0.0/8`, `::1`: always allowed.
    Loopback,
    /// Globally routable: always allowed.
    Public,
    /// A private or special-purpose range: allowed only through the allow list.
    Restricted(&'static str),
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        (127, _, _) => return AddrClass::Loopback,
        (0, _, _) => "0.0.0.0/8",
        (10, _, _) => "10.0.0.0/8",
        (100, b, _) if (64..128).contains(&b) => "100.64.0.0/10",
        (169, 254, _) => "169.254.0.0/16",
        (172, b, _) if (16..32).contains(&b) => "172.16.0.0/12",
        (192, 0, 0) => "192.0.0.0/24",
        (192, 168, _) => "192.168.0.0/16",
        (198, 18 | 19, _) => "198.18.0.0/15",
        (224..=239, _, _) => "224.0.0.0/4",
        (240..=255, _, _) => "240.0.0.0/4",
        _ => return AddrClass::Public,
    };
    AddrClass::Restricted(range)
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Classifies an address (see the module documentation for the ranges).
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if v6 == Ipv6Addr::LOCALHOST {
                return AddrClass::Loopback;
            }
            if let Some(v4) = embedded_v4(v6) {
                return classify_v4(v4);
            }
            let s0 = v6.segments()[0];
            if v6.is_unspecified() {
                AddrClass::Restricted("::/128")
            } else if v6.segments()[..6] == [0; 6] {
                AddrClass::Restricted("::/96")
            } else if s0 & 0xfe00 == 0xfc00 {
                AddrClass::Restricted("fc00::/7")
            } else if s0 & 0xffc0 == 0xfe80 {
                AddrClass::Restricted("fe80::/10")
            } else if s0 & 0xff00 == 0xff00 {
                AddrClass::Restricted("ff00::/8")
            } else {
                AddrClass::Public
            }
        }
    }
}

/// Whether `url`'s host is a loopback IP literal or `localhost`.
fn loopback_host(url: &Url) -> bool {
    match url.host_str() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) => parse_host_ip(h).is_some_and(|ip| classify(ip) == AddrClass::Loopback),
        None => false,
    }
}

fn parse_host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Parses `url` and checks the scheme rule only (no resolution): https anywhere, http only to a
/// loopback IP literal or `localhost`.
pub fn check_scheme(url: &str) -> Result<Url, GuardError> {
    let parsed = Url::parse(url).map_err(|e| GuardError::InvalidUrl(format!("{url}: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(GuardError::InvalidUrl(format!("{url}: no host")));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback_host(&parsed) => Ok(parsed),
        _ => Err(GuardError::SchemeNotAllowed(url.to_owned())),
    }
}

/// The destination policy: which addresses webhooks may be sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookGuard {
    allow: Vec<Cidr>,
}

impl WebhookGuard {
    /// A guard allowing loopback, public addresses and the given networks.
    pub fn new(allow: Vec<Cidr>) -> Self {
        Self { allow }
    }

    /// Parses the `--webhook-allow` value: comma-separated CIDRs (empty string: none).
    pub fn from_allow_list(list: &str) -> Result<Self, String> {
        let allow = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allow })
    }

    /// The allow list.
    pub fn allow_list(&self) -> &[Cidr] {
        &self.allow
    }

    /// Checks one address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), GuardError> {
        match classify(ip) {
            AddrClass::Loopback | AddrClass::Public => Ok(()),
            AddrClass::Restricted(range) => {
                if self.allow.iter().any(|c| c.contains(ip)) {
                    Ok(())
                } else {
                    Err(GuardError::AddressNotAllowed { addr: ip, range })
                }
            }
        }
    }

    /// Checks the scheme, resolves the host and checks every address; returns the addresses.
    pub async fn check_url(&self, url: &str) -> Result<Vec<SocketAddr>, GuardError> {
        let parsed = check_scheme(url)?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match parse_host_ip(&host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => resolve(&host, port).await?,
        };
        self.check_resolved(&host, parsed.scheme() == "http", &addrs)?;
        Ok(addrs)
    }

    fn check_resolved(
        &self,
        host: &str,
        http: bool,
        addrs: &[SocketAddr],
    ) -> Result<(), GuardError> {
        if addrs.is_empty() {
            return Err(GuardError::Resolve {
                host: host.to_owned(),
                reason: "no addresses".into(),
            });
        }
        for a in addrs {
            self.check_ip(a.ip())?;
            if http && classify(a.ip()) != AddrClass::Loopback {
                return Err(GuardError::HttpNotLoopback {
                    host: host.to_owned(),
                    addr: a.ip(),
                });
            }
        }
        Ok(())
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
    tokio::net::lookup_host((host, port))
        .await
        .map(Iterator::collect)
        .map_err(|e| GuardError::Resolve {
            host: host.to_owned(),
            reason: e.to_string(),
        })
}

/// A reqwest DNS resolver that refuses names resolving to any disallowed address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<WebhookGuard>,
}

impl GuardedResolver {
    /// Wraps a guard.
    pub fn new(guard: Arc<WebhookGuard>) -> Self {
        Self { guard }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.guard);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // A resolution failure is an ordinary (retryable) connection error; only a refused
            // address is a GuardError, which the deliverer reports as `Refused`.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(std::io::Error::other(format!("{host}: no addresses")).into());
            }
            guard.check_resolved(&host, false, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_allows_loopback_and_public_only() {
        let g = WebhookGuard::default();
        for ok in [
            "127.0.0.1",
            "127.255.255.254",
            "::1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.167.255.255",
            "2001:4860:4860::8888",
            "fbff::1",
            "fec0::1",
        ] {
            assert!(g.check_ip(ip(ok)).is_ok(), "{ok} should be allowed");
        }
        for bad in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.0",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "::",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
        ] {
            assert!(g.check_ip(ip(bad)).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            g.check_ip(ip("192.168.1.1")),
            Err(GuardError::AddressNotAllowed {
                addr: ip("192.168.1.1"),
                range: "192.168.0.0/16"
            })
        );
    }

    #[test]
    fn allow_list_opens_exactly_its_networks() {
        let g = WebhookGuard::from_allow_list("10.1.0.0/16, fd00::/8,192.168.5.7").unwrap();
        assert!(g.check_ip(ip("10.1.255.255")).is_ok());
        assert!(g.check_ip(ip("::ffff:10.1.2.3")).is_ok());
        assert!(g.check_ip(ip("10.2.0.0")).is_err());
        assert!(g.check_ip(ip("fd12::1")).is_ok());
        assert!(g.check_ip(ip("fc00::1")).is_err());
        assert!(g.check_ip(ip("192.168.5.7")).is_ok());
        assert!(g.check_ip(ip("192.168.5.8")).is_err());
        let odd = WebhookGuard::from_allow_list("172.20.0.0/14").unwrap();
        assert!(odd.check_ip(ip("172.23.255.255")).is_ok());
        assert!(odd.check_ip(ip("172.24.0.0")).is_err());
        assert!(
            WebhookGuard::from_allow_list("")
                .unwrap()
                .allow_list()
                .is_empty()
        );
        assert!(
            WebhookGuard::from_allow_list("0.0.0.0/0")
                .unwrap()
                .check_ip(ip("10.0.0.1"))
                .is_ok()
        );
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "nope",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(WebhookGuard::from_allow_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scheme_rule() {
        for ok in [
            "https://example.com/hook",
            "https://10.0.0.1/hook",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/hook",
            "http://[::1]:9/hook",
            "http://localhost/hook",
            "http://LOCALHOST:1/hook",
        ] {
            assert!(check_scheme(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "http://localhost.example.com/hook",
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hook",
            "",
            "https://",
        ] {
            assert!(check_scheme(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn check_url_resolves_and_checks_every_address() {
        let g = WebhookGuard::default();
        assert_eq!(
            g.check_url("http://127.0.0.1:1234/x").await.unwrap(),
            vec!["127.0.0.1:1234".parse().unwrap()]
        );
        let addrs = g.check_url("http://localhost:4321/x").await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 4321)
        );
        assert!(matches!(
            g.check_url("https://10.0.0.1/x").await,
            Err(GuardError::AddressNotAllowed { .. })
        ));
        assert!(matches!(
            g.check_url("https://[::ffff:192.168.0.1]/x").await,
            Err(GuardError::AddressNotAllowed { .. })
        ));
        assert!(matches!(
            g.check_url("https://name.invalid/x").await,
            Err(GuardError::Resolve { .. })
        ));
        let open = WebhookGuard::from_allow_list("10.0.0.0/8").unwrap();
        assert!(open.check_url("https://10.0.0.1/x").await.is_ok());
        assert!(matches!(
            open.check_resolved("h", true, &["10.0.0.1:80".parse().unwrap()]),
            Err(GuardError::HttpNotLoopback { .. })
        ));
    }
}
