//! PAN-OS CSV → ECS, with Elastic's `panw` integration field choices.
//!
//! [`PanosNormalizer::new`] turns the YAML layouts into per-layout tables of (column index, field
//! key, conversion), with every key interned as `&'static str`, so a record costs one split, one
//! type lookup and one pass over the mapped columns: no key allocation, no per-record string
//! comparison of column names.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

use crate::doc::{Doc, Related, Value};
use crate::normalize::{Context, ParseFailure};
use crate::parse::panos::{split_fields, Conversion, Layout, LogType, OutcomeRule, PanosSchema};

/// Field names live as long as the process: a reload that loads the same names again reuses them,
/// so the set only grows with genuinely new names.
fn intern(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = NAMES
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = set.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Fields whose values also go to `related.ip`.
const RELATED_IP: &[&str] = &[
    "source.ip",
    "destination.ip",
    "source.nat.ip",
    "destination.nat.ip",
    "host.ip",
    "network.forwarded_ip",
    "panw.panos.xff.ip",
    "panw.panos.remote_user.ip",
    "panw.panos.end_ip_address",
];
/// Fields whose values also go to `related.hosts`.
const RELATED_HOSTS: &[&str] = &[
    "observer.hostname",
    "host.name",
    "panw.panos.src.host",
    "panw.panos.dst.host",
];
/// Fields whose values also go to `related.user` (besides the parsed user columns).
const RELATED_USER: &[&str] = &["panw.panos.admin"];
/// Fields whose values also go to `related.hash`.
const RELATED_HASH: &[&str] = &["panw.panos.file.hash"];

/// PAN-OS actions that let the traffic through / stop it (`event.type` allowed / denied).
const ALLOWED_ACTIONS: &[&str] = &["alert", "allow", "continue"];
const DENIED_ACTIONS: &[&str] = &[
    "deny",
    "drop",
    "drop-icmp",
    "drop icmp",
    "drop ICMP",
    "reset-client",
    "reset-server",
    "reset-both",
    "reset client",
    "reset server",
    "reset both",
    "block-url",
    "block-ip",
    "random-drop",
    "sinkhole",
    "block",
];

/// Session flag bits and their `labels.*` names (PAN-OS syslog field descriptions).
const FLAG_LABELS: &[(u64, &str)] = &[
    (0x8000_0000, "labels.pcap_included"),
    (0x4000_0000, "labels.connect_to_destination_host"),
    (0x2000_0000, "labels.file_submitted_to_WildFire"),
    (0x1000_0000, "labels.enterprise_credential_submission"),
    (0x0800_0000, "labels.source_flow_allow_list"),
    (0x0200_0000, "labels.ipv6_session"),
    (0x0100_0000, "labels.ssl_decrypted"),
    (0x0080_0000, "labels.url_filter_denied"),
    (0x0040_0000, "labels.nat_translated"),
    (0x0020_0000, "labels.captive_portal"),
    (0x0010_0000, "labels.non_standard_port_usage"),
    (0x0008_0000, "labels.x_forwarded_for"),
    (0x0004_0000, "labels.http_proxy"),
    (0x0002_0000, "labels.client_server_policy_based_forwarding"),
    (0x0001_0000, "labels.server_client_policy_based_forwarding"),
    (0x0000_8000, "labels.container_page"),
    (0x0000_2000, "labels.temporary_match"),
    (0x0000_0800, "labels.symmetric_return"),
    (0x0000_0400, "labels.decrypted_traffic"),
    (0x0000_0100, "labels.payload_outer_tunnel"),
];

/// What the normalizer remembers about a target beyond its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    SourceIp,
    EventStart,
    EventDuration,
    SourceUser,
}

/// One column → one field, resolved at construction.
#[derive(Debug, Clone)]
struct Mapping {
    index: usize,
    key: &'static str,
    /// Second key of two-part conversions (`.domain` of users, `.id` of threats, ...).
    aux: &'static str,
    /// `panw.panos.<column>`: where a value that fails its conversion is kept.
    fallback: &'static str,
    conv: Conversion,
    related: Option<Related>,
    role: Role,
}

#[derive(Debug)]
struct CompiledLayout {
    when: crate::parse::panos::Condition,
    columns: usize,
    maps: Vec<Mapping>,
    time_generated: usize,
    high_res: Option<usize>,
    subtype: Option<usize>,
    /// The PAN-OS `action` column, for `event.type` allowed/denied.
    action: Option<usize>,
    /// (address, port) column pairs dropped together when both say "no NAT".
    nat_pairs: Vec<(usize, usize)>,
    event_action_col: Option<usize>,
    type_rule_cols: Vec<usize>,
    outcome_col: Option<usize>,
}

