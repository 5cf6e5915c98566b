//! GeoIP and ASN from MaxMind DB files: `*.geo.*` and `*.as.*` for IP fields.
//!
//! Reads MaxMind's GeoIP2/GeoLite2 City, Country and ASN schemas directly, and flat schemas (such as
//! the ip-location-db databases) through a configured field mapping. Databases are memory-mapped
//! and checked in full (`Reader::verify`) when loaded, so a corrupt file is refused at load time,
//! never met half-way through a lookup. Private, loopback and reserved addresses are not looked up.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::Reader;
use serde::Deserialize;

use super::cache::RecordCache;
use super::v4index::V4Index;
use super::{extension, mmdb, parent_of, EnrichError, LoadReport};
use crate::config::{GeoipConfig, GeoipDatabase};
use crate::doc::{splice_key, Key, Members, Value};

/// What a lookup can fill, as the ECS field under the IP's parent (`source.` + this).
pub const OUTPUTS: [&str; 13] = [
    "geo.city_name",
    "geo.country_iso_code",
    "geo.country_name",
    "geo.continent_code",
    "geo.continent_name",
    "geo.region_iso_code",
    "geo.region_name",
    "geo.postal_code",
    "geo.timezone",
    "geo.location.lat",
    "geo.location.lon",
    "as.number",
    "as.organization.name",
];
const N: usize = OUTPUTS.len();

macro_rules! keys {
    ($p:literal) => {
        [
            concat!($p, ".geo.city_name"),
            concat!($p, ".geo.country_iso_code"),
            concat!($p, ".geo.country_name"),
            concat!($p, ".geo.continent_code"),
            concat!($p, ".geo.continent_name"),
            concat!($p, ".geo.region_iso_code"),
            concat!($p, ".geo.region_name"),
            concat!($p, ".geo.postal_code"),
            concat!($p, ".geo.timezone"),
            concat!($p, ".geo.location.lat"),
            concat!($p, ".geo.location.lon"),
            concat!($p, ".as.number"),
            concat!($p, ".as.organization.name"),
        ]
    };
}

/// The output groups: the first segment of [`OUTPUTS`], and which slots are in each.
const GROUPS: [(&str, u16); 2] = [("geo", (1 << 11) - 1), ("as", 0b11 << 11)];

/// The keys a group's members are spliced under (`doc::splice_key`), by [`GROUPS`].
macro_rules! splices {
    ($p:literal) => {
        [concat!($p, ".geo.\u{7f}"), concat!($p, ".as.\u{7f}")]
    };
}

/// Output keys of the usual fields without an allocation per record: each field's, and each
/// group's splice key.
type StaticKeys = ([&'static str; N], [&'static str; 2]);

fn static_keys(prefix: &str) -> Option<&'static StaticKeys> {
    static SOURCE: StaticKeys = (keys!("source"), splices!("source"));
    static DESTINATION: StaticKeys = (keys!("destination"), splices!("destination"));
    static CLIENT: StaticKeys = (keys!("client"), splices!("client"));
    static SERVER: StaticKeys = (keys!("server"), splices!("server"));
    static HOST: StaticKeys = (keys!("host"), splices!("host"));
    match prefix {
        "source" => Some(&SOURCE),
        "destination" => Some(&DESTINATION),
        "client" => Some(&CLIENT),
        "server" => Some(&SERVER),
        "host" => Some(&HOST),
        _ => None,
    }
}

/// A database file's bytes, shared by the reader and the IPv4 index.
#[derive(Clone)]
enum Bytes {
    Mapped(Arc<maxminddb::Mmap>),
    Owned(Arc<[u8]>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(b) => b,
        }
    }
}

struct Database {
    db: Reader<Bytes>,
    bytes: Bytes,
    /// IPv4 lookups start 16 levels down the tree (large trees only).
    v4: Option<V4Index>,
    /// Flat schema: (output slot, path of keys in the record).
    mapping: Option<Vec<(usize, Vec<String>)>>,
}

/// The loaded databases, looked up in order.
pub struct Geoip {
    dbs: Vec<Database>,
}

