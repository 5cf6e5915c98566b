//! The input fields of all enrichers, found in a record in one pass.
//!
//! `Doc::get` scans the record once per key; with a dozen input fields that would be a dozen scans.
//! Here each record field is classified once against the union of every enricher's fields. A key
//! is reduced to a small fingerprint (its length, first byte and last two bytes), hashed into a
//! table of [`SLOTS`] bytes built with the configuration: an empty slot rejects the key without
//! comparing it (nearly every key of a record: W1 records have 40–60 fields and 0–3 wanted ones);
//! a used slot names the few wanted keys with that hash, compared in full. The multiplier of the
//! hash is chosen at build time so that the wanted keys fall in distinct slots where it can.
//!
//! Before the fingerprint, one bit per (length, first byte), both taken modulo 32, rejects most
//! keys: a W1 record's keys seldom share both with a wanted key, and the bit costs two loads where
//! the fingerprint and its hash cost a dozen instructions more per field.

use crate::doc::{Doc, KeyShape, Value};

use super::EnrichError;

/// Distinct input fields over all enrichers.
pub const CAP: usize = 64;

/// Table size (a power of two): with at most [`CAP`] wanted keys, at most 1 in 16 slots is used,
/// so about 1 other key in 16 is compared in full (fewer in practice: most differ in fingerprint).
const SLOTS: usize = 1024;
const SHIFT: u32 = 64 - SLOTS.trailing_zeros();

/// Bits of the (length, first byte) filter: 32 × 32.
const QUICK_WORDS: usize = 32 * 32 / 64;

#[derive(Debug)]
pub struct FieldSet {
    names: Vec<Box<[u8]>>,
    /// Bit [`quick_bit`] set: some wanted key has that length and first byte (modulo 32).
    quick: [u64; QUICK_WORDS],
    /// Per hash slot: 0 when no wanted key hashes there, else 1 + its index in `buckets`.
    table: Box<[u8; SLOTS]>,
    /// The wanted keys (indices into `names`) sharing a slot; almost always one.
    buckets: Vec<Vec<u8>>,
    /// The hash's multiplier (odd).
    seed: u64,
}

impl Default for FieldSet {
    fn default() -> Self {
        FieldSet {
            names: Vec::new(),
            quick: [0; QUICK_WORDS],
            table: Box::new([0; SLOTS]),
            buckets: Vec::new(),
            seed: SEEDS[0],
        }
    }
}

/// Multipliers tried, in order, for a table without shared slots (odd, well mixed).
const SEEDS: [u64; 8] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0xD6E8_FEB8_6659_FD93,
    0xFF51_AFD7_ED55_8CCD,
    0xC4CE_B9FE_1A85_EC53,
    0x8CB9_2BA7_2F3D_8DD7,
    0x2545_F491_4F6C_DD1D,
];

/// A key's fingerprint: length, first byte and last two bytes.
#[inline]
fn fingerprint(b: &[u8]) -> u64 {
    let n = b.len();
    let first = b.first().copied().unwrap_or(0);
    let tail = match n {
        0 => 0,
        1 => u64::from(b[0]),
        _ => u64::from(u16::from_le_bytes([b[n - 2], b[n - 1]])),
    };
    (n as u64) | (u64::from(first) << 32) | (tail << 40)
}

/// The filter bit of a key: its length and first byte (0 for an empty key), modulo 32 each.
#[inline(always)]
fn quick_bit(b: &[u8]) -> usize {
    let first = b.first().map_or(0, |&c| usize::from(c));
    ((b.len() & 31) << 5) | (first & 31)
}

#[inline]
fn slot(fp: u64, seed: u64) -> usize {
    (fp.wrapping_mul(seed) >> SHIFT) as usize
}

impl FieldSet {
    /// The index of `name`, added if new.
    pub fn add(&mut self, name: &str) -> Result<usize, EnrichError> {
        if let Some(i) = self.names.iter().position(|n| **n == *name.as_bytes()) {
            return Ok(i);
        }
        if self.names.len() == CAP {
            return Err(EnrichError::Config(format!(
                "pipeline.enrich: more than {CAP} distinct input fields"
            )));
        }
        self.names.push(name.as_bytes().into());
        self.rebuild();
        Ok(self.names.len() - 1)
    }

