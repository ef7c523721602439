//! Which addresses deliveries may reach: by default only public ones, so an endpoint URL cannot
//! make Crosswalk call into the network it runs in (loopback, private ranges, link-local cloud
//! metadata). The operator may allow private addresses (self-hosters whose receivers sit next to
//! Crosswalk), or keep deliveries on loopback only (test setups).
//!
//! The host is resolved once per attempt and the request goes to the address that was checked
//! (pinned), so a name that resolves to a public address for the check and a private one for the
//! connection cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which destination addresses are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressPolicy {
    /// Public addresses only (the default).
    #[default]
    PublicOnly,
    /// Any address, private and loopback included.
    AllowPrivate,
    /// Loopback addresses only (test setups, where nothing may leave the machine).
    LoopbackOnly,
}

impl AddressPolicy {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            AddressPolicy::AllowPrivate => true,
            AddressPolicy::LoopbackOnly => canonical(ip).is_loopback(),
            AddressPolicy::PublicOnly => is_public(canonical(ip)),
        }
    }
}

/// An IPv4 address mapped into IPv6 is checked as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // carrier-grade NAT, 100.64.0.0/10
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments and benchmarking, 192.0.0.0/24 and 198.18.0.0/15
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The first of `addresses` the policy allows.
pub fn pick(policy: AddressPolicy, addresses: &[SocketAddr]) -> Option<SocketAddr> {
    addresses
        .iter()
        .copied()
        .find(|address| policy.allows(address.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn only_public_addresses_by_default() {
        let policy = AddressPolicy::PublicOnly;
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!policy.allows(ip(refused)), "{refused}");
        }
        for allowed in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(policy.allows(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn the_operator_may_allow_private_or_keep_to_loopback() {
        assert!(AddressPolicy::AllowPrivate.allows(ip("10.0.0.1")));
        assert!(AddressPolicy::LoopbackOnly.allows(ip("127.0.0.1")));
        assert!(AddressPolicy::LoopbackOnly.allows(ip("::1")));
        assert!(!AddressPolicy::LoopbackOnly.allows(ip("93.184.216.34")));
        assert!(!AddressPolicy::LoopbackOnly.allows(ip("10.0.0.1")));
    }
}
