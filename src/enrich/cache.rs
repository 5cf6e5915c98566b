//! What the enrichers found for recently seen addresses, and parsing an address once per record.
//!
//! Traffic repeats addresses a lot (W1: 60,000 address fields in 20,000 records, most of them among
//! a few hundred addresses), and a GeoIP lookup (tree walk and record decoding) or an IOC network
//! lookup (one hash probe per prefix length) costs far more than finding the answer again. The
//! cache is direct-mapped (one slot per hash of the address, a new address replaces the old one):
//! fixed size, no allocation once built, no eviction bookkeeping. It outlives batches (each batch
//! takes one from a small pool, so threads never share one) and is emptied when a table it holds
//! answers from is reloaded, which the tables' generation numbers tell.

use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;

use crate::ip::parse_ip;

use super::geoip::GeoFields;

/// Slots per cache (a power of two).
pub(crate) const SLOTS: usize = 4096;

/// One address's answers; `None` where that enricher has not looked it up yet.
#[derive(Default)]
pub(crate) struct Slot {
    ip: Option<IpAddr>,
    /// GeoIP: the fields found, or `None` for an address the databases do not know.
    pub geo: Option<Option<Box<GeoFields>>>,
    /// IOC: (prefix length, metadata index) of the most specific listed network, if any.
    pub ioc: Option<Option<(u8, u32)>>,
}

/// Per-address answers for one thread at a time.
pub(crate) struct IpCache {
    slots: Box<[Slot]>,
    /// Generations of the (geoip, ioc) tables the answers came from.
    generations: (u64, u64),
}

impl IpCache {
    pub fn new() -> Self {
        IpCache {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            generations: (0, 0),
        }
    }

    /// Forgets everything if a table was replaced since the answers were cached.
    pub fn validate(&mut self, generations: (u64, u64)) {
        if self.generations != generations {
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            self.generations = generations;
        }
    }

    /// The slot of `ip`, emptied first if it held another address.
    pub fn slot(&mut self, ip: IpAddr) -> &mut Slot {
        let slot = &mut self.slots[index(ip)];
        if slot.ip != Some(ip) {
            *slot = Slot {
                ip: Some(ip),
                geo: None,
                ioc: None,
            };
        }
        slot
    }
}

fn index(ip: IpAddr) -> usize {
    let k = match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let b = u128::from(a);
            (b as u64) ^ ((b >> 64) as u64).rotate_left(29) ^ 0x5555
        }
    };
    // Fibonacci hashing: the top bits of the product mix every bit of the key.
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The addresses parsed in the current record, so that every enricher reading the same field
/// value parses it once. Keyed by the value's location: the enrichers see the same `&str`.
#[derive(Default)]
pub(crate) struct IpMemo {
    len: usize,
    entries: [(usize, usize, Option<IpAddr>); 8],
}

impl IpMemo {
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn parse(&mut self, s: &str) -> Option<IpAddr> {
        let key = (s.as_ptr() as usize, s.len());
        if let Some(e) = self.entries[..self.len].iter().find(|e| (e.0, e.1) == key) {
            return e.2;
        }
        let ip = parse_ip(s);
        if self.len < self.entries.len() {
            self.entries[self.len] = (key.0, key.1, ip);
            self.len += 1;
        }
        ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_parses_each_value_once_and_tells_values_apart() {
        let text = "1.2.3.4 5.6.7.8";
        let (a, b) = (&text[..7], &text[8..]);
        let mut m = IpMemo::default();
        assert_eq!(m.parse(a), a.parse().ok());
        assert_eq!(m.parse(b), b.parse().ok());
        assert_eq!(m.parse(a), a.parse().ok());
        assert_eq!(m.len, 2);
        m.clear();
        assert_eq!(m.parse(b), b.parse().ok());
        assert_eq!(m.len, 1);
    }

    #[test]
    fn a_slot_holds_one_address_and_a_reload_empties_the_cache() {
        let mut c = IpCache::new();
        c.validate((1, 1));
        let a: IpAddr = "81.2.69.142".parse().unwrap();
        c.slot(a).ioc = Some(Some((32, 7)));
        assert_eq!(c.slot(a).ioc, Some(Some((32, 7))));
        // Another address of the same slot replaces it.
        let other = (1..u32::MAX)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .find(|&ip| ip != a && index(ip) == index(a))
            .unwrap();
        assert_eq!(c.slot(other).ioc, None);
        c.slot(other).ioc = Some(None);
        assert_eq!(c.slot(a).ioc, None);
        c.slot(a).ioc = Some(Some((32, 7)));
        c.validate((1, 1));
        assert_eq!(c.slot(a).ioc, Some(Some((32, 7))));
        c.validate((1, 2));
        assert_eq!(c.slot(a).ioc, None);
    }
}
