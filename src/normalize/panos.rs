//! PAN-OS CSV → ECS, with Elastic's `panw` integration field choices.
//!
//! [`PanosNormalizer::new`] turns the YAML layouts into per-layout tables of (column index, field
//! key, conversion), with every key interned as `&'static str`, so a record costs one split, one
//! type lookup and one pass over the mapped columns: no key allocation, no per-record string
//! comparison of column names.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

use crate::doc::{lit, Doc, Related, Value};
use crate::ip::parse_ip;
use crate::normalize::{Context, ParseFailure};
use crate::parse::panos::{split_fields, Conversion, Layout, LogType, OutcomeRule, PanosSchema};
use crate::text::trim;

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
        doc.insert("event.module", lit!("panw"));
        doc.insert("event.dataset", lit!("panw.panos"));
        doc.insert("observer.vendor", lit!("Palo Alto Networks"));
        doc.insert("observer.product", lit!("PAN-OS"));
        doc.insert("observer.type", lit!("firewall"));

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
                .map(|f| Value::from(f.as_ref()))
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
        let hr = trim(hr);
        if !hr.is_empty() && !hr.starts_with("1969") && !hr.starts_with("1970") {
            if let Ok(t) = DateTime::parse_from_rfc3339(hr) {
                return Some(t);
            }
        }
    }
    fields
        .get(layout.time_generated)
        .and_then(|g| parse_time(trim(g), ctx))
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
            let list: Vec<Value> = values.map(|v| Value::from(v.as_ref())).collect();
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
    // Room for the usual related values (addresses, users) without growing one by one.
    let mut seen = Seen {
        related: Vec::with_capacity(8),
        ..Seen::default()
    };
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
        doc.insert(key, v);
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
            let v = trim(v);
            put_str(doc, m.key, v);
            if let Some(kind) = m.related {
                seen.relate(kind, v);
            }
        }
        Conversion::Int => match trim(v).parse::<i64>() {
            Ok(n) => doc.insert(m.key, n),
            Err(_) => put_str(doc, m.fallback, v),
        },
        Conversion::Ip => {
            let v = trim(v);
            match parse_ip(v) {
                Some(ip) => {
                    doc.insert(m.key, v);
                    if let Some(kind) = m.related {
                        seen.relate(kind, v);
                    }
                    if m.role == Role::SourceIp {
                        seen.source_ip_v6 = Some(ip.is_ipv6());
                    }
                }
                None => put_str(doc, m.fallback, v),
            }
        }
        Conversion::IpAlt => {
            let v = trim(v);
            let Some(ip) = parse_ip(v) else {
                return;
            };
            if ip.is_unspecified() {
                return;
            }
            let free = doc
                .get(m.key)
                .is_none_or(|cur| cur.as_str() == Some("0.0.0.0"));
            if free {
                doc.insert(m.key, v);
                if let Some(kind) = m.related {
                    seen.relate(kind, v);
                }
                if m.role == Role::SourceIp {
                    seen.source_ip_v6 = Some(ip.is_ipv6());
                }
            }
        }
        Conversion::Time => match parse_time(trim(v), ctx) {
            Some(t) => {
                if m.role == Role::EventStart {
                    seen.start = Some(t);
                }
                doc.insert(m.key, t);
            }
            None => put_str(doc, m.fallback, v),
        },
        Conversion::Seconds => match trim(v).parse::<i64>() {
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
            // Most values (protocols, actions) are lower-case already: no copy then.
            let lower: Cow<'a, str> = if v.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii())
            {
                Cow::Owned(v.to_lowercase())
            } else {
                Cow::Borrowed(v)
            };
            if let Some(kind) = m.related {
                seen.relate(kind, lower.clone());
            }
            doc.insert(m.key, lower);
        }
        Conversion::User => {
            let (name, domain) = split_user(trim(v));
            if name.is_empty() || name == "-" {
                return;
            }
            doc.insert(m.key, name);
            if let Some(d) = domain {
                doc.insert(m.aux, d);
            }
            if m.role == Role::SourceUser {
                doc.insert("user.name", name);
                if let Some(d) = domain {
                    doc.insert("user.domain", d);
                }
            }
            seen.relate(Related::User, name);
        }
        Conversion::UserAppend => {
            let v = trim(v);
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
            let (name, id) = split_threat(trim(v));
            if let Some(id) = id {
                doc.insert(m.aux, id);
                if id == "9999" {
                    doc.insert(m.key, "URL-filtering");
                    return;
                }
            }
            put_str(doc, m.key, name);
        }
        Conversion::Misc => misc(m, v, subtype, doc),
        Conversion::Direction => {
            let dir = match trim(v) {
                "client-to-server" | "0" => "inbound",
                "server-to-client" | "1" => "outbound",
                _ => "unknown",
            };
            doc.insert(m.key, dir);
        }
        Conversion::Flags => {
            let hex = trim(v);
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
            let v = trim(v);
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
                .map(Value::from)
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
            if trim(v) != "0" {
                put_str(doc, m.key, v);
            }
        }
        Conversion::TlsVersion => {
            let v = trim(v);
            let split = v.find(|c: char| c.is_ascii_digit());
            match split {
                Some(i) if i > 0 => {
                    doc.insert(m.aux, v[..i].to_ascii_lowercase());
                    doc.insert(m.key, &v[i..]);
                }
                _ => put_str(doc, m.fallback, v),
            }
        }
        Conversion::Fingerprint => {
            let v = trim(v);
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
                    doc.insert(format!("{}.{a}", m.key), v);
                    seen.relate(Related::Hash, v);
                }
                None => put_str(doc, m.fallback, v),
            }
        }
        Conversion::LastToken => {
            let word = trim(v).rsplit(' ').next().unwrap_or("");
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
            let id = trim(id);
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
            doc.insert("file.path", v);
            let name = v.rsplit(['/', '\\']).next().unwrap_or(v);
            put_str(doc, "file.name", name);
        }
        "file" | "virus" | "vulnerability" | "wildfire" | "wildfire-virus" if !has_sep => {
            doc.insert("file.name", v);
        }
        _ => put_str(doc, m.key, v),
    }
}

/// A scheme-less PAN-OS URL (`host[:port]/path?query`) as `url.*`.
fn url_fields(orig: &str, doc: &mut Doc) {
    doc.insert("url.original", orig);
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
            doc.insert("url.path", path);
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
                doc.insert("url.domain", host_port);
                doc.insert("destination.domain", host_port);
            }
        }
    }
}

fn write_event(ty: &CompiledType, layout: &CompiledLayout, fields: &[Cow<'_, str>], doc: &mut Doc) {
    let col = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| trim(f));
    doc.insert("event.kind", ty.kind);
    doc.insert_strs("event.category", &ty.category);
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
            Value::Array(types.into_iter().map(Value::from).collect()),
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
            doc.insert("event.outcome", o);
        }
    }
}

#[cfg(test)]
mod tests;