#[derive(Debug)]
struct CompiledType {
    names: Vec<String>,
    type_index: usize,
    kind: &'static str,
    category: Vec<&'static str>,
    action_map: Vec<(String, &'static str)>,
    type_rules: Vec<Vec<(String, Vec<&'static str>)>>,
    outcome: Option<OutcomeRule>,
    layouts: Vec<CompiledLayout>,
}

/// Normalizes PAN-OS CSV payloads (the line from its first column, syslog header removed).
#[derive(Debug)]
pub struct PanosNormalizer {
    types: Vec<CompiledType>,
    /// The positions a type column can have, the usual one (3) first.
    type_indices: Vec<usize>,
}

impl PanosNormalizer {
    pub fn new(schema: PanosSchema) -> Self {
        let types: Vec<CompiledType> = schema.log_types().iter().map(compile_type).collect();
        let mut type_indices: Vec<usize> = types.iter().map(|t| t.type_index).collect();
        type_indices.sort_by_key(|&i| (i != 3, i));
        type_indices.dedup();
        PanosNormalizer {
            types,
            type_indices,
        }
    }

    /// Writes the ECS fields of `payload` into `doc`. On a failure (unknown type, too few columns,
    /// unreadable time) whatever could be read is still written.
    pub fn normalize(
        &self,
        payload: &[u8],
        ctx: &Context,
        doc: &mut Doc,
    ) -> Result<(), ParseFailure> {
        doc.insert("event.module", "panw");
        doc.insert("event.dataset", "panw.panos");
        doc.insert("observer.vendor", "Palo Alto Networks");
        doc.insert("observer.product", "PAN-OS");
        doc.insert("observer.type", "firewall");

        let mut fields = take_field_buffer();
        split_fields(payload, &mut fields);
        let result = self.normalize_fields(&fields, ctx, doc);
        give_back_field_buffer(fields);
        result
    }

    fn normalize_fields(
        &self,
        fields: &[Cow<'_, str>],
        ctx: &Context,
        doc: &mut Doc,
    ) -> Result<(), ParseFailure> {
        let Some(ty) = self.find_type(fields) else {
            let shown = fields.get(3).map_or("", |f| f.as_ref());
            return Err(ParseFailure::new(format!(
                "unknown PAN-OS log type '{}'",
                truncate(shown, 40)
            )));
        };
        let layout = ty
            .layouts
            .iter()
            .find(|l| l.when.matches(fields))
            .or(ty.layouts.last());
        let Some(layout) = layout else {
            return Err(ParseFailure::new("PAN-OS log type without a layout"));
        };
        if fields.len() <= layout.time_generated {
            let n = fields.len();
            write_columns(layout, fields, ctx, doc, None);
            return Err(ParseFailure::new(format!(
                "PAN-OS line has {n} columns, too few for its type"
            )));
        }

        let time = record_time(layout, fields, ctx);
        if let Some(t) = time {
            doc.insert("@timestamp", t);
        }
        let subtype = layout
            .subtype
            .and_then(|i| fields.get(i))
            .map(|s| s.as_ref());
        write_columns(layout, fields, ctx, doc, subtype);
        write_event(ty, layout, fields, doc);

        if fields.len() > layout.columns {
            let extra = fields[layout.columns..]
                .iter()
                .map(|f| Value::Str(f.to_string()))
                .collect();
            doc.insert("panw.panos.extra", Value::Array(extra));
        }
        if time.is_none() {
            let raw = fields.get(layout.time_generated).map_or("", |f| f.as_ref());
            return Err(ParseFailure::new(format!(
                "unreadable PAN-OS generated time '{}'",
                truncate(raw, 40)
            )));
        }
        Ok(())
    }

    fn find_type(&self, fields: &[Cow<'_, str>]) -> Option<&CompiledType> {
        // The usual position first, then others such as the short AUDIT header.
        for &idx in &self.type_indices {
            if let Some(value) = fields.get(idx) {
                let value = value.as_ref();
                if let Some(t) = self
                    .types
                    .iter()
                    .find(|t| t.type_index == idx && t.names.iter().any(|n| n == value))
                {
                    return Some(t);
                }
            }
        }
        None
    }
}

thread_local! {
    /// The split buffer, kept between records: allocating ~3 KiB per record costs more than the
    /// split itself (and makes glibc consolidate its free lists).
    static FIELD_BUFFER: std::cell::RefCell<Vec<Cow<'static, str>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The recycled buffer, emptied and re-typed for this payload's lifetime. Collecting an empty
/// `IntoIter` into a `Vec` of the same layout reuses the allocation.
fn take_field_buffer<'a>() -> Vec<Cow<'a, str>> {
    let mut buf = FIELD_BUFFER
        .try_with(|b| {
            b.try_borrow_mut()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    buf.clear();
    let mut buf: Vec<Cow<'a, str>> = buf.into_iter().collect();
    if buf.capacity() < 128 {
        buf.reserve(128);
    }
    buf
}

fn give_back_field_buffer(mut buf: Vec<Cow<'_, str>>) {
    // A freak line with thousands of commas should not pin its buffer for the thread's life.
    if buf.capacity() > 4096 {
        return;
    }
    buf.clear();
    let buf: Vec<Cow<'static, str>> = buf.into_iter().map(|_| Cow::Borrowed("")).collect();
    let _ = FIELD_BUFFER.try_with(|b| {
        if let Ok(mut slot) = b.try_borrow_mut() {
            *slot = buf;
        }
    });
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---- construction ---------------------------------------------------------------------------

fn compile_type(ty: &LogType) -> CompiledType {
    let ev = &ty.event;
    CompiledType {
        names: ty.names().cloned().collect(),
        type_index: ty.type_index,
        kind: intern(&ev.kind),
        category: ev.category.iter().map(|c| intern(c)).collect(),
        action_map: ev
            .action
            .iter()
            .flat_map(|a| a.map.iter().map(|(k, v)| (k.clone(), intern(v))))
            .collect(),
        type_rules: ev
            .types
            .iter()
            .map(|r| {
                r.map
                    .iter()
                    .map(|(k, v)| (k.clone(), v.iter().map(|t| intern(t)).collect()))
                    .collect()
            })
            .collect(),
        outcome: ev.outcome.clone(),
        layouts: ty.layouts.iter().map(|l| compile_layout(ty, l)).collect(),
    }
}

fn compile_layout(ty: &LogType, layout: &Layout) -> CompiledLayout {
    let mut maps = Vec::new();
    for (index, column) in layout.columns.iter().enumerate() {
        let fallback = intern(&format!("panw.panos.{}", column.name));
        for t in &column.targets {
            let key = intern(&t.field);
            let aux = match t.conversion {
                Conversion::User => intern(&sibling(&t.field, "domain")),
                Conversion::Threat => intern(&sibling(&t.field, "id")),
                Conversion::TlsVersion => "tls.version_protocol",
                _ => "",
            };
            let related = if RELATED_IP.contains(&key) {
                Some(Related::Ip)
            } else if RELATED_HOSTS.contains(&key) {
                Some(Related::Hosts)
            } else if RELATED_HASH.contains(&key) {
                Some(Related::Hash)
            } else if RELATED_USER.contains(&key) {
                Some(Related::User)
            } else {
                None
            };
            let role = match key {
                "source.ip" => Role::SourceIp,
                "event.start" => Role::EventStart,
                "event.duration" => Role::EventDuration,
                "source.user.name" => Role::SourceUser,
                _ => Role::None,
            };
            maps.push(Mapping {
                index,
                key,
                aux,
                fallback,
                conv: t.conversion,
                related,
                role,
            });
        }
    }
    let col_of = |target: &str| {
        layout
            .columns
            .iter()
            .position(|c| c.targets.iter().any(|t| t.field == target))
    };
    let mut nat_pairs = Vec::new();
    for (ip, port) in [
        ("source.nat.ip", "source.nat.port"),
        ("destination.nat.ip", "destination.nat.port"),
    ] {
        if let (Some(a), Some(p)) = (col_of(ip), col_of(port)) {
            nat_pairs.push((a, p));
        }
    }
    let ev = &ty.event;
    CompiledLayout {
        when: layout.when.clone(),
        columns: layout.columns.len(),
        maps,
        time_generated: layout.index_of("time_generated").unwrap_or(usize::MAX),
        high_res: layout.index_of("high_res_timestamp"),
        subtype: layout.index_of("subtype"),
        action: layout.index_of("action"),
        nat_pairs,
        event_action_col: ev.action.as_ref().and_then(|a| layout.index_of(&a.column)),
        type_rule_cols: ev
            .types
            .iter()
            .map(|r| layout.index_of(&r.column).unwrap_or(usize::MAX))
            .collect(),
        outcome_col: ev
            .outcome
            .as_ref()
            .and_then(|o| o.column.as_ref())
            .and_then(|c| layout.index_of(c)),
    }
}

/// `source.user.name` + `domain` → `source.user.domain`.
fn sibling(field: &str, leaf: &str) -> String {
    match field.rsplit_once('.') {
        Some((parent, _)) => format!("{parent}.{leaf}"),
        None => format!("{field}_{leaf}"),
    }
}

// ---- per record -----------------------------------------------------------------------------

/// The high-resolution timestamp when the firewall wrote a real one (PAN-OS 9.1 and earlier put
/// the epoch there), else the generated time in the configured zone.
fn record_time(
    layout: &CompiledLayout,
    fields: &[Cow<'_, str>],
    ctx: &Context,
) -> Option<DateTime<FixedOffset>> {
    if let Some(hr) = layout.high_res.and_then(|i| fields.get(i)) {
        let hr = hr.trim();
        if !hr.is_empty() && !hr.starts_with("1969") && !hr.starts_with("1970") {
            if let Ok(t) = DateTime::parse_from_rfc3339(hr) {
                return Some(t);
            }
        }
    }
    fields
        .get(layout.time_generated)
        .and_then(|g| parse_time(g.trim(), ctx))
}

/// `YYYY/MM/DD HH:MM:SS` in the configured zone, or RFC 3339 with its own offset.
fn parse_time(s: &str, ctx: &Context) -> Option<DateTime<FixedOffset>> {
    if let Some(naive) = parse_panos_naive(s.as_bytes()) {
        return Some(ctx.localize(naive));
    }
    DateTime::parse_from_rfc3339(s).ok()
}

fn parse_panos_naive(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() != 19
        || b[4] != b'/'
        || b[7] != b'/'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// What the column pass learned that later fields depend on.
#[derive(Default)]
struct Seen<'a> {
    source_ip_v6: Option<bool>,
    start: Option<DateTime<FixedOffset>>,
    duration_ns: Option<i64>,
    /// `related.*` values, written once at the end: appending to the document one by one would
    /// rescan it for every value.
    related: Vec<(Related, Cow<'a, str>)>,
}

impl<'a> Seen<'a> {
    fn relate(&mut self, kind: Related, v: impl Into<Cow<'a, str>>) {
        let v = v.into();
        if !v.is_empty() && v != "-" && !self.related.iter().any(|(k, x)| *k == kind && *x == v) {
            self.related.push((kind, v));
        }
    }
}

/// Which `related.*` arrays the document already has (from a syslog header, say), so that ours
/// are merged into them instead of replacing them.
fn related_present(doc: &Doc) -> [bool; 4] {
    let mut present = [false; 4];
    for (k, _) in doc.iter() {
        for (i, kind) in RELATED_KINDS.iter().enumerate() {
            if k == kind.key() {
                present[i] = true;
            }
        }
    }
    present
}

const RELATED_KINDS: [Related; 4] = [Related::Ip, Related::User, Related::Hosts, Related::Hash];

fn flush_related(doc: &mut Doc, related: &[(Related, Cow<'_, str>)], present: [bool; 4]) {
    for (i, kind) in RELATED_KINDS.iter().enumerate() {
        let values = related.iter().filter(|(k, _)| k == kind).map(|(_, v)| v);
        if present[i] {
            for v in values {
                doc.append_unique(kind.key(), v.as_ref());
            }
        } else {
            let list: Vec<Value> = values.map(|v| Value::Str(v.to_string())).collect();
            if !list.is_empty() {
                doc.insert(kind.key(), Value::Array(list));
            }
        }
    }
}

fn write_columns<'a>(
    layout: &CompiledLayout,
    fields: &'a [Cow<'a, str>],
    ctx: &Context,
    doc: &mut Doc,
    subtype: Option<&str>,
) {
    let present = related_present(doc);
    // NAT columns that read 0.0.0.0 (or nothing) / 0 mean "not translated": drop the pair.
    let mut skip = [usize::MAX; 4];
    for (n, &(ip, port)) in layout.nat_pairs.iter().take(2).enumerate() {
        let is = |i: usize, a: &str, b: &str| {
            fields
                .get(i)
                .is_none_or(|f| f.as_ref() == a || f.as_ref() == b)
        };
        if is(ip, "0.0.0.0", "") && is(port, "0", "") {
            skip[n * 2] = ip;
            skip[n * 2 + 1] = port;
        }
    }
    let mut seen = Seen::default();
    for m in &layout.maps {
        let Some(raw) = fields.get(m.index) else {
            break;
        };
        let v = raw.as_ref();
        // Blank (or white-space only, seen in custom formats) means "no value".
        let blank = match v.as_bytes().first() {
            None => true,
            Some(b' ') | Some(b'\t') => v.trim_ascii().is_empty(),
            Some(_) => false,
        };
        if blank || skip.contains(&m.index) {
            continue;
        }
        convert(m, v, ctx, doc, subtype, &mut seen);
    }
    if let Some(v6) = seen.source_ip_v6 {
        doc.insert("network.type", if v6 { "ipv6" } else { "ipv4" });
    }
    if let (Some(start), Some(ns)) = (seen.start, seen.duration_ns) {
        if let Some(end) = start.checked_add_signed(chrono::Duration::nanoseconds(ns)) {
            doc.insert("event.end", end);
        }
    }
    flush_related(doc, &seen.related, present);
}

fn put_str(doc: &mut Doc, key: &'static str, v: &str) {
    if !v.is_empty() && v != "-" {
        doc.insert(key, v.to_owned());
    }
}

fn convert<'a>(
    m: &Mapping,
    v: &'a str,
    ctx: &Context,
    doc: &mut Doc,
    subtype: Option<&str>,
    seen: &mut Seen<'a>,
) {
    match m.conv {
        Conversion::Str => {
            if v == "-" {
                return;
            }
            put_str(doc, m.key, v);
            if let Some(kind) = m.related {
                seen.relate(kind, v);
            }
        }
        Conversion::Trim => {
            let v = v.trim();
            put_str(doc, m.key, v);
            if let Some(kind) = m.related {
                seen.relate(kind, v);
            }
        }
        Conversion::Int => match v.trim().parse::<i64>() {
            Ok(n) => doc.insert(m.key, n),
            Err(_) => put_str(doc, m.fallback, v),
        },
        Conversion::Ip => {
            let v = v.trim();
            match v.parse::<IpAddr>() {
                Ok(ip) => {
                    doc.insert(m.key, v.to_owned());
                    if let Some(kind) = m.related {
                        seen.relate(kind, v);
                    }
                    if m.role == Role::SourceIp {
                        seen.source_ip_v6 = Some(ip.is_ipv6());
                    }
                }
                Err(_) => put_str(doc, m.fallback, v),
            }
        }
        Conversion::IpAlt => {
            let v = v.trim();
            let Ok(ip) = v.parse::<IpAddr>() else {
                return;
            };
            if ip.is_unspecified() {
                return;
            }
            let free = doc
                .get(m.key)
                .is_none_or(|cur| cur.as_str() == Some("0.0.0.0"));
            if free {
                doc.insert(m.key, v.to_owned());
                if let Some(kind) = m.related {
                    seen.relate(kind, v);
                }
                if m.role == Role::SourceIp {
                    seen.source_ip_v6 = Some(ip.is_ipv6());
                }
            }
        }
        Conversion::Time => match parse_time(v.trim(), ctx) {
            Some(t) => {
                if m.role == Role::EventStart {
                    seen.start = Some(t);
                }
                doc.insert(m.key, t);
            }
            None => put_str(doc, m.fallback, v),
        },
        Conversion::Seconds => match v.trim().parse::<i64>() {
            Ok(s) => {
                let ns = s.saturating_mul(1_000_000_000);
                if m.role == Role::EventDuration {
                    seen.duration_ns = Some(ns);
                }
                doc.insert(m.key, ns);
            }
            Err(_) => put_str(doc, m.fallback, v),
        },
        Conversion::Lower => {
            if v == "-" {
                return;
            }
            let lower = v.to_lowercase();
            if let Some(kind) = m.related {
                seen.relate(kind, lower.clone());
            }
            doc.insert(m.key, lower);
        }
        Conversion::User => {
            let (name, domain) = split_user(v.trim());
            if name.is_empty() || name == "-" {
                return;
            }
            doc.insert(m.key, name.to_owned());
            if let Some(d) = domain {
                doc.insert(m.aux, d.to_owned());
            }
            if m.role == Role::SourceUser {
                doc.insert("user.name", name.to_owned());
                if let Some(d) = domain {
                    doc.insert("user.domain", d.to_owned());
                }
            }
            seen.relate(Related::User, name);
        }
        Conversion::UserAppend => {
            let v = v.trim();
            if v == "-" {
                return;
            }
            doc.append_unique(m.key, v);
            if m.role == Role::SourceUser {
                doc.append_unique("user.name", v);
            }
            seen.relate(Related::User, v);
        }
        Conversion::Threat => {
            let (name, id) = split_threat(v.trim());
            if let Some(id) = id {
                doc.insert(m.aux, id.to_owned());
                if id == "9999" {
                    doc.insert(m.key, "URL-filtering");
                    return;
                }
            }
            put_str(doc, m.key, name);
        }
        Conversion::Misc => misc(m, v, subtype, doc),
        Conversion::Direction => {
            let dir = match v.trim() {
                "client-to-server" | "0" => "inbound",
                "server-to-client" | "1" => "outbound",
                _ => "unknown",
            };
            doc.insert(m.key, dir);
        }
        Conversion::Flags => {
            let hex = v.trim();
            let hex = hex
                .strip_prefix("0x")
                .or_else(|| hex.strip_prefix("0X"))
                .unwrap_or(hex);
            if let Ok(bits) = u64::from_str_radix(hex, 16) {
                for &(bit, label) in FLAG_LABELS {
                    if bits & bit != 0 {
                        doc.insert(label, true);
                    }
                }
            }
        }
        Conversion::Severity => {
            let v = v.trim();
            let num = match v.to_ascii_lowercase().as_str() {
                "critical" => Some(1),
                "high" => Some(2),
                "medium" => Some(3),
                "low" => Some(4),
                "informational" => Some(5),
                _ => None,
            };
            put_str(doc, m.key, v);
            if let Some(n) = num {
                doc.insert("event.severity", n);
            }
        }
        Conversion::List => {
            let items: Vec<Value> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::Str(s.to_owned()))
                .collect();
            if !items.is_empty() {
                doc.insert(m.key, Value::Array(items));
            }
        }
        Conversion::Mac => {
            let mac: String = v
                .trim()
                .chars()
                .map(|c| match c {
                    ':' | '.' => '-',
                    c => c.to_ascii_uppercase(),
                })
                .collect();
            put_str(doc, m.key, &mac);
        }
        Conversion::NonZero => {
            if v.trim() != "0" {
                put_str(doc, m.key, v);
            }
        }
        Conversion::TlsVersion => {
            let v = v.trim();
            let split = v.find(|c: char| c.is_ascii_digit());
            match split {
                Some(i) if i > 0 => {
                    doc.insert(m.aux, v[..i].to_ascii_lowercase());
                    doc.insert(m.key, v[i..].to_owned());
                }
                _ => put_str(doc, m.fallback, v),
            }
        }
        Conversion::Fingerprint => {
            let v = v.trim();
            let algo = if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                None
            } else {
                match v.len() {
                    32 => Some("md5"),
                    40 => Some("sha1"),
                    64 => Some("sha256"),
                    _ => None,
                }
            };
            match algo {
                Some(a) => {
                    doc.insert(format!("{}.{a}", m.key), v.to_owned());
                    seen.relate(Related::Hash, v);
                }
                None => put_str(doc, m.fallback, v),
            }
        }
        Conversion::LastToken => {
            let word = v.trim().rsplit(' ').next().unwrap_or("");
            put_str(doc, m.key, word);
        }
    }
}

/// `DOMAIN\user`, `DOMAIN\\user` or `user@domain` → (user, domain).
fn split_user(v: &str) -> (&str, Option<&str>) {
    if let Some((domain, name)) = v.split_once('\\') {
        let name = name.trim_start_matches('\\');
        if !domain.is_empty() && !name.is_empty() {
            return (name, Some(domain));
        }
    }
    if let Some((name, domain)) = v.rsplit_once('@') {
        if !domain.is_empty() && !name.is_empty() {
            return (name, Some(domain));
        }
    }
    (v, None)
}

/// `Some Threat Name(12345)` → (name, id).
fn split_threat(v: &str) -> (&str, Option<&str>) {
    if let Some(body) = v.strip_suffix(')') {
        if let Some((name, id)) = body.rsplit_once('(') {
            let id = id.trim();
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                return (name.trim_end(), Some(id));
            }
        }
    }
    (v, None)
}

/// The THREAT URL/Filename column: a URL for url filtering (and virus/vulnerability hits on a URL),
/// a file name or path for file-based subtypes; otherwise kept as `panw.panos.misc`.
fn misc(m: &Mapping, v: &str, subtype: Option<&str>, doc: &mut Doc) {
    if v == "-" {
        return;
    }
    let has_slash = v.contains('/');
    let has_sep = has_slash || v.contains('\\');
    match subtype.unwrap_or("") {
        "url" => url_fields(v, doc),
        "virus" | "vulnerability" if has_slash => url_fields(v, doc),
        "file" if has_sep => {
            doc.insert("file.path", v.to_owned());
            let name = v.rsplit(['/', '\\']).next().unwrap_or(v);
            put_str(doc, "file.name", name);
        }
        "file" | "virus" | "vulnerability" | "wildfire" | "wildfire-virus" if !has_sep => {
            doc.insert("file.name", v.to_owned());
        }
        _ => put_str(doc, m.key, v),
    }
}

/// A scheme-less PAN-OS URL (`host[:port]/path?query`) as `url.*`.
fn url_fields(orig: &str, doc: &mut Doc) {
    doc.insert("url.original", orig.to_owned());
    let (host_port, rest) = match orig.find(['/', '?']) {
        Some(i) => (&orig[..i], &orig[i..]),
        None => (orig, ""),
    };
    if !rest.is_empty() {
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if !path.is_empty() {
            doc.insert("url.path", path.to_owned());
            let last = path.rsplit('/').next().unwrap_or("");
            if let Some((_, ext)) = last.rsplit_once('.') {
                put_str(doc, "url.extension", ext);
            }
        }
        if let Some(q) = query {
            put_str(doc, "url.query", q);
        }
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            put_str(doc, "url.domain", host);
            if let Ok(p) = port.parse::<u16>() {
                doc.insert("url.port", i64::from(p));
            }
        }
        _ => {
            if !host_port.is_empty() {
                doc.insert("url.domain", host_port.to_owned());
                doc.insert("destination.domain", host_port.to_owned());
            }
        }
    }
}

fn write_event(ty: &CompiledType, layout: &CompiledLayout, fields: &[Cow<'_, str>], doc: &mut Doc) {
    let col = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.trim());
    doc.insert("event.kind", ty.kind);
    doc.insert(
        "event.category",
        Value::Array(
            ty.category
                .iter()
                .map(|c| Value::Str((*c).to_owned()))
                .collect(),
        ),
    );
    if let Some(v) = col(layout.event_action_col) {
        if let Some((_, a)) = ty.action_map.iter().find(|(k, _)| k == v) {
            doc.insert("event.action", *a);
        }
    }
    let mut types: Vec<&'static str> = Vec::new();
    if let Some(a) = col(layout.action) {
        if ALLOWED_ACTIONS.contains(&a) {
            types.push("allowed");
        } else if DENIED_ACTIONS.contains(&a) {
            types.push("denied");
        }
    }
    for (rule, &idx) in ty.type_rules.iter().zip(&layout.type_rule_cols) {
        if let Some(v) = col(Some(idx)) {
            if let Some((_, list)) = rule.iter().find(|(k, _)| k == v) {
                for t in list {
                    if !types.contains(t) {
                        types.push(t);
                    }
                }
            }
        }
    }
    if !types.is_empty() {
        doc.insert(
            "event.type",
            Value::Array(
                types
                    .into_iter()
                    .map(|t| Value::Str(t.to_owned()))
                    .collect(),
            ),
        );
    }
    if let Some(rule) = &ty.outcome {
        let outcome = match (&rule.value, col(layout.outcome_col)) {
            (Some(v), _) => Some(v.as_str()),
            (None, None) | (None, Some("")) => rule.empty.as_deref(),
            (None, Some(v)) => rule
                .map
                .iter()
                .find(|(k, _)| k == v)
                .map(|(_, o)| o.as_str())
                .or(rule.default.as_deref()),
        };
        if let Some(o) = outcome {
            doc.insert("event.outcome", o.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn normalizer() -> PanosNormalizer {
        PanosNormalizer::new(PanosSchema::builtin().unwrap())
    }

    fn ctx() -> Context {
        Context::new(
            "2024-06-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            chrono_tz::Tz::UTC,
        )
    }

    fn run(line: &str) -> (serde_json::Value, Result<(), ParseFailure>) {
        let mut doc = Doc::new();
        let r = normalizer().normalize(line.as_bytes(), &ctx(), &mut doc);
        (doc.to_json(), r)
    }

    fn sorted(v: &serde_json::Value) -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    // Hand-written fixtures in the PAN-OS 10.x/11.x syslog layouts (documentation addresses).
    const TRAFFIC_END: &str = "1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,2817,2024/03/05 10:11:10,10.20.1.15,198.51.100.7,203.0.113.9,198.51.100.7,Allow-Web,CORP\\jdoe,,ssl,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 10:11:10,88123,1,53122,443,40211,443,0x40041c,tcp,allow,9120,1500,7620,24,2024/03/05 10:10:40,30,computer-and-internet-info,,7340000000000000001,0x8000000000000000,10.0.0.0-10.255.255.255,United States,,12,12,tcp-fin,0,0,0,0,,edge-fw01,from-policy,,,0,,0,,N/A,0,0,0,0,6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,2024-03-05T10:11:10.512+01:00,,,encrypted-tunnel,networking,browser-based,4,\"used-by-malware,able-to-transfer-file,has-known-vulnerability\",,ssl,no,no,0";

    #[test]
    fn traffic_end_is_fully_mapped() {
        let (v, r) = run(TRAFFIC_END);
        r.unwrap();
        // The high-resolution timestamp carries milliseconds and the firewall's offset.
        assert_eq!(v["@timestamp"], "2024-03-05T10:11:10.512+01:00");
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["category"], json!(["network"]));
        assert_eq!(
            sorted(&v["event"]["type"]),
            ["allowed", "connection", "end"]
        );
        assert_eq!(v["event"]["action"], "flow_terminated");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["duration"], 30_000_000_000i64);
        assert_eq!(v["event"]["start"], "2024-03-05T10:10:40Z");
        assert_eq!(v["event"]["end"], "2024-03-05T10:11:10Z");
        assert_eq!(v["event"]["module"], "panw");
        assert_eq!(v["event"]["dataset"], "panw.panos");
        assert_eq!(v["source"]["ip"], "10.20.1.15");
        assert_eq!(v["source"]["port"], 53122);
        assert_eq!(v["source"]["nat"]["ip"], "203.0.113.9");
        assert_eq!(v["source"]["nat"]["port"], 40211);
        assert_eq!(v["source"]["bytes"], 1500);
        assert_eq!(v["source"]["packets"], 12);
        assert_eq!(
            v["source"]["user"],
            json!({"name": "jdoe", "domain": "CORP"})
        );
        assert_eq!(v["user"], json!({"name": "jdoe", "domain": "CORP"}));
        assert_eq!(v["destination"]["ip"], "198.51.100.7");
        assert_eq!(v["destination"]["port"], 443);
        assert_eq!(v["destination"]["geo"]["name"], "United States");
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["application"], "ssl");
        assert_eq!(v["network"]["bytes"], 9120);
        assert_eq!(v["network"]["type"], "ipv4");
        assert_eq!(v["observer"]["serial_number"], "011901002345");
        assert_eq!(v["observer"]["hostname"], "edge-fw01");
        assert_eq!(v["observer"]["vendor"], "Palo Alto Networks");
        assert_eq!(v["observer"]["ingress"]["zone"], "inside");
        assert_eq!(v["observer"]["egress"]["zone"], "outside");
        assert_eq!(v["observer"]["ingress"]["interface"]["name"], "ethernet1/3");
        assert_eq!(v["rule"]["name"], "Allow-Web");
        assert_eq!(v["rule"]["uuid"], "6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c");
        assert_eq!(v["labels"]["nat_translated"], true);
        assert_eq!(v["panw"]["panos"]["endreason"], "tcp-fin");
        assert_eq!(v["panw"]["panos"]["flow_id"], "88123");
        assert_eq!(v["panw"]["panos"]["application"]["risk_level"], 4);
        assert_eq!(
            v["panw"]["panos"]["application"]["characteristics"],
            "used-by-malware,able-to-transfer-file,has-known-vulnerability"
        );
        assert_eq!(
            sorted(&v["related"]["ip"]),
            ["10.20.1.15", "198.51.100.7", "203.0.113.9"]
        );
        assert_eq!(v["related"]["user"], json!(["jdoe"]));
        assert_eq!(v["related"]["hosts"], json!(["edge-fw01"]));
        assert!(v["panw"]["panos"].get("extra").is_none());
    }

    #[test]
    fn traffic_deny_without_nat_and_old_short_layout() {
        // PAN-OS 6.x-style line: stops after the packet counters; no NAT; generated time is used.
        let line = "1,2014/07/01 08:00:01,001606001116,TRAFFIC,deny,1,2014/07/01 08:00:00,192.0.2.10,198.51.100.20,0.0.0.0,0.0.0.0,Block-All,,,not-applicable,vsys1,trust,untrust,ethernet1/2,ethernet1/1,default,2014/07/01 08:00:00,0,1,51000,23,0,0,0x0,tcp,reset-both,74,74,0,1,2014/07/01 07:59:59,0,any,0,1234,0x0,192.0.2.0-192.0.2.255,United States,0,1,0";
        let (v, r) = run(line);
        r.unwrap();
        assert_eq!(v["@timestamp"], "2014-07-01T08:00:00Z");
        assert_eq!(v["event"]["action"], "flow_denied");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(sorted(&v["event"]["type"]), ["connection", "denied"]);
        assert!(v["source"].get("nat").is_none());
        assert!(v["destination"].get("nat").is_none());
        assert_eq!(sorted(&v["related"]["ip"]), ["192.0.2.10", "198.51.100.20"]);
        assert_eq!(v["network"]["application"], "not-applicable");
    }

    #[test]
    fn timestamps_use_the_configured_zone_and_skip_epoch_high_res() {
        let mut line = TRAFFIC_END.replace(
            "2024-03-05T10:11:10.512+01:00",
            "1969-12-31T16:00:00.000-08:00",
        );
        line = line.replace("2024/03/05 10:11:10,10.20", "2024/07/05 10:11:10,10.20");
        let c = Context::new(
            "2024-08-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            chrono_tz::Europe::Paris,
        );
        let mut doc = Doc::new();
        normalizer()
            .normalize(line.as_bytes(), &c, &mut doc)
            .unwrap();
        assert_eq!(doc.to_json()["@timestamp"], "2024-07-05T10:11:10+02:00");
    }

    const THREAT_URL: &str = "1,2024/03/05 11:00:01,011901002345,THREAT,url,2817,2024/03/05 11:00:00,10.20.1.15,198.51.100.80,203.0.113.9,198.51.100.80,Allow-Web,,,web-browsing,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 11:00:00,99001,1,53200,80,40300,80,0x40b000,tcp,block-url,\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999),shopping,informational,client-to-server,7340000000000000099,0x2000000000000000,10.0.0.0-10.255.255.255,United States,,text/html,0,,,1,\"Mozilla/5.0 (X11; Linux x86_64)\",,,,,,,0,0,0,0,0,,edge-fw01,,,,GET,0,,0,,N/A,unknown,AppThreat-8800-8000,0x0,0,4294967295,,\"shopping,low-risk\",6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,0";

    #[test]
    fn threat_url_filtering() {
        let (v, r) = run(THREAT_URL);
        r.unwrap();
        assert_eq!(v["@timestamp"], "2024-03-05T11:00:00Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(
            v["event"]["category"],
            json!(["intrusion_detection", "threat", "network"])
        );
        assert_eq!(v["event"]["action"], "url_filtering");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["event"]["type"], json!(["denied"]));
        assert_eq!(v["event"]["severity"], 5);
        assert_eq!(v["log"]["level"], "informational");
        assert_eq!(
            v["url"]["original"],
            "shop.example.com:8080/cart/view.php?id=7&x=a,b"
        );
        assert_eq!(v["url"]["domain"], "shop.example.com");
        assert_eq!(v["url"]["port"], 8080);
        assert_eq!(v["url"]["path"], "/cart/view.php");
        assert_eq!(v["url"]["query"], "id=7&x=a,b");
        assert_eq!(v["url"]["extension"], "php");
        assert_eq!(
            v["panw"]["panos"]["threat"],
            json!({"id": "9999", "name": "URL-filtering"})
        );
        assert_eq!(v["panw"]["panos"]["url"]["category"], "shopping");
        assert_eq!(
            v["panw"]["panos"]["url_category_list"],
            json!(["shopping", "low-risk"])
        );
        assert_eq!(v["network"]["direction"], "inbound");
        assert_eq!(v["http"]["request"]["method"], "GET");
        assert_eq!(
            v["user_agent"]["original"],
            "Mozilla/5.0 (X11; Linux x86_64)"
        );
        assert_eq!(v["labels"]["temporary_match"], true);
        assert_eq!(v["labels"]["file_submitted_to_WildFire"], json!(null));
        assert_eq!(v["rule"]["uuid"], "6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c");
        // Placeholder zeros are left out.
        assert!(v["panw"]["panos"].get("http2_connection").is_none());
    }

    #[test]
    fn threat_vulnerability_and_file_subtypes() {
        let base = THREAT_URL.replace(",url,", ",vulnerability,").replace(
            "\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999),shopping,informational",
            ",Example RCE Attempt(91234),any,critical",
        );
        let (v, _) = run(&base.replace(",block-url,", ",reset-both,"));
        assert_eq!(v["event"]["action"], "exploit_detected");
        assert_eq!(v["event"]["severity"], 1);
        assert_eq!(
            v["panw"]["panos"]["threat"],
            json!({"id": "91234", "name": "Example RCE Attempt"})
        );
        assert!(v.get("url").is_none());

        let file = THREAT_URL.replace(",url,", ",file,").replace(
            "\"shop.example.com:8080/cart/view.php?id=7&x=a,b\",(9999)",
            "\"invoice.pdf\",PDF File(52020)",
        );
        let (v, _) = run(&file.replace(",block-url,", ",alert,"));
        assert_eq!(v["event"]["action"], "file_match");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["type"], json!(["allowed"]));
        assert_eq!(v["file"]["name"], "invoice.pdf");
    }

    #[test]
    fn system_log_with_quoted_description() {
        let line = "1,2024/03/05 12:00:00,011901002345,SYSTEM,general,2817,2024/03/05 12:00:00,,general,,0,0,general,medium,\"Update job failed: server unreachable, retrying\",7340000000000000500,0x0,0,0,0,0,,edge-fw01,0,0,2024-03-05T12:00:00.250-05:00";
        let (v, r) = run(line);
        r.unwrap();
        assert_eq!(
            v["message"],
            "Update job failed: server unreachable, retrying"
        );
        assert_eq!(v["event"]["category"], json!(["configuration"]));
        assert_eq!(v["event"]["code"], "general");
        assert_eq!(v["event"]["severity"], 3);
        assert_eq!(v["log"]["level"], "medium");
        assert_eq!(v["@timestamp"], "2024-03-05T12:00:00.250-05:00");
    }

    #[test]
    fn config_both_change_detail_positions() {
        let end = "1,2024/03/05 13:00:00,011901002345,CONFIG,0,2817,2024/03/05 13:00:00,192.0.2.50,vsys1,edit,netadmin,Web,Succeeded, vsys  vsys1 address  web-01,7340000000000000600,0x0,0,0,0,0,,edge-fw01,0,,0,2024-03-05T13:00:00.100+00:00,\"web-01 { ip-netmask 192.0.2.1; }\",\"web-01 { ip-netmask 192.0.2.2; description \"\"a, b\"\"; }\"";
        let (v, r) = run(end);
        r.unwrap();
        assert_eq!(v["event"]["action"], "cmd-edit");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["host"]["ip"], "192.0.2.50");
        assert_eq!(v["panw"]["panos"]["admin"], "netadmin");
        assert_eq!(v["panw"]["panos"]["sequence_number"], "7340000000000000600");
        assert_eq!(
            v["panw"]["panos"]["after_change_detail"],
            "web-01 { ip-netmask 192.0.2.2; description \"a, b\"; }"
        );
        let inline = "1,2021/05/05 13:00:00,011901002345,CONFIG,0,2305,2021/05/05 13:00:00,192.0.2.50,vsys1,set,netadmin,CLI,Failed, deviceconfig system,before text,after text,42,0x0,0,0,0,0,,edge-fw01,0,";
        let (v, _) = run(inline);
        assert_eq!(v["event"]["action"], "cmd-set");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["panw"]["panos"]["before_change_detail"], "before text");
        assert_eq!(v["panw"]["panos"]["sequence_number"], "42");
        assert_eq!(v["observer"]["hostname"], "edge-fw01");
        let old = "1,2013/03/25 23:59:02,001606001116,CONFIG,0,0,2013/03/25 23:58:00,192.0.2.9,,commit,admin,Web,Submitted,,0,0x0";
        let (v, _) = run(old);
        assert_eq!(v["event"]["action"], "cmd-commit");
        assert_eq!(v["event"]["outcome"], "unknown");
    }

    #[test]
    fn globalprotect_uses_private_ip_as_source() {
        let line = "1,2024/03/05 14:00:05,011901002345,GLOBALPROTECT,0,2817,2024/03/05 14:00:04,vsys1,gateway-auth,login,LDAP,,CORP\\asmith,FR,LAPTOP-42,203.0.113.77,::,10.99.0.12,::,a1b2c3d4-0000-1111-2222-333344445555,PF1ABC,6.2.1,Windows,\"Microsoft Windows 11 Pro , 64-bit\",1,,,\"Login from: 203.0.113.77, User name: asmith\",success,Paris,3600,user-logon,0,GP-GW,7340000000000000700,0x8000000000000000,2024-03-05T14:00:04.777+01:00,,0,,,,0,0,0,0,,edge-fw01,1,";
        let (v, r) = run(line);
        r.unwrap();
        assert_eq!(v["source"]["ip"], "10.99.0.12");
        assert_eq!(v["source"]["nat"]["ip"], "203.0.113.77");
        assert_eq!(v["host"]["ip"], "10.99.0.12");
        assert_eq!(v["host"]["name"], "laptop-42");
        assert_eq!(v["user"]["name"], "asmith");
        assert_eq!(v["event"]["code"], "gateway-auth");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["duration"], 3_600_000_000_000i64);
        assert_eq!(v["observer"]["geo"]["name"], "Paris");
        assert_eq!(sorted(&v["related"]["hosts"]), ["edge-fw01", "laptop-42"]);
        assert!(v["panw"]["panos"].get("private").is_none());
    }

