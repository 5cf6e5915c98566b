//! The event-meaning tables under `parsers/windows/*.yaml`, loaded and checked once into a
//! compiled form, so that mapping an event is lookups and no string parsing. `README.md` beside
//! the YAML files describes the format.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use crate::doc::{Key, Related};

use super::TableError;

/// Everything the YAML files define.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// In load order (file name order); the first module matching an event applies.
    pub modules: Vec<Module>,
    /// Lower-cased channel → `event.dataset`.
    pub datasets: HashMap<String, String>,
}

/// One YAML file with a `match`: the events of one provider or channel.
#[derive(Debug)]
pub(crate) struct Module {
    /// The file it came from, for errors and `Debug`.
    #[allow(dead_code)]
    pub file: String,
    pub matchers: Vec<Matcher>,
    /// EventData item holding the event time, preferred over `SystemTime` (Sysmon's `UtcTime`).
    pub timestamp_field: Option<String>,
    /// Task number → task name, for events read without RenderingInfo.
    pub tasks: HashMap<String, String>,
    /// Applied to every event of the module, known ID or not, before the event's own rule.
    pub common: Rule,
    pub events: HashMap<u32, Rule>,
}

/// Lower-cased provider and/or channel; every given one must match.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    pub provider: Option<String>,
    pub channel: Option<String>,
}

impl Module {
    pub fn matches(&self, provider: Option<&str>, channel: Option<&str>) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| match want {
            None => true,
            Some(w) => got.is_some_and(|g| g.trim().eq_ignore_ascii_case(w)),
        };
        self.matchers
            .iter()
            .any(|m| eq(&m.provider, provider) && eq(&m.channel, channel))
    }
}

/// The meaning of one event ID (or of a module's events in general).
#[derive(Debug, Default, Clone)]
pub(crate) struct Rule {
    pub action: Vec<String>,
    pub category: Vec<String>,
    pub kind_type: Vec<String>,
    /// Used when the audit keywords do not say success or failure.
    pub outcome: Option<String>,
    pub kv: Vec<KvSpec>,
    pub maps: Vec<Mapping>,
}

/// `key = value` lines inside one EventData item, split into more items (PowerShell's
/// `ContextInfo`).
#[derive(Debug, Clone)]
pub(crate) struct KvSpec {
    pub from: String,
    pub split: String,
    pub sep: String,
}

/// One output field and where it comes from.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub target: Target,
    pub source: Source,
}

/// An output key, with the `related.*` array its values also go to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub key: Key,
    pub related: Option<Related>,
}

impl Target {
    pub fn new(key: &str) -> Self {
        Target {
            key: intern(key),
            related: auto_related(key),
        }
    }
}

/// Candidate inputs, tried in order until one gives a value, and the conversion applied.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub refs: Vec<Ref>,
    pub conv: Conv,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ref {
    Data(String),
    UserData(String),
    Literal(String),
    UserIdentifier,
    Computer,
    Channel,
    Provider,
}

/// How a raw value becomes output fields. Multi-field conversions carry their output keys,
/// resolved at load time.
#[derive(Debug, Clone)]
pub(crate) enum Conv {
    Str,
    Int,
    Port,
    Ip,
    Bool,
    Lower,
    Basename,
    Dirname,
    Extension,
    UpnUser,
    Cn,
    DnDomain,
    Map(Arc<HashMap<String, String>>),
    /// `DOMAIN\name` → `<prefix>.domain`, `<prefix>.name`.
    DomainUser {
        domain: Target,
        name: Target,
    },
    /// A path → `<prefix>.path`, `.name`, `.directory`, `.extension`.
    Path([Target; 4]),
    /// Sysmon `MD5=…,SHA256=…` → `<prefix>.hash.*`, `<prefix>.pe.imphash`; the keys of the
    /// usual algorithms are resolved at load, others are built per record.
    Hashes {
        prefix: String,
        known: Vec<(&'static str, Target)>,
    },
    /// A command line → `<target>` (argv) and `<target>_count`.
    Args(Target),
    /// Sysmon `TargetObject` → `registry.{path,hive,key,value}`.
    Registry,
    /// Sysmon `Details` → `registry.data.{strings,type}`.
    RegistryData,
    /// Sysmon `QueryResults` → `dns.answers`, `dns.resolved_ip`.
    DnsAnswers,
}

// ---------------------------------------------------------------------------------------------
// YAML shapes

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "match")]
    matchers: Vec<MatchDef>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    datasets: BTreeMap<String, String>,
    #[serde(default)]
    tables: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    tasks: BTreeMap<String, String>,
    #[serde(default)]
    profiles: BTreeMap<String, RuleDef>,
    #[serde(default)]
    common: Option<RuleDef>,
    #[serde(default)]
    events: Vec<EventDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchDef {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    #[serde(default)]
    action: Option<OneOrMany>,
    #[serde(default)]
    category: Option<OneOrMany>,
    #[serde(default, rename = "type")]
    kind_type: Option<OneOrMany>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default, rename = "use")]
    uses: Vec<String>,
    #[serde(default)]
    kv: Vec<KvDef>,
    /// Ordered `target: source` pairs.
    #[serde(default)]
    fields: serde_yaml::Mapping,
    #[serde(default)]
    related: BTreeMap<String, Vec<String>>,
}

