//! GeoIP and ASN from MaxMind DB files: `*.geo.*` and `*.as.*` for IP fields.
//!
//! Reads MaxMind's GeoIP2/GeoLite2 City, Country and ASN schemas directly, and flat schemas (such as
//! the ip-location-db databases) through a configured field mapping. Databases are memory-mapped
//! and checked in full (`Reader::verify`) when loaded, so a corrupt file is refused at load time,
//! never met half-way through a lookup. Private, loopback and reserved addresses are not looked up.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use super::{extension, mmdb, parent_of, EnrichError, LoadReport};
use crate::config::{GeoipConfig, GeoipDatabase};
use crate::doc::{Key, Value};

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

/// Output keys of the usual fields without an allocation per record.
fn static_keys(prefix: &str) -> Option<&'static [&'static str; N]> {
    static SOURCE: [&str; N] = keys!("source");
    static DESTINATION: [&str; N] = keys!("destination");
    static CLIENT: [&str; N] = keys!("client");
    static SERVER: [&str; N] = keys!("server");
    static HOST: [&str; N] = keys!("host");
    match prefix {
        "source" => Some(&SOURCE),
        "destination" => Some(&DESTINATION),
        "client" => Some(&CLIENT),
        "server" => Some(&SERVER),
        "host" => Some(&HOST),
        _ => None,
    }
}

enum Db {
    Mapped(Reader<maxminddb::Mmap>),
    Owned(Reader<Vec<u8>>),
}

struct Database {
    db: Db,
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
    fn lookup(&self, ip: IpAddr, slots: &mut [Option<Value>; N]) {
        match &self.db {
            Db::Mapped(r) => self.lookup_in(r, ip, slots),
            Db::Owned(r) => self.lookup_in(r, ip, slots),
        }
    }

    fn lookup_in<S: AsRef<[u8]>>(&self, r: &Reader<S>, ip: IpAddr, slots: &mut [Option<Value>; N]) {
        let Ok(res) = r.lookup(ip) else { return };
        match &self.mapping {
            None => {
                if let Ok(Some(rec)) = res.decode::<MmRecord>() {
                    rec.fill(slots);
                }
            }
            Some(mapping) => {
                if let Ok(Some(rec)) = res.decode::<serde_json::Value>() {
                    for (slot, path) in mapping {
                        if slots[*slot].is_none() {
                            slots[*slot] = flat_value(&rec, path, *slot);
                        }
                    }
                }
            }
        }
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

    /// What the databases know about `ip`: `None` when nothing.
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<Box<GeoFields>> {
        let mut slots: GeoFields = Default::default();
        for db in &self.dbs {
            db.lookup(ip, &mut slots);
            if slots.iter().all(Option::is_some) {
                break;
            }
        }
        (!slots.iter().all(Option::is_none)).then(|| Box::new(slots))
    }
}

/// The output values of one address, by [`OUTPUTS`] slot.
pub(crate) type GeoFields = [Option<Value>; N];

/// Adds the fields found for an address under `field`'s parent (`source.ip` → `source.geo.*`).
pub(crate) fn emit(found: &GeoFields, field: &str, out: &mut Vec<(Key, Value)>) {
    let prefix = parent_of(field);
    let keys = static_keys(prefix);
    for (i, v) in found.iter().enumerate() {
        let Some(v) = v else { continue };
        let key: Key = match keys {
            Some(k) => Cow::Borrowed(k[i]),
            None => Cow::Owned(format!("{prefix}.{}", OUTPUTS[i])),
        };
        out.push((key, v.clone()));
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
    let db = if extension(path) == "csv" {
        let (image, r) = mmdb::compile_csv(path)?;
        report = r;
        Db::Owned(Reader::from_source(image).map_err(bad)?)
    } else if d.mmap {
        std::fs::metadata(path).map_err(|e| EnrichError::io(path, e))?;
        Db::Mapped(open_mmap(path).map_err(bad)?)
    } else {
        let buf = std::fs::read(path).map_err(|e| EnrichError::io(path, e))?;
        Db::Owned(Reader::from_source(buf).map_err(bad)?)
    };
    let node_count = match &db {
        Db::Mapped(r) => {
            r.verify().map_err(bad)?;
            r.metadata().node_count
        }
        Db::Owned(r) => {
            r.verify().map_err(bad)?;
            r.metadata().node_count
        }
    };
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
    Ok((Database { db, mapping }, report))
}

/// Maps the file. The mapping stays valid as long as the file is not rewritten in place: database
/// updaters (`geoipupdate`, package managers) write a new file and rename it, which leaves this
/// mapping on the old inode until the reload replaces it.
#[allow(unsafe_code)]
fn open_mmap(path: &Path) -> Result<Reader<maxminddb::Mmap>, maxminddb::MaxMindDbError> {
    // SAFETY: see above; the file is only read, and replaced by rename, never truncated in place.
    unsafe { Reader::open_mmap(path) }
}