// The MaxMind schemas, reduced to what ECS takes; strings borrowed from the database.
#[derive(Deserialize, Default)]
struct MmRecord<'a> {
    #[serde(borrow, default)]
    city: Option<Coded<'a>>,
    #[serde(borrow, default)]
    continent: Option<Coded<'a>>,
    #[serde(borrow, default)]
    country: Option<Coded<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Coded<'a>>>,
    #[serde(borrow, default)]
    postal: Option<Coded<'a>>,
    #[serde(borrow, default)]
    location: Option<Location<'a>>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Coded<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Location<'a> {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

fn name<'a>(c: &Option<Coded<'a>>) -> Option<&'a str> {
    c.as_ref().and_then(|c| c.names.as_ref()).and_then(|n| n.en)
}

impl MmRecord<'_> {
    fn fill(&self, slots: &mut [Option<Value>; N]) {
        let country_iso = self.country.as_ref().and_then(|c| c.iso_code);
        let region = self.subdivisions.as_ref().and_then(|s| s.first());
        let loc = self.location.as_ref();
        let strs: [Option<Cow<'_, str>>; 9] = [
            name(&self.city).map(Cow::Borrowed),
            country_iso.map(Cow::Borrowed),
            name(&self.country).map(Cow::Borrowed),
            self.continent
                .as_ref()
                .and_then(|c| c.code)
                .map(Cow::Borrowed),
            name(&self.continent).map(Cow::Borrowed),
            match (country_iso, region.and_then(|r| r.iso_code)) {
                // Built by hand: `format!` was a tenth of a first lookup's cost.
                (Some(c), Some(r)) => {
                    let mut s = String::with_capacity(c.len() + 1 + r.len());
                    s.push_str(c);
                    s.push('-');
                    s.push_str(r);
                    Some(Cow::Owned(s))
                }
                _ => None,
            },
            region
                .and_then(|r| r.names.as_ref())
                .and_then(|n| n.en)
                .map(Cow::Borrowed),
            self.postal.as_ref().and_then(|p| p.code).map(Cow::Borrowed),
            loc.and_then(|l| l.time_zone).map(Cow::Borrowed),
        ];
        for (slot, s) in slots.iter_mut().zip(strs) {
            if slot.is_none() {
                *slot = s.map(Value::from);
            }
        }
        let rest = [
            loc.and_then(|l| l.latitude).map(Value::Float),
            loc.and_then(|l| l.longitude).map(Value::Float),
            self.autonomous_system_number.map(Value::from),
            self.autonomous_system_organization.map(Value::from),
        ];
        for (slot, v) in slots[9..].iter_mut().zip(rest) {
            if slot.is_none() {
                *slot = v;
            }
        }
    }
}

/// A flat record's value at `path`, as the output slot wants it.
fn flat_value(record: &serde_json::Value, path: &[String], slot: usize) -> Option<Value> {
    let mut v = record;
    for k in path {
        v = v.get(k)?;
    }
    match (OUTPUTS[slot], v) {
        ("geo.location.lat" | "geo.location.lon", v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Value::Float),
        ("as.number", v) => v
            .as_i64()
            .or_else(|| {
                v.as_str()
                    .and_then(|s| s.trim_start_matches("AS").parse().ok())
            })
            .map(Value::Int),
        (_, serde_json::Value::String(s)) if !s.is_empty() => Some(Value::from(s.as_str())),
        (_, serde_json::Value::Number(n)) => Some(Value::from(n.to_string())),
        _ => None,
    }
}

impl Database {
    /// What this database says about `ip` (database `index` in the configured order), its record
    /// decoded once per thread and data-section offset (`records`).
    fn lookup(
        &self,
        index: usize,
        ip: IpAddr,
        records: &mut RecordCache,
    ) -> Option<Arc<GeoRecord>> {
        let r = &self.db;
        // The tree walk alone: the record is decoded only when this thread has not yet.
        let offset = match (ip, &self.v4) {
            (IpAddr::V4(v4), Some(ix)) => ix.offset(self.bytes.as_ref(), v4)?,
            _ => r.lookup(ip).ok()?.offset()?,
        };
        records.get_or_insert_with(index, offset, || {
            // Walked again by the reader, which checks the pointer and decodes (once per record).
            let res = r.lookup(ip).ok()?;
            debug_assert_eq!(res.offset(), Some(offset));
            let mut fields: GeoFields = Default::default();
            match &self.mapping {
                None => {
                    if let Ok(Some(rec)) = res.decode::<MmRecord>() {
                        rec.fill(&mut fields);
                    }
                }
                Some(mapping) => {
                    if let Ok(Some(rec)) = res.decode::<serde_json::Value>() {
                        for (slot, path) in mapping {
                            if fields[*slot].is_none() {
                                fields[*slot] = flat_value(&rec, path, *slot);
                            }
                        }
                    }
                }
            }
            GeoRecord::new(fields)
        })
    }
}

