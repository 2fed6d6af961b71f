//! Which addresses are not public peers: loopback, private, link-local, reserved, and
//! IPv6 forms that embed such an IPv4 address.
//!
//! Written here rather than taken from a crate: `IpAddr::is_global` is unstable in std,
//! and the crates that copy it are unmaintained or partial (none treats the IPv6 forms
//! embedding an IPv4 address). This follows the IANA special-purpose registries for
//! what matters to an outbound request; each rule is tested below.

use std::net::IpAddr;

/// Whether an address is loopback, private, link-local or otherwise not a public peer.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let first = seg[0];
            // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4
            // (2002::/16) addresses embed an IPv4 address that may be private.
            let embedded = |hi: u16, lo: u16| {
                is_private(IpAddr::V4(std::net::Ipv4Addr::from(
                    ((hi as u32) << 16) | lo as u32,
                )))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (seg[..6] == [0; 6] && embedded(seg[6], seg[7]))
                // IPv4-translated (::ffff:0:a.b.c.d, RFC 2765).
                || (seg[..4] == [0; 4] && seg[4] == 0xffff && seg[5] == 0)
                || (first == 0x64 && seg[1] == 0xff9b)
                || (first == 0x2002 && embedded(seg[1], seg[2]))
                // IETF protocol assignments (2001::/23): Teredo (2001::/32, whose
                // embedded address is obfuscated), benchmarking, ORCHID.
                || (first == 0x2001 && seg[1] < 0x0200)
                // Documentation (2001:db8::/32) and discard-only (100::/64).
                || (first == 0x2001 && seg[1] == 0x0db8)
                || (first == 0x0100 && seg[1..4] == [0; 3])
        }
    }
}

/// The IPv4 address an IPv6 address embeds, in the forms that carry one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
pub fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let seg = v6.segments();
    let v4 = |hi: u16, lo: u16| std::net::Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    match seg {
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(v4(hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for ip in [
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
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "100::1",
            "::127.0.0.1",
            "64:ff9b::8.8.8.8",
            "2002:7f00:1::",
        ] {
            assert!(
                is_private(ip.parse().expect("ip")),
                "{ip} should be private"
            );
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2002:808:808::",
        ] {
            assert!(
                !is_private(ip.parse().expect("ip")),
                "{ip} should be public"
            );
        }
    }
}