/// `deny_unknown_fields` cannot be combined with `flatten`; the flattened rule rejects them.
#[derive(Deserialize)]
struct EventDef {
    id: OneOrManyIds,
    #[serde(flatten)]
    rule: RuleDef,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct KvDef {
    from: String,
    #[serde(default = "newline")]
    split: String,
    #[serde(default = "equals")]
    sep: String,
}

fn newline() -> String {
    "\n".into()
}
fn equals() -> String {
    "=".into()
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrManyIds {
    One(u32),
    Many(Vec<u32>),
}

// ---------------------------------------------------------------------------------------------
// Loading

/// ECS allowed values for `event.category`.
const CATEGORIES: &[&str] = &[
    "api",
    "authentication",
    "configuration",
    "database",
    "driver",
    "email",
    "file",
    "host",
    "iam",
    "intrusion_detection",
    "library",
    "malware",
    "network",
    "package",
    "process",
    "registry",
    "session",
    "threat",
    "vulnerability",
    "web",
];

/// ECS allowed values for `event.type`.
const TYPES: &[&str] = &[
    "access",
    "admin",
    "allowed",
    "change",
    "connection",
    "creation",
    "deletion",
    "denied",
    "end",
    "error",
    "group",
    "indicator",
    "info",
    "installation",
    "protocol",
    "start",
    "user",
];

const OUTCOMES: &[&str] = &["success", "failure", "unknown"];

/// Parses and checks `(file name, YAML text)` pairs, in the order given.
pub(crate) fn load(files: &[(String, String)]) -> Result<Tables, TableError> {
    let mut defs = Vec::with_capacity(files.len());
    for (name, text) in files {
        let def: FileDef = serde_yaml::from_str(text).map_err(|e| TableError::Yaml {
            file: name.clone(),
            message: e.to_string(),
        })?;
        defs.push((name.clone(), def));
    }

    // Tables and profiles are shared by all files.
    let mut tables: HashMap<String, Arc<HashMap<String, String>>> = HashMap::new();
    let mut profiles: HashMap<String, (String, RuleDef)> = HashMap::new();
    let mut out = Tables::default();
    for (file, def) in &defs {
        let _ = &def.description;
        for (name, t) in &def.tables {
            let norm = t
                .iter()
                .map(|(k, v)| (table_key(k).into_owned(), v.clone()))
                .collect();
            if tables.insert(name.clone(), Arc::new(norm)).is_some() {
                return Err(invalid(file, format!("table `{name}` is defined twice")));
            }
        }
        for (name, p) in &def.profiles {
            if profiles
                .insert(name.clone(), (file.clone(), p.clone()))
                .is_some()
            {
                return Err(invalid(file, format!("profile `{name}` is defined twice")));
            }
        }
        for (channel, ds) in &def.datasets {
            if ds.is_empty()
                || !ds
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
            {
                return Err(invalid(
                    file,
                    format!("dataset `{ds}` must be lower-case letters, digits, `_` and `.`"),
                ));
            }
            out.datasets
                .insert(channel.to_ascii_lowercase(), ds.clone());
        }
    }

    let cx = Cx {
        tables: &tables,
        profiles: &profiles,
    };
    for (file, def) in defs {
        if def.matchers.is_empty() {
            if def.common.is_some() || !def.events.is_empty() || def.timestamp.is_some() {
                return Err(invalid(
                    &file,
                    "`common`, `events` and `timestamp` need a `match`".into(),
                ));
            }
            continue;
        }
        let mut matchers = Vec::new();
        for m in def.matchers {
            if m.provider.is_none() && m.channel.is_none() {
                return Err(invalid(
                    &file,
                    "a `match` entry needs `provider` or `channel`".into(),
                ));
            }
            matchers.push(Matcher {
                provider: m.provider.map(|s| s.trim().to_ascii_lowercase()),
                channel: m.channel.map(|s| s.trim().to_ascii_lowercase()),
            });
        }
        let common = match &def.common {
            Some(r) => cx.rule(&file, "common", r, &mut Vec::new())?,
            None => Rule::default(),
        };
        let mut events = HashMap::new();
        for ev in &def.events {
            let ids = match &ev.id {
                OneOrManyIds::One(i) => vec![*i],
                OneOrManyIds::Many(v) => v.clone(),
            };
            let what = format!("event {}", ids.first().copied().unwrap_or_default());
            let rule = cx.rule(&file, &what, &ev.rule, &mut Vec::new())?;
            for id in ids {
                if events.insert(id, rule.clone()).is_some() {
                    return Err(invalid(&file, format!("event {id} is defined twice")));
                }
            }
        }
        out.modules.push(Module {
            file: file.clone(),
            matchers,
            timestamp_field: def.timestamp,
            tasks: def.tasks.into_iter().collect(),
            common,
            events,
        });
    }
    Ok(out)
}

fn invalid(file: &str, message: String) -> TableError {
    TableError::Invalid {
        file: file.to_owned(),
        message,
    }
}

/// How table keys are compared: trimmed, without a `%%` message-table prefix, lower case.
pub(crate) fn table_key(k: &str) -> Cow<'_, str> {
    let k = k.trim();
    let k = k.strip_prefix("%%").unwrap_or(k);
    if k.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(k.to_ascii_lowercase())
    } else {
        Cow::Borrowed(k)
    }
}

