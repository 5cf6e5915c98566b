//! Enrichment: context from local data added to normalized records — GeoIP and ASN, threat
//! indicators, asset and user inventories, reverse DNS.
//!
//! The processor builds one [`Enrichers`] with its configuration. Tables are read-only and shared by
//! every processor thread; each batch takes a snapshot of them ([`Enrichers::batch`]), so a reload
//! (a changed data file, loaded in the background) swaps them between batches and never half-way.
//! Lookups and hits are counted per batch, not per record, to keep shared counters off the hot path.

pub mod asset;
mod cache;
mod fields;
pub mod geoip;
pub mod ioc;
pub mod mmdb;
pub mod rdns;
mod reload;
pub mod user;
mod v4index;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::config::EnrichConfig;
use crate::doc::{Doc, Key, Value};
use crate::metrics::{Counter, Metrics};

use cache::{IpCache, IpMemo};
use fields::{FieldSet, Shapes};

/// Idle per-thread caches kept for later batches (about 290 KiB each with an address cache, and
/// the GeoIP records it holds).
const MAX_IDLE_CACHES: usize = 16;

/// Input fields one enricher may read (the sum over all enrichers must fit in [`fields::CAP`]).
pub const MAX_FIELDS: usize = 12;

/// A data file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

impl EnrichError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        EnrichError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        EnrichError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A table shared read-only by the processor threads and replaced whole on reload, with its
/// generation (bumped by each reload: what tells the address caches to forget).
pub(crate) struct Table<T>(RwLock<(Arc<T>, u64)>);

impl<T> Table<T> {
    fn new(t: T) -> Arc<Self> {
        Arc::new(Table(RwLock::new((Arc::new(t), 1))))
    }

    /// The current table and its generation; readers keep the one they took until they drop it.
    pub(crate) fn get(&self) -> (Arc<T>, u64) {
        let g = self.0.read().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&g.0), g.1)
    }

    fn set(&self, t: T) {
        let mut g = self.0.write().unwrap_or_else(PoisonError::into_inner);
        *g = (Arc::new(t), g.1 + 1);
    }
}

/// Malformed entries met while loading a file: logged (the first few with their line) and counted.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub entries: usize,
    pub skipped: usize,
}

impl LoadReport {
    /// Records a skipped entry; the first ten of a file are logged with file and line.
    pub(crate) fn skip(&mut self, enricher: &str, path: &Path, line: usize, why: &str) {
        self.skipped += 1;
        if self.skipped <= 10 {
            tracing::warn!(enricher, file = %path.display(), line, "skipped: {why}");
        }
    }
}

/// One enricher's counters, per batch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    pub lookups: u64,
    pub hits: u64,
}

struct Counters {
    lookups: Counter,
    hits: Counter,
}

impl Counters {
    fn new(metrics: &Metrics, name: &'static str) -> Self {
        Counters {
            lookups: metrics.counter(
                "sluice_enrich_lookups_total",
                "Enrichment lookups, per enricher",
                &[("enricher", name)],
            ),
            hits: metrics.counter(
                "sluice_enrich_hits_total",
                "Enrichment lookups that found something, per enricher",
                &[("enricher", name)],
            ),
        }
    }
}

/// An enricher's input fields: index in the [`FieldSet`], and name.
type Inputs = Vec<(usize, Arc<str>)>;

/// One enricher: its table, the input fields it reads (indices into the [`FieldSet`]) and counters.
struct Stage<T> {
    table: Arc<Table<T>>,
    inputs: Inputs,
    counters: Counters,
}

/// Every configured enricher, built once per configuration.
pub struct Enrichers {
    fields: FieldSet,
    geoip: Option<Stage<geoip::Geoip>>,
    /// The output keys of each GeoIP input field.
    geo_keys: Vec<geoip::OutputKeys>,
    ioc: Option<Stage<ioc::IocTable>>,
    asset: Option<Stage<asset::AssetTable>>,
    user: Option<Stage<user::UserTable>>,
    rdns: Option<(rdns::Rdns, Inputs, Counters)>,
    /// Caches not in use by a batch (at most one per processor thread is ever taken).
    caches: Mutex<Vec<Caches>>,
    /// Stops watching (and the reload thread) when dropped.
    _watch: Option<reload::Watch>,
}

