//! Serialization plans: how a document with a given list of keys is written as nested JSON.
//!
//! Nesting dotted keys needs the keys in path order (a sort) and a walk that opens and closes
//! objects. Both depend only on the keys, and records of one kind repeat the same keys, so the
//! result is kept as a plan: the literal JSON between the values (keys, braces, commas) and which
//! field's value goes in each gap. A document whose keys match a cached plan is written by copying
//! the literals and the values, without sorting or walking paths again.

use chrono::{DateTime, FixedOffset};

use super::members::head;
use super::{splice_parent, write_json_str, write_rfc3339, Key, KeyShape, Value, SPLICE};

/// Plans kept per document. Mixed workloads show a few hundred key lists (W1: 335 in 200,000
/// records), but enrichment multiplies them: with a GeoIP database that locates every public
/// address, whether the source, the destination, both or neither are located gives each list up
/// to four enriched ones (about 1,000 in the same 200,000 records). With 512 slots that load
/// rebuilt a plan for 3.5 % of records (1,900 instructions a record on average); 2,048 slots
/// rebuild about 0.7 % (400), 70 % of them first sightings. The empty table is 320 KB (160 bytes
/// a slot), and a plan of a few KB is only built for a list seen. Sets of `WAYS` slots: the least
/// recently used plan of the set is the one replaced.
pub(crate) const SLOTS: usize = 2048;
/// Plans per set: a key list's hash picks the set, then each plan's stored hash is compared.
const WAYS: usize = 4;

/// Cached plans plus the scratch used to build new ones. A copy starts empty (see `Clone`).
#[derive(Debug, Default)]
pub(super) struct PlanCache {
    slots: Vec<Option<Plan>>,
    sort: Vec<u128>,
    /// Writes so far (`hits + misses`) also serve as the clock a plan's `used` is read against.
    hits: u64,
    misses: u64,
    /// Recently written times and their text: `event.created` is the batch's receive time, the
    /// same for every record of a batch, and formatting it cost about 260 instructions each time.
    times: Times,
}

/// A copied document (tests, benchmarks) gets no plans: copying them cost more than the
/// document (up to `SLOTS` plans of a few KB), and it builds the ones it needs.
impl Clone for PlanCache {
    fn clone(&self) -> Self {
        PlanCache::default()
    }
}

/// The last `TIMES` distinct times written; a miss replaces the least recently used. Each record
/// writes its own times (`@timestamp`, PAN-OS and CloudTrail have up to three) between two writes
/// of the batch's time, so a slot per time of one record keeps the batch's time cached.
#[derive(Debug, Clone, Default)]
struct Times {
    slots: [Option<(DateTime<FixedOffset>, TimeText)>; TIMES],
    used: [u64; TIMES],
    clock: u64,
}

const TIMES: usize = 4;

/// An RFC 3339 time as written (quotes included), at most 40 bytes.
#[derive(Debug, Clone)]
struct TimeText {
    bytes: [u8; 48],
    len: usize,
}