struct Cx<'t> {
    tables: &'t HashMap<String, Arc<HashMap<String, String>>>,
    profiles: &'t HashMap<String, (String, RuleDef)>,
}

impl Cx<'_> {
    /// Compiles a rule, expanding its profiles first so that its own fields win.
    fn rule(
        &self,
        file: &str,
        what: &str,
        def: &RuleDef,
        stack: &mut Vec<String>,
    ) -> Result<Rule, TableError> {
        let err = |m: String| invalid(file, format!("{what}: {m}"));
        let mut rule = Rule::default();
        for p in &def.uses {
            if stack.contains(p) {
                return Err(err(format!("profile `{p}` uses itself")));
            }
            let Some((pfile, pdef)) = self.profiles.get(p) else {
                return Err(err(format!("unknown profile `{p}`")));
            };
            stack.push(p.clone());
            let sub = self.rule(pfile, &format!("profile {p}"), pdef, stack)?;
            stack.pop();
            merge(&mut rule, sub);
        }
        if let Some(a) = &def.action {
            rule.action = a.clone().into_vec();
        }
        if let Some(c) = &def.category {
            let c = c.clone().into_vec();
            if let Some(bad) = c.iter().find(|v| !CATEGORIES.contains(&v.as_str())) {
                return Err(err(format!("`{bad}` is not an ECS event.category")));
            }
            rule.category = c;
        }
        if let Some(t) = &def.kind_type {
            let t = t.clone().into_vec();
            if let Some(bad) = t.iter().find(|v| !TYPES.contains(&v.as_str())) {
                return Err(err(format!("`{bad}` is not an ECS event.type")));
            }
            rule.kind_type = t;
        }
        if let Some(o) = &def.outcome {
            if !OUTCOMES.contains(&o.as_str()) {
                return Err(err(format!("`{o}` is not an ECS event.outcome")));
            }
            rule.outcome = Some(o.clone());
        }
        for kv in &def.kv {
            if kv.from.is_empty() || kv.split.is_empty() || kv.sep.is_empty() {
                return Err(err("`kv` needs non-empty `from`, `split` and `sep`".into()));
            }
            rule.kv.push(KvSpec {
                from: kv.from.clone(),
                split: kv.split.clone(),
                sep: kv.sep.clone(),
            });
        }
        for (k, v) in &def.fields {
            let (Some(target), Some(spec)) = (k.as_str(), v.as_str()) else {
                return Err(err(format!(
                    "fields must map a target key to a source string, found {k:?}: {v:?}"
                )));
            };
            let m = self.mapping(target, spec).map_err(&err)?;
            rule.maps.push(m);
        }
        for (kind, specs) in &def.related {
            let key = match kind.as_str() {
                "ip" => "related.ip",
                "user" => "related.user",
                "hosts" => "related.hosts",
                "hash" => "related.hash",
                other => return Err(err(format!("unknown related kind `{other}`"))),
            };
            for spec in specs {
                rule.maps.push(self.mapping(key, spec).map_err(&err)?);
            }
        }
        Ok(rule)
    }

    /// Compiles `target: source` where source is `=literal` or `Name[|Name…][:conv[=arg]]`.
    fn mapping(&self, target: &str, spec: &str) -> Result<Mapping, String> {
        if target.is_empty()
            || target.starts_with('.')
            || target.ends_with('.')
            || target.contains("..")
            || target.starts_with("winlog.event_data.")
            || target.starts_with("winlog.user_data.")
        {
            return Err(format!("bad target key `{target}`"));
        }
        if let Some(lit) = spec.strip_prefix('=') {
            return Ok(Mapping {
                target: Target::new(target),
                source: Source {
                    refs: vec![Ref::Literal(lit.to_owned())],
                    conv: Conv::Str,
                },
            });
        }
        let (names, conv) = match spec.split_once(':') {
            Some((n, c)) => (n, Some(c.trim())),
            None => (spec, None),
        };
        let mut refs = Vec::new();
        for n in names.split('|') {
            let n = n.trim();
            let r = match n {
                "" => return Err(format!("empty source name in `{spec}`")),
                "$user_identifier" => Ref::UserIdentifier,
                "$computer" => Ref::Computer,
                "$channel" => Ref::Channel,
                "$provider" => Ref::Provider,
                _ if n.starts_with('$') => return Err(format!("unknown system source `{n}`")),
                _ => match n.strip_prefix("user_data.") {
                    Some(u) => Ref::UserData(u.to_owned()),
                    None => Ref::Data(n.to_owned()),
                },
            };
            refs.push(r);
        }
        let conv = match conv {
            None | Some("str") => Conv::Str,
            Some(c) => self.conv(target, c)?,
        };
        Ok(Mapping {
            target: Target::new(target),
            source: Source { refs, conv },
        })
    }

    fn conv(&self, target: &str, c: &str) -> Result<Conv, String> {
        let sub = |suffix: &str| Target::new(&format!("{target}.{suffix}"));
        Ok(match c {
            "int" => Conv::Int,
            "port" => Conv::Port,
            "ip" => Conv::Ip,
            "bool" => Conv::Bool,
            "lower" => Conv::Lower,
            "basename" => Conv::Basename,
            "dirname" => Conv::Dirname,
            "extension" => Conv::Extension,
            "upn_user" => Conv::UpnUser,
            "cn" => Conv::Cn,
            "dn_domain" => Conv::DnDomain,
            "domain_user" => Conv::DomainUser {
                domain: sub("domain"),
                name: sub("name"),
            },
            "path" => Conv::Path([sub("path"), sub("name"), sub("directory"), sub("extension")]),
            "hashes" => Conv::Hashes {
                prefix: target.to_owned(),
                known: ["md5", "sha1", "sha256", "sha384", "sha512", "imphash"]
                    .into_iter()
                    .map(|alg| (alg, hash_target(target, alg)))
                    .collect(),
            },
            "args" => Conv::Args(Target::new(&format!("{target}_count"))),
            "registry" if target == "registry" => Conv::Registry,
            "registry_data" if target == "registry.data" => Conv::RegistryData,
            "dns_answers" if target == "dns" => Conv::DnsAnswers,
            "registry" | "registry_data" | "dns_answers" => {
                return Err(format!("conversion `{c}` cannot write to `{target}`"))
            }
            _ => match c.strip_prefix("map=") {
                Some(t) => match self.tables.get(t) {
                    Some(t) => Conv::Map(t.clone()),
                    None => return Err(format!("unknown table `{t}`")),
                },
                None => return Err(format!("unknown conversion `{c}`")),
            },
        })
    }
}

