//! `pipeline.enrich`: which enrichers run, on which fields, from which data files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::model::duration;

/// Enrichers applied to every record after normalization. Each is off unless configured.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    #[serde(default)]
    pub geoip: Option<GeoipConfig>,
    #[serde(default)]
    pub ioc: Option<IocConfig>,
    #[serde(default)]
    pub asset: Option<AssetConfig>,
    #[serde(default)]
    pub user: Option<UserConfig>,
    #[serde(default)]
    pub rdns: Option<RdnsConfig>,
    /// Reload data files when they change (a broken file keeps the previous table).
    #[serde(default = "yes")]
    pub watch: bool,
}

fn yes() -> bool {
    true
}

/// `pipeline.enrich.geoip`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    /// Databases looked up in order (typically a City and an ASN database); the first value found
    /// for an output field wins.
    pub databases: Vec<GeoipDatabase>,
    /// IP fields to enrich; `source.ip` gets `source.geo.*` and `source.as.*`.
    #[serde(default = "default_geoip_fields")]
    pub fields: Vec<String>,
}

/// One `.mmdb` database, or a `.csv` of networks compiled into one in memory (example data).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipDatabase {
    pub path: PathBuf,
    /// Memory-map the file (the default) rather than reading it into memory. Replace a mapped
    /// database by renaming a new file over it, never by rewriting it in place.
    #[serde(default = "yes")]
    pub mmap: bool,
    /// For flat schemas (ip-location-db): ECS field under `<prefix>.` (`geo.city_name`,
    /// `as.number`, …) → the record's key (`city`, `autonomous_system_number`, …). Empty: the
    /// MaxMind GeoIP2/GeoLite2 City, Country and ASN schemas.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
}

fn default_geoip_fields() -> Vec<String> {
    [
        "source.ip",
        "destination.ip",
        "client.ip",
        "server.ip",
        "host.ip",
    ]
    .map(String::from)
    .to_vec()
}

/// `pipeline.enrich.ioc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IocConfig {
    /// Indicator lists: `.csv` (with a header), `.json` (STIX 2.1 bundle), anything else plain
    /// text, one indicator per line.
    pub files: Vec<PathBuf>,
    #[serde(default = "default_ioc_fields")]
    pub fields: Vec<String>,
}

fn default_ioc_fields() -> Vec<String> {
    [
        "source.ip",
        "destination.ip",
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
    ]
    .map(String::from)
    .to_vec()
}

/// `pipeline.enrich.asset`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Inventories, `.csv` or `.yaml`/`.yml`.
    pub files: Vec<PathBuf>,
    /// Fields naming the host a record is about, tried in order; IPs match addresses and CIDRs,
    /// anything else host names.
    #[serde(default = "default_asset_fields")]
    pub fields: Vec<String>,
}

fn default_asset_fields() -> Vec<String> {
    ["host.name", "host.hostname", "host.ip"]
        .map(String::from)
        .to_vec()
}

/// `pipeline.enrich.user`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Directory exports (CSV with a `name` column).
    pub files: Vec<PathBuf>,
    #[serde(default = "default_user_fields")]
    pub fields: Vec<String>,
}

fn default_user_fields() -> Vec<String> {
    vec!["user.name".into()]
}

/// `pipeline.enrich.rdns`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdnsConfig {
    /// `source.ip` gets `source.domain`.
    #[serde(default = "default_rdns_fields")]
    pub fields: Vec<String>,
    /// Names (and failures) remembered.
    #[serde(default = "default_rdns_cache")]
    pub cache_size: usize,
    #[serde(default = "default_rdns_ttl", with = "duration")]
    pub ttl: Duration,
    /// How long an address without a name is not asked again.
    #[serde(default = "default_rdns_negative_ttl", with = "duration")]
    pub negative_ttl: Duration,
    /// A lookup not answered by then counts as failed (and is negatively cached).
    #[serde(default = "default_rdns_timeout", with = "duration")]
    pub timeout: Duration,
    /// Resolver threads.
    #[serde(default = "default_rdns_workers")]
    pub workers: usize,
    /// Lookups waiting for a resolver thread; more are skipped and counted.
    #[serde(default = "default_rdns_queue")]
    pub queue: usize,
    /// Also look up private, loopback and link-local addresses.
    #[serde(default)]
    pub include_private: bool,
}

fn default_rdns_fields() -> Vec<String> {
    vec!["source.ip".into(), "destination.ip".into()]
}
fn default_rdns_cache() -> usize {
    10_000
}
fn default_rdns_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_rdns_negative_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_rdns_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_rdns_workers() -> usize {
    2
}
fn default_rdns_queue() -> usize {
    1024
}

impl EnrichConfig {
    /// Problems serde cannot see, as (key under `pipeline.enrich`, message). Opens every file
    /// (GeoIP databases are checked in full), so a broken one fails validation, not the start.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut field_lists: Vec<(&str, &Vec<String>)> = Vec::new();
        if let Some(g) = &self.geoip {
            if g.databases.is_empty() {
                p.push(("geoip.databases".into(), "expected at least one".into()));
            }
            for (i, db) in g.databases.iter().enumerate() {
                if let Err(e) = crate::enrich::geoip::check(db) {
                    p.push((format!("geoip.databases[{i}].path"), e.to_string()));
                }
            }
            field_lists.push(("geoip", &g.fields));
        }
        let lists = [
            ("ioc", self.ioc.as_ref().map(|c| (&c.files, &c.fields))),
            ("asset", self.asset.as_ref().map(|c| (&c.files, &c.fields))),
            ("user", self.user.as_ref().map(|c| (&c.files, &c.fields))),
        ];
        for (name, cfg) in lists {
            let Some((files, fields)) = cfg else { continue };
            if files.is_empty() {
                p.push((format!("{name}.files"), "expected at least one".into()));
            }
            for (i, f) in files.iter().enumerate() {
                if let Err(e) = std::fs::File::open(f) {
                    p.push((
                        format!("{name}.files[{i}]"),
                        format!("{}: {e}", f.display()),
                    ));
                }
            }
            field_lists.push((name, fields));
        }
        if let Some(r) = &self.rdns {
            if r.workers == 0 || r.queue == 0 || r.cache_size == 0 {
                p.push((
                    "rdns".into(),
                    "workers, queue and cache_size must be at least 1".into(),
                ));
            }
            field_lists.push(("rdns", &r.fields));
        }
        for (name, fields) in field_lists {
            if fields.is_empty() {
                p.push((
                    format!("{name}.fields"),
                    "expected at least one field".into(),
                ));
            }
            if fields.len() > crate::enrich::MAX_FIELDS {
                p.push((
                    format!("{name}.fields"),
                    format!("at most {} fields", crate::enrich::MAX_FIELDS),
                ));
            }
        }
        p
    }
}
