//! The normalized document: a flat list of dotted ECS keys and typed values.
//!
//! Normalizers write fields as `doc.insert("source.ip", ip)`; serialization nests the dotted keys into
//! JSON objects in one sorted pass. A flat `Vec` is far cheaper to build than a tree of maps (no hashing,
//! one allocation for the whole field list) and the sort happens once, at the output.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::Write;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

mod plan;

use plan::PlanCache;

/// A field path such as `source.ip`. Static literals cost no allocation.
pub type Key = Cow<'static, str>;

/// A string field value: up to 24 bytes inline (most ECS values: addresses, ports, names,
/// actions), longer ones on the heap. Building and dropping a record then costs a few allocations
/// instead of one per field.
pub type Text = compact_str::CompactString;

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    /// A point in time, written as RFC 3339 with its offset and sub-second digits.
    Time(DateTime<FixedOffset>),
    Array(Vec<Value>),
    /// An object whose keys are literal (not dotted paths): SD-IDs, event-data names.
    Object(Vec<(Text, Value)>),
    /// Arbitrary JSON kept as parsed (`json.*` of unknown records). Boxed: a `serde_json::Value`
    /// is 72 bytes, and inline it made every field of every document 96 bytes instead of 56.
    Json(Box<serde_json::Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Writes the value as JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => {
                let mut buf = itoa::Buffer::new();
                out.extend_from_slice(buf.format(*i).as_bytes());
            }
            Value::Float(f) if f.is_finite() => write_f64(out, *f),
            Value::Float(_) => out.extend_from_slice(b"null"),
            Value::Str(s) => write_json_str(out, s),
            Value::Time(t) => {
                out.push(b'"');
                write_rfc3339(out, t);
                out.push(b'"');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_json(out);
                }
                out.push(b']');
            }
            Value::Object(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, k);
                    out.push(b':');
                    v.write_json(out);
                }
                out.push(b'}');
            }
            Value::Json(v) => {
                // Writing a serde_json::Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
    }

    /// Converts to a `serde_json::Value` (tests, the HTTP API, routes on nested values).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Time(t) => {
                let mut b = Vec::with_capacity(40);
                write_rfc3339(&mut b, t);
                J::String(String::from_utf8_lossy(&b).into_owned())
            }
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(o) => J::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            Value::Json(v) => (**v).clone(),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(Text::new(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Text::from(v))
    }
}
impl From<Cow<'_, str>> for Value {
    fn from(v: Cow<'_, str>) -> Self {
        match v {
            Cow::Borrowed(s) => Value::Str(Text::new(s)),
            Cow::Owned(s) => Value::Str(Text::from(s)),
        }
    }
}
impl From<DateTime<FixedOffset>> for Value {
    fn from(v: DateTime<FixedOffset>) -> Self {
        Value::Time(v)
    }
}
impl From<DateTime<chrono::Utc>> for Value {
    fn from(v: DateTime<chrono::Utc>) -> Self {
        Value::Time(v.fixed_offset())
    }
}
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::Json(Box::new(v))
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

/// A string value known at compile time (a literal or a `&'static str` constant), built then:
/// `Text::new` of it at run time cost a `memcpy` call and the inline-or-heap branches, on every
/// record, for values such as `event.module` that never change.
macro_rules! lit {
    ($s:expr) => {
        $crate::doc::Value::Str(const { $crate::doc::Text::const_new($s) })
    };
}
pub(crate) use lit;

/// The largest buffer `Doc::clear` keeps for reuse.
const SPARE_MAX: usize = 64 * 1024;

/// The identity of a key list whose keys are all static strings, from their addresses and
/// lengths: a static string's address names its text (nothing else can ever be there), so two
/// lists with the same keys in the same order have the same shape without reading a key. Caches
/// that depend only on the key list (serialization plans, where the enrichers' fields are) are
/// keyed by it, where each compared the list key by key (about 8 instructions a key) and
/// serialization also hashed key text (15). Two independent 64-bit lanes: distinct lists
/// sharing a shape would be written with each other's layout, and 2^-128 makes that a non-event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShape(u64, u64);

