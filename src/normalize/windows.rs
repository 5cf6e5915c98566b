//! Windows Event Log → ECS, with Elastic's field choices (the `windows` and `system`
//! integrations). Every input shape — rendered XML, `evtx`/`evtx_dump` JSON, Winlogbeat JSON,
//! NXLog flat JSON — becomes a [`WinEvent`] first, so there is one mapping. What an event ID
//! means (action, category, type, outcome, which data items become which ECS fields) is data in
//! `parsers/windows/*.yaml`, embedded at build time or loaded from a directory.

#[path = "windows/convert.rs"]
mod convert;
#[path = "windows/jread.rs"]
mod jread;
#[path = "windows/json.rs"]
mod json;
#[path = "windows/keys.rs"]
mod keys;
#[path = "windows/table.rs"]
mod table;
#[path = "windows/text.rs"]
mod text;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::doc::{lit, Doc, Key, Text, Value};
use crate::normalize::{Context, ParseFailure};
use crate::parse::winxml::{self, WinEvent};
use crate::text::{is_blank, trim};

use json::{Shape, J};
use table::{Conv, Mapping, Module, Ref, Rule, Tables, Target};

/// A problem in the event tables; names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{}: no *.yaml table files", dir.display())]
    Empty { dir: PathBuf },
}

/// The built-in tables, in load order.
const BUILTIN: &[(&str, &str)] = &[
    (
        "channels.yaml",
        include_str!("../../parsers/windows/channels.yaml"),
    ),
    (
        "powershell.yaml",
        include_str!("../../parsers/windows/powershell.yaml"),
    ),
    (
        "security.yaml",
        include_str!("../../parsers/windows/security.yaml"),
    ),
    (
        "sysmon.yaml",
        include_str!("../../parsers/windows/sysmon.yaml"),
    ),
    (
        "system.yaml",
        include_str!("../../parsers/windows/system.yaml"),
    ),
];

/// Normalizes Windows events with an event-ID table.
#[derive(Debug)]
pub struct WindowsNormalizer {
    tables: Tables,
}

/// Empty text and `-` mean "no value" in Windows events.
fn blank(s: &str) -> bool {
    let t = trim(s);
    t.is_empty() || t == "-"
}

impl WindowsNormalizer {
    /// The tables shipped in `parsers/windows/`.
    pub fn builtin() -> Result<Self, TableError> {
        let files: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        Ok(WindowsNormalizer {
            tables: table::load(&files)?,
        })
    }

    /// Every `*.yaml` file in `dir`, in file-name order.
    pub fn from_dir(dir: &Path) -> Result<Self, TableError> {
        let io = |path: &Path, source| TableError::Io {
            path: path.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let path = entry.map_err(|e| io(dir, e))?.path();
            let is_yaml = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
            if is_yaml && path.is_file() {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(TableError::Empty {
                dir: dir.to_owned(),
            });
        }
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            files.push((name, text));
        }
        Ok(WindowsNormalizer {
            tables: table::load(&files)?,
        })
    }

