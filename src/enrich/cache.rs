//! What the enrichers found for recently seen addresses, and parsing an address once per record.
//!
//! Traffic repeats addresses a lot (W1: 60,000 address fields in 20,000 records, most of them among
//! a few hundred addresses), and a GeoIP lookup (tree walk and record decoding) or an IOC network
//! lookup (one hash probe per prefix length) costs far more than finding the answer again. The
//! cache is direct-mapped (one slot per hash of the address, a new address replaces the old one):
//! fixed size, no allocation once built, no eviction bookkeeping. It outlives batches (each batch
//! takes one from a small pool, so threads never share one) and is emptied when a table it holds
//! answers from is reloaded, which the tables' generation numbers tell.
//!
//! Behind it, for addresses it does not hold (the generated W1 mix has more distinct public
//! addresses than slots, so most of its GeoIP lookups miss it on every pass), decoded GeoIP records
//! are kept by (database, data-section offset) ([`RecordCache`]): many networks share a record, so a
//! new address costs the tree walk, and decoding happens once per record and thread. An address's
//! answer holds the decoded records themselves (`Arc`), shared with every other address of them,
//! never a copy of their values.

use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::ip::parse_ip;

use super::geoip::{GeoAnswer, GeoRecord};

/// Slots per cache (a power of two).
pub(crate) const SLOTS: usize = 4096;

/// Slots of the decoded GeoIP record cache (a power of two; 32 bytes each). With the address
/// slots (56 bytes each) a cache is about 290 KiB, plus the decoded records it keeps alive (about
/// 450 bytes each: at most one per slot of either kind, far fewer when addresses share records).
pub(crate) const RECORD_SLOTS: usize = 2048;

/// One address's answers; `None` where that enricher has not looked it up yet.
#[derive(Default)]
pub(crate) struct Slot {
    ip: Option<IpAddr>,
    /// GeoIP: the records found (empty for an address the databases do not know).
    pub geo: Option<GeoAnswer>,
    /// IOC: (prefix length, metadata index) of the most specific listed network, if any.
    pub ioc: Option<Option<(u8, u32)>>,
}

/// Per-address answers for one thread at a time.
pub(crate) struct IpCache {
    slots: Box<[Slot]>,
    /// Decoded GeoIP records, for the addresses not in `slots` yet.
    records: RecordCache,
    /// Generations of the (geoip, ioc) tables the answers came from.
    generations: (u64, u64),
}

impl IpCache {
    pub fn new() -> Self {
        IpCache {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            records: RecordCache::new(),
            generations: (0, 0),
        }
    }

    /// Forgets everything if a table was replaced since the answers were cached (the decoded
    /// GeoIP records only when the GeoIP databases were: their offsets mean nothing in others).
    pub fn validate(&mut self, generations: (u64, u64)) {
        if self.generations != generations {
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            if self.generations.0 != generations.0 {
                self.records.clear();
            }
            self.generations = generations;
        }
    }

    /// The slot of `ip`, emptied first if it held another address.
    pub fn slot(&mut self, ip: IpAddr) -> &mut Slot {
        self.slot_and_records(ip).0
    }

    /// [`IpCache::slot`], and the record cache that fills its GeoIP answer.
    pub fn slot_and_records(&mut self, ip: IpAddr) -> (&mut Slot, &mut RecordCache) {
        let slot = &mut self.slots[index(ip)];
        if slot.ip != Some(ip) {
            *slot = Slot {
                ip: Some(ip),
                geo: None,
                ioc: None,
            };
        }
        (slot, &mut self.records)
    }
}

/// GeoIP records as decoded, by (database index, data-section offset). A database points many
/// networks at one record (GeoLite2-City: millions of networks, far fewer places; Sluice's writer
/// stores equal values once), so a record is decoded once per thread, not once per address, and
/// every address of it shares the one decoded copy. Direct-mapped like the address slots.
pub(crate) struct RecordCache {
    slots: Box<[RecordSlot]>,
}

/// (database index, offset) and what it decoded to (`None`: nothing an output takes).
type RecordSlot = Option<((usize, usize), Option<Arc<GeoRecord>>)>;