impl std::fmt::Debug for Enrichers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrichers")
            .field("geoip", &self.geoip.is_some())
            .field("ioc", &self.ioc.is_some())
            .field("asset", &self.asset.is_some())
            .field("user", &self.user.is_some())
            .field("rdns", &self.rdns.is_some())
            .finish()
    }
}

impl Enrichers {
    /// Loads every table; a file that cannot be read fails the build (and so the configuration).
    pub fn new(cfg: &EnrichConfig, metrics: &Metrics) -> Result<Self, EnrichError> {
        let mut fields = FieldSet::default();
        let mut reloaders = Vec::new();
        let mut b = Builder {
            metrics,
            fields: &mut fields,
            reloaders: &mut reloaders,
        };
        let geoip = b.stage("geoip", cfg.geoip.as_ref(), geoip::Geoip::load)?;
        let ioc = b.stage("ioc", cfg.ioc.as_ref(), ioc::IocTable::load)?;
        let asset = b.stage("asset", cfg.asset.as_ref(), asset::AssetTable::load)?;
        let user = b.stage("user", cfg.user.as_ref(), user::UserTable::load)?;
        let rdns = match &cfg.rdns {
            None => None,
            Some(c) => Some((
                rdns::Rdns::start(c, metrics),
                b.inputs(&c.fields)?,
                Counters::new(metrics, "rdns"),
            )),
        };
        let watch = if cfg.watch && !reloaders.is_empty() {
            match reload::Watch::start(reloaders) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the enrichment files; they are not reloaded on change");
                    None
                }
            }
        } else {
            None
        };
        let geo_keys = geoip.as_ref().map_or_else(Vec::new, |s| {
            s.inputs
                .iter()
                .map(|(_, f)| geoip::OutputKeys::of(f))
                .collect()
        });
        Ok(Enrichers {
            fields,
            geoip,
            geo_keys,
            ioc,
            asset,
            user,
            rdns,
            caches: Mutex::default(),
            _watch: watch,
        })
    }

    /// No enricher configured.
    pub fn disabled() -> Self {
        Enrichers {
            fields: FieldSet::default(),
            geoip: None,
            geo_keys: Vec::new(),
            ioc: None,
            asset: None,
            user: None,
            rdns: None,
            caches: Mutex::default(),
            _watch: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The tables as they are now, for one batch; counters are flushed when it is dropped.
    pub fn batch(&self) -> EnrichBatch<'_> {
        let geoip = self.geoip.as_ref().map(|s| s.table.get());
        let ioc = self.ioc.as_ref().map(|s| s.table.get());
        let mut pooled = if self.is_empty() {
            Caches::default()
        } else {
            let mut pool = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
            pool.pop().unwrap_or_default()
        };
        let cache = if geoip.is_some() || ioc.is_some() {
            let mut c = pooled.ips.take().unwrap_or_else(IpCache::new);
            c.validate((
                geoip.as_ref().map_or(0, |g| g.1),
                ioc.as_ref().map_or(0, |g| g.1),
            ));
            Some(c)
        } else {
            None
        };
        let shapes = pooled.shapes;
        EnrichBatch {
            e: self,
            shapes,
            geoip: geoip.map(|g| g.0),
            ioc: ioc.map(|g| g.0),
            asset: self.asset.as_ref().map(|s| s.table.get().0),
            user: self.user.as_ref().map(|s| s.table.get().0),
            geo_ips: Vec::new(),
            out: Vec::new(),
            matches: Vec::new(),
            cache,
            ips: IpMemo::default(),
            tally: [Tally::default(); 5],
        }
    }
}

/// The loader of one kind of table, from its configuration.
type Loader<C, T> = fn(&C) -> Result<(T, LoadReport), EnrichError>;

struct Builder<'a> {
    metrics: &'a Metrics,
    fields: &'a mut FieldSet,
    reloaders: &'a mut Vec<reload::Reloader>,
}

