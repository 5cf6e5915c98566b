//! The normalized document: a flat list of dotted ECS keys and typed values.
//!
//! Normalizers write fields as `doc.insert("source.ip", ip)`; serialization nests the dotted keys into
//! JSON objects in one sorted pass. A flat `Vec` is far cheaper to build than a tree of maps (no hashing,
//! one allocation for the whole field list) and the sort happens once, at the output.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::Write;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

mod members;
mod plan;
mod shape;

pub use members::{splice_key, splice_parent, Members, SPLICE};
pub use shape::KeyShape;
use shape::ShapeFold;

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
    /// Members shared by many records and written as they were rendered once (GeoIP's `geo` and
    /// `as` of an address). Under a key made by [`splice_key`] they join the parent object.
    Members(std::sync::Arc<Members>),
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
            Value::Members(m) => {
                out.push(b'{');
                out.extend_from_slice(&m.text);
                out.push(b'}');
            }
        }
    }

    /// Writes the members of a [`Value::Members`] under a [`splice_key`] (other values as a
    /// member named by the key's last segment, so the JSON stays valid); whether any was written.
    fn write_spliced(&self, out: &mut Vec<u8>, skip: &[Box<str>]) -> bool {
        match self {
            Value::Members(m) => m.write(out, skip),
            v => {
                write_json_str(out, SPLICE);
                out.push(b':');
                v.write_json(out);
                true
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
            Value::Members(_) => {
                let mut b = Vec::new();
                self.write_json(&mut b);
                serde_json::from_slice(&b).unwrap_or(J::Null)
            }
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

    /// The value at a dotted path: the key's (as [`get`](Self::get)), else a member spliced into
    /// one of its parents (`source.geo.city_name` from GeoIP). The record's own key wins, as it
    /// does when written.
    pub fn lookup(&self, path: &str) -> Option<&Value> {
        if let Some(v) = self.get(path) {
            return Some(v);
        }
        let mut cut = path.len();
        while let Some(dot) = path[..cut].rfind('.') {
            cut = dot;
            if let Some(v) = self
                .spliced(&path[..dot])
                .and_then(|m| m.get(&path[dot + 1..]))
            {
                return Some(v);
            }
        }
        None
    }

    /// The members spliced into `parent` (inserted under [`splice_key`]`(parent)`), the last
    /// written.
    pub fn spliced(&self, parent: &str) -> Option<&Members> {
        self.fields.iter().rev().find_map(|(k, v)| match v {
            Value::Members(m) if splice_parent(k) == Some(parent) => Some(&**m),
            _ => None,
        })
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

    /// Sets `key` to an array of fixed strings (`event.category`, `event.type`) in an array kept
    /// from an earlier document: a new `Vec` was a `malloc` and a `free` per record.
    pub fn insert_strs(&mut self, key: impl Into<Key>, list: &[&'static str]) {
        let mut items = new_array(&mut self.spare_arrays);
        items.extend(list.iter().map(|&s| Value::Str(Text::const_new(s))));
        self.insert(key, Value::Array(items));
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
        // Most fields own nothing: a static key and a number, a time or an inline string. What
        // owns memory is taken out first, so that the fields left need no drop at all, and the
        // list is emptied by setting its length. `Vec::clear` (or `drain`) ran `Value`'s drop glue,
        // an out-of-line call, on every field: W2 3,624.8 M -> 3,506.0 M instructions for 200,000
        // records, W1 7,242.6 M -> 7,049.2 M (callgrind).
        let Doc {
            fields,
            spare_arrays,
            ..
        } = self;
        for (key, value) in fields.iter_mut() {
            if let Cow::Owned(_) = key {
                *key = Cow::Borrowed("");
            }
            match value {
                Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Time(_) => {
                }
                Value::Str(s) => {
                    if s.is_heap_allocated() {
                        *value = Value::Null;
                    }
                }
                Value::Array(items)
                    if spare_arrays.len() < SPARE_ARRAYS && items.capacity() <= SPARE_ARRAY_CAP =>
                {
                    let mut items = std::mem::take(items);
                    items.clear();
                    spare_arrays.push(items);
                }
                other => *other = Value::Null,
            }
        }
        // SAFETY: a length of zero is within any capacity and leaves no element that must be
        // initialized. Skipping the fields' drops is sound in any case (a leak at worst), and
        // leaks nothing because every field left owns nothing.
        #[allow(unsafe_code)]
        unsafe {
            fields.set_len(0)
        };
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
mod tests;