/// Where a hash of `alg` goes under `prefix`: `pe.imphash` for the import hash, else `hash.<alg>`.
pub(crate) fn hash_target(prefix: &str, alg: &str) -> Target {
    let mut t = if alg == "imphash" {
        Target::new(&format!("{prefix}.pe.imphash"))
    } else {
        Target::new(&format!("{prefix}.hash.{alg}"))
    };
    t.related = Some(Related::Hash);
    t
}

fn merge(into: &mut Rule, from: Rule) {
    if !from.action.is_empty() {
        into.action = from.action;
    }
    if !from.category.is_empty() {
        into.category = from.category;
    }
    if !from.kind_type.is_empty() {
        into.kind_type = from.kind_type;
    }
    if from.outcome.is_some() {
        into.outcome = from.outcome;
    }
    into.kv.extend(from.kv);
    into.maps.extend(from.maps);
}

/// Output keys whose values are also every record's `related.*` entries.
fn auto_related(key: &str) -> Option<Related> {
    match key {
        "related.ip" | "source.ip" | "destination.ip" | "source.nat.ip" | "destination.nat.ip" => {
            Some(Related::Ip)
        }
        "related.user"
        | "user.name"
        | "user.target.name"
        | "user.effective.name"
        | "user.changes.name"
        | "source.user.name"
        | "destination.user.name" => Some(Related::User),
        "related.hosts" | "dns.question.name" => Some(Related::Hosts),
        "related.hash" => Some(Related::Hash),
        _ => None,
    }
}