impl Geoip {
    pub fn load(cfg: &GeoipConfig) -> Result<(Self, LoadReport), EnrichError> {
        let mut report = LoadReport::default();
        let mut dbs = Vec::new();
        for d in &cfg.databases {
            let (db, r) = open(d)?;
            report.entries += r.entries;
            report.skipped += r.skipped;
            dbs.push(db);
        }
        Ok((Geoip { dbs }, report))
    }

    /// What the databases know about `ip`: for each output field, the first database that has
    /// it wins. Decoded records come from (and go to) `records`, so an address whose record was
    /// decoded before costs only the tree walk.
    pub(crate) fn lookup(&self, ip: IpAddr, records: &mut RecordCache) -> GeoAnswer {
        let mut answer = GeoAnswer::default();
        for (index, db) in self.dbs.iter().enumerate() {
            if let Some(rec) = db.lookup(index, ip, records) {
                if answer.add(rec) {
                    break;
                }
            }
        }
        answer
    }
}

/// The output values of one address, by [`OUTPUTS`] slot.
pub(crate) type GeoFields = [Option<Value>; N];

/// Every output slot set.
const ALL: u16 = (1 << N) - 1;

/// What one database record gives: its output values, and which slots they fill.
#[derive(Debug, PartialEq)]
pub(crate) struct GeoRecord {
    fields: GeoFields,
    /// Bit `i` set: `fields[i]` is `Some`.
    filled: u16,
    /// Each of [`GROUPS`] rendered once as JSON members, when the record has any of it: a
    /// located address adds two fields to a record, not up to 13, and they are written by copy
    /// (serializing the 13 cost more than the lookup).
    members: [Option<Arc<Members>>; 2],
}

impl GeoRecord {
    /// `None` when the record fills nothing.
    pub(crate) fn new(fields: GeoFields) -> Option<Self> {
        let filled = fields
            .iter()
            .enumerate()
            .fold(0u16, |m, (i, v)| m | (u16::from(v.is_some()) << i));
        let members = GROUPS.map(|(group, _)| {
            let of_group = OUTPUTS.iter().zip(&fields).filter_map(|(out, v)| {
                let rest = out.strip_prefix(group)?.strip_prefix('.')?;
                Some((rest, v.clone()?))
            });
            Members::new(of_group.collect()).map(Arc::new)
        });
        (filled != 0).then_some(GeoRecord {
            fields,
            filled,
            members,
        })
    }
}

/// One address's answer: the records of the databases that gave something, in database order,
/// shared with every other address of the same records (no values copied). More than two
/// databases with something to say about one address are merged into the second part, by copy.
#[derive(Clone, Default, Debug)]
pub(crate) struct GeoAnswer {
    parts: [Option<Arc<GeoRecord>>; 2],
}

impl GeoAnswer {
    pub fn is_empty(&self) -> bool {
        self.parts[0].is_none()
    }

    /// Adds the next database's record (its values count only where earlier ones had none);
    /// whether every output slot is now set (later databases would add nothing).
    fn add(&mut self, rec: Arc<GeoRecord>) -> bool {
        let filled = self.filled();
        if rec.filled & !filled == 0 {
            return false; // nothing new: the slots it has are taken
        }
        match &mut self.parts {
            [p @ None, _] | [Some(_), p @ None] => *p = Some(rec),
            [Some(_), Some(second)] => {
                // A third database: merged by copy (rare; the usual setups are one or two).
                let mut fields = second.fields.clone();
                for (slot, v) in fields.iter_mut().zip(&rec.fields) {
                    if slot.is_none() {
                        slot.clone_from(v);
                    }
                }
                if let Some(merged) = GeoRecord::new(fields) {
                    *second = Arc::new(merged);
                }
            }
        }
        self.filled() == ALL
    }

