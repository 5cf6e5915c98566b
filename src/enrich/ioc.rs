//! Threat indicators (IOCs): addresses and CIDRs, domains, URLs, file hashes, matched against a
//! record's fields into ECS `threat.enrichments[]`, with the tag `ioc_match`.
//!
//! Lists are plain text (one indicator per line, `#` comments), CSV
//! (`indicator,type,confidence,provider,description` with a header) or STIX 2.1 bundles with simple
//! `[ipv4-addr:value = '…']` patterns (comparisons joined by `OR`). Structures: hash sets for
//! domains, URLs and hashes; one hash map per prefix length for networks, tried longest first; a
//! domain matches itself and its subdomains by looking up each of its label suffixes.

use foldhash::HashMap;
use std::net::IpAddr;
use std::ops::{Shl, Shr};
use std::path::Path;
use std::sync::Arc;

use super::cache::{IpCache, IpMemo};
use super::{extension, mmdb::parse_network, EnrichError, LoadReport, Tally};
use crate::config::IocConfig;
use crate::doc::Value;
use crate::text::{cut, trim};

/// What an indicator is, as ECS `threat.indicator.type` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    File,
}

impl Kind {
    pub fn ecs(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4-addr",
            Kind::Ipv6 => "ipv6-addr",
            Kind::Domain => "domain-name",
            Kind::Url => "url",
            Kind::File => "file",
        }
    }
}

/// Where an indicator came from; shared by every indicator with the same values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Meta {
    kind: Kind,
    provider: Arc<str>,
    confidence: Option<Arc<str>>,
    description: Option<Arc<str>>,
}

/// An address family's address as an integer: `u32` for IPv4, whose map entries are then a
/// quarter of the size they were with `u128` keys (a million-indicator list holds some 450,000
/// addresses: 68.3 -> 54.9 MiB for the whole list).
trait Addr:
    Copy + Default + Eq + std::hash::Hash + Shl<u32, Output = Self> + Shr<u32, Output = Self>
{
    const BITS: u32;
}

impl Addr for u32 {
    const BITS: u32 = 32;
}

impl Addr for u128 {
    const BITS: u32 = 128;
}

/// Networks of one address family: one map per prefix length, keyed by the masked address.
struct Prefixes<A> {
    maps: Vec<HashMap<A, u32>>,
    /// Prefix lengths in use, longest first.
    lens: Vec<u8>,
}

impl<A> Default for Prefixes<A> {
    fn default() -> Self {
        Prefixes {
            maps: Vec::new(),
            lens: Vec::new(),
        }
    }
}

impl<A: Addr> Prefixes<A> {
    /// `addr` with all but its first `len` bits cleared (`len` at most `A::BITS`).
    fn mask(addr: A, len: u8) -> A {
        if len == 0 {
            A::default()
        } else {
            let shift = A::BITS.saturating_sub(u32::from(len));
            (addr >> shift) << shift
        }
    }