/// A static key when the name is a common one, else an owned copy.
pub(crate) fn intern(key: &str) -> Key {
    use super::keys::STATIC_KEYS;
    match STATIC_KEYS.binary_search(&key) {
        Ok(i) => Cow::Borrowed(STATIC_KEYS[i]),
        Err(_) => Cow::Owned(key.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(yaml: &str) -> Result<Tables, TableError> {
        load(&[("t.yaml".to_owned(), yaml.to_owned())])
    }

    #[test]
    fn static_keys_are_sorted() {
        use super::super::keys::STATIC_KEYS;
        assert!(STATIC_KEYS.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(intern("user.name"), Cow::Borrowed(_)));
        assert!(matches!(intern("x.y"), Cow::Owned(_)));
    }

    #[test]
    fn compiles_profiles_sources_and_conversions() {
        let t = one(r#"
match: [{provider: P}]
tables: {lt: {"2": Interactive, "%%2313": Bad}}
profiles:
  who: {fields: {user.name: "TargetUserName:upn_user"}}
events:
  - id: [1, 2]
    action: x
    category: authentication
    type: [start]
    use: [who]
    fields:
      winlog.logon.type: "LogonType:map=lt"
      process.pid: "ProcessId|NewProcessId:int"
      network.protocol: "=dns"
      user: "User:domain_user"
    related: {user: [SubjectUserName]}
"#)
        .unwrap();
        let m = &t.modules[0];
        assert!(m.matches(Some("p"), None));
        let r = &m.events[&2];
        assert_eq!(r.category, ["authentication"]);
        assert_eq!(r.maps.len(), 6);
        assert_eq!(r.maps[0].target.key, "user.name");
        assert_eq!(r.maps[0].target.related, Some(Related::User));
        assert_eq!(r.maps[2].source.refs.len(), 2);
        assert!(matches!(&r.maps[1].source.conv, Conv::Map(t) if t.get("2313").is_some()));
        assert_eq!(r.maps[3].source.refs, vec![Ref::Literal("dns".into())]);
    }

    #[test]
    fn errors_name_the_file_and_problem() {
        let cases = [
            (
                "match: [{provider: P}]\nevents: [{id: 1, category: [nope]}]",
                "not an ECS",
            ),
            (
                "match: [{provider: P}]\nevents: [{id: 1, use: [missing]}]",
                "unknown profile",
            ),
            (
                "match: [{provider: P}]\nevents: [{id: 1, fields: {a: 'X:frob'}}]",
                "unknown conversion",
            ),
            (
                "match: [{provider: P}]\nevents: [{id: 1, fields: {a: 'X:map=nope'}}]",
                "unknown table",
            ),
            (
                "match: [{provider: P}]\nevents: [{id: 1}, {id: 1}]",
                "defined twice",
            ),
            (
                "match: [{provider: P}]\nevents: [{id: 1, outcome: maybe}]",
                "outcome",
            ),
            ("match: [{}]", "needs `provider`"),
            ("events: [{id: 1}]", "need a `match`"),
            ("bogus: 1", "unknown field"),
            (
                "match: [{provider: P}]\nevents: [{id: 1, fields: {winlog.event_data.X: Y}}]",
                "bad target",
            ),
            (
                "profiles: {a: {use: [a]}}\nmatch: [{provider: P}]\nevents: [{id: 1, use: [a]}]",
                "uses itself",
            ),
        ];
        for (yaml, want) in cases {
            let e = one(yaml).unwrap_err().to_string();
            assert!(e.contains("t.yaml") && e.contains(want), "{yaml}: {e}");
        }
    }
}