    /// Fills the table with the first multiplier that gives every distinct fingerprint its own
    /// slot (the one with the fewest shared slots if none does: those are only compared more often).
    fn rebuild(&mut self) {
        let fps: Vec<u64> = self.names.iter().map(|n| fingerprint(n)).collect();
        let mut best = (usize::MAX, SEEDS[0]);
        for seed in SEEDS {
            let mut used = std::collections::HashMap::<usize, u64>::new();
            let clashes = fps
                .iter()
                .filter(|&&fp| *used.entry(slot(fp, seed)).or_insert(fp) != fp)
                .count();
            if clashes < best.0 {
                best = (clashes, seed);
            }
            if clashes == 0 {
                break;
            }
        }
        self.seed = best.1;
        self.quick = [0; QUICK_WORDS];
        for n in &self.names {
            let q = quick_bit(n);
            self.quick[q >> 6] |= 1 << (q & 63);
        }
        self.table.fill(0);
        self.buckets.clear();
        for (i, &fp) in fps.iter().enumerate() {
            let s = slot(fp, self.seed);
            if self.table[s] == 0 {
                self.buckets.push(Vec::new());
                // At most CAP (64) buckets: fits in a byte with the +1.
                self.table[s] = self.buckets.len() as u8;
            }
            self.buckets[usize::from(self.table[s]) - 1].push(i as u8);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of the wanted field named `key`, if it is one.
    #[inline]
    pub fn classify(&self, key: &str) -> Option<usize> {
        let b = key.as_bytes();
        if !self.may_want(b) {
            return None;
        }
        let t = self.table[slot(fingerprint(b), self.seed)];
        if t == 0 {
            return None;
        }
        self.buckets[usize::from(t) - 1]
            .iter()
            .map(|&i| usize::from(i))
            .find(|&i| *self.names[i] == *b)
    }

    /// False when no wanted key has the length and first byte of `b` (modulo 32): it is not one.
    #[inline(always)]
    fn may_want(&self, b: &[u8]) -> bool {
        let q = quick_bit(b);
        self.quick[q >> 6] & (1 << (q & 63)) != 0
    }

    /// The current value of every wanted field (the last write of a key wins, as in `Doc::get`):
    /// what [`FieldSet::scan_cached`] must answer, found without a cache.
    #[cfg(test)]
    pub fn scan<'d>(&self, doc: &'d Doc) -> [Option<&'d Value>; CAP] {
        let mut found = [None; CAP];
        for (k, v) in doc.iter() {
            if let Some(i) = self.classify(k) {
                found[i] = Some(v);
            }
        }
        found
    }

    /// [`FieldSet::scan`], answered from `shapes` when a record with the same key list was scanned
    /// before: where the wanted keys sit depends only on the key list.
    pub fn scan_cached<'d>(&self, doc: &'d Doc, shapes: &mut Shapes) -> [Option<&'d Value>; CAP] {
        let fields = doc.fields();
        let mut found = [None; CAP];
        // Only lists of static keys are kept (see `KeyShape`): a key built for one record says
        // nothing by its address.
        let Some(shape) = doc.key_shape() else {
            for (k, v) in fields {
                if let Some(w) = self.classify(k) {
                    found[w] = Some(v);
                }
            }
            return found;
        };
        if shapes.slots.is_empty() {
            shapes.slots.resize_with(SETS * WAYS, || None);
        }
        shapes.clock += 1;
        let set = (shape.bits() % SETS as u64) as usize * WAYS;
        let ways = &mut shapes.slots[set..set + WAYS];
        if let Some(s) = ways.iter_mut().flatten().find(|s| s.shape == shape) {
            s.used = shapes.clock;
            shapes.hits += 1;
            for &(want, at) in s.found.iter() {
                if let (Some(slot), Some((_, v))) =
                    (found.get_mut(usize::from(want)), fields.get(at as usize))
                {
                    *slot = Some(v);
                }
            }
            return found;
        }
        // Where each wanted field's last value is.
        let mut at = [u32::MAX; CAP];
        for (i, (k, v)) in fields.iter().enumerate() {
            if let Some(w) = self.classify(k) {
                found[w] = Some(v);
                // A record has far fewer than 2^32 fields.
                at[w] = i as u32;
            }
        }
        // An empty way, else the least recently used.
        let lru = ways
            .iter_mut()
            .min_by_key(|s| s.as_ref().map_or(0, |s| s.used));
        if let Some(way) = lru {
            *way = Some(Shape {
                used: shapes.clock,
                shape,
                // `w` < CAP (64) fits a byte.
                found: (0..CAP)
                    .filter(|&w| at[w] != u32::MAX)
                    .map(|w| (w as u8, at[w]))
                    .collect(),
            });
        }
        found
    }
}

/// Key lists kept per thread: sets of [`WAYS`], the set picked from the list's shape.
const SETS: usize = 64;
const WAYS: usize = 4;

/// Where the wanted keys sit in recently seen key lists. A record's keys are mostly static strings
/// that every record of its kind shares, so a list is recognised by its [`KeyShape`]: a fold of
/// about 9 instructions a key that serialization then extends instead of hashing the list again,
/// where classifying each key against the wanted ones costs about 20 (W1 records have 40-60 keys). Empty until first used (no allocation without enrichers).
#[derive(Debug, Default)]
pub struct Shapes {
    slots: Vec<Option<Shape>>,
    /// Lookups so far: what a shape's `used` is read against.
    clock: u64,
    /// Lookups answered from a kept shape.
    hits: u64,
}