impl RecordCache {
    pub fn new() -> Self {
        RecordCache {
            slots: (0..RECORD_SLOTS).map(|_| None).collect(),
        }
    }

    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// The record of database `db` at `offset`, decoded by `decode` if it is not cached.
    ///
    /// Two-way: a key may sit in either slot of its pair, the more recently used one first, and a
    /// new key replaces the other (so two records of one pair do not evict each other in turn).
    pub fn get_or_insert_with(
        &mut self,
        db: usize,
        offset: usize,
        decode: impl FnOnce() -> Option<GeoRecord>,
    ) -> Option<Arc<GeoRecord>> {
        let key = (db, offset);
        let i = record_set(db, offset);
        if let Some((k, rec)) = &self.slots[i] {
            if *k == key {
                return rec.clone();
            }
        }
        if let Some((k, rec)) = &self.slots[i + 1] {
            if *k == key {
                let rec = rec.clone();
                self.slots.swap(i, i + 1);
                return rec;
            }
        }
        let rec = decode().map(Arc::new);
        self.slots[i + 1] = self.slots[i].take();
        self.slots[i] = Some((key, rec.clone()));
        rec
    }
}

/// The first slot of the pair of (`db`, `offset`).
fn record_set(db: usize, offset: usize) -> usize {
    let k = (offset as u64) ^ (db as u64).rotate_right(7);
    let pairs = RECORD_SLOTS / 2;
    ((k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - pairs.trailing_zeros())) as usize) * 2
}

pub(crate) fn index(ip: IpAddr) -> usize {
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

    fn record(city: &str) -> GeoRecord {
        let mut fields: super::super::geoip::GeoFields = Default::default();
        fields[0] = Some(crate::doc::Value::from(city));
        GeoRecord::new(fields).unwrap()
    }

    #[test]
    fn a_record_slot_holds_one_database_offset_and_a_geoip_reload_empties_it() {
        let mut c = IpCache::new();
        c.validate((1, 1));
        let decoded = std::cell::Cell::new(0);
        let get = |c: &mut IpCache, db: usize, offset: usize, city: &str| {
            let (_, records) = c.slot_and_records("81.2.69.142".parse().unwrap());
            records.get_or_insert_with(db, offset, || {
                decoded.set(decoded.get() + 1);
                Some(record(city))
            })
        };
        let a = get(&mut c, 0, 96, "A").unwrap();
        // Cached: not decoded again, and the same decoded copy.
        assert!(Arc::ptr_eq(&a, &get(&mut c, 0, 96, "wrong").unwrap()));
        // The same offset in another database is another record.
        assert_eq!(get(&mut c, 1, 96, "B").unwrap(), Arc::new(record("B")));
        // Two more offsets of the same pair of slots: the pair holds two, the least recently
        // used one is replaced, and a replaced one is decoded afresh.
        let mut same = (0..1 << 20).filter(|&o| o != 96 && record_set(0, o) == record_set(0, 96));
        let (other, third) = (same.next().unwrap(), same.next().unwrap());
        assert_eq!(get(&mut c, 0, other, "C").unwrap(), Arc::new(record("C")));
        assert!(Arc::ptr_eq(&a, &get(&mut c, 0, 96, "wrong").unwrap()));
        assert_eq!(get(&mut c, 0, third, "D").unwrap(), Arc::new(record("D")));
        assert!(Arc::ptr_eq(&a, &get(&mut c, 0, 96, "wrong").unwrap()));
        assert_eq!(get(&mut c, 0, other, "C2").unwrap(), Arc::new(record("C2")));
        assert_eq!(get(&mut c, 0, third, "D2").unwrap(), Arc::new(record("D2")));
        assert_eq!(get(&mut c, 0, 96, "A2").unwrap(), Arc::new(record("A2")));
        let before = decoded.get();
        assert_eq!(get(&mut c, 0, 96, "x").unwrap(), Arc::new(record("A2")));
        // An IOC reload keeps the records; a GeoIP reload forgets them.
        c.validate((1, 2));
        assert_eq!(get(&mut c, 0, 96, "x").unwrap(), Arc::new(record("A2")));
        assert_eq!(decoded.get(), before);
        c.validate((2, 2));
        assert_eq!(get(&mut c, 0, 96, "E").unwrap(), Arc::new(record("E")));
        assert_eq!(decoded.get(), before + 1);
        // A record that gives nothing is cached as nothing.
        let (_, records) = c.slot_and_records("81.2.69.142".parse().unwrap());
        assert_eq!(records.get_or_insert_with(0, 7, || None), None);
        assert_eq!(records.get_or_insert_with(0, 7, || Some(record("F"))), None);
    }
}