impl Builder<'_> {
    fn inputs(&mut self, names: &[String]) -> Result<Inputs, EnrichError> {
        names
            .iter()
            .map(|n| Ok((self.fields.add(n)?, Arc::from(n.as_str()))))
            .collect()
    }

    /// Loads a table now and registers its reload.
    fn stage<C, T>(
        &mut self,
        name: &'static str,
        cfg: Option<&C>,
        load: Loader<C, T>,
    ) -> Result<Option<Stage<T>>, EnrichError>
    where
        C: reload::Sourced + Clone + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let Some(cfg) = cfg else { return Ok(None) };
        let (first, report) = load(cfg)?;
        let reloader = reload::Reloader::new(self.metrics, name, cfg.paths());
        reloader.loaded(&report);
        let table = Table::new(first);
        let t = Arc::clone(&table);
        let c = cfg.clone();
        self.reloaders.push(reloader.with(Box::new(move || {
            let (new, report) = load(&c)?;
            t.set(new);
            Ok(report)
        })));
        Ok(Some(Stage {
            table,
            inputs: self.inputs(cfg.fields())?,
            counters: Counters::new(self.metrics, name),
        }))
    }
}

/// What a batch keeps for the next one on its thread: answers for recent addresses (with geoip
/// or ioc) and where the input fields sit in recent key lists. One pool, so a batch takes both
/// with one lock.
#[derive(Default)]
struct Caches {
    ips: Option<IpCache>,
    shapes: Shapes,
}

/// A batch's view of the tables.
pub struct EnrichBatch<'a> {
    e: &'a Enrichers,
    geoip: Option<Arc<geoip::Geoip>>,
    ioc: Option<Arc<ioc::IocTable>>,
    asset: Option<Arc<asset::AssetTable>>,
    user: Option<Arc<user::UserTable>>,
    /// The record's public addresses to locate (and the GeoIP input each is from, by position),
    /// looked up once the record is no longer borrowed: the answer is then written straight from
    /// the address cache, without taking a reference to the answer itself (each of its rendered
    /// groups is shared by one count instead).
    geo_ips: Vec<(IpAddr, usize)>,
    /// Fields to add, gathered while the record is borrowed, then written.
    out: Vec<(Key, Value)>,
    /// IOC matches of the record being enriched.
    matches: Vec<Value>,
    /// Answers for recently seen addresses (with geoip or ioc), returned to the pool on drop.
    cache: Option<IpCache>,
    /// The record's addresses, parsed once for every enricher.
    ips: IpMemo,
    /// Where the input fields sit in recently seen key lists; returned to the pool on drop.
    shapes: Shapes,
    tally: [Tally; 5],
}

/// Calls `f` with each string of a value: a string, or the strings of an array (`host.ip`).
fn each_str(v: &Value, mut f: impl FnMut(&str)) {
    match v {
        Value::Str(s) => f(s),
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(f),
        _ => {}
    }
}

