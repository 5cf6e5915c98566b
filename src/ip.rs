//! IP addresses from field text, for the normalizers and the enrichers.

use std::net::{IpAddr, Ipv4Addr};

/// `s.parse::<IpAddr>()`, with a fast path for dotted-quad IPv4 and a fast refusal of values
/// that cannot be addresses (anything with a character outside hex digits, `:` and `.`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    if let Some(v4) = parse_v4(b) {
        return Some(IpAddr::V4(v4));
    }
    if b.is_empty()
        || b.len() > 45
        || !b
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
    {
        return None;
    }
    s.parse().ok()
}

/// Four decimal octets as the standard library accepts them (no leading zeros, at most 255);
/// `None` for anything else, which then goes through the standard parser.
fn parse_v4(b: &[u8]) -> Option<Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - start == 3 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && b[start] == b'0') || v > 255 {
            return None;
        }
        *octet = v as u8;
    }
    (i == b.len()).then(|| Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ip_agrees_with_the_standard_parser() {
        for s in [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1..2.3",
            "1.2.3.1000",
            "1234.1.1.1",
            "::1",
            "2a00:1450::1",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "dead.beef",
            "cafe::",
            "example.com",
            "",
            "1.2.3.4/24",
            "९.1.1.1",
        ] {
            assert_eq!(parse_ip(s), s.parse().ok(), "{s:?}");
        }
    }
}