impl KeyShape {
    /// A number to pick a cache set with.
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// [`KeyShape`] folded over a document's first `n` keys, so that asking again after more
/// fields were added (enrichment, then serialization) folds only the new keys.
#[derive(Debug, Clone, Copy)]
struct ShapeFold {
    n: usize,
    a: u64,
    b: u64,
    /// A key built at run time was seen: the list has no shape.
    built: bool,
}

impl Default for ShapeFold {
    fn default() -> Self {
        ShapeFold {
            n: 0,
            a: 0,
            b: 0x243F_6A88_85A3_08D3,
            built: false,
        }
    }
}

impl ShapeFold {
    #[inline]
    fn extend(mut self, fields: &[(Key, Value)]) -> Self {
        for (k, _) in fields.get(self.n..).unwrap_or_default() {
            let Key::Borrowed(s) = k else {
                self.built = true;
                break;
            };
            let x = s.as_ptr() as u64 ^ (s.len() as u64).rotate_right(16);
            self.a = (self.a ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            self.a ^= self.a >> 29;
            self.b = (self.b.rotate_left(23) ^ x).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        }
        self.n = fields.len();
        self
    }

    fn shape(self) -> Option<KeyShape> {
        let (a, b) = (self.a ^ self.n as u64, self.b);
        (!self.built).then_some(KeyShape(a ^ (a >> 32), b ^ (b >> 31)))
    }
}

/// A normalized record: dotted keys in insertion order, last write wins.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    fields: Vec<(Key, Value)>,
    /// Serialization plans of the key lists seen so far; see `plan`.
    plans: RefCell<PlanCache>,
    /// The key list's shape as far as it was last asked for. Fields are only ever appended
    /// except by `remove` and `clear`, which start it over.
    shape: Cell<ShapeFold>,
    /// The field written by `insert_reusing`, whose buffer `clear` keeps in `spare`.
    reused_at: Option<usize>,
    spare: Text,
    /// Emptied arrays of earlier documents, for `append_unique`: `related.*` and `tags` cost an
    /// allocation, often a reallocation, and a free per record otherwise.
    spare_arrays: Vec<Vec<Value>>,
}

/// How many emptied arrays, and of what capacity at most, `Doc::clear` keeps.
const SPARE_ARRAYS: usize = 8;
const SPARE_ARRAY_CAP: usize = 64;

/// An empty array, one kept from an earlier document when there is one.
fn new_array(spare: &mut Vec<Vec<Value>>) -> Vec<Value> {
    spare.pop().unwrap_or_else(|| Vec::with_capacity(4))
}

impl PartialEq for Doc {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Doc {
    pub fn new() -> Self {
        Doc {
            fields: Vec::with_capacity(48),
            plans: RefCell::new(PlanCache::default()),
            shape: Cell::default(),
            reused_at: None,
            spare: Text::default(),
            spare_arrays: Vec::new(),
        }
    }

    /// Sets `key`. A later insert of the same key wins (resolved at serialization, so no scan here).
    #[inline]
    pub fn insert(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        self.fields.push((key.into(), value.into()));
    }

    /// Sets `key` only when `value` is `Some` and, for strings, not empty or `-`.
    #[inline]
    pub fn insert_opt<V: Into<Value>>(&mut self, key: impl Into<Key>, value: Option<V>) {
        if let Some(v) = value {
            let v = v.into();
            if let Value::Str(s) = &v {
                if s.is_empty() || s == "-" {
                    return;
                }
            }
            self.fields.push((key.into(), v));
        }
    }

    /// The current value of `key` (the last one written).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes every value of `key`.
    pub fn remove(&mut self, key: &str) {
        self.fields.retain(|(k, _)| k != key);
        self.shape.take();
    }

    /// Appends `value` to the array at `key`, creating it; skips a value already present.
    pub fn append_unique(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some((_, existing)) = self.fields.iter_mut().rev().find(|(k, _)| *k == key) {
            match existing {
                Value::Array(items) => {
                    if !items.contains(&value) {
                        items.push(value);
                    }
                }
                other => {
                    if *other != value {
                        let mut items = new_array(&mut self.spare_arrays);
                        items.push(std::mem::replace(other, Value::Null));
                        items.push(value);
                        *other = Value::Array(items);
                    }
                }
            }
        } else {
            let mut items = new_array(&mut self.spare_arrays);
            items.push(value);
            self.fields.push((key, Value::Array(items)));
        }
    }