impl Shapes {
    #[cfg(test)]
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

#[derive(Debug)]
struct Shape {
    used: u64,
    /// The key list's identity (all static keys).
    shape: KeyShape,
    /// (wanted field, index of its last value in the record).
    found: Box<[(u8, u32)]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: [&str; 17] = [
        "source.ip",
        "destination.ip",
        "client.ip",
        "server.ip",
        "host.ip",
        "url.domain",
        "url.full",
        "dns.question.name",
        "destination.domain",
        "file.hash.md5",
        "file.hash.sha1",
        "file.hash.sha256",
        "process.hash.md5",
        "process.hash.sha1",
        "process.hash.sha256",
        "host.name",
        "host.hostname",
    ];

    fn set(names: &[&str]) -> FieldSet {
        let mut s = FieldSet::default();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(s.add(n).unwrap(), i);
        }
        s
    }

    #[test]
    fn configured_fields_are_found_and_others_are_not() {
        let s = set(&WANTED);
        for (i, n) in WANTED.iter().enumerate() {
            assert_eq!(s.classify(n), Some(i), "{n}");
        }
        // Same length and ends, other fields, prefixes, nested and dotted variants.
        for other in [
            "user.name",
            "event.type",
            "source.port",
            "source.i",
            "source.ipp",
            "source",
            "source.ip.x",
            "xsource.ip",
            "Source.ip",
            "source_ip",
            "host.os.name",
            "file.hash.md4",
            "url",
            "",
            "p",
            "ip",
            "related.ip",
            "source.geo.ip",
            "threat.enrichments",
            "tags",
        ] {
            assert_eq!(s.classify(other), None, "{other:?}");
        }
    }

    #[test]
    fn adding_a_name_twice_keeps_its_index_and_short_names_work() {
        let mut s = set(&["a", "ab", "source.ip"]);
        assert_eq!(s.add("ab").unwrap(), 1);
        assert_eq!(s.classify("a"), Some(0));
        assert_eq!(s.classify("ab"), Some(1));
        assert_eq!(s.classify("b"), None);
        assert_eq!(s.classify("ba"), None);
        assert_eq!(s.classify(""), None);
        assert_eq!(s.add("").unwrap(), 3);
        assert_eq!(s.classify(""), Some(3));
    }

    #[test]
    fn keys_sharing_a_fingerprint_are_told_apart() {
        // Same length, first byte and last two bytes: one slot, compared in full.
        let s = set(&["source.ip", "shadows.ip", "sxxxxxx.ip", "s-------ip"]);
        assert_eq!(s.classify("source.ip"), Some(0));
        assert_eq!(s.classify("shadows.ip"), Some(1));
        assert_eq!(s.classify("sxxxxxx.ip"), Some(2));
        assert_eq!(s.classify("s-------ip"), Some(3));
        assert_eq!(s.classify("syyyyyy.ip"), None);
        assert_eq!(s.classify("server.ip"), None);
    }

    #[test]
    fn up_to_cap_names_and_then_an_error() {
        let names: Vec<String> = (0..CAP).map(|i| format!("labels.f{i}.ip")).collect();
        let mut s = FieldSet::default();
        for n in &names {
            s.add(n).unwrap();
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(s.classify(n), Some(i));
        }
        assert_eq!(s.classify("labels.f64.ip"), None);
        assert!(s.add("one.more").is_err());
    }

    #[test]
    fn the_quick_filter_passes_every_wanted_key_and_rejects_other_shapes() {
        let s = set(&WANTED);
        for n in WANTED {
            assert!(s.may_want(n.as_bytes()), "{n}");
        }
        // No wanted key has these lengths and first bytes: rejected before the fingerprint.
        for other in [
            "event.action",
            "observer.name",
            "source.port",
            "tags",
            "",
            "message",
        ] {
            assert!(!s.may_want(other.as_bytes()), "{other:?}");
        }
        // Same length and first byte (modulo 32) as `source.ip`: passes, then the full compare
        // tells it apart.
        for near in ["sxxxxx.ip", "3ource.ip", "Source.ip"] {
            assert!(s.may_want(near.as_bytes()), "{near}");
            assert_eq!(s.classify(near), None, "{near}");
        }
        // Lengths 32 apart share bits: the filter only narrows, the full compare decides.
        let long = "s".repeat(9 + 32);
        assert!(s.may_want(long.as_bytes()));
        assert_eq!(s.classify(&long), None);
        // An empty set wants nothing; a key added later is found.
        let mut e = FieldSet::default();
        assert!(!e.may_want(b"source.ip"));
        e.add("source.ip").unwrap();
        assert!(e.may_want(b"source.ip"));
        assert!(!e.may_want(b"host.name"));
    }

    #[test]
    fn scan_takes_the_last_write_of_each_wanted_key() {
        let s = set(&["source.ip", "host.name"]);
        let mut d = Doc::new();
        d.insert("source.ip", "1.2.3.4");
        d.insert("user.name", "alice");
        d.insert("host.name".to_owned(), "web01");
        d.insert("source.ip", "5.6.7.8");
        let found = s.scan(&d);
        assert_eq!(found[0].and_then(Value::as_str), Some("5.6.7.8"));
        assert_eq!(found[1].and_then(Value::as_str), Some("web01"));
        assert!(found[2..].iter().all(Option::is_none));
    }
}