    fn filled(&self) -> u16 {
        self.parts.iter().flatten().fold(0, |m, p| m | p.filled)
    }

    /// The value of output slot `i`.
    fn get(&self, i: usize) -> Option<&Value> {
        self.parts
            .iter()
            .flatten()
            .find_map(|p| p.fields[i].as_ref())
    }
}

/// The output keys of one input field: `source.ip` → `source.geo.city_name`, … (made once per
/// configuration, not per record).
pub(crate) enum OutputKeys {
    Static(&'static StaticKeys),
    /// An unusual parent: its keys are built when written.
    Prefix(String),
}

impl OutputKeys {
    pub fn of(field: &str) -> Self {
        let prefix = parent_of(field);
        match static_keys(prefix) {
            Some(k) => OutputKeys::Static(k),
            None => OutputKeys::Prefix(prefix.to_owned()),
        }
    }

    fn key(&self, i: usize) -> Key {
        match self {
            OutputKeys::Static(k) => Cow::Borrowed(k.0[i]),
            OutputKeys::Prefix(p) => Cow::Owned(format!("{p}.{}", OUTPUTS[i])),
        }
    }

    /// The key group `g`'s members are spliced under.
    fn splice(&self, g: usize) -> Key {
        match self {
            OutputKeys::Static(k) => Cow::Borrowed(k.1[g]),
            OutputKeys::Prefix(p) => Cow::Owned(splice_key(&format!("{p}.{}", GROUPS[g].0))),
        }
    }
}

/// Gives `add` the fields found for an address, under the input field's parent (`keys`): per
/// group, the members of the one record that has it (shared, not copied), or field by field
/// when two databases each fill part of a group.
pub(crate) fn emit(found: &GeoAnswer, keys: &OutputKeys, mut add: impl FnMut(Key, Value)) {
    for (g, (_, mask)) in GROUPS.iter().enumerate() {
        let mut having = found
            .parts
            .iter()
            .flatten()
            .filter(|p| p.filled & mask != 0);
        match (having.next(), having.next()) {
            (None, _) => {}
            (Some(only), None) => {
                if let Some(m) = &only.members[g] {
                    add(keys.splice(g), Value::Members(m.clone()));
                }
            }
            (Some(_), Some(_)) => {
                for i in (0..N).filter(|i| mask & (1 << i) != 0) {
                    if let Some(v) = found.get(i) {
                        add(keys.key(i), v.clone());
                    }
                }
            }
        }
    }
}

/// Opens and verifies a database (a `.csv` is compiled first); what validation runs.
pub fn check(d: &GeoipDatabase) -> Result<(), EnrichError> {
    open(d).map(|_| ())
}

fn open(d: &GeoipDatabase) -> Result<(Database, LoadReport), EnrichError> {
    let path = &d.path;
    let bad = |e: maxminddb::MaxMindDbError| {
        EnrichError::invalid(path, format!("not a usable MaxMind DB: {e}"))
    };
    let mut report = LoadReport::default();
    let bytes = if extension(path) == "csv" {
        let (image, r) = mmdb::compile_csv(path)?;
        report = r;
        Bytes::Owned(image.into())
    } else if d.mmap {
        Bytes::Mapped(Arc::new(open_mmap(path)?))
    } else {
        Bytes::Owned(
            std::fs::read(path)
                .map_err(|e| EnrichError::io(path, e))?
                .into(),
        )
    };
    let db = Reader::from_source(bytes.clone()).map_err(bad)?;
    db.verify().map_err(bad)?;
    let node_count = db.metadata().node_count;
    let v4 = index_v4(&db, &bytes);
    if report.entries == 0 {
        report.entries = node_count as usize;
    }
    let mapping = if d.mapping.is_empty() {
        None
    } else {
        let mut m = Vec::new();
        for (out, key) in &d.mapping {
            let Some(slot) = OUTPUTS.iter().position(|o| o == out) else {
                return Err(EnrichError::invalid(
                    path,
                    format!(
                        "mapping: unknown output `{out}` (known: {})",
                        OUTPUTS.join(", ")
                    ),
                ));
            };
            m.push((slot, key.split('.').map(str::to_owned).collect()));
        }
        Some(m)
    };
    Ok((
        Database {
            db,
            bytes,
            v4,
            mapping,
        },
        report,
    ))
}

/// The IPv4 index of a verified database whose tree is larger than the index.
fn index_v4(db: &Reader<Bytes>, bytes: &Bytes) -> Option<V4Index> {
    let m = db.metadata();
    let nodes = usize::try_from(m.node_count).ok()?;
    // A node is two records.
    if nodes.saturating_mul(usize::from(m.record_size) / 4) < V4Index::BYTES {
        return None;
    }
    V4Index::build(bytes.as_ref(), m.record_size, nodes, m.ip_version)
}

/// Maps the file. The mapping stays valid as long as the file is not rewritten in place: database
/// updaters (`geoipupdate`, package managers) write a new file and rename it, which leaves this
/// mapping on the old inode until the reload replaces it.
#[allow(unsafe_code)]
fn open_mmap(path: &Path) -> Result<maxminddb::Mmap, EnrichError> {
    let file = std::fs::File::open(path).map_err(|e| EnrichError::io(path, e))?;
    // SAFETY: see above; the file is only read, and replaced by rename, never truncated in place.
    unsafe { maxminddb::Mmap::map(&file) }.map_err(|e| EnrichError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::mmdb::{MmdbValue, MmdbWriter};

    fn database(networks: Vec<(&str, u8, MmdbValue)>) -> Database {
        let mut w = MmdbWriter::new("test");
        for (net, prefix, v) in networks {
            w.insert(net.parse().unwrap(), prefix, v).unwrap();
        }
        let bytes = Bytes::Owned(w.build().into());
        Database {
            db: Reader::from_source(bytes.clone()).unwrap(),
            v4: None,
            bytes,
            mapping: None,
        }
    }

    fn named(key: &str, name: &str) -> (String, MmdbValue) {
        let names = MmdbValue::map([("en", MmdbValue::str(name))]);
        (key.to_owned(), MmdbValue::map([("names", names)]))
    }

    fn coded(key: &str, field: &str, code: &str) -> (String, MmdbValue) {
        (
            key.to_owned(),
            MmdbValue::map([(field, MmdbValue::str(code))]),
        )
    }

    /// The fields emitted, spliced members as the fields they stand for.
    fn emitted(a: &GeoAnswer) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        emit(a, &OutputKeys::of("source.ip"), |k, v| {
            match (crate::doc::splice_parent(&k), &v) {
                (Some(parent), Value::Members(m)) => out.extend(
                    m.fields()
                        .iter()
                        .map(|(rel, v)| (format!("{parent}.{rel}"), v.clone())),
                ),
                _ => out.push((k.into_owned(), v)),
            }
        });
        out
    }

    #[test]
    fn addresses_of_one_record_share_it_and_databases_merge_first_wins() {
        let london =
            || MmdbValue::map([named("city", "London"), coded("country", "iso_code", "GB")]);
        let g = Geoip {
            dbs: vec![
                database(vec![
                    ("1.0.0.0", 16, london()),
                    ("2.0.0.0", 16, london()),
                    ("3.0.0.0", 16, MmdbValue::map([named("city", "Paris")])),
                ]),
                database(vec![(
                    "0.0.0.0",
                    1,
                    MmdbValue::map([
                        ("autonomous_system_number".to_owned(), MmdbValue::U32(7)),
                        named("city", "not used"),
                    ]),
                )]),
                database(vec![
                    (
                        "1.0.0.0",
                        8,
                        MmdbValue::map([
                            coded("postal", "code", "P1"),
                            coded("country", "iso_code", "ZZ"),
                        ]),
                    ),
                    (
                        "3.0.0.0",
                        8,
                        MmdbValue::map([
                            coded("postal", "code", "P3"),
                            coded("country", "iso_code", "FR"),
                        ]),
                    ),
                ]),
            ],
        };
        let mut records = RecordCache::new();
        let mut look = |ip: &str| g.lookup(ip.parse().unwrap(), &mut records);
        let (a, b, c) = (look("1.0.0.1"), look("2.0.0.1"), look("3.0.0.1"));
        let first = |x: &GeoAnswer| Arc::clone(x.parts[0].as_ref().unwrap());
        assert!(
            Arc::ptr_eq(&first(&a), &first(&b)),
            "one decoded copy per record"
        );
        assert!(!Arc::ptr_eq(&first(&a), &first(&c)));
        let s = |v: &str| Value::from(v);
        assert_eq!(
            emitted(&a),
            vec![
                ("source.geo.city_name".into(), s("London")),
                ("source.geo.country_iso_code".into(), s("GB")),
                ("source.geo.postal_code".into(), s("P1")),
                ("source.as.number".into(), Value::from(7u32)),
            ]
        );
        // 2.0.0.1 has no postal code: the third database has no network for it.
        assert_eq!(emitted(&b).len(), 3);
        assert_eq!(
            emitted(&c),
            vec![
                ("source.geo.city_name".into(), s("Paris")),
                ("source.geo.country_iso_code".into(), s("FR")),
                ("source.geo.postal_code".into(), s("P3")),
                ("source.as.number".into(), Value::from(7u32)),
            ]
        );
        // Found again from the record cache: the same answers.
        assert_eq!(emitted(&look("3.0.0.1")), emitted(&c));
        assert_eq!(emitted(&look("1.0.0.2")), emitted(&a));
        // Only the second database knows 9.0.0.1: its city counts there.
        assert_eq!(
            emitted(&look("9.0.0.1")),
            vec![
                ("source.geo.city_name".into(), s("not used")),
                ("source.as.number".into(), Value::from(7u32)),
            ]
        );
        assert!(look("200.0.0.1").is_empty());
    }

    #[test]
    fn a_large_tree_is_walked_from_the_ipv4_index_with_the_same_answers() {
        // One network per /16 of 1-160.x (40,960: a tree larger than the index), a finer one
        // inside one of them, and a gap.
        let mut nets = Vec::new();
        for a in 1..=160u32 {
            for b in 0..=255u32 {
                if (a, b) != (7, 7) {
                    let city = named("city", &format!("C{}", (a * 256 + b) % 997));
                    nets.push((format!("{a}.{b}.0.0"), 16, MmdbValue::map([city])));
                }
            }
        }
        nets.push((
            "9.9.9.0".into(),
            24,
            MmdbValue::map([named("city", "Nine")]),
        ));
        let plain = database(
            nets.iter()
                .map(|(n, l, v)| (n.as_str(), *l, v.clone()))
                .collect(),
        );
        let mut indexed = database(
            nets.iter()
                .map(|(n, l, v)| (n.as_str(), *l, v.clone()))
                .collect(),
        );
        indexed.v4 = index_v4(&indexed.db, &indexed.bytes);
        assert!(indexed.v4.is_some(), "the tree is larger than the index");
        let (mut r1, mut r2) = (RecordCache::new(), RecordCache::new());
        let named_ips = [
            "1.0.0.1",
            "7.7.1.1",
            "7.8.0.0",
            "9.9.9.9",
            "9.9.8.1",
            "160.255.255.255",
            "161.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "2001:db8::1",
        ];
        let spread = (0..4096u32)
            .map(|i| IpAddr::from(std::net::Ipv4Addr::from(i.wrapping_mul(0x9E37_79B9))));
        let mut found = 0;
        for ip in named_ips.iter().map(|s| s.parse().unwrap()).chain(spread) {
            let want = plain.lookup(0, ip, &mut r1);
            assert_eq!(indexed.lookup(0, ip, &mut r2), want, "{ip}");
            found += usize::from(want.is_some());
        }
        assert!(found > 1000, "{found}");
        assert!(indexed
            .lookup(0, "7.7.1.1".parse().unwrap(), &mut r2)
            .is_none());
        let nine = indexed
            .lookup(0, "9.9.9.9".parse().unwrap(), &mut r2)
            .unwrap();
        assert!(nine
            .fields
            .iter()
            .flatten()
            .any(|v| *v == Value::from("Nine")));
    }
}