    /// Normalizes one record; recognises XML vs the JSON shapes by content. On failure the
    /// document still holds whatever could be read.
    pub fn normalize(&self, raw: &[u8], ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
        let text: Cow<'_, str> = match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => crate::doc::lossy(raw),
        };
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('{') {
            // The direct reader takes the usual documents; serde_json the rest, and its errors.
            let root = match jread::read(t) {
                Some(root) => Ok(root),
                None => serde_json::from_str::<J<'_>>(t),
            };
            return match root {
                Ok(root) => self.normalize_j(root, ctx, doc),
                Err(e) => fail(doc, format!("windows json: {e}")),
            };
        }
        match winxml::xml_start(&text) {
            Some(i) => self.normalize_xml(&text[i..], ctx, doc),
            None if text::looks_like(t) => self.normalize_text(t, ctx, doc),
            None => fail(
                doc,
                "not a Windows event: expected XML, JSON or the text rendering".into(),
            ),
        }
    }

    /// The classic text rendering (Splunk `WinEventLog`): `Key=Value` lines and the message.
    fn normalize_text(&self, t: &str, ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
        let mut ev = WinEvent::default();
        let res = text::parse(t, &mut ev);
        if !ev.has_identity() {
            return fail(
                doc,
                res.err().unwrap_or("windows text: no event").to_owned(),
            );
        }
        self.map(&ev, ctx, doc);
        res.map_err(ParseFailure::new)
    }

    /// An already-parsed evtx JSON record (the `evtx` crate's `records_json_value()`); the
    /// other JSON shapes are accepted too.
    pub fn normalize_evtx_json(
        &self,
        v: &serde_json::Value,
        ctx: &Context,
        doc: &mut Doc,
    ) -> Result<(), ParseFailure> {
        self.normalize_j(J::from_value(v), ctx, doc)
    }

    fn normalize_xml(&self, xml: &str, ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
        let mut ev = WinEvent::default();
        let res = winxml::parse_event(xml, &mut ev);
        if !ev.has_identity() {
            let why = res
                .err()
                .map_or_else(|| "no System section".to_owned(), |e| e.0);
            return fail(doc, format!("windows xml: {why}"));
        }
        self.map(&ev, ctx, doc);
        res.map_err(|e| ParseFailure::new(format!("windows xml: {e}")))
    }

    fn normalize_j(&self, root: J<'_>, ctx: &Context, doc: &mut Doc) -> Result<(), ParseFailure> {
        let mut ev = WinEvent::default();
        match json::shape(&root) {
            Some(Shape::Evtx) => {
                json::evtx(root, &mut ev);
            }
            Some(Shape::Winlogbeat) => {
                let has_id = root.get("winlog").and_then(|w| w.get("event_id")).is_some();
                if !has_id {
                    if let Some(xml) = json::original_xml(&root) {
                        return self.normalize(xml.as_bytes(), ctx, doc);
                    }
                }
                json::winlogbeat(root, &mut ev);
            }
            Some(Shape::Nxlog) => json::nxlog(root, &mut ev),
            Some(Shape::OriginalXml) => {
                let xml = json::original_xml(&root).unwrap_or_default();
                return self.normalize(xml.as_bytes(), ctx, doc);
            }
            None => return fail(doc, "windows json: not a known Windows event shape".into()),
        }
        if !ev.has_identity() {
            return fail(doc, "windows json: no event ID, provider or channel".into());
        }
        self.map(&ev, ctx, doc);
        Ok(())
    }

    /// The one mapping from [`WinEvent`] to ECS.
    fn map(&self, ev: &WinEvent<'_>, ctx: &Context, doc: &mut Doc) {
        doc.insert("event.kind", lit!("event"));
        doc.insert("event.module", lit!("windows"));
        let module = self
            .tables
            .modules
            .iter()
            .find(|m| m.matches(ev.provider_name.as_deref(), ev.channel.as_deref()));
        let event_id = ev.event_id.as_deref().map(str::trim);
        let rule = module.and_then(|m| m.events.get(&event_id?.parse::<u32>().ok()?));
        let common = module.map(|m| &m.common);

        let mut extra = Vec::new();
        for spec in common.into_iter().chain(rule).flat_map(|r| &r.kv) {
            if let Some(text) = ev.data(&spec.from) {
                split_kv(text, &spec.split, &spec.sep, &mut extra);
            }
        }
        let look = Lookup::new(ev, &extra);

        let ts = module
            .and_then(|m| m.timestamp_field.as_deref())
            .and_then(|f| look.data(f))
            .and_then(|s| convert::parse_time(s, false, ctx))
            .or_else(|| {
                ev.time_created
                    .as_deref()
                    .and_then(|s| convert::parse_time(s, false, ctx))
            })
            .or_else(|| {
                ev.timestamp
                    .as_deref()
                    .and_then(|s| convert::parse_time(s, ev.time_is_local, ctx))
            });
        if let Some(t) = ts {
            doc.insert("@timestamp", t);
        }
        self.system_fields(ev, module, doc);
        event_data_objects(ev, &extra, doc);

        // Audit keywords say success or failure; the table's outcome is the fallback.
        let keywords: Vec<Value> = if ev.keyword_names.is_empty() {
            ev.keywords
                .as_deref()
                .map(|m| convert::keyword_names(m).map(Value::from).collect())
                .unwrap_or_default()
        } else {
            ev.keyword_names
                .iter()
                .map(|k| Value::from(k.as_ref()))
                .collect()
        };
        let has = |name: &str| {
            keywords
                .iter()
                .any(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
        };
        let (failure, success) = (has("Audit Failure"), has("Audit Success"));
        if !keywords.is_empty() {
            doc.insert("winlog.keywords", Value::Array(keywords));
        }
        let pick = |f: fn(&Rule) -> bool| rule.filter(|r| f(r)).or(common.filter(|r| f(r)));
        let outcome = if failure {
            Some("failure")
        } else if success {
            Some("success")
        } else {
            pick(|r| r.outcome.is_some()).and_then(|r| r.outcome.as_deref())
        };
        if let Some(r) = pick(|r| !r.action.is_empty()) {
            doc.insert("event.action", one_or_many(&r.action));
        }
        if let Some(r) = pick(|r| !r.category.is_empty()) {
            doc.insert("event.category", strings(&r.category));
        }
        if let Some(r) = pick(|r| !r.kind_type.is_empty()) {
            doc.insert("event.type", strings(&r.kind_type));
        }
        if let Some(o) = outcome {
            doc.insert("event.outcome", o);
        }
        for m in common.into_iter().chain(rule).flat_map(|r| &r.maps) {
            apply(m, &look, doc);
        }
    }

    /// `event.*`, `host.name`, `log.level`, `message` and `winlog.*` from the System section.
    fn system_fields(&self, ev: &WinEvent<'_>, module: Option<&Module>, doc: &mut Doc) {
        if let Some(id) = ev.event_id.as_deref().map(str::trim) {
            doc.insert("event.code", id);
            doc.insert("winlog.event_id", id);
        }
        if let Some(p) = ev.provider_name.as_deref() {
            doc.insert("event.provider", p);
            doc.insert("winlog.provider_name", p);
        }
        doc.insert_opt("winlog.provider_guid", ev.provider_guid.as_deref());
        doc.insert("event.dataset", self.dataset(ev.channel.as_deref()));
        doc.insert_opt("winlog.channel", ev.channel.as_deref());
        doc.insert_opt("winlog.computer_name", ev.computer.as_deref());
        doc.insert_opt(
            "host.name",
            ev.host_name.as_deref().or(ev.computer.as_deref()),
        );
        doc.insert_opt("winlog.record_id", ev.record_id.as_deref().map(str::trim));
        let int = |v: &Option<Cow<'_, str>>| v.as_deref().and_then(convert::parse_int);
        doc.insert_opt("winlog.version", int(&ev.version));
        doc.insert_opt("winlog.process.pid", int(&ev.process_id));
        doc.insert_opt("winlog.process.thread.id", int(&ev.thread_id));
        doc.insert_opt("winlog.user.identifier", ev.user_id.as_deref());
        doc.insert_opt("winlog.user.name", ev.user_name.as_deref());
        doc.insert_opt("winlog.user.domain", ev.user_domain.as_deref());
        doc.insert_opt("winlog.user.type", ev.user_type.as_deref());
        doc.insert_opt("winlog.activity_id", ev.activity_id.as_deref());
        doc.insert_opt(
            "winlog.related_activity_id",
            ev.related_activity_id.as_deref(),
        );
        let task = ev.task_name.as_deref().or_else(|| {
            let t = ev.task.as_deref()?.trim();
            module
                .and_then(|m| m.tasks.get(t))
                .map(String::as_str)
                .or((t != "0").then_some(t))
        });
        doc.insert_opt("winlog.task", task);
        let opcode = ev
            .opcode_name
            .as_deref()
            .or_else(|| ev.opcode.as_deref().and_then(convert::opcode_name));
        doc.insert_opt("winlog.opcode", opcode);
        let level = ev
            .level_name
            .as_deref()
            .or(ev.level.as_deref())
            .and_then(convert::level_name);
        doc.insert_opt("log.level", level);
        doc.insert_opt("message", ev.message.as_deref());
    }

    /// `event.dataset` of a channel. The table's keys are lower-cased and few, so they are
    /// compared in place (length first) rather than lower-casing and hashing the channel; a known
    /// channel is borrowed from the table.
    fn dataset(&self, channel: Option<&str>) -> Cow<'_, str> {
        let Some(ch) = channel.map(str::trim).filter(|c| !c.is_empty()) else {
            return Cow::Borrowed("windows.unknown");
        };
        if let Some((_, ds)) = self
            .tables
            .datasets
            .iter()
            .find(|(k, _)| k.len() == ch.len() && k.eq_ignore_ascii_case(ch))
        {
            return Cow::Borrowed(ds);
        }
        let mut out = String::with_capacity(8 + ch.len());
        out.push_str("windows.");
        out.extend(ch.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
        Cow::Owned(out)
    }
}