    /// Adds to `related.ip`, `related.user`, `related.hosts` or `related.hash`, skipping empty and `-`.
    pub fn add_related(&mut self, kind: Related, value: &str) {
        if value.is_empty() || value == "-" {
            return;
        }
        self.append_unique(kind.key(), value);
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn clear(&mut self) {
        self.shape.take();
        if let Some(i) = self.reused_at.take() {
            match self.fields.get_mut(i) {
                // Not an outsized record's buffer: that would stay allocated for good.
                Some((_, Value::Str(t))) if t.capacity() <= SPARE_MAX => {
                    self.spare = std::mem::take(t)
                }
                _ => {}
            }
        }
        // Most fields own nothing: a static key and a number, a time or an inline string. Left
        // to `Vec::clear`, each field went through `Value`'s whole drop glue, an out-of-line call;
        // matched here, those fields cost a compare (W1: 2,220 -> 1,960 instructions a document).
        for (key, value) in self.fields.drain(..) {
            drop(key);
            match value {
                Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Time(_) => {
                }
                Value::Str(s) => drop(s),
                Value::Array(mut items)
                    if self.spare_arrays.len() < SPARE_ARRAYS
                        && items.capacity() <= SPARE_ARRAY_CAP =>
                {
                    items.clear();
                    self.spare_arrays.push(items);
                }
                other => drop(other),
            }
        }
    }

    /// Sets `key` to a copy of `text` in a buffer kept from the previous document: for the one
    /// long string every record has (`event.original`, about 430 bytes in W1), which otherwise
    /// cost a `malloc` and a `free` per record.
    pub fn insert_reusing(&mut self, key: &'static str, text: &str) {
        let mut t = std::mem::take(&mut self.spare);
        // Keeps the capacity: a record no longer than the last one is copied without allocating.
        t.clear();
        t.push_str(text);
        self.reused_at = Some(self.fields.len());
        self.fields.push((Key::Borrowed(key), Value::Str(t)));
    }

    /// The fields as written, with their keys as stored (static or built).
    pub fn fields(&self) -> &[(Key, Value)] {
        &self.fields
    }

    /// The identity of the key list, when every key is a static string; see [`KeyShape`].
    pub fn key_shape(&self) -> Option<KeyShape> {
        let fold = self.shape.get().extend(&self.fields);
        self.shape.set(fold);
        fold.shape()
    }

    /// The fields as written, duplicates included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Serializes as one nested JSON object (no trailing newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_get(out, &[]);
    }