impl EnrichBatch<'_> {
    /// Adds what the tables know about the record's fields.
    pub fn apply(&mut self, doc: &mut Doc) {
        if self.e.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        let geo_ips = &mut self.geo_ips;
        geo_ips.clear();
        let ips = &mut self.ips;
        ips.clear();
        {
            let vals = self.e.fields.scan_cached(doc, &mut self.shapes);
            if let (Some(s), Some(_), Some(_)) = (&self.e.geoip, &self.geoip, &self.cache) {
                for (input, (i, _)) in s.inputs.iter().enumerate() {
                    if let Some(v) = vals[*i] {
                        each_str(v, |s| {
                            if let Some(ip) = ips.parse(s).filter(|&ip| is_public(ip)) {
                                geo_ips.push((ip, input));
                            }
                        });
                    }
                }
            }
            if let (Some(s), Some(t), Some(cache)) = (&self.e.ioc, &self.ioc, &mut self.cache) {
                let tally = &mut self.tally[1];
                let matches = &mut self.matches;
                for (i, field) in &s.inputs {
                    if let Some(v) = vals[*i] {
                        each_str(v, |s| t.enrich(s, field, tally, ips, cache, matches));
                    }
                }
                if !matches.is_empty() {
                    out.push((
                        "threat.enrichments".into(),
                        Value::Array(std::mem::take(matches)),
                    ));
                    out.push(("tags".into(), Value::Str("ioc_match".into())));
                }
            }
            if let (Some(s), Some(t)) = (&self.e.asset, &self.asset) {
                let tally = &mut self.tally[2];
                // The first field that names a known host wins.
                for (i, _) in &s.inputs {
                    let mut found = false;
                    if let Some(v) = vals[*i] {
                        each_str(v, |s| {
                            if !found {
                                found = t.enrich(s, tally, ips, doc, &mut out);
                            }
                        });
                    }
                    if found {
                        break;
                    }
                }
            }
            if let (Some(s), Some(t)) = (&self.e.user, &self.user) {
                let tally = &mut self.tally[3];
                for (i, _) in &s.inputs {
                    if let Some(Value::Str(name)) = vals[*i] {
                        if t.enrich(name, tally, doc, &mut out) {
                            break;
                        }
                    }
                }
            }
            if let Some((r, inputs, _)) = &self.e.rdns {
                let tally = &mut self.tally[4];
                for (i, field) in inputs {
                    if let Some(Value::Str(s)) = vals[*i] {
                        r.enrich(s, field, tally, doc, &mut out);
                    }
                }
            }
        }
        // GeoIP first, in input order: straight from the address cache into the record.
        if let (Some(t), Some(cache)) = (&self.geoip, &mut self.cache) {
            let tally = &mut self.tally[0];
            for &(ip, input) in &self.geo_ips {
                tally.lookups += 1;
                let (slot, records) = cache.slot_and_records(ip);
                let found = slot.geo.get_or_insert_with(|| t.lookup(ip, records));
                if found.is_empty() {
                    continue;
                }
                tally.hits += 1;
                if let Some(keys) = self.e.geo_keys.get(input) {
                    geoip::emit(found, keys, |k, v| doc.insert(k, v));
                }
            }
        }
        for (k, v) in out.drain(..) {
            if k == "tags" {
                doc.append_unique(k, v);
            } else {
                doc.insert(k, v);
            }
        }
        self.out = out;
    }
}

impl Drop for EnrichBatch<'_> {
    fn drop(&mut self) {
        if !self.e.is_empty() {
            let mut pool = self.e.caches.lock().unwrap_or_else(PoisonError::into_inner);
            // More than a few idle caches only happens if more threads than usual enriched at once.
            if pool.len() < MAX_IDLE_CACHES {
                pool.push(Caches {
                    ips: self.cache.take(),
                    shapes: std::mem::take(&mut self.shapes),
                });
            }
        }
        let counters = [
            self.e.geoip.as_ref().map(|s| &s.counters),
            self.e.ioc.as_ref().map(|s| &s.counters),
            self.e.asset.as_ref().map(|s| &s.counters),
            self.e.user.as_ref().map(|s| &s.counters),
            self.e.rdns.as_ref().map(|r| &r.2),
        ];
        for (c, t) in counters.into_iter().zip(self.tally) {
            if let Some(c) = c {
                if t.lookups > 0 {
                    c.lookups.add(t.lookups);
                }
                if t.hits > 0 {
                    c.hits.add(t.hits);
                }
            }
        }
    }
}

/// Addresses that have no public location or owner: private, loopback, link-local, multicast,
/// shared (CGNAT), documentation, benchmarking and reserved ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// `source.ip` → `source`: where an IP field's siblings (`source.geo`, `source.domain`) go.
pub(crate) fn parent_of(field: &str) -> &str {
    field.rsplit_once('.').map_or(field, |(p, _)| p)
}

/// Opens a CSV list or inventory (`#` comments, trimmed cells, rows of any length) and reads its
/// header row; errors name the file.
pub(crate) fn open_csv(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), EnrichError> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| EnrichError::invalid(path, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| EnrichError::invalid(path, e.to_string()))?
        .clone();
    Ok((rdr, headers))
}

/// How a file is read, from its extension.
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