/// Puts the base fields of an unreadable record and returns the failure.
fn fail(doc: &mut Doc, reason: String) -> Result<(), ParseFailure> {
    doc.insert("event.kind", lit!("event"));
    doc.insert("event.module", lit!("windows"));
    Err(ParseFailure::new(reason))
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}

fn one_or_many(v: &[String]) -> Value {
    match v {
        [one] => Value::from(one.as_str()),
        many => strings(many),
    }
}

/// `key = value` pairs from one item, with whitespace removed from keys (as Elastic does for
/// PowerShell's `ContextInfo`).
fn split_kv(text: &str, split: &str, sep: &str, out: &mut Vec<(String, String)>) {
    for part in text.split(split) {
        let Some((k, v)) = part.split_once(sep) else {
            continue;
        };
        let key: String = k.chars().filter(|c| !c.is_whitespace()).collect();
        let v = trim(v);
        if !key.is_empty() && !v.is_empty() && !out.iter().any(|(k, _)| *k == key) {
            out.push((key, v.to_owned()));
        }
    }
}

/// `winlog.event_data` and `winlog.user_data` as literal-key objects; empty items are left out
/// (as Winlogbeat does) and a repeated name keeps its first value.
fn event_data_objects(ev: &WinEvent<'_>, extra: &[(String, String)], doc: &mut Doc) {
    let mut obj: Vec<(Text, Value)> = Vec::with_capacity(ev.event_data.len() + extra.len());
    let pairs = ev
        .event_data
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // Names are almost always distinct: the filter of names taken so far answers most checks
    // without comparing against every earlier name.
    let mut taken = 0u64;
    for (k, v) in pairs {
        if is_blank(v) {
            continue;
        }
        let bit = name_bit(k);
        if taken & bit != 0 && obj.iter().any(|(ok, _)| ok == k) {
            continue;
        }
        taken |= bit;
        obj.push((Text::new(k), Value::from(v)));
    }
    if !obj.is_empty() {
        doc.insert("winlog.event_data", Value::Object(obj));
    }
    let mut obj: Vec<(Text, Value)> = Vec::with_capacity(ev.user_data.len() + 1);
    for (k, v) in &ev.user_data {
        if !is_blank(v) && !obj.iter().any(|(ok, _)| ok == k) {
            obj.push((Text::new(k), Value::from(v.as_ref())));
        }
    }
    if let Some(name) = ev.user_data_name.as_deref() {
        if !obj.is_empty() {
            obj.push(("xml_name".into(), Value::from(name)));
        }
    }
    if !obj.is_empty() {
        doc.insert("winlog.user_data", Value::Object(obj));
    }
}

