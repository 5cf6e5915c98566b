//! A first-level table for IPv4 lookups in a MaxMind DB search tree: where the walk stands after
//! each of the 65,536 possible first 16 bits of an address. A lookup reads one entry and walks
//! only the bits after the 16th, instead of descending 16 levels node by node: each level is a
//! load that depends on the one before, and the lower levels of a large tree miss the cache.
//!
//! The tree is read as the MaxMind DB 2.0 format lays it out
//! (<https://maxmind.github.io/MaxMind-DB/>); `maxminddb` keeps its own walker private. Offsets
//! come out as `maxminddb::LookupResult::offset` gives them, so records decoded through the
//! crate are found again by them, and the tests hold the two walks to the same answers.

use std::net::Ipv4Addr;

/// Bits resolved by the table.
const BITS: u32 = 16;

/// Bytes between the search tree and the data section.
const SEPARATOR: usize = 16;

/// The node, or the terminal record, reached after each 16-bit prefix.
pub(crate) struct V4Index {
    first: Box<[u32]>,
    record_size: u16,
    node_count: usize,
}

impl V4Index {
    /// The table's size. A tree smaller than this is left to the plain walk: its nodes stay in
    /// cache better than the table would.
    pub(crate) const BYTES: usize = 4 << BITS;

    /// The table of a database's tree (`buf`: the whole file), from its metadata; `None` for a
    /// record size the format does not have or a tree that points outside the file (which the
    /// reader's own checks reject anyway).
    pub(crate) fn build(
        buf: &[u8],
        record_size: u16,
        node_count: usize,
        ip_version: u16,
    ) -> Option<Self> {
        if !matches!(record_size, 24 | 28 | 32) || u32::try_from(node_count).is_err() {
            return None;
        }
        let mut ix = V4Index {
            first: vec![0; 1 << BITS].into_boxed_slice(),
            record_size,
            node_count,
        };
        // IPv4 addresses sit under ::/96 in an IPv6 tree (96 left turns), at the root of an IPv4
        // tree. A terminal before that answers every IPv4 address.
        let mut start = 0;
        if ip_version == 6 {
            for _ in 0..96 {
                if start >= node_count {
                    break;
                }
                start = ix.read(buf, start, 0)?;
            }
        }
        ix.fill(buf, start, 0, 0)?;
        Some(ix)
    }

    /// Fills the entries under `prefix` (of `depth` bits), whose walk stands at `node`.
    fn fill(&mut self, buf: &[u8], node: usize, depth: u32, prefix: usize) -> Option<()> {
        if node >= self.node_count || depth == BITS {
            let at = prefix << (BITS - depth);
            let span = 1 << (BITS - depth);
            let value = u32::try_from(node).ok()?;
            self.first.get_mut(at..at + span)?.fill(value);
            return Some(());
        }
        let (left, right) = (self.read(buf, node, 0)?, self.read(buf, node, 1)?);
        self.fill(buf, left, depth + 1, prefix << 1)?;
        self.fill(buf, right, depth + 1, prefix << 1 | 1)
    }

    /// The data-section offset of the record `ip` falls in; `None` when the database has none.
    pub(crate) fn offset(&self, buf: &[u8], ip: Ipv4Addr) -> Option<usize> {
        let ip = u32::from(ip);
        let mut node = *self.first.get((ip >> (32 - BITS)) as usize)? as usize;
        let mut bit = BITS;
        while node < self.node_count && bit < 32 {
            node = self.read(buf, node, ((ip >> (31 - bit)) & 1) as usize)?;
            bit += 1;
        }
        // `node_count` itself is "no data"; a pointer counts from the data section, which starts
        // after the separator.
        node.checked_sub(self.node_count + SEPARATOR)
    }