    fn insert(&mut self, addr: A, len: u8, meta: u32) {
        if self.maps.len() <= usize::from(len) {
            self.maps
                .resize_with(usize::from(len) + 1, HashMap::default);
        }
        self.maps[usize::from(len)].insert(Self::mask(addr, len), meta);
        if !self.lens.contains(&len) {
            self.lens.push(len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
    }

    /// The most specific listed network holding `addr`.
    fn lookup(&self, addr: A) -> Option<(u8, u32)> {
        self.lens.iter().find_map(|&len| {
            self.maps[usize::from(len)]
                .get(&Self::mask(addr, len))
                .map(|m| (len, *m))
        })
    }

    fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
    }
}

/// Every loaded indicator.
#[derive(Default)]
pub struct IocTable {
    metas: Vec<Meta>,
    meta_ids: HashMap<Meta, u32>,
    v4: Prefixes<u32>,
    v6: Prefixes<u128>,
    domains: HashMap<Box<str>, u32>,
    urls: HashMap<Box<str>, u32>,
    hashes: HashMap<Box<str>, u32>,
}

/// An indicator read from a list, before it is stored.
enum Parsed {
    Net(IpAddr, u8),
    Domain(String),
    Url(String),
    Hash(String),
}

fn is_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A host name: labels of letters, digits, `-` and `_`, and not a dotted number.
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && !s
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Reads one indicator; `kind` is the list's type column (`None`: guessed from the value).
fn parse_indicator(raw: &str, kind: Option<&str>) -> Result<Parsed, String> {
    let s = trim(raw);
    if s.is_empty() {
        return Err("empty indicator".into());
    }
    let guess = || -> Result<Parsed, String> {
        if let Some((ip, len)) = parse_network(s) {
            return Ok(Parsed::Net(ip, len));
        }
        if is_hash(s) {
            return Ok(Parsed::Hash(s.to_ascii_lowercase()));
        }
        if has_scheme(s) {
            return Ok(Parsed::Url(s.to_owned()));
        }
        let d = s.trim_start_matches("*.").trim_end_matches('.');
        let d = d.to_ascii_lowercase();
        if is_domain(&d) {
            return Ok(Parsed::Domain(d));
        }
        Err(format!(
            "`{s}` is not an address, CIDR, domain, URL or hash"
        ))
    };
    let parsed = guess()?;
    let want = match kind.map(|k| k.trim().to_ascii_lowercase()) {
        None => return Ok(parsed),
        Some(k) if k.is_empty() => return Ok(parsed),
        Some(k) => k,
    };
    let ok = match (want.as_str(), &parsed) {
        (
            "ip" | "ipv4" | "ipv6" | "ipv4-addr" | "ipv6-addr" | "cidr" | "ip-src" | "ip-dst",
            Parsed::Net(..),
        ) => true,
        ("domain" | "domain-name" | "hostname" | "fqdn", Parsed::Domain(_)) => true,
        ("url" | "uri", Parsed::Url(_)) => true,
        ("md5" | "sha1" | "sha-1" | "sha256" | "sha-256" | "hash" | "file", Parsed::Hash(_)) => {
            true
        }
        (
            "ip" | "ipv4" | "ipv6" | "ipv4-addr" | "ipv6-addr" | "cidr" | "ip-src" | "ip-dst"
            | "domain" | "domain-name" | "hostname" | "fqdn" | "url" | "uri" | "md5" | "sha1"
            | "sha-1" | "sha256" | "sha-256" | "hash" | "file",
            _,
        ) => false,
        _ => return Err(format!("unknown indicator type `{want}`")),
    };
    if ok {
        Ok(parsed)
    } else {
        Err(format!("`{s}` is not of type `{want}`"))
    }
}

impl IocTable {
    pub fn load(cfg: &IocConfig) -> Result<(Self, LoadReport), EnrichError> {
        let mut t = IocTable::default();
        let mut report = LoadReport::default();
        for path in &cfg.files {
            match extension(path).as_str() {
                "csv" => t.load_csv(path, &mut report)?,
                "json" | "stix" => t.load_stix(path, &mut report)?,
                _ => t.load_text(path, &mut report)?,
            }
        }
        report.entries = t.len();
        Ok((t, report))
    }

    /// Indicators stored (duplicates once).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.domains.len() + self.urls.len() + self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn meta(
        &mut self,
        kind: Kind,
        provider: &Arc<str>,
        confidence: Option<&str>,
        description: Option<&str>,
    ) -> u32 {
        let m = Meta {
            kind,
            provider: Arc::clone(provider),
            confidence: confidence.filter(|s| !s.is_empty()).map(Arc::from),
            description: description.filter(|s| !s.is_empty()).map(Arc::from),
        };
        if let Some(id) = self.meta_ids.get(&m) {
            return *id;
        }
        let id = self.metas.len() as u32;
        self.metas.push(m.clone());
        self.meta_ids.insert(m, id);
        id
    }