/// Where table sources are read from.
struct Lookup<'l, 'a> {
    ev: &'l WinEvent<'a>,
    /// Items split out of `kv` fields.
    extra: &'l [(String, String)],
    /// A one-word filter of the EventData names present: most table sources are absent from
    /// any one event, and this answers those without scanning the items.
    names: u64,
}

/// The filter bit of an item name.
fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let h = b.len()
        ^ b.first().map_or(0, |&c| usize::from(c) << 1)
        ^ b.last().map_or(0, |&c| usize::from(c) << 3);
    1 << (h % 64)
}

impl<'l, 'a> Lookup<'l, 'a> {
    fn new(ev: &'l WinEvent<'a>, extra: &'l [(String, String)]) -> Self {
        let names = ev
            .event_data
            .iter()
            .map(|(k, _)| name_bit(k))
            .chain(extra.iter().map(|(k, _)| name_bit(k)))
            .fold(0, |acc, b| acc | b);
        Lookup { ev, extra, names }
    }

    fn data(&self, name: &str) -> Option<&'l str> {
        if self.names & name_bit(name) == 0 {
            return None;
        }
        self.ev.data(name).or_else(|| {
            self.extra
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        })
    }

    fn get<'r>(&self, r: &'r Ref) -> Option<&'r str>
    where
        'l: 'r,
    {
        match r {
            Ref::Data(n) => self.data(n),
            Ref::UserData(n) => self.ev.user_data_value(n),
            Ref::Literal(s) => Some(s),
            Ref::UserIdentifier => self.ev.user_id.as_deref(),
            Ref::Computer => self.ev.computer.as_deref(),
            Ref::Channel => self.ev.channel.as_deref(),
            Ref::Provider => self.ev.provider_name.as_deref(),
        }
    }
}

/// Writes a value; `related.*` targets and keys that feed `related.*` also add to those arrays.
fn put(doc: &mut Doc, t: &Target, v: Value) {
    if let (Some(kind), Value::Str(s)) = (t.related, &v) {
        doc.add_related(kind, s);
    }
    if !t.key.starts_with("related.") {
        doc.insert(t.key.clone(), v);
    }
}

fn put_str(doc: &mut Doc, t: &Target, s: &str) -> bool {
    if blank(s) {
        return false;
    }
    put(doc, t, Value::from(s));
    true
}

fn put_key(doc: &mut Doc, key: &'static str, v: Value) {
    doc.insert(Key::Borrowed(key), v);
}

/// Applies one mapping: the first source with a usable value wins.
fn apply(m: &Mapping, look: &Lookup<'_, '_>, doc: &mut Doc) {
    for r in &m.source.refs {
        match look.get(r) {
            Some(raw) if !blank(raw) && convert_into(&m.target, &m.source.conv, raw, doc) => {
                return;
            }
            _ => {}
        }
    }
}