    /// [`write_json`](Self::write_json), returning the current value of each of `keys` (as
    /// [`get`](Self::get) would). Where a key is depends only on the document's key list, so the plan that
    /// writes the list also remembers where `keys` are: the pipeline looks up the same five keys
    /// in every record, and scanning for them cost about 600 instructions per record.
    pub fn write_json_get<const N: usize>(
        &self,
        out: &mut Vec<u8>,
        keys: &[&'static str; N],
    ) -> [Option<&Value>; N] {
        let at = match self.plans.try_borrow_mut() {
            Ok(mut plans) => plans.write(&self.fields, self.key_shape(), out, keys),
            // Only reachable if writing re-entered itself: a throwaway cache still writes it.
            Err(_) => PlanCache::default().write(&self.fields, self.key_shape(), out, keys),
        };
        at.map(|i| i.and_then(|i| self.fields.get(i as usize)).map(|(_, v)| v))
    }

    /// How often serialization reused a cached plan: (hits, misses).
    pub fn plan_stats(&self) -> (u64, u64) {
        self.plans.try_borrow().map_or((0, 0), |p| p.stats())
    }

    /// The document as a `serde_json::Value` (tests and the HTTP API).
    pub fn to_json(&self) -> serde_json::Value {
        let mut buf = Vec::with_capacity(1024);
        self.write_json(&mut buf);
        serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
    }
}

/// A finite float as JSON, exactly as `ryu` writes it (the shortest form that reads back as the
/// same float). Most floats here are detection scores and coordinates with a few decimals: those
/// are written from one integer, without ryu's 128-bit arithmetic (about 700 instructions per
/// float before, mostly `sluice.confidence` on every record).
fn write_f64(out: &mut Vec<u8>, f: f64) {
    const SCALES: [(f64, u64); 7] = [
        (1.0, 1),
        (1e1, 10),
        (1e2, 100),
        (1e3, 1_000),
        (1e4, 10_000),
        (1e5, 100_000),
        (1e6, 1_000_000),
    ];
    let a = f.abs();
    // From 1e-3 up ryu writes no exponent. Below 2^30 one ulp is under 1e-6, so at most one
    // number with six decimals or fewer reads back as `a`, and the fewest decimals that do are
    // ryu's shortest digits.
    if (1e-3..1_073_741_824.0).contains(&a) {
        for &(scale, p) in &SCALES {
            // a * scale < 2^50: the product is within 0.125 of exact, so this is the nearest m.
            let m = (a * scale + 0.5) as u64;
            if m as f64 / scale == a {
                if f < 0.0 {
                    out.push(b'-');
                }
                let mut b = itoa::Buffer::new();
                out.extend_from_slice(b.format(m / p).as_bytes());
                out.push(b'.');
                if p == 1 {
                    out.push(b'0');
                } else {
                    // p + fraction has one digit more than the fraction's zero-padded form.
                    let digits = b.format(p + m % p).as_bytes();
                    out.extend_from_slice(digits.get(1..).unwrap_or_default());
                }
                return;
            }
        }
    }
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
}

/// The `related.*` arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Related {
    Ip,
    User,
    Hosts,
    Hash,
}

impl Related {
    pub fn key(self) -> &'static str {
        match self {
            Related::Ip => "related.ip",
            Related::User => "related.user",
            Related::Hosts => "related.hosts",
            Related::Hash => "related.hash",
        }
    }
}

/// Bytes as text, with U+FFFD for invalid UTF-8. `std::str::from_utf8` checks valid text several
/// times faster than `String::from_utf8_lossy`'s chunk walk, and almost all input is valid.
pub fn lossy(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Writes `s` as a JSON string with escapes.
///
/// Sixteen bytes at a time (`crate::scan`): a chunk with nothing to escape is skipped whole; in
/// one with escapes, each flagged byte is taken from the chunk's mask, the clean run before it
/// copied at once. XML and JSON originals, with a quote every few words, cost one step per
/// escape; short values (most fields) take one padded chunk.
#[inline(always)]
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.len() <= crate::scan::CHUNK {
        // Most values: one chunk with nothing to escape, written whole (a fixed-size copy) and
        // cut back to length.
        let c = crate::scan::short(bytes, b'a');
        if crate::scan::json_escape(&c) == 0 {
            out.reserve(crate::scan::CHUNK + 2);
            out.push(b'"');
            let at = out.len();
            out.extend_from_slice(&c);
            out.truncate(at + bytes.len());
            out.push(b'"');
            return;
        }
    }
    write_long_json_str(out, bytes);
}

/// `write_json_str` for values longer than a chunk or with something to escape: out of line, so
/// the short path stays small enough to inline where values are written.
///
/// A clean run before an escape is mostly a few bytes (JSON and XML originals have a quote every
/// few words, 22 escapes per W1 record): `scan::extend_run` copies it.
#[inline(never)]
fn write_long_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    use crate::scan::CHUNK;
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Padding with `a` flags nothing, so a tail's mask only has real bytes in it.
        let (c, _) = crate::scan::chunk(bytes, at, b'a');
        let mut mask = crate::scan::json_escape(&c);
        while mask != 0 {
            let j = at + mask.trailing_zeros() as usize;
            crate::scan::extend_run(out, bytes, start, j);
            push_escape(out, bytes[j]);
            start = j + 1;
            mask &= mask - 1;
        }
        at += CHUNK;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The escape sequence of a byte that needs one (control characters, `"` and `\\`).
#[inline(always)]
fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Writes RFC 3339 with the offset; sub-second digits in groups of three, only when non-zero.
pub fn write_rfc3339(out: &mut Vec<u8>, t: &DateTime<FixedOffset>) {
    /// Two digits of `v` and then `sep` (0 for none) at `b[*i..]`.
    fn two(b: &mut [u8; 40], i: &mut usize, v: u32, sep: u8) {
        b[*i] = b'0' + (v / 10 % 10) as u8;
        b[*i + 1] = b'0' + (v % 10) as u8;
        b[*i + 2] = sep;
        *i += if sep == 0 { 2 } else { 3 };
    }
    // The local date and time once: each accessor of a `DateTime<FixedOffset>` adds the offset
    // again. Digits go into a stack buffer and out in one copy, not a capacity check per byte.
    let n = t.naive_local();
    let mut b = [0u8; 40];
    let mut i = 0;
    let year = n.year();
    if (0..=9999).contains(&year) {
        let y = year as u32;
        two(&mut b, &mut i, y / 100, 0);
        two(&mut b, &mut i, y % 100, b'-');
    } else {
        let _ = write!(out, "{:+06}-", year);
    }
    two(&mut b, &mut i, n.month(), b'-');
    two(&mut b, &mut i, n.day(), b'T');
    two(&mut b, &mut i, n.hour(), b':');
    two(&mut b, &mut i, n.minute(), b':');
    two(&mut b, &mut i, n.second(), 0);
    let nanos = n.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let (value, digits) = if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        b[i] = b'.';
        let mut v = value;
        for slot in b[i + 1..i + 1 + digits].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        i += 1 + digits;
    }
    let off = t.offset().local_minus_utc();
    if off == 0 {
        b[i] = b'Z';
        i += 1;
    } else {
        b[i] = if off < 0 { b'-' } else { b'+' };
        i += 1;
        let a = off.unsigned_abs();
        two(&mut b, &mut i, a / 3600, b':');
        two(&mut b, &mut i, a % 3600 / 60, 0);
    }
    out.extend_from_slice(&b[..i]);
}