    fn add(
        &mut self,
        p: Parsed,
        provider: &Arc<str>,
        confidence: Option<&str>,
        description: Option<&str>,
    ) {
        let kind = match &p {
            Parsed::Net(IpAddr::V4(_), _) => Kind::Ipv4,
            Parsed::Net(IpAddr::V6(_), _) => Kind::Ipv6,
            Parsed::Domain(_) => Kind::Domain,
            Parsed::Url(_) => Kind::Url,
            Parsed::Hash(_) => Kind::File,
        };
        let m = self.meta(kind, provider, confidence, description);
        match p {
            Parsed::Net(IpAddr::V4(a), len) => self.v4.insert(u32::from(a), len, m),
            Parsed::Net(IpAddr::V6(a), len) => self.v6.insert(u128::from(a), len, m),
            Parsed::Domain(d) => {
                self.domains.insert(d.into(), m);
            }
            Parsed::Url(u) => {
                self.urls.insert(u.into(), m);
            }
            Parsed::Hash(h) => {
                self.hashes.insert(h.into(), m);
            }
        }
    }

    fn load_text(&mut self, path: &Path, report: &mut LoadReport) -> Result<(), EnrichError> {
        let text = std::fs::read_to_string(path).map_err(|e| EnrichError::io(path, e))?;
        let provider = provider_of(path);
        for (i, line) in text.lines().enumerate() {
            let line = line.split_once(" #").map_or(line, |(l, _)| l).trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_indicator(line, None) {
                Ok(p) => self.add(p, &provider, None, None),
                Err(e) => report.skip("ioc", path, i + 1, &e),
            }
        }
        Ok(())
    }