/// Converts `raw` and writes the result; false when the value did not convert.
fn convert_into(t: &Target, conv: &Conv, raw: &str, doc: &mut Doc) -> bool {
    let v = trim(raw);
    match conv {
        Conv::Str => {
            put(doc, t, Value::from(raw));
            true
        }
        Conv::Int => convert::parse_int(v).is_some_and(|n| {
            put(doc, t, Value::Int(n));
            true
        }),
        Conv::Port => match convert::parse_int(v) {
            Some(n @ 0..=65535) => {
                put(doc, t, Value::Int(n));
                true
            }
            _ => false,
        },
        Conv::Ip => convert::clean_ip(v).is_some_and(|ip| put_str(doc, t, ip)),
        Conv::Bool => {
            let b = if v.eq_ignore_ascii_case("true") {
                true
            } else if v.eq_ignore_ascii_case("false") {
                false
            } else {
                return false;
            };
            put(doc, t, Value::Bool(b));
            true
        }
        Conv::Lower => put_str(doc, t, &v.to_lowercase()),
        Conv::Basename => put_str(doc, t, convert::basename(v)),
        Conv::Dirname => convert::dirname(v).is_some_and(|d| put_str(doc, t, d)),
        Conv::Extension => convert::extension(v).is_some_and(|e| put_str(doc, t, e)),
        Conv::UpnUser => put_str(doc, t, convert::upn_user(v)),
        Conv::Cn => put_str(doc, t, convert::cn(v)),
        Conv::DnDomain => convert::dn_domain(v).is_some_and(|d| put_str(doc, t, d)),
        Conv::Map(table) => table
            .get(table::table_key(v).as_ref())
            .is_some_and(|s| put_str(doc, t, s)),
        Conv::DomainUser { domain, name } => match convert::domain_user(v) {
            Some((d, n)) => {
                put_str(doc, domain, d);
                put_str(doc, name, n)
            }
            None => false,
        },
        Conv::Path([path, name, dir, ext]) => {
            put_str(doc, path, v);
            put_str(doc, name, convert::basename(v));
            if let Some(d) = convert::dirname(v) {
                put_str(doc, dir, d);
            }
            if let Some(e) = convert::extension(v) {
                put_str(doc, ext, e);
            }
            true
        }
        Conv::Hashes { prefix, known } => {
            let mut any = false;
            for (alg, value) in convert::hashes(v) {
                match known.iter().find(|(a, _)| *a == alg) {
                    Some((_, target)) => put(doc, target, Value::from(value)),
                    None => put(doc, &table::hash_target(prefix, &alg), Value::from(value)),
                }
                any = true;
            }
            any
        }
        Conv::Args(count) => {
            let args = convert::argv(raw);
            if args.is_empty() {
                return false;
            }
            let n = args.len();
            put(doc, t, Value::from(args));
            put(doc, count, Value::from(n));
            true
        }
        Conv::Registry => {
            let (hive, key, value) = convert::registry(v);
            put_key(doc, "registry.path", Value::from(v));
            if let Some(h) = hive {
                put_key(doc, "registry.hive", Value::from(h));
            }
            if let Some(k) = key {
                put_key(doc, "registry.key", Value::from(k));
            }
            put_key(doc, "registry.value", Value::from(value));
            true
        }
        Conv::RegistryData => {
            let (data, kind) = convert::registry_data(raw);
            put_key(
                doc,
                "registry.data.strings",
                Value::Array(vec![Value::from(data)]),
            );
            put_key(doc, "registry.data.type", Value::from(kind));
            true
        }
        Conv::DnsAnswers => {
            let (answers, ips) = convert::dns_results(v);
            if answers.is_empty() {
                return false;
            }
            // Answers before the synthesized address records are names (CNAME…).
            let names = answers.len().saturating_sub(ips.len());
            for (_, data) in answers.iter().take(names) {
                doc.add_related(crate::doc::Related::Hosts, data);
            }
            for ip in &ips {
                doc.add_related(crate::doc::Related::Ip, ip);
            }
            let list = answers
                .into_iter()
                .map(|(kind, data)| {
                    Value::Object(vec![
                        ("data".into(), Value::from(data)),
                        ("type".into(), Value::from(kind)),
                    ])
                })
                .collect();
            put_key(doc, "dns.answers", Value::Array(list));
            if !ips.is_empty() {
                put_key(doc, "dns.resolved_ip", Value::from(ips));
            }
            true
        }
    }
}

#[cfg(test)]
#[path = "windows/tests.rs"]
mod tests;