#[cfg(test)]
mod tests {
    /// A value built at compile time is the value built at run time, short (inline) or long.
    #[test]
    fn compile_time_values_equal_run_time_ones() {
        use super::Value;
        const LONG: &str = "a constant longer than the 24 inline bytes";
        assert_eq!(lit!("panw"), Value::from("panw"));
        assert_eq!(lit!(""), Value::from(""));
        assert_eq!(lit!(LONG), Value::from(LONG));
        let mut out = Vec::new();
        lit!("q\"uote").write_json(&mut out);
        assert_eq!(out, br#""q\"uote""#);
    }

    /// The float fast path must write exactly what ryu writes, for the values it takes (scores,
    /// coordinates, whole numbers) and for those it must leave to ryu.
    #[test]
    fn floats_match_ryu() {
        let mut samples = vec![
            0.0,
            -0.0,
            0.9,
            1.0,
            0.75,
            0.001,
            0.000999,
            1e-7,
            51.5142,
            -0.1276,
            179.999999,
            -89.9999995,
            123_456_789.5,
            1_073_741_823.0,
            1_073_741_824.0,
            1e15,
            1e300,
            5e-324,
            0.1 + 0.2,
            2.5e-3,
            999_999.999_999,
            1.5e9,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        // Pseudo-random values: decimals with 0 to 8 places across magnitudes, and raw bits.
        let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = || rng.next();
        for _ in 0..200_000 {
            let r = next();
            let places = (r % 9) as i32;
            let magnitude = 10f64.powi(((r >> 8) % 13) as i32 - 3);
            let v = ((next() % 1_000_000_007) as f64 / 1e9 * magnitude * 10f64.powi(places))
                .round()
                / 10f64.powi(places);
            samples.push(if r & (1 << 40) == 0 { v } else { -v });
            samples.push(f64::from_bits(next()));
        }
        for f in samples.into_iter().filter(|f| f.is_finite()) {
            let mut ours = Vec::new();
            super::write_f64(&mut ours, f);
            let mut ryu = ryu::Buffer::new();
            assert_eq!(
                std::str::from_utf8(&ours).ok(),
                Some(ryu.format_finite(f)),
                "{f:e}"
            );
        }
    }

    #[test]
    fn string_escaping_matches_serde() {
        let samples = [
            "",
            "plain ascii text that is longer than eight bytes",
            "q\"uote",
            "back\\slash",
            "tab\tnl\ncr\r",
            "\u{1}\u{1f}ctl",
            "ünïcødé ✓ and \u{7f} del",
            "12345678\"",
            "1234567\\",
            "a\u{0}b",
            "\"\"\"\"\"\"\"\"\"",
        ];
        for s in samples {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn random_strings_escape_like_serde() {
        let alphabet = [
            "a", "\"", "\\", "\n", "\u{1}", "\u{1f}", " ", "é", "✓", "\u{7f}", "<", "=",
        ];
        let mut rng = crate::testing::XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..5000 {
            let seed = rng.next();
            let len = (seed % 100) as usize;
            let s: String = (0..len)
                .map(|k| alphabet[((seed >> (k % 50)) as usize + k * 7) % alphabet.len()])
                .collect();
            let mut out = Vec::new();
            write_json_str(&mut out, &s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&s).unwrap()
            );
        }
    }

    #[test]
    fn path_order_is_segment_order() {
        let keys = [
            "a", "a.b", "a-x", "a.b.c", "a.bc", "ab", "a.b-c", "a.a", "", ".", "a..b", "b",
            "a.b.c.d",
        ];
        for x in keys {
            for y in keys {
                assert_eq!(
                    super::plan::cmp_path(x, y),
                    x.split('.').cmp(y.split('.')),
                    "{x} vs {y}"
                );
            }
        }
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nests_dotted_keys_and_last_write_wins() {
        let mut d = Doc::new();
        d.insert("source.ip", "10.0.0.1");
        d.insert("event.kind", "event");
        d.insert("source.port", 22);
        d.insert("source-x", true);
        d.insert("event.kind", "alert");
        d.insert("@timestamp", "t");
        let mut out = Vec::new();
        d.write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"@timestamp":"t","event":{"kind":"alert"},"source":{"ip":"10.0.0.1","port":22},"source-x":true}"#
        );
    }

    #[test]
    fn leaf_conflicting_with_object_is_dropped_and_json_stays_valid() {
        let mut d = Doc::new();
        d.insert("a", 1);
        d.insert("a.b", 2);
        d.insert("a.c.d", 3);
        d.insert("b", 4);
        let v = d.to_json();
        assert_eq!(v, serde_json::json!({"a":{"b":2,"c":{"d":3}},"b":4}));
    }

    #[test]
    fn key_shape_names_a_list_of_static_keys_and_follows_appends() {
        let build = |keys: &[&'static str]| {
            let mut d = Doc::new();
            for (i, k) in keys.iter().enumerate() {
                d.insert(*k, i as i64);
            }
            d
        };
        let ab = build(&["a.b", "c"]);
        assert!(ab.key_shape().is_some());
        assert_eq!(ab.key_shape(), build(&["a.b", "c"]).key_shape());
        assert_ne!(ab.key_shape(), build(&["c", "a.b"]).key_shape());
        assert_ne!(ab.key_shape(), build(&["a.b"]).key_shape());
        assert_ne!(ab.key_shape(), build(&["a.b", "c", "c"]).key_shape());
        // Asked half way, then fields added: the same as asked once at the end.
        let mut d = build(&["a.b"]);
        let half = d.key_shape();
        d.insert("c", 1);
        assert_ne!(d.key_shape(), half);
        assert_eq!(d.key_shape(), ab.key_shape());
        // Removing starts over; clearing too.
        d.insert("x", 1);
        d.key_shape();
        d.remove("x");
        assert_eq!(d.key_shape(), ab.key_shape());
        d.clear();
        d.insert("a.b", 1);
        assert_eq!(d.key_shape(), half);
        // A built key: no shape, whatever its text.
        let mut built = build(&["a.b"]);
        built.insert(String::from("c"), 1);
        assert_eq!(built.key_shape(), None);
    }

    #[test]
    fn lists_with_and_without_built_keys_share_no_plan_and_both_write_right() {
        let mut d = Doc::new();
        let mut out = Vec::new();
        for round in 0..3 {
            for built in [false, true] {
                d.clear();
                d.insert("b.x", round);
                if built {
                    d.insert(String::from("a"), "built");
                } else {
                    d.insert("a", "static");
                }
                out.clear();
                d.write_json(&mut out);
                let want = if built {
                    format!(r#"{{"a":"built","b":{{"x":{round}}}}}"#)
                } else {
                    format!(r#"{{"a":"static","b":{{"x":{round}}}}}"#)
                };
                assert_eq!(String::from_utf8_lossy(&out), want);
            }
        }
        // Two plans (one per kind of list), reused from the second round on.
        assert_eq!(d.plan_stats(), (4, 2));
    }

    #[test]
    fn write_json_get_finds_the_last_value_of_each_key_through_the_plan() {
        const KEYS: [&str; 4] = ["host.name", "event.kind", "user.name", "host.host"];
        let mut d = Doc::new();
        let mut out = Vec::new();
        // Each key list several times (its plan is reused), two key lists, and two sets of keys
        // asked of one plan (what the plan remembers is replaced).
        for round in 0..3i64 {
            for shape in 0..2 {
                d.clear();
                d.insert("host.name", "a");
                d.insert("event.kind", "event");
                if shape == 1 {
                    d.insert("user.name", "u");
                }
                d.insert("host.name", "b");
                d.insert("host.hostx", round);
                out.clear();
                let got = d.write_json_get(&mut out, &KEYS);
                assert_eq!(got, KEYS.map(|k| d.get(k)));
                assert_eq!(got[0], Some(&Value::from("b")));
                assert_eq!(got[3], None);
                assert_eq!(got[2].is_some(), shape == 1);
                let written = String::from_utf8_lossy(&out).into_owned();
                out.clear();
                // As many keys as before, so only their identity tells the sets apart.
                let [x, ..] = d.write_json_get(&mut out, &["host.hostx", "a", "b", "c"]);
                assert_eq!(x, Some(&Value::Int(round)));
                assert_eq!(String::from_utf8_lossy(&out), written);
            }
        }
        // Short keys, keys of one length that differ only inside, and longer keys that share
        // their first and last eight bytes.
        let mut d = Doc::new();
        for (i, k) in [
            "ab",
            "ac",
            "event.created",
            "event.dataset",
            "abcdefgh.1.ijklmnop",
            "abcdefgh.2.ijklmnop",
            "abcdefghXijklmnop",
            "abcdefghYijklmnop",
        ]
        .into_iter()
        .enumerate()
        {
            d.insert(k, i as i64);
        }
        let got = d.write_json_get(
            &mut out,
            &[
                "ac",
                "event.dataset",
                "abcdefgh.1.ijklmnop",
                "abcdefghYijklmnop",
                "abcdefgh.3.ijklmnop",
                "event.datasex",
            ],
        );
        let want = [Some(1), Some(3), Some(4), Some(7), None, None];
        assert_eq!(got.map(|v| v.and_then(Value::as_i64)), want);
    }

    #[test]
    fn insert_reusing_copies_into_the_previous_documents_buffer() {
        let mut d = Doc::new();
        let long = "x".repeat(400);
        d.insert("a", 1);
        d.insert_reusing("event.original", &long);
        let first = d.get_str("event.original").map(str::as_ptr);
        d.clear();
        d.insert_reusing("event.original", &long[..300]);
        assert_eq!(d.get_str("event.original"), Some(&long[..300]));
        assert_eq!(d.get_str("event.original").map(str::as_ptr), first);
        // A later write of the key wins, as with `insert`.
        d.insert("event.original", "y");
        assert_eq!(d.to_json()["event"]["original"], "y");
        // An outsized buffer is not kept.
        d.clear();
        d.insert_reusing("event.original", &"z".repeat(SPARE_MAX + 1));
        d.clear();
        assert!(d.spare.capacity() < SPARE_MAX);
        d.insert_reusing("event.original", "short");
        assert_eq!(d.to_json()["event"]["original"], "short");
    }

    #[test]
    fn arrays_kept_by_clear_start_empty() {
        let mut d = Doc::new();
        for round in 0..40 {
            // Up to 12 arrays a document: more than `clear` keeps, some grown past the cap.
            let arrays = round % 13;
            for a in 0..arrays {
                let key = format!("a{a}");
                let items = if a == 5 { SPARE_ARRAY_CAP + 1 } else { a + 1 };
                for i in 0..items {
                    d.append_unique(key.clone(), format!("{round}-{i}"));
                    d.append_unique(key.clone(), format!("{round}-{i}"));
                }
            }
            // A single value that becomes an array.
            d.insert("one", "x");
            d.append_unique("one", "y");
            let j = d.to_json();
            for a in 0..arrays {
                let items = if a == 5 { SPARE_ARRAY_CAP + 1 } else { a + 1 };
                let want: Vec<_> = (0..items).map(|i| format!("{round}-{i}")).collect();
                assert_eq!(j[format!("a{a}")], serde_json::json!(want), "round {round}");
            }
            assert_eq!(j["one"], serde_json::json!(["x", "y"]));
            d.clear();
            assert!(d.spare_arrays.len() <= SPARE_ARRAYS);
            assert!(d
                .spare_arrays
                .iter()
                .all(|a| a.is_empty() && a.capacity() <= SPARE_ARRAY_CAP));
        }
    }

    #[test]
    fn escapes_strings_and_formats_times() {
        let mut d = Doc::new();
        let t = FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
            .unwrap()
            + chrono::Duration::milliseconds(120);
        d.insert("@timestamp", t);
        d.insert("message", "a\"b\\c\nd\u{1}");
        let v = d.to_json();
        assert_eq!(v["@timestamp"], "2024-03-05T07:08:09.120+01:00");
        assert_eq!(v["message"], "a\"b\\c\nd\u{1}");
    }

    #[test]
    fn timestamps_match_chrono() {
        for (offset, year) in [
            (-5 * 3600, 2024),
            (0, 1970),
            (5 * 3600 + 1800, 999),
            (-(9 * 3600 + 45 * 60), 9999),
            (14 * 3600, 2),
        ] {
            let base = FixedOffset::east_opt(offset)
                .unwrap()
                .with_ymd_and_hms(year, 12, 31, 23, 59, 58)
                .unwrap();
            check_nanos(base);
        }
    }

    fn check_nanos(base: chrono::DateTime<FixedOffset>) {
        for nanos in [
            0,
            7_000_000,
            120_000_000,
            4_000,
            123_456_000,
            1,
            999_999_999,
            10,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            let mut out = Vec::new();
            write_rfc3339(&mut out, &t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            );
        }
    }

    /// The nesting serializer against a plain reference: last write wins, a leaf that is also a
    /// parent of another key is dropped, everything else nests.
    #[test]
    fn random_documents_match_a_reference_nesting() {
        let segs = [
            "a", "b", "a-x", "ab", "source", "ip", "x_y", "é", "q\"t", "",
        ];
        let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = move |n: usize| rng.below(n);
        // One document for every round, as the processor reuses it: plans are built and reused.
        let mut d = Doc::new();
        for round in 0..2000 {
            d.clear();
            let mut writes: Vec<(String, i64)> = Vec::new();
            for w in 0..(1 + next(30)) {
                let depth = 1 + next(4);
                let key: Vec<&str> = (0..depth).map(|_| segs[next(segs.len())]).collect();
                let key = key.join(".");
                d.insert(key.clone(), w as i64);
                writes.push((key, w as i64));
            }
            let mut last: std::collections::BTreeMap<String, i64> = Default::default();
            for (k, v) in &writes {
                last.insert(k.clone(), *v);
            }
            let keys: Vec<&String> = last.keys().collect();
            let mut expected = serde_json::Map::new();
            for (k, v) in &last {
                let is_parent = keys.iter().any(|o| {
                    o.len() > k.len() && o.starts_with(k.as_str()) && o.as_bytes()[k.len()] == b'.'
                });
                if is_parent {
                    continue;
                }
                let parts: Vec<&str> = k.split('.').collect();
                let mut obj = &mut expected;
                for p in &parts[..parts.len() - 1] {
                    obj = obj
                        .entry(p.to_string())
                        .or_insert_with(|| serde_json::Value::Object(Default::default()))
                        .as_object_mut()
                        .unwrap();
                }
                obj.insert(parts[parts.len() - 1].to_string(), serde_json::json!(v));
            }
            let mut out = Vec::new();
            d.write_json(&mut out);
            // The second write goes through the cached plan and must be the same.
            let mut again = Vec::new();
            d.write_json(&mut again);
            assert_eq!(out, again);
            let text = String::from_utf8(out).unwrap();
            let got: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                got,
                serde_json::Value::Object(expected),
                "round {round}: {text}"
            );
            // No member written twice: re-serializing the parsed value gives the same length.
            assert_eq!(
                serde_json::to_string(&got).unwrap().len(),
                text.len(),
                "{text}"
            );
        }
        let (hits, misses) = d.plan_stats();
        assert!(hits >= 2000 && misses <= 2000, "{hits} {misses}");
    }

    #[test]
    fn related_is_deduplicated() {
        let mut d = Doc::new();
        d.add_related(Related::Ip, "1.2.3.4");
        d.add_related(Related::Ip, "1.2.3.4");
        d.add_related(Related::Ip, "-");
        d.add_related(Related::Ip, "::1");
        assert_eq!(
            d.to_json()["related"]["ip"],
            serde_json::json!(["1.2.3.4", "::1"])
        );
    }
}
