//! Which IP addresses a production relay may dial: globally routable unicast only.
//!
//! Refused: loopback, private (RFC 1918), link-local, carrier-grade NAT (100.64.0.0/10),
//! unique-local (fc00::/7), site-local, multicast, broadcast, unspecified, reserved,
//! documentation and benchmarking ranges, discard and ORCHID prefixes, and every IPv6 form
//! that embeds an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`, Teredo `2001::/32`) unless the embedded address is itself public.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for globally routable unicast addresses, the only ones a production relay dials.
/// IPv6 addresses that carry an IPv4 address are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", 0.0.0.0/8
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return match v4 {
            Embedded::One(v4) => is_public_v4(v4),
            Embedded::Two(server, client) => is_public_v4(server) && is_public_v4(client),
        };
    }
    let s = ip.segments();
    // Everything outside global unicast 2000::/3 is refused: loopback, unspecified, the
    // rest of ::/96, discard 100::/64, unique-local fc00::/7, link-local fe80::/10,
    // site-local fec0::/10, multicast ff00::/8, local-use NAT64 64:ff9b:1::/48, reserved.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    let refused = (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // benchmarking 2001:2::/48
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID 2001:10::/28
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0020); // ORCHIDv2 2001:20::/28, never a host
    !refused
}

/// An IPv4 address carried inside an IPv6 one.
enum Embedded {
    /// Mapped, compatible, NAT64 and 6to4 forms carry one address.
    One(Ipv4Addr),
    /// Teredo carries the server's address and the client's (obfuscated) one.
    Two(Ipv4Addr, Ipv4Addr),
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Embedded> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(Embedded::One(mapped)); // ::ffff:0:0/96
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible ::/96 (deprecated); `::` and `::1` land here too and are refused
        // by the IPv4 rule (0.0.0.0/8).
        return Some(Embedded::One(v4(s[6], s[7])));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Embedded::One(v4(s[6], s[7]))); // NAT64 64:ff9b::/96
    }
    if s[0] == 0x2002 {
        return Some(Embedded::One(v4(s[1], s[2]))); // 6to4 2002::/16
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo 2001::/32: server at bits 32..64, client (bit-inverted) at 96..128.
        return Some(Embedded::Two(v4(s[2], s[3]), v4(!s[6], !s[7])));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().expect(ip))
    }

    #[test]
    fn ipv4_ranges() {
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(refused), "{refused} is not public");
        }
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            assert!(public(allowed), "{allowed} is public");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for refused in [
            "::",
            "::1",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "64:ff9b:1::1",
            "4000::1",
        ] {
            assert!(!public(refused), "{refused} is not public");
        }
        for allowed in [
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:db9::1",
            "2001:3::1",
        ] {
            assert!(public(allowed), "{allowed} is public");
        }
    }

    #[test]
    fn embedded_ipv4_is_judged_by_the_ipv4_rule() {
        for refused in [
            // IPv4-mapped.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            // IPv4-compatible (deprecated).
            "::127.0.0.1",
            "::192.168.0.1",
            // NAT64.
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::c0a8:101",
            // 6to4.
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            // Teredo: a private client (bit-inverted 10.0.0.1 = f5ff:fffe) or server.
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:0:7f00:1:8000:63bf:3fff:fdd2",
        ] {
            assert!(!public(refused), "{refused} is not public");
        }
        for allowed in [
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo: server 65.54.227.120, client 8.8.8.8 (bit-inverted f7f7:f7f7).
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert!(public(allowed), "{allowed} is public");
        }
    }
}