    /// Record `index` (0 left, 1 right) of `node`.
    #[inline(always)]
    fn read(&self, buf: &[u8], node: usize, index: usize) -> Option<usize> {
        let be = |b: &[u8]| b.iter().fold(0usize, |a, &x| a << 8 | usize::from(x));
        match self.record_size {
            24 => {
                let at = node * 6 + index * 3;
                buf.get(at..at + 3).map(be)
            }
            28 => {
                // Two 28-bit records in 7 bytes: the middle byte's high nibble tops the left one,
                // its low nibble the right one.
                let n = buf.get(node * 7..node * 7 + 7)?;
                Some(if index == 0 {
                    usize::from(n[3] & 0xf0) << 20 | be(&n[..3])
                } else {
                    usize::from(n[3] & 0x0f) << 24 | be(&n[4..])
                })
            }
            _ => {
                let at = node * 8 + index * 4;
                buf.get(at..at + 4).map(be)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::mmdb::{parse_network, MmdbValue, MmdbWriter};
    use maxminddb::Reader;
    use std::net::IpAddr;

    fn index(buf: &[u8]) -> (Reader<&[u8]>, V4Index) {
        let r = Reader::from_source(buf).expect("a readable database");
        let m = r.metadata();
        let ix = V4Index::build(buf, m.record_size, m.node_count as usize, m.ip_version)
            .expect("an index");
        (r, ix)
    }

    /// Addresses at and around the edges of every network the reader lists, and a spread of
    /// others.
    fn probes(r: &Reader<&[u8]>) -> Vec<Ipv4Addr> {
        let mut ips: Vec<Ipv4Addr> = (0..=255u32)
            .flat_map(|a| [0x0000_0000, 0x0001_0203, 0x00ff_ffff, 0x0080_8080].map(|x| a << 24 | x))
            .map(Ipv4Addr::from)
            .collect();
        if let Ok(networks) = r.networks(Default::default()) {
            for n in networks.flatten() {
                let net = n.network().map(|n| n.to_string());
                let (ip, len) = match net.ok().as_deref().and_then(parse_network) {
                    Some((IpAddr::V4(ip), len)) => (ip, len),
                    // IPv4 in an IPv6 tree: under ::/96.
                    Some((IpAddr::V6(ip), len)) if len >= 96 && ip.segments()[..6] == [0; 6] => {
                        let [.., a, b] = ip.segments();
                        (Ipv4Addr::from(u32::from(a) << 16 | u32::from(b)), len - 96)
                    }
                    _ => continue,
                };
                {
                    let lo = u32::from(ip);
                    let hi = lo | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    for x in [
                        lo.wrapping_sub(1),
                        lo,
                        lo + (hi - lo) / 2,
                        hi,
                        hi.wrapping_add(1),
                    ] {
                        ips.push(Ipv4Addr::from(x));
                    }
                }
            }
        }
        ips
    }

    fn agrees(buf: &[u8]) -> usize {
        let (r, ix) = index(buf);
        let ips = probes(&r);
        let mut found = 0;
        for ip in &ips {
            let want = r.lookup(IpAddr::V4(*ip)).ok().and_then(|l| l.offset());
            assert_eq!(ix.offset(buf, *ip), want, "{ip}");
            found += usize::from(want.is_some());
        }
        found
    }

    #[test]
    fn agrees_with_the_reader_on_networks_shorter_and_longer_than_16_bits() {
        let mut w = MmdbWriter::new("Test-City");
        let nets = [
            ("1.0.0.0", 8),
            ("1.2.0.0", 16),
            ("1.2.3.0", 24),
            ("9.9.9.9", 32),
            ("10.16.0.0", 12),
            ("81.2.69.0", 23),
            ("200.0.0.0", 5),
            ("223.255.255.0", 24),
        ];
        for (i, (ip, len)) in nets.iter().enumerate() {
            let v = MmdbValue::map([("n", MmdbValue::str(format!("net {i}")))]);
            w.insert(ip.parse().unwrap(), *len, v).unwrap();
        }
        w.insert("2001:db8::".parse().unwrap(), 32, MmdbValue::str("v6"))
            .unwrap();
        let buf = w.build();
        assert!(agrees(&buf) > 30);
    }

    #[test]
    fn agrees_with_the_reader_on_maxminds_test_databases() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/mmdb/maxmind-MaxMind-DB/test-data");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: {} is not here", dir.display());
            return;
        };
        let mut checked = 0;
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "mmdb") {
                continue;
            }
            let buf = std::fs::read(&path).unwrap();
            // The broken ones are the reader's to reject (tests elsewhere); only readable trees.
            let Ok(r) = Reader::from_source(buf.as_slice()) else {
                continue;
            };
            if r.verify().is_err() {
                continue;
            }
            agrees(&buf);
            checked += 1;
        }
        assert!(checked >= 20, "{checked} databases");
    }

    #[test]
    fn records_of_24_28_and_32_bits_are_read_whole() {
        // Two nodes: records that use every bit of the size, then 5 and 6.
        for size in [24u16, 28, 32] {
            let mask = u32::MAX >> (32 - size);
            let records = [(0xabcd_ef12 & mask, 0x9876_5432 & mask), (5, 6)];
            let mut buf = Vec::new();
            for (l, r) in records {
                match size {
                    24 => {
                        buf.extend_from_slice(&l.to_be_bytes()[1..]);
                        buf.extend_from_slice(&r.to_be_bytes()[1..]);
                    }
                    28 => {
                        buf.extend_from_slice(&l.to_be_bytes()[1..]);
                        buf.push(((l >> 24) as u8) << 4 | (r >> 24) as u8);
                        buf.extend_from_slice(&r.to_be_bytes()[1..]);
                    }
                    _ => {
                        buf.extend_from_slice(&l.to_be_bytes());
                        buf.extend_from_slice(&r.to_be_bytes());
                    }
                }
            }
            let ix = V4Index {
                first: Box::new([]),
                record_size: size,
                node_count: 2,
            };
            for (node, (l, r)) in records.iter().enumerate() {
                assert_eq!(ix.read(&buf, node, 0), Some(*l as usize), "size {size}");
                assert_eq!(ix.read(&buf, node, 1), Some(*r as usize), "size {size}");
            }
            assert_eq!(ix.read(&buf, 2, 0), None, "size {size}: past the end");
        }
    }
}