#[derive(Debug, Clone)]
struct Plan {
    /// `shape_hash` of the keys (or `KeyShape::bits`): most plans of a set are told apart by it
    /// alone.
    hash: u64,
    /// The shape of the key list when all its keys are static: a list with that shape is this
    /// plan's without comparing keys. `None`: built for a list with a built key, compared key
    /// by key.
    shape: Option<KeyShape>,
    /// The write count (`hits + misses`) when this plan was last written with.
    used: u64,
    /// The keys, in insertion order, this plan was built for.
    keys: Vec<Key>,
    /// Keys looked up while writing with this plan, and where each one's value is (`find`).
    found: Vec<(&'static str, Option<u32>)>,
    /// For each value written, the index of its field, in output order.
    values: Vec<u32>,
    /// Literal JSON; `ends[j]` is where the literal before value `j` ends, and the bytes after the
    /// last end close the document. `LIT` bytes of padding follow.
    text: Vec<u8>,
    ends: Vec<u32>,
    /// Values written as members of their parent (keys made by `splice_key`), in output order:
    /// (value index, the parent's own members written before them, which the spliced ones must
    /// not repeat). Empty for nearly every plan.
    splices: Vec<(u32, Box<[Box<str>]>)>,
}

/// The fixed size a literal is copied in (see `Plan::emit`).
const LIT: usize = 32;

impl PlanCache {
    /// Writes `fields` as one nested JSON object, reusing or building its plan, and returns the
    /// index of the last field with each of `keys`.
    pub(super) fn write<const N: usize>(
        &mut self,
        fields: &[(Key, Value)],
        shape: Option<KeyShape>,
        out: &mut Vec<u8>,
        keys: &[&'static str; N],
    ) -> [Option<u32>; N] {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let hash = shape.map_or_else(|| shape_hash(fields), KeyShape::bits);
        let set = (hash % (SLOTS / WAYS) as u64) as usize * WAYS;
        let ways = &mut self.slots[set..set + WAYS];
        let found = ways.iter().position(|p| match (p, shape) {
            (Some(p), Some(shape)) => p.shape == Some(shape) && p.keys.len() == fields.len(),
            (Some(p), None) => p.shape.is_none() && p.hash == hash && p.matches(fields),
            (None, _) => false,
        });
        let way = match found {
            Some(w) => {
                self.hits += 1;
                w
            }
            None => {
                self.misses += 1;
                // An empty way, else the least recently used.
                let w = ways
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| p.as_ref().map_or(0, |p| p.used))
                    .map_or(0, |(w, _)| w);
                ways[w] = Some(build(fields, hash, shape, &mut self.sort));
                w
            }
        };
        let now = self.hits + self.misses;
        match &mut ways[way] {
            Some(plan) => {
                plan.used = now;
                plan.emit(fields, out, &mut self.times);
                plan.find(fields, keys)
            }
            None => [None; N],
        }
    }

