//! A small MaxMind DB (`.mmdb`) writer, and the compiler of a CSV of networks into a database in
//! the GeoIP2 City + ASN schema.
//!
//! It exists so that the quick start and the tests need no downloaded database: the example data in
//! `enrichment-data/geoip-example.csv` is compiled when it is loaded, and the result is read by the
//! same `maxminddb` reader as a real database. Format: <https://maxmind.github.io/MaxMind-DB/>.
//! Always IPv6 trees (IPv4 networks under `::/96`) with 32-bit records.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use super::{EnrichError, LoadReport};

/// A value of the MaxMind DB data section.
#[derive(Debug, Clone, PartialEq)]
pub enum MmdbValue {
    Str(String),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Map(Vec<(String, MmdbValue)>),
    Array(Vec<MmdbValue>),
}

impl MmdbValue {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, MmdbValue)>) -> Self {
        MmdbValue::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Self {
        MmdbValue::Str(s.into())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MmdbValue::Str(s) => {
                control(out, 2, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            MmdbValue::Double(d) => {
                control(out, 3, 8);
                out.extend_from_slice(&d.to_be_bytes());
            }
            MmdbValue::U16(n) => uint(out, 5, u64::from(*n)),
            MmdbValue::U32(n) => uint(out, 6, u64::from(*n)),
            MmdbValue::U64(n) => uint(out, 9, *n),
            MmdbValue::Bool(b) => control(out, 14, usize::from(*b)),
            MmdbValue::Map(pairs) => {
                control(out, 7, pairs.len());
                for (k, v) in pairs {
                    MmdbValue::Str(k.clone()).encode(out);
                    v.encode(out);
                }
            }
            MmdbValue::Array(items) => {
                control(out, 11, items.len());
                for v in items {
                    v.encode(out);
                }
            }
        }
    }
}

/// A control byte: type in the top three bits (extended types in a second byte), then the size.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (top, ext) = if kind <= 7 {
        (kind << 5, None)
    } else {
        (0, Some(kind - 7))
    };
    let (marker, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    out.push(top | marker);
    out.extend(ext);
    out.extend_from_slice(&extra);
}

