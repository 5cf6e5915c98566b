//! Asset context: an inventory keyed by IP, CIDR or host name → `host.{name,os.name,type}` and
//! `labels.*` (owner, criticality, business unit, …) for the host a record is about.
//!
//! CSV columns: `ip` (an address or CIDR), `hostname`, `name`, `os_name`, `type`; every other
//! column is a label. YAML: a list of maps with the same keys, and optionally a `labels:` map.
//! Host names match case-insensitively, and a fully qualified inventory name also matches its first
//! label (`web01.corp.example` ← `web01`). Fields the record already has are not overwritten.

use std::collections::BTreeMap;

use foldhash::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::cache::IpMemo;
use super::{extension, mmdb::parse_network, EnrichError, LoadReport, Tally};
use crate::config::AssetConfig;
use crate::doc::{Doc, Key, Value};
use crate::text::{cut, trim};

/// What the inventory says about one host, ready to insert.
#[derive(Debug, Default)]
struct Asset {
    fields: Vec<(Key, Value)>,
}

#[derive(Default)]
pub struct AssetTable {
    assets: Vec<Arc<Asset>>,
    names: HashMap<String, usize>,
    ips: HashMap<IpAddr, usize>,
    /// (network, prefix length, asset); few in practice, tried most specific first.
    nets: Vec<(IpAddr, u8, usize)>,
}

const COLUMNS: [(&str, &str); 3] = [
    ("name", "host.name"),
    ("os_name", "host.os.name"),
    ("type", "host.type"),
];

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

impl AssetTable {
    pub fn load(cfg: &AssetConfig) -> Result<(Self, LoadReport), EnrichError> {
        let mut t = AssetTable::default();
        let mut report = LoadReport::default();
        for path in &cfg.files {
            let rows = match extension(path).as_str() {
                "yaml" | "yml" => read_yaml(path, &mut report)?,
                _ => read_csv(path, &mut report)?,
            };
            for (line, row) in rows {
                t.add(path, line, row, &mut report);
            }
        }
        t.nets.sort_by_key(|n| std::cmp::Reverse(n.1));
        report.entries = t.assets.len();
        Ok((t, report))
    }

    fn add(
        &mut self,
        path: &Path,
        line: usize,
        mut row: BTreeMap<String, String>,
        report: &mut LoadReport,
    ) {
        row.retain(|_, v| !v.is_empty());
        let ip = row.remove("ip");
        let hostname = row.remove("hostname");
        let net = match ip.as_deref().map(|s| (s, parse_network(s))) {
            Some((s, None)) => {
                report.skip(
                    "asset",
                    path,
                    line,
                    &format!("`{s}` is not an address or CIDR"),
                );
                return;
            }
            Some((_, Some(n))) => Some(n),
            None => None,
        };
        if net.is_none() && hostname.is_none() {
            report.skip("asset", path, line, "neither `ip` nor `hostname`");
            return;
        }
        let mut asset = Asset::default();
        for (col, key) in COLUMNS {
            if let Some(v) = row.remove(col) {
                asset.fields.push((key.into(), Value::from(v)));
            }
        }
        for (k, v) in row {
            asset
                .fields
                .push((format!("labels.{k}").into(), Value::from(v)));
        }
        let idx = self.assets.len();
        self.assets.push(Arc::new(asset));
        match net {
            Some((ip, len)) if len == if ip.is_ipv4() { 32 } else { 128 } => {
                self.ips.insert(ip, idx);
            }
            Some((ip, len)) => self.nets.push((ip, len, idx)),
            None => {}
        }
        if let Some(h) = hostname {
            let h = h.to_ascii_lowercase();
            if let Some((short, _)) = h.split_once('.') {
                self.names.entry(short.to_owned()).or_insert(idx);
            }
            self.names.insert(h, idx);
        }
    }

    fn find(&self, value: &str, ips: &mut IpMemo) -> Option<&Asset> {
        let idx = if let Some(ip) = ips.parse(value) {
            self.ips.get(&ip).copied().or_else(|| {
                self.nets
                    .iter()
                    .find(|(n, len, _)| in_net(ip, *n, *len))
                    .map(|(_, _, i)| *i)
            })
        } else {
            if self.names.is_empty() {
                return None;
            }
            let v = value.trim_end_matches('.');
            // Lower case on the stack: this runs for most records, and most names are short.
            let mut buf = [0u8; 256];
            let v: std::borrow::Cow<'_, str> = if v.len() <= buf.len() {
                let b = &mut buf[..v.len()];
                b.copy_from_slice(v.as_bytes());
                b.make_ascii_lowercase();
                // ASCII case changes keep UTF-8 valid.
                std::str::from_utf8(b).ok()?.into()
            } else {
                v.to_ascii_lowercase().into()
            };
            self.names
                .get(&*v)
                .copied()
                .or_else(|| cut(&v, b'.').and_then(|(short, _)| self.names.get(short).copied()))
        };
        idx.and_then(|i| self.assets.get(i)).map(|a| &**a)
    }

    /// Adds the inventory's fields for `value`; true when it named a known host.
    pub(crate) fn enrich(
        &self,
        value: &str,
        tally: &mut Tally,
        ips: &mut IpMemo,
        doc: &Doc,
        out: &mut Vec<(Key, Value)>,
    ) -> bool {
        tally.lookups += 1;
        let Some(asset) = self.find(trim(value), ips) else {
            return false;
        };
        tally.hits += 1;
        for (k, v) in &asset.fields {
            if k.starts_with("labels.") || !doc.contains(k) {
                out.push((k.clone(), v.clone()));
            }
        }
        true
    }
}

type Rows = Vec<(usize, BTreeMap<String, String>)>;

fn read_csv(path: &Path, report: &mut LoadReport) -> Result<Rows, EnrichError> {
    let (mut rdr, raw) = super::open_csv(path)?;
    let headers: Vec<String> = raw.iter().map(str::to_ascii_lowercase).collect();
    if !headers.iter().any(|h| h == "ip" || h == "hostname") {
        return Err(EnrichError::invalid(
            path,
            "the header has neither an `ip` nor a `hostname` column",
        ));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                rows.push((
                    line,
                    headers
                        .iter()
                        .cloned()
                        .zip(r.iter().map(str::to_owned))
                        .collect(),
                ));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                report.skip("asset", path, line, &e.to_string());
            }
        }
    }
    Ok(rows)
}

fn read_yaml(path: &Path, report: &mut LoadReport) -> Result<Rows, EnrichError> {
    let text = std::fs::read_to_string(path).map_err(|e| EnrichError::io(path, e))?;
    let items: Vec<serde_yaml::Value> = serde_yaml::from_str(&text)
        .map_err(|e| EnrichError::invalid(path, format!("expected a list of hosts: {e}")))?;
    let scalar = |v: &serde_yaml::Value| match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut rows = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(map) = item.as_mapping() else {
            report.skip(
                "asset",
                path,
                i + 1,
                &format!("host #{} is not a map", i + 1),
            );
            continue;
        };
        let mut row = BTreeMap::new();
        for (k, v) in map {
            let Some(k) = k.as_str() else { continue };
            if k == "labels" {
                for (lk, lv) in v.as_mapping().into_iter().flatten() {
                    if let (Some(lk), Some(lv)) = (lk.as_str(), scalar(lv)) {
                        row.insert(lk.to_owned(), lv);
                    }
                }
            } else if let Some(v) = scalar(v) {
                row.insert(k.to_owned(), v);
            }
        }
        rows.push((i + 1, row));
    }
    Ok(rows)
}