    /// (hits, misses) so far: how well plans are reused (tests and benchmarks).
    pub(super) fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

impl Plan {
    fn matches(&self, fields: &[(Key, Value)]) -> bool {
        self.keys.len() == fields.len()
            && self.keys.iter().zip(fields).all(|(a, (b, _))| {
                let (a, b): (&str, &str) = (a, b);
                (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
            })
    }

    /// The index of the last field with each of `keys`: remembered for the last set of keys
    /// asked (compared by address, as callers pass the same literals every time), else found by
    /// a scan of the fields.
    fn find<const N: usize>(
        &mut self,
        fields: &[(Key, Value)],
        keys: &[&'static str; N],
    ) -> [Option<u32>; N] {
        if N == 0 {
            // A plain write: what the plan remembers for the pipeline's keys stays.
            return [None; N];
        }
        let same = self.found.len() == N
            && self
                .found
                .iter()
                .zip(keys)
                .all(|((a, _), b)| std::ptr::eq(*a, *b));
        if !same {
            self.found.clear();
            self.found.extend(keys.iter().map(|&k| {
                let at = fields.iter().rposition(|(f, _)| f == k);
                (k, at.map(|i| i as u32))
            }));
        }
        let mut at = [None; N];
        for (slot, (_, i)) in at.iter_mut().zip(&self.found) {
            *slot = *i;
        }
        at
    }

    fn emit(&self, fields: &[(Key, Value)], out: &mut Vec<u8>, times: &mut Times) {
        out.reserve(self.text.len() + 16 * self.values.len());
        let mut start = 0;
        let mut from = 0;
        // Spliced members between runs of plain values: a plan without them is one run.
        for (at, skip) in &self.splices {
            let at = *at as usize;
            start = self.emit_run(fields, out, times, from, at, start);
            let end = self.ends[at] as usize;
            out.extend_from_slice(&self.text[start..end]);
            start = end;
            let wrote = fields
                .get(self.values[at] as usize)
                .is_some_and(|(_, v)| v.write_spliced(out, skip));
            if !wrote {
                // Every member was the parent's own: drop the comma before or after them.
                if out.last() == Some(&b',') {
                    out.pop();
                } else if self.text.get(start) == Some(&b',') {
                    start += 1;
                }
            }
            from = at + 1;
        }
        start = self.emit_run(fields, out, times, from, self.values.len(), start);
        let len = self.text.len().saturating_sub(LIT);
        out.extend_from_slice(self.text.get(start..len).unwrap_or_default());
    }

    /// Writes values `from..to` with the literals before each, from `start` in `text`; where the
    /// literal after them starts.
    #[inline(always)]
    fn emit_run(
        &self,
        fields: &[(Key, Value)],
        out: &mut Vec<u8>,
        times: &mut Times,
        from: usize,
        to: usize,
        mut start: usize,
    ) -> usize {
        let values = self.values.get(from..to).unwrap_or_default();
        let ends = self.ends.get(from..to).unwrap_or_default();
        for (&field, &end) in values.iter().zip(ends) {
            let end = end as usize;
            // Nearly every literal (`,"ip":`, `},"source":{"ip":`) is shorter than `LIT`: one
            // fixed-size copy (`text` is padded so it can be read) cut back to length, where a
            // `memcpy` call of the exact length cost more than the copy itself.
            match self.text.get(start..start + LIT) {
                Some(window) if end - start <= LIT => {
                    let len = out.len() + (end - start);
                    out.extend_from_slice(window);
                    out.truncate(len);
                }
                _ => out.extend_from_slice(&self.text[start..end]),
            }
            match fields.get(field as usize) {
                // Most values: the string path inlined here rather than a call to
                // `Value::write_json` that matches the variant again.
                Some((_, Value::Str(s))) => write_json_str(out, s),
                Some((_, Value::Time(t))) => times.write(out, t),
                Some((_, v)) => v.write_json(out),
                None => {}
            }
            start = end;
        }
        start
    }
}

impl Times {
    /// `t` as a JSON string, copied when it is one of the times written last.
    fn write(&mut self, out: &mut Vec<u8>, t: &DateTime<FixedOffset>) {
        self.clock += 1;
        for (slot, used) in self.slots.iter().zip(&mut self.used) {
            if let Some((prev, text)) = slot {
                // `==` on DateTime compares instants only; the offset decides the text too.
                if prev == t && prev.offset() == t.offset() {
                    out.extend_from_slice(&text.bytes[..text.len]);
                    *used = self.clock;
                    return;
                }
            }
        }
        let start = out.len();
        out.push(b'"');
        write_rfc3339(out, t);
        out.push(b'"');
        let written = &out[start..];
        let mut bytes = [0u8; 48];
        if let Some(dst) = bytes.get_mut(..written.len()) {
            dst.copy_from_slice(written);
            let lru = (0..TIMES).min_by_key(|&i| self.used[i]).unwrap_or(0);
            self.slots[lru] = Some((
                *t,
                TimeText {
                    bytes,
                    len: written.len(),
                },
            ));
            self.used[lru] = self.clock;
        }
    }
}

/// A cheap hash of the key list: length and the first and last bytes of each key. Collisions
/// only cost a rebuild; `Plan::matches` decides.
fn shape_hash(fields: &[(Key, Value)]) -> u64 {
    let mut h: u64 = fields.len() as u64;
    for (k, _) in fields {
        let b = k.as_bytes();
        let (head, tail) = ends8(b);
        h = (h.rotate_left(5) ^ head ^ tail.rotate_left(29) ^ b.len() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 31)
}

/// The first and the last eight bytes of a key as integers (the whole key, twice, when shorter).
/// Fixed-size loads: a variable-length copy into a padded word was a `memcpy` call per key.
fn ends8(b: &[u8]) -> (u64, u64) {
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    match (b.get(..8), b.get(b.len().saturating_sub(8)..)) {
        (Some(head), Some(tail)) if b.len() >= 8 => (word(head), word(tail)),
        _ => {
            let x = b.iter().fold(0u64, |x, &c| x << 8 | u64::from(c));
            (x, x)
        }
    }
}

/// Builds the plan for `fields`. Keys are visited in path order, so each key shares its open
/// objects with the one before: the common prefix of the two paths says how many objects to close
/// and which to open.
fn build(
    fields: &[(Key, Value)],
    hash: u64,
    shape: Option<KeyShape>,
    order: &mut Vec<u128>,
) -> Plan {
    sort_into(fields, order);
    let mut plan = Plan {
        hash,
        shape,
        used: 0,
        keys: fields.iter().map(|(k, _)| k.clone()).collect(),
        found: Vec::new(),
        values: Vec::with_capacity(order.len()),
        text: Vec::with_capacity(order.len() * 16 + LIT),
        ends: Vec::with_capacity(order.len()),
        splices: Vec::new(),
    };
    let out = &mut plan.text;
    out.push(b'{');
    let mut prev: &[u8] = b"";
    let mut depth = 0usize;
    let mut need_comma = false;
    let n = order.len();
    let mut idx = 0;
    while idx < n {
        let i = order[idx] as u32 as usize;
        idx += 1;
        let key: &str = &fields[i].0;
        let kb = key.as_bytes();
        if idx < n {
            let next = fields[order[idx] as u32 as usize].0.as_bytes();
            // The last write of a key wins: skip earlier writes of the same key.
            if next == kb {
                continue;
            }
            // A leaf whose path is also a prefix of the next key would produce a duplicate
            // member: the nested fields win (they are the more specific ECS mapping).
            if next.len() > kb.len() && next.starts_with(kb) && next[kb.len()] == b'.' {
                continue;
            }
        }
        // Parents shared with the previous key: the dots inside their common prefix.
        let mut shared = 0;
        let mut shared_end = 0;
        for (pos, (a, b)) in prev.iter().zip(kb.iter()).enumerate() {
            if a != b {
                break;
            }
            if *a == b'.' {
                shared += 1;
                shared_end = pos + 1;
            }
        }
        while depth > shared {
            out.push(b'}');
            depth -= 1;
            need_comma = true;
        }
        // Open the rest of this key's parents, then the leaf. Slicing at ASCII dots keeps every
        // segment a valid `str`.
        let mut seg_start = shared_end;
        while let Some(dot) = kb[seg_start..].iter().position(|&b| b == b'.') {
            if need_comma {
                out.push(b',');
            }
            write_json_str(out, &key[seg_start..seg_start + dot]);
            out.extend_from_slice(b":{");
            depth += 1;
            need_comma = false;
            seg_start += dot + 1;
        }
        if need_comma {
            out.push(b',');
        }
        if let Some(parent) = splice_parent(key) {
            // No member name: the value's members go here. The parent's own members sort
            // before them (DEL is the highest key byte) and were just written.
            let own: Vec<Box<str>> = order[..idx - 1]
                .iter()
                .rev()
                .map(|&o| &*fields[o as u32 as usize].0)
                .map_while(|k| k.strip_prefix(parent)?.strip_prefix('.'))
                .filter(|rest| *rest != SPLICE)
                .map(|rest| head(rest).into())
                .collect();
            plan.splices.push((plan.values.len() as u32, own.into()));
        } else {
            write_json_str(out, &key[seg_start..]);
            out.push(b':');
        }
        plan.ends.push(out.len() as u32);
        plan.values.push(i as u32);
        need_comma = true;
        prev = kb;
    }
    for _ in 0..depth {
        out.push(b'}');
    }
    out.push(b'}');
    out.resize(out.len() + LIT, 0);
    plan
}

/// Field indices in path order; equal keys keep their write order. Each entry packs a 12-byte key
/// prefix above the field index, so most comparisons are one integer compare (full paths are
/// compared only when prefixes tie), and the unstable sort needs no scratch allocation.
fn sort_into(fields: &[(Key, Value)], order: &mut Vec<u128>) {
    order.clear();
    order.extend(
        fields
            .iter()
            .enumerate()
            .map(|(i, (k, _))| path_prefix(k.as_bytes()) << 32 | i as u128),
    );
    order.sort_unstable_by(|&a, &b| {
        if a >> 32 != b >> 32 {
            return a.cmp(&b);
        }
        let (ia, ib) = (a as u32 as usize, b as u32 as usize);
        cmp_path(&fields[ia].0, &fields[ib].0).then(ia.cmp(&ib))
    });
}

/// The first 12 bytes of a path as a big-endian integer, with `.` ranked lowest (as `cmp_path`
/// does), so comparing prefixes orders keys the same way whenever the prefixes differ.
fn path_prefix(key: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    let n = key.len().min(12);
    buf[4..4 + n].copy_from_slice(&key[..n]);
    for b in &mut buf[4..4 + n] {
        if *b == b'.' {
            *b = 0;
        }
    }
    u128::from_be_bytes(buf)
}

/// Orders dotted paths segment by segment, so `a.b` and `a.c` stay adjacent even when `a-x` exists.
/// Byte order with `.` ranked below every other byte is exactly that order, without splitting
/// (splitting made sorting most of the serialization time).
pub(super) fn cmp_path(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |c: u8| if c == b'.' { 0 } else { c };
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return rank(x).cmp(&rank(y));
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-field document whose key is `k<n>.x`.
    fn doc(n: usize) -> Vec<(Key, Value)> {
        vec![(Key::Owned(format!("k{n}.x")), Value::Int(n as i64))]
    }

    fn set_of(n: usize) -> u64 {
        shape_hash(&doc(n)) % (SLOTS / WAYS) as u64
    }

    #[test]
    fn cached_times_are_written_as_formatted_and_an_offset_is_not_mistaken_for_another() {
        let utc = DateTime::parse_from_rfc3339("2026-12-01T06:32:04.298801019Z").unwrap();
        // The same instant at another offset: equal as DateTimes, different text.
        let plus2 = utc.with_timezone(&FixedOffset::east_opt(7200).unwrap());
        let other = |s: i64| utc + chrono::Duration::seconds(s);
        let mut cache = PlanCache::default();
        let mut out = Vec::new();
        // More distinct times than slots, around a time repeated in every document.
        for n in 0..(3 * TIMES as i64) {
            for t in [other(n), utc, other(100 + n), plus2, other(200 + n), utc] {
                let fields = vec![(Key::Borrowed("t"), Value::Time(t))];
                out.clear();
                cache.write(&fields, None, &mut out, &[]);
                let mut want = b"{\"t\":\"".to_vec();
                write_rfc3339(&mut want, &t);
                want.extend_from_slice(b"\"}");
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want)
                );
            }
        }
        assert!(String::from_utf8_lossy(&out).contains("06:32:04.298801019Z"));
    }

    #[test]
    fn key_lists_sharing_a_set_keep_their_plans_and_the_least_recently_used_goes() {
        // WAYS + 1 key lists that all land in the same set.
        let target = set_of(0);
        let same: Vec<usize> = (0..)
            .filter(|&n| set_of(n) == target)
            .take(WAYS + 1)
            .collect();
        let mut cache = PlanCache::default();
        let mut out = Vec::new();
        let mut write = |cache: &mut PlanCache, n: usize| {
            out.clear();
            cache.write(&doc(n), None, &mut out, &[]);
            assert_eq!(out, format!("{{\"k{n}\":{{\"x\":{n}}}}}").into_bytes());
        };
        // WAYS lists cycled: built once each, then always found.
        for _ in 0..3 {
            for &n in &same[..WAYS] {
                write(&mut cache, n);
            }
        }
        assert_eq!(cache.stats(), (2 * WAYS as u64, WAYS as u64));
        // Touch all but the first, then a new list: it replaces the first (least recently used).
        for &n in &same[1..WAYS] {
            write(&mut cache, n);
        }
        write(&mut cache, same[WAYS]);
        let (hits, misses) = cache.stats();
        for &n in &same[1..=WAYS] {
            write(&mut cache, n);
        }
        assert_eq!(cache.stats(), (hits + WAYS as u64, misses));
        write(&mut cache, same[0]);
        assert_eq!(cache.stats(), (hits + WAYS as u64, misses + 1));
    }
}