/// Unsigned integers are stored big-endian in as few bytes as they need.
fn uint(out: &mut Vec<u8>, kind: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

/// Networks → values, written as a `.mmdb` image.
#[derive(Debug)]
pub struct MmdbWriter {
    database_type: String,
    networks: Vec<(u128, u8, usize)>,
    values: Vec<MmdbValue>,
}

impl MmdbWriter {
    pub fn new(database_type: &str) -> Self {
        MmdbWriter {
            database_type: database_type.to_owned(),
            networks: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Adds `ip/prefix`; a more specific network overrides a broader one wherever they overlap.
    pub fn insert(&mut self, ip: IpAddr, prefix: u8, value: MmdbValue) -> Result<(), String> {
        let (bits, len) = match ip {
            IpAddr::V4(a) if (1..=32).contains(&prefix) => (u128::from(u32::from(a)), prefix + 96),
            IpAddr::V6(a) if (1..=128).contains(&prefix) => (u128::from(a), prefix),
            _ => return Err(format!("prefix length /{prefix} is out of range for {ip}")),
        };
        let value_idx = match self.values.iter().position(|v| *v == value) {
            Some(i) => i,
            None => {
                self.values.push(value);
                self.values.len() - 1
            }
        };
        self.networks.push((bits, len, value_idx));
        Ok(())
    }

    /// The database image.
    pub fn build(&self) -> Vec<u8> {
        let mut nets = self.networks.clone();
        // Broader networks first, so that more specific ones are written over them.
        nets.sort_by_key(|(_, len, _)| *len);
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        for (bits, len, value) in nets {
            let mut node = 0usize;
            for depth in 0..len {
                let bit = ((bits >> (127 - depth)) & 1) as usize;
                if depth + 1 == len {
                    nodes[node][bit] = Rec::Data(value as u32);
                    break;
                }
                node = match nodes[node][bit] {
                    Rec::Node(n) => n as usize,
                    other => {
                        // A broader network's value (or nothing) continues on both sides below.
                        let fill = if let Rec::Data(_) = other {
                            other
                        } else {
                            Rec::Empty
                        };
                        nodes.push([fill, fill]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n as u32);
                        n
                    }
                };
            }
        }
        let mut data = Vec::new();
        let mut offsets = HashMap::new();
        for (i, v) in self.values.iter().enumerate() {
            offsets.insert(i as u32, data.len() as u32);
            v.encode(&mut data);
        }
        let node_count = nodes.len() as u32;
        let record = |r: Rec| -> u32 {
            match r {
                Rec::Empty => node_count,
                Rec::Node(n) => n,
                Rec::Data(d) => node_count + 16 + offsets.get(&d).copied().unwrap_or(0),
            }
        };
        let mut out = Vec::with_capacity(nodes.len() * 8 + 16 + data.len() + 256);
        for [l, r] in &nodes {
            out.extend_from_slice(&record(*l).to_be_bytes());
            out.extend_from_slice(&record(*r).to_be_bytes());
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        MmdbValue::map([
            ("binary_format_major_version", MmdbValue::U16(2)),
            ("binary_format_minor_version", MmdbValue::U16(0)),
            ("build_epoch", MmdbValue::U64(epoch)),
            ("database_type", MmdbValue::str(&self.database_type)),
            (
                "description",
                MmdbValue::map([("en", MmdbValue::str("Built by Sluice"))]),
            ),
            ("ip_version", MmdbValue::U16(6)),
            ("languages", MmdbValue::Array(vec![MmdbValue::str("en")])),
            ("node_count", MmdbValue::U32(node_count)),
            ("record_size", MmdbValue::U16(32)),
        ])
        .encode(&mut out);
        out
    }
}

/// `10.0.0.0/8`, or an address alone (a host network).
pub fn parse_network(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((ip, len)) => {
            let ip: IpAddr = ip.trim().parse().ok()?;
            let len: u8 = len.trim().parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (len <= max).then_some((ip, len))
        }
        None => {
            let ip: IpAddr = s.parse().ok()?;
            Some((ip, if ip.is_ipv4() { 32 } else { 128 }))
        }
    }
}

/// The columns of a GeoIP source CSV (all but `network` optional).
pub const CSV_COLUMNS: &[&str] = &[
    "network",
    "city_name",
    "country_iso_code",
    "country_name",
    "continent_code",
    "continent_name",
    "region_iso_code",
    "region_name",
    "postal_code",
    "timezone",
    "latitude",
    "longitude",
    "asn",
    "as_organization",
];

/// Compiles a CSV of networks (header: [`CSV_COLUMNS`]) into a GeoIP2-City-style database with
/// the ASN fields alongside. Malformed rows are reported with their line and skipped.
pub fn compile_csv(path: &Path) -> Result<(Vec<u8>, LoadReport), EnrichError> {
    let (mut rdr, headers) = super::open_csv(path)?;
    let col = |name: &str| headers.iter().position(|h| h == name);
    let Some(network_col) = col("network") else {
        return Err(EnrichError::invalid(
            path,
            "the header has no `network` column",
        ));
    };
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(EnrichError::invalid(
            path,
            format!(
                "unknown column `{unknown}` (known: {})",
                CSV_COLUMNS.join(", ")
            ),
        ));
    }
    let mut w = MmdbWriter::new("Sluice-GeoIP-Example");
    let mut report = LoadReport::default();
    for row in rdr.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                report.skip("geoip", path, line, &e.to_string());
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line() as usize);
        let get = |name: &str| -> Option<String> {
            col(name)
                .and_then(|i| row.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some((ip, len)) = row.get(network_col).and_then(parse_network) else {
            report.skip("geoip", path, line, "`network` is not an address or CIDR");
            continue;
        };
        match city_record(&get) {
            Ok(v) => match w.insert(ip, len, v) {
                Ok(()) => report.entries += 1,
                Err(e) => report.skip("geoip", path, line, &e),
            },
            Err(e) => report.skip("geoip", path, line, &e),
        }
    }
    Ok((w.build(), report))
}

fn city_record(get: &dyn Fn(&str) -> Option<String>) -> Result<MmdbValue, String> {
    let names = |s: String| MmdbValue::map([("en", MmdbValue::str(s))]);
    let mut m: Vec<(String, MmdbValue)> = Vec::new();
    if let Some(c) = get("city_name") {
        m.push(("city".into(), MmdbValue::map([("names", names(c))])));
    }
    let mut continent = Vec::new();
    if let Some(c) = get("continent_code") {
        continent.push(("code", MmdbValue::str(c)));
    }
    if let Some(c) = get("continent_name") {
        continent.push(("names", names(c)));
    }
    if !continent.is_empty() {
        m.push(("continent".into(), MmdbValue::map(continent)));
    }
    let mut country = Vec::new();
    if let Some(c) = get("country_iso_code") {
        country.push(("iso_code", MmdbValue::str(c)));
    }
    if let Some(c) = get("country_name") {
        country.push(("names", names(c)));
    }
    if !country.is_empty() {
        m.push(("country".into(), MmdbValue::map(country)));
    }
    let mut region = Vec::new();
    if let Some(c) = get("region_iso_code") {
        // MaxMind stores the subdivision's own code (`ENG`); ECS wants `GB-ENG`.
        let own = c.split_once('-').map_or(c.as_str(), |(_, r)| r);
        region.push(("iso_code", MmdbValue::str(own)));
    }
    if let Some(c) = get("region_name") {
        region.push(("names", names(c)));
    }
    if !region.is_empty() {
        m.push((
            "subdivisions".into(),
            MmdbValue::Array(vec![MmdbValue::map(region)]),
        ));
    }
    if let Some(c) = get("postal_code") {
        m.push((
            "postal".into(),
            MmdbValue::map([("code", MmdbValue::str(c))]),
        ));
    }
    let mut loc = Vec::new();
    for (col, key) in [("latitude", "latitude"), ("longitude", "longitude")] {
        if let Some(v) = get(col) {
            let f: f64 = v
                .parse()
                .ok()
                .filter(|f: &f64| f.is_finite())
                .ok_or_else(|| format!("`{col}` is not a number: `{v}`"))?;
            loc.push((key, MmdbValue::Double(f)));
        }
    }
    if let Some(tz) = get("timezone") {
        loc.push(("time_zone", MmdbValue::str(tz)));
    }
    if !loc.is_empty() {
        m.push(("location".into(), MmdbValue::map(loc)));
    }
    if let Some(a) = get("asn") {
        let n: u32 = a
            .as_str()
            .trim_start_matches(['A', 'S', 'a', 's'])
            .parse()
            .map_err(|_| format!("`asn` is not a number: `{a}`"))?;
        m.push(("autonomous_system_number".into(), MmdbValue::U32(n)));
    }
    if let Some(o) = get("as_organization") {
        m.push(("autonomous_system_organization".into(), MmdbValue::str(o)));
    }
    if m.is_empty() {
        return Err("no value besides `network`".into());
    }
    Ok(MmdbValue::Map(m))
}