    #[test]
    fn userid_hipmatch_auth_and_audit() {
        let userid = "1,2024/03/05 15:00:00,011901002345,USERID,login,2817,2024/03/05 15:00:00,vsys1,10.20.1.15,bob@corp.example,dc01,0,1,2700,0,0,active-directory,,7340000000000000800,0x0,0,0,0,0,,edge-fw01,1,,2024/03/05 15:00:00,1,0x0,bob";
        let (v, r) = run(userid);
        r.unwrap();
        assert_eq!(
            v["source"]["user"],
            json!({"name": "bob", "domain": "corp.example"})
        );
        assert_eq!(v["event"]["category"], json!(["network", "iam"]));
        assert_eq!(v["source"]["ip"], "10.20.1.15");

        let hip = "1,2024/03/05 15:10:00,011901002345,HIP-MATCH,0,2817,2024/03/05 15:10:00,CORP\\asmith,vsys1,LAPTOP-42,Windows,10.99.0.12,corp-hip,1,profile,0,0,7340000000000000900,0x0,0,0,0,0,,edge-fw01,1,2001:db8::12,a1b2c3d4,PF1ABC,aa:bb:cc:dd:ee:ff,2024-03-05T15:10:00.000+00:00";
        let (v, r) = run(hip);
        r.unwrap();
        // The IPv6 column only fills in when the IPv4 one is empty or 0.0.0.0.
        assert_eq!(v["source"]["ip"], "10.99.0.12");
        let (v6, _) = run(&hip.replace(",10.99.0.12,", ",0.0.0.0,"));
        assert_eq!(v6["source"]["ip"], "2001:db8::12");
        assert_eq!(v6["network"]["type"], "ipv6");
        assert_eq!(v["host"]["mac"], "AA-BB-CC-DD-EE-FF");

        let auth = "1,2024/03/05 15:20:00,011901002345,AUTHENTICATION,0,2817,2024/03/05 15:20:00,vsys1,192.0.2.77,asmith,corp\\asmith,,auth-policy-1,1,4711,Okta,,radius-prof,,GP,authenticated,1,7340000000000001000,0x0,0,0,0,0,,edge-fw01,1,RADIUS";
        let (v, r) = run(auth);
        r.unwrap();
        assert_eq!(v["event"]["category"], json!(["authentication"]));
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(
            v["source"]["user"]["name"],
            json!(["asmith", "corp\\asmith"])
        );
        assert_eq!(sorted(&v["related"]["user"]), ["asmith", "corp\\asmith"]);

        let audit = "Mar  5 15:30:00 198.51.100.1 011901002345,2024/03/05 15:30:00,AUDIT,2817,gui-op,netadmin,\"<show><system><info/></system></show>\",success";
        let (v, r) = run(audit);
        r.unwrap();
        assert_eq!(v["observer"]["serial_number"], "011901002345");
        assert_eq!(
            v["panw"]["panos"]["event"]["action"],
            "<show><system><info/></system></show>"
        );
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["@timestamp"], "2024-03-05T15:30:00Z");
    }

    #[test]
    fn decryption_tls_fields() {
        let line = "1,2024/03/05 16:00:00,011901002345,DECRYPTION,0,2817,2024/03/05 16:00:00,10.20.1.15,198.51.100.9,203.0.113.9,198.51.100.9,decrypt-all,,,ssl,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,2024/03/05 16:00:00,777,1,50000,443,40000,443,0x1400000,tcp,allow,N/A,,,,,6b7e0c0a-1d2e-4f3a-9b8c-7d6e5f4a3b2c,Server_Hello,Client_Hello,TLS1.3,ECDHE,AES_128_GCM,SHA256,,secp256r1,,trusted,Trusted,Forward,0a1b2c,0123456789abcdef0123456789abcdef,2024/01/01 00:00:00,2025/01/01 00:00:00,V3,2048,11,9,9,11,0,www.example.com,Example CA,Example Root,www.example.com,,";
        let (v, r) = run(line);
        r.unwrap();
        assert_eq!(v["tls"]["version"], "1.3");
        assert_eq!(v["tls"]["version_protocol"], "tls");
        assert_eq!(v["tls"]["cipher"], "AES_128_GCM");
        assert_eq!(
            v["tls"]["client"]["hash"]["md5"],
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(v["tls"]["client"]["server_name"], "www.example.com");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["labels"]["ssl_decrypted"], true);
        assert_eq!(
            v["related"]["hash"],
            json!(["0123456789abcdef0123456789abcdef"])
        );
    }

    #[test]
    fn failures_still_write_what_they_can() {
        let (v, r) = run("1,2024/03/05 10:11:12,011901002345,BOGUS,end,1");
        assert!(r.unwrap_err().0.contains("unknown PAN-OS log type 'BOGUS'"));
        assert_eq!(v["event"]["module"], "panw");

        let (v, r) = run("1,2024/03/05 10:11:12,011901002345,TRAFFIC,end");
        assert!(r.unwrap_err().0.contains("too few"));
        assert_eq!(v["observer"]["serial_number"], "011901002345");

        let (v, r) =
            run("1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,1,not a time,192.0.2.1,192.0.2.2");
        assert!(r.unwrap_err().0.contains("generated time"));
        assert_eq!(v["source"]["ip"], "192.0.2.1");
        assert!(v.get("@timestamp").is_none());
    }

    #[test]
    fn first_column_and_bad_values_are_tolerated() {
        let line = TRAFFIC_END.replacen("1,", "Mar  5 10:11:12 edge-fw01 1,", 1);
        let (v, r) = run(&line);
        r.unwrap();
        assert_eq!(v["source"]["ip"], "10.20.1.15");
        let line = TRAFFIC_END
            .replacen("1,", ",", 1)
            .replace(",53122,", ",notaport,");
        let (v, r) = run(&line);
        r.unwrap();
        assert!(v["source"].get("port").is_none());
        assert_eq!(v["panw"]["panos"]["sport"], "notaport");
    }

    #[test]
    fn extra_trailing_columns_are_kept() {
        let (v, r) = run(&format!("{TRAFFIC_END},future-a,,future-c"));
        r.unwrap();
        assert_eq!(
            v["panw"]["panos"]["extra"],
            json!(["future-a", "", "future-c"])
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let n = normalizer();
        let c = ctx();
        let mut doc = Doc::new();
        let samples: Vec<Vec<u8>> = vec![
            vec![],
            b",,,,,,,,,".to_vec(),
            b"\"".to_vec(),
            b"1,2024/03/05 10:11:12,x,THREAT,url,1,2024/03/05 10:11:12,\xff\xfe,\"\xc3(".to_vec(),
            b"1,2024/13/45 99:99:99,x,SYSTEM,general,1,2024/13/45 99:99:99".to_vec(),
            TRAFFIC_END.as_bytes()[..200].to_vec(),
            THREAT_URL.replace(",0x40b000,", ",0xZZ,").into_bytes(),
            b"x,2024/03/05 10:11:12,AUDIT".to_vec(),
        ];
        for s in &samples {
            for cut in 0..s.len().min(300) {
                doc.clear();
                let _ = n.normalize(&s[..cut], &c, &mut doc);
            }
            doc.clear();
            let _ = n.normalize(s, &c, &mut doc);
        }
    }

    #[test]
    fn tunnel_iptag_correlation_gtp_sctp() {
        let tunnel = "1,2024/03/05 17:00:00,011901002345,START,start,2817,2024/03/05 17:00:00,10.1.1.1,10.2.2.2,0.0.0.0,0.0.0.0,Allow-GRE,,,gre,vsys1,inside,outside,ethernet1/3,ethernet1/1,fwd-all,,5001,1,0,0,0,0,0x0,gre,allow,informational,99,0x0,10.0.0.0-10.255.255.255,10.0.0.0-10.255.255.255,0,0,0,0,,edge-fw01,0,,0,,GRE,100,60,40,2,1,1,1,0,0,0,1,0,n/a,from-policy,2024/03/05 16:59:00,60,Inspect-GRE,,,,,,,,2024-03-05T17:00:00.123+00:00";
        let (v, r) = run(tunnel);
        r.unwrap();
        assert_eq!(v["event"]["action"], "flow_started");
        assert_eq!(v["rule"]["name"], "Inspect-GRE");
        assert_eq!(v["panw"]["panos"]["ruleset"], "Allow-GRE");
        assert_eq!(v["event"]["duration"], 60_000_000_000i64);
        assert_eq!(v["@timestamp"], "2024-03-05T17:00:00.123Z");

        let iptag = "1,2024/03/05 17:10:00,011901002345,IPTAG,0,2817,2024/03/05 17:10:00,vsys1,192.0.2.33,quarantine,register,1,3600,XMLAPI,xml-api,,7340000000000001100,0x0,0,0,0,0,,edge-fw01,1,2024-03-05T17:10:00.000+00:00";
        let (v, r) = run(iptag);
        r.unwrap();
        assert_eq!(v["source"]["ip"], "192.0.2.33");
        assert_eq!(v["event"]["code"], "register");
        assert_eq!(v["panw"]["panos"]["tag"]["name"], "quarantine");

        let corr = "1,2024/03/05 17:20:00,011901002345,CORRELATION,0,2817,2024/03/05 17:20:00,10.20.1.15,CORP\\jdoe,vsys1,compromised-host,critical,0,0,0,0,,edge-fw01,1,beacon-detection,6005,\"Host visited known C2 domains 12 times\"";
        let (v, r) = run(corr);
        r.unwrap();
        assert_eq!(v["message"], "Host visited known C2 domains 12 times");
        assert_eq!(v["event"]["severity"], 1);
        assert_eq!(v["user"]["name"], "jdoe");

        let sctp = "1,2024/03/05 17:30:00,011901002345,SCTP,0,2817,2024/03/05 17:30:00,10.3.3.3,10.4.4.4,,,sctp-rule,,,,vsys1,core,ran,ethernet1/5,ethernet1/6,fwd-all,,700,1,2905,2905,,,,,sctp,allow,0,0,0,0,,edge-fw01,7340000000000001200,,1,46,informational,DATA,,1,2,0,16777251,316,1,0,,0,,,,10,5,5,10,5,5";
        let (v, r) = run(sctp);
        r.unwrap();
        assert_eq!(v["network"]["transport"], "sctp");
        assert_eq!(v["observer"]["serial_number"], "011901002345");
        assert_eq!(v["network"]["packets"], 10);
    }

    #[test]
    fn builtin_layout_positions() {
        let schema = PanosSchema::builtin().unwrap();
        let pos = |t: &str, c: &str| {
            schema
                .log_type(t)
                .unwrap()
                .layouts
                .last()
                .unwrap()
                .index_of(c)
        };
        // Anchors from the PAN-OS syslog field descriptions.
        assert_eq!(pos("TRAFFIC", "action"), Some(30));
        assert_eq!(pos("TRAFFIC", "device_name"), Some(52));
        assert_eq!(pos("TRAFFIC", "high_res_timestamp"), Some(102));
        assert_eq!(pos("THREAT", "misc"), Some(31));
        assert_eq!(pos("THREAT", "device_name"), Some(59));
        assert_eq!(pos("THREAT", "high_res_timestamp"), Some(107));
        assert_eq!(pos("SYSTEM", "high_res_timestamp"), Some(25));
        assert_eq!(pos("GLOBALPROTECT", "high_res_timestamp"), Some(36));
    }

    #[test]
    fn random_lines_never_panic() {
        // A small deterministic generator: header-like prefixes followed by noise rich in
        // separators, quotes and multi-byte sequences.
        let n = normalizer();
        let c = ctx();
        let mut doc = Doc::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[u8] = b",,,,\"\"0123456789./:- abcTRAFFIC\xc3\xa9\xff\\@()";
        let prefixes = [
            "1,2024/03/05 10:11:12,011901002345,TRAFFIC,end,1,2024/03/05 10:11:12,",
            "1,2024/03/05 10:11:12,011901002345,THREAT,url,1,2024/03/05 10:11:12,",
            "1,2024/03/05 10:11:12,011901002345,GLOBALPROTECT,0,1,2024/03/05 10:11:12,",
            "1,2024/03/05 10:11:12,011901002345,CONFIG,0,1,2024/03/05 10:11:12,",
            "x,2024/03/05 10:11:12,AUDIT,",
        ];
        for round in 0..3000 {
            let mut line = prefixes[round % prefixes.len()].as_bytes().to_vec();
            let len = (next() % 400) as usize;
            for _ in 0..len {
                line.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            doc.clear();
            let _ = n.normalize(&line, &c, &mut doc);
            let _ = doc.to_json();
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(split_user("DOM\\u"), ("u", Some("DOM")));
        assert_eq!(split_user("DOM\\\\u"), ("u", Some("DOM")));
        assert_eq!(split_user("u$@EXAMPLE.NET"), ("u$", Some("EXAMPLE.NET")));
        assert_eq!(split_user("plain"), ("plain", None));
        assert_eq!(split_user("\\x"), ("\\x", None));
        assert_eq!(split_threat("Name(12)"), ("Name", Some("12")));
        assert_eq!(split_threat("(9999)"), ("", Some("9999")));
        assert_eq!(split_threat("odd(x)"), ("odd(x)", None));
        assert_eq!(truncate("héllo", 2), "hé");
    }
}