    fn load_csv(&mut self, path: &Path, report: &mut LoadReport) -> Result<(), EnrichError> {
        let (mut rdr, headers) = super::open_csv(path)?;
        let col = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
        let Some(ind) = col("indicator") else {
            return Err(EnrichError::invalid(
                path,
                "the header has no `indicator` column (expected indicator,type,confidence,provider,description)",
            ));
        };
        let (ty, conf, prov, desc) = (
            col("type"),
            col("confidence"),
            col("provider"),
            col("description"),
        );
        let default_provider = provider_of(path);
        let mut providers: HashMap<String, Arc<str>> = HashMap::default();
        let mut rec = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    report.skip("ioc", path, line, &e.to_string());
                    continue;
                }
            }
            let line = rec.position().map_or(0, |p| p.line() as usize);
            let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).filter(|s| !s.is_empty());
            let Some(value) = get(Some(ind)) else {
                report.skip("ioc", path, line, "empty indicator");
                continue;
            };
            let provider = match get(prov) {
                None => Arc::clone(&default_provider),
                Some(p) => Arc::clone(
                    providers
                        .entry(p.to_owned())
                        .or_insert_with(|| Arc::from(p)),
                ),
            };
            match parse_indicator(value, get(ty)) {
                Ok(p) => self.add(p, &provider, get(conf), get(desc)),
                Err(e) => report.skip("ioc", path, line, &e),
            }
        }
        Ok(())
    }

    fn load_stix(&mut self, path: &Path, report: &mut LoadReport) -> Result<(), EnrichError> {
        let text = std::fs::read(path).map_err(|e| EnrichError::io(path, e))?;
        let doc: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| EnrichError::invalid(path, format!("not JSON: {e}")))?;
        let objects = match &doc {
            serde_json::Value::Array(a) => a.as_slice(),
            v if v.get("type").and_then(|t| t.as_str()) == Some("bundle") => v
                .get("objects")
                .and_then(|o| o.as_array())
                .map_or(&[][..], Vec::as_slice),
            serde_json::Value::Object(_) => std::slice::from_ref(&doc),
            _ => {
                return Err(EnrichError::invalid(
                    path,
                    "expected a STIX 2.1 bundle (`{\"type\": \"bundle\", \"objects\": [...]}`)",
                ))
            }
        };
        let identities: HashMap<&str, &str> = objects
            .iter()
            .filter(|o| o.get("type").and_then(|t| t.as_str()) == Some("identity"))
            .filter_map(|o| Some((o.get("id")?.as_str()?, o.get("name")?.as_str()?)))
            .collect();
        let default_provider = provider_of(path);
        let re = stix_comparison();
        for (i, o) in objects.iter().enumerate() {
            let s = |k: &str| o.get(k).and_then(|v| v.as_str());
            if s("type") != Some("indicator") {
                continue;
            }
            let at = format!("indicator #{} ({})", i + 1, s("id").unwrap_or("no id"));
            if o.get("revoked").and_then(|v| v.as_bool()) == Some(true) {
                report.skip("ioc", path, 0, &format!("{at}: revoked"));
                continue;
            }
            if s("pattern_type").is_some_and(|t| t != "stix") {
                report.skip("ioc", path, 0, &format!("{at}: pattern_type is not stix"));
                continue;
            }
            let Some(pattern) = s("pattern") else {
                report.skip("ioc", path, 0, &format!("{at}: no pattern"));
                continue;
            };
            let provider = s("created_by_ref")
                .and_then(|r| identities.get(r))
                .map_or_else(|| Arc::clone(&default_provider), |n| Arc::from(*n));
            let confidence = o.get("confidence").map(|c| match c {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let description = s("description").or(s("name"));
            match parse_pattern(&re, pattern) {
                Ok(list) => {
                    for (kind, value) in list {
                        match parse_indicator(&value, Some(kind)) {
                            Ok(p) => self.add(p, &provider, confidence.as_deref(), description),
                            Err(e) => report.skip("ioc", path, 0, &format!("{at}: {e}")),
                        }
                    }
                }
                Err(e) => report.skip("ioc", path, 0, &format!("{at}: {e}")),
            }
        }
        Ok(())
    }

    /// Matches one value of `field`; each match is one `threat.enrichments` entry. Addresses are
    /// parsed through `ips` (shared with the other enrichers) and their answers kept in `cache`.
    pub(crate) fn enrich(
        &self,
        value: &str,
        field: &str,
        tally: &mut Tally,
        ips: &mut IpMemo,
        cache: &mut IpCache,
        out: &mut Vec<Value>,
    ) {
        let value = trim(value);
        if value.is_empty() {
            return;
        }
        tally.lookups += 1;
        let found = if let Some(ip) = ips.parse(value) {
            let slot = cache.slot(ip);
            let hit = *slot.ioc.get_or_insert_with(|| self.lookup_ip(ip));
            hit.map(|(len, m)| (net_name(unmapped(ip), len), m))
        } else if is_hash(value) {
            let h = lower(value);
            self.hashes.get(&*h).map(|m| (h.into_owned(), *m))
        } else if has_scheme(value) {
            self.urls.get(value).map(|m| (value.to_owned(), *m))
        } else {
            self.domain(value)
        };
        let Some((name, meta)) = found else { return };
        let Some(meta) = self.metas.get(meta as usize) else {
            return;
        };
        tally.hits += 1;
        out.push(enrichment(meta, name, value, field));
    }

    /// The most specific listed network holding `ip`: (prefix length, metadata index).
    fn lookup_ip(&self, ip: IpAddr) -> Option<(u8, u32)> {
        match unmapped(ip) {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    /// The listed domain that is `value` or one of its parents.
    fn domain(&self, value: &str) -> Option<(String, u32)> {
        if self.domains.is_empty() {
            return None;
        }
        let value = value.trim_end_matches('.');
        // Lower case without an allocation for any usual name.
        let mut buf = [0u8; 256];
        let d: std::borrow::Cow<'_, str> = if !value.bytes().any(|b| b.is_ascii_uppercase()) {
            value.into()
        } else if value.len() <= buf.len() {
            let b = &mut buf[..value.len()];
            b.copy_from_slice(value.as_bytes());
            b.make_ascii_lowercase();
            // ASCII case changes keep UTF-8 valid.
            std::str::from_utf8(b).ok()?.into()
        } else {
            value.to_ascii_lowercase().into()
        };
        let mut rest: &str = &d;
        loop {
            if let Some(m) = self.domains.get(rest) {
                return Some((rest.to_owned(), *m));
            }
            rest = cut(rest, b'.')?.1;
        }
    }
}

/// Whether `s` has `://` (a URL, not a domain): a byte loop, where `str::contains`'s searcher
/// setup cost more than the scan of a short value.
fn has_scheme(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| w == b"://")
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The listed network as written: the address alone for a single host.
fn net_name(ip: IpAddr, len: u8) -> String {
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let masked = match ip {
        IpAddr::V4(a) => IpAddr::V4(Prefixes::mask(u32::from(a), len).into()),
        IpAddr::V6(a) => IpAddr::V6(Prefixes::mask(u128::from(a), len).into()),
    };
    if len == full {
        masked.to_string()
    } else {
        format!("{masked}/{len}")
    }
}

fn enrichment(meta: &Meta, name: String, atomic: &str, field: &str) -> Value {
    let mut indicator = vec![
        ("type".into(), Value::Str(meta.kind.ecs().into())),
        ("name".into(), Value::from(name)),
        ("provider".into(), Value::from(meta.provider.as_ref())),
    ];
    if let Some(c) = &meta.confidence {
        indicator.push(("confidence".into(), Value::from(c.to_string())));
    }
    if let Some(d) = &meta.description {
        indicator.push(("description".into(), Value::from(d.to_string())));
    }
    Value::Object(vec![
        ("indicator".into(), Value::Object(indicator)),
        (
            "matched".into(),
            Value::Object(vec![
                ("atomic".into(), Value::from(atomic)),
                ("field".into(), Value::from(field)),
                ("type".into(), Value::Str("indicator_match_rule".into())),
            ]),
        ),
    ])
}

fn provider_of(path: &Path) -> Arc<str> {
    Arc::from(
        path.file_stem()
            .map_or_else(|| "unknown".into(), |s| s.to_string_lossy()),
    )
}

fn stix_comparison() -> regex::Regex {
    // Built from a literal: cannot fail.
    regex::Regex::new(
        r"(ipv4-addr|ipv6-addr|domain-name|url|file):(value|hashes\.'?([A-Za-z0-9-]+)'?)\s*=\s*'((?:[^'\\]|\\.)*)'",
    )
    .unwrap_or_else(|_| unreachable!())
}

/// The `(type, value)` comparisons of a pattern whose comparisons are all joined by `OR`.
fn parse_pattern(re: &regex::Regex, pattern: &str) -> Result<Vec<(&'static str, String)>, String> {
    let upper = pattern.to_ascii_uppercase();
    if [" AND ", "FOLLOWEDBY", " NOT ", "MATCHES", " LIKE ", " IN ("]
        .iter()
        .any(|op| upper.contains(op))
    {
        return Err(format!(
            "unsupported pattern (only `=` joined by OR): {pattern}"
        ));
    }
    let mut out = Vec::new();
    for c in re.captures_iter(pattern) {
        let value = c[4].replace("\\'", "'").replace("\\\\", "\\");
        let kind = match (&c[1], c.get(3).map(|m| m.as_str().to_ascii_uppercase())) {
            ("ipv4-addr" | "ipv6-addr", None) => "ip",
            ("domain-name", None) => "domain",
            ("url", None) => "url",
            ("file", Some(h))
                if matches!(h.as_str(), "MD5" | "SHA-1" | "SHA1" | "SHA-256" | "SHA256") =>
            {
                "hash"
            }
            (obj, prop) => {
                return Err(format!(
                    "unsupported comparison `{obj}:{}`",
                    prop.unwrap_or_else(|| "value".into())
                ))
            }
        };
        out.push((kind, value));
    }
    if out.is_empty() {
        return Err(format!("no supported comparison in {pattern}"));
    }
    Ok(out)
}
