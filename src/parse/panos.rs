//! PAN-OS syslog CSV: splitting a line into fields, and the per-log-type column layouts.
//!
//! The layouts are data (`parsers/panos/*.yaml`, format in `parsers/panos/README.md`) so that a new
//! PAN-OS release only needs a data change. They are compiled into lookup tables once, by
//! [`crate::normalize::panos::PanosNormalizer::new`]; nothing here runs per record except
//! [`split_fields`] and [`looks_like_panos`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The layout files compiled into the binary, by file name.
const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "traffic.yaml",
        include_str!("../../parsers/panos/traffic.yaml"),
    ),
    (
        "threat.yaml",
        include_str!("../../parsers/panos/threat.yaml"),
    ),
    (
        "system.yaml",
        include_str!("../../parsers/panos/system.yaml"),
    ),
    (
        "config.yaml",
        include_str!("../../parsers/panos/config.yaml"),
    ),
    (
        "hipmatch.yaml",
        include_str!("../../parsers/panos/hipmatch.yaml"),
    ),
    (
        "globalprotect.yaml",
        include_str!("../../parsers/panos/globalprotect.yaml"),
    ),
    (
        "userid.yaml",
        include_str!("../../parsers/panos/userid.yaml"),
    ),
    (
        "decryption.yaml",
        include_str!("../../parsers/panos/decryption.yaml"),
    ),
    (
        "authentication.yaml",
        include_str!("../../parsers/panos/authentication.yaml"),
    ),
    (
        "tunnel.yaml",
        include_str!("../../parsers/panos/tunnel.yaml"),
    ),
    (
        "correlation.yaml",
        include_str!("../../parsers/panos/correlation.yaml"),
    ),
    ("gtp.yaml", include_str!("../../parsers/panos/gtp.yaml")),
    ("sctp.yaml", include_str!("../../parsers/panos/sctp.yaml")),
    ("iptag.yaml", include_str!("../../parsers/panos/iptag.yaml")),
    ("audit.yaml", include_str!("../../parsers/panos/audit.yaml")),
];

/// Type-column values of the built-in layouts, for the schema-free [`looks_like_panos`].
const KNOWN_TYPES: &[&str] = &[
    "TRAFFIC",
    "THREAT",
    "SYSTEM",
    "CONFIG",
    "HIPMATCH",
    "HIP-MATCH",
    "GLOBALPROTECT",
    "USERID",
    "DECRYPTION",
    "AUTHENTICATION",
    "TUNNEL",
    "START",
    "END",
    "CORRELATION",
    "GTP",
    "SCTP",
    "IPTAG",
];

/// Most columns any layout may declare; guards against absurd files.
const MAX_COLUMNS: usize = 1024;

/// Why the layout files could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid YAML: {source}")]
    Yaml {
        file: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: log type {name} is already defined in {other}")]
    Duplicate {
        file: String,
        name: String,
        other: String,
    },
    #[error("{file}: no PAN-OS layout files (*.yaml) found")]
    Empty { file: String },
}

/// How a column value becomes a field value (the `:suffix` of a target in the YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The text as is.
    Str,
    /// The text without surrounding white space.
    Trim,
    /// A signed integer.
    Int,
    /// An IP address (also added to `related.ip` for the address fields).
    Ip,
    /// An IP address used only when it is not `0.0.0.0`/`::` and the field is unset or `0.0.0.0`
    /// (IPv6 companions of IPv4 columns).
    IpAlt,
    /// A PAN-OS (`YYYY/MM/DD HH:MM:SS`, configured zone) or RFC 3339 time.
    Time,
    /// Seconds, written as nanoseconds (`event.duration`).
    Seconds,
    /// Lower-cased text.
    Lower,
    /// `DOMAIN\user` or `user@domain`: `<x>.name` and `<x>.domain`; `source.user` is copied to `user`.
    User,
    /// A user name appended to an array (two user columns in one record).
    UserAppend,
    /// `Threat Name(1234)`: `<x>.name` and `<x>.id`.
    Threat,
    /// THREAT URL/Filename column: `url.*` or `file.*` depending on the subtype.
    Misc,
    /// `client-to-server`/`server-to-client` (or 0/1) as `inbound`/`outbound`.
    Direction,
    /// The hexadecimal session flags as `labels.*` booleans.
    Flags,
    /// The severity text, plus the numeric `event.severity`.
    Severity,
    /// A comma-separated list as an array.
    List,
    /// A MAC address in ECS form (`AA-BB-CC-DD-EE-FF`).
    Mac,
    /// The text unless it is `0`.
    NonZero,
    /// `TLS1.2` as `tls.version` `1.2` and `tls.version_protocol` `tls`.
    TlsVersion,
    /// A certificate fingerprint as `<x>.md5`, `<x>.sha1` or `<x>.sha256` by length.
    Fingerprint,
    /// The last space-separated word (a serial number still preceded by a syslog header).
    LastToken,
}

impl Conversion {
    const ALL: &'static [(&'static str, Conversion)] = &[
        ("str", Conversion::Str),
        ("trim", Conversion::Trim),
        ("int", Conversion::Int),
        ("ip", Conversion::Ip),
        ("ip_alt", Conversion::IpAlt),
        ("time", Conversion::Time),
        ("seconds", Conversion::Seconds),
        ("lower", Conversion::Lower),
        ("user", Conversion::User),
        ("user_append", Conversion::UserAppend),
        ("threat", Conversion::Threat),
        ("misc", Conversion::Misc),
        ("direction", Conversion::Direction),
        ("flags", Conversion::Flags),
        ("severity", Conversion::Severity),
        ("list", Conversion::List),
        ("mac", Conversion::Mac),
        ("nonzero", Conversion::NonZero),
        ("tls_version", Conversion::TlsVersion),
        ("fingerprint", Conversion::Fingerprint),
        ("last_token", Conversion::LastToken),
    ];

    /// The conversion named `name` in a layout file.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("str", |(n, _)| n)
    }
}

/// One destination of a column: a dotted field name and how to convert the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub field: String,
    pub conversion: Conversion,
}

/// One CSV column: its PAN-OS name and where its value goes (none for unused columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub targets: Vec<Target>,
}

/// When a variant layout applies; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    pub min_fields: Option<usize>,
    pub max_fields: Option<usize>,
    /// Column index whose value must start with `prefix`.
    pub column: Option<usize>,
    pub prefix: Option<String>,
}

impl Condition {
    pub fn matches<S: AsRef<str>>(&self, fields: &[S]) -> bool {
        if self.min_fields.is_some_and(|n| fields.len() < n) {
            return false;
        }
        if self.max_fields.is_some_and(|n| fields.len() > n) {
            return false;
        }
        if let (Some(i), Some(p)) = (self.column, &self.prefix) {
            return fields
                .get(i)
                .is_some_and(|f| f.as_ref().starts_with(p.as_str()));
        }
        true
    }
}

/// One column order of a log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `default` or the variant's name.
    pub name: String,
    pub when: Condition,
    pub columns: Vec<Column>,
}

impl Layout {
    pub fn index_of(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }
}

/// A column value looked up in a table (`event.action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub column: String,
    pub map: Vec<(String, String)>,
}

/// A column value mapped to `event.type` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRule {
    pub column: String,
    pub map: Vec<(String, Vec<String>)>,
}

/// How `event.outcome` is derived: a fixed `value`, or a column looked up in `map`, with `empty`
/// used for an empty column and `default` for any other value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeRule {
    pub value: Option<String>,
    pub column: Option<String>,
    pub map: Vec<(String, String)>,
    pub empty: Option<String>,
    pub default: Option<String>,
}

/// The ECS classification of a log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub kind: String,
    pub category: Vec<String>,
    pub action: Option<Lookup>,
    pub types: Vec<TypeRule>,
    pub outcome: Option<OutcomeRule>,
}

/// A PAN-OS log type and its layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogType {
    /// The type-column value, e.g. `TRAFFIC`.
    pub name: String,
    /// Other spellings of the type column (`HIP-MATCH`).
    pub aliases: Vec<String>,
    /// The file it was loaded from, for messages.
    pub file: String,
    /// Index of the type column (3, or 2 for AUDIT).
    pub type_index: usize,
    pub event: EventSpec,
    /// Variants in file order, then the default layout last: the first whose condition holds wins.
    pub layouts: Vec<Layout>,
}

/// All PAN-OS layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanosSchema {
    types: Vec<LogType>,
}

impl PanosSchema {
    /// The layouts shipped in `parsers/panos/`, compiled in.
    pub fn builtin() -> Result<Self, SchemaError> {
        Self::from_sources(BUILTIN_FILES.iter().copied())
    }

    /// Every `*.yaml` file of `dir`, in name order.
    pub fn from_dir(dir: &Path) -> Result<Self, SchemaError> {
        let display = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|source| SchemaError::Io {
            file: display.clone(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SchemaError::Io {
                file: display.clone(),
                source,
            })?;
            let path = entry.path();
            let is_yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
            if is_yaml && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::Io {
                file: path.display().to_string(),
                source,
            })?;
            sources.push((path.display().to_string(), text));
        }
        if sources.is_empty() {
            return Err(SchemaError::Empty { file: display });
        }
        Self::from_sources(sources.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Layouts from `(file name, YAML text)` pairs.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SchemaError> {
        let mut types: Vec<LogType> = Vec::new();
        for (file, text) in sources {
            let doc: FileDoc = serde_yaml::from_str(text).map_err(|source| SchemaError::Yaml {
                file: file.to_string(),
                source,
            })?;
            let ty = compile_file(file, doc)?;
            for name in std::iter::once(&ty.name).chain(&ty.aliases) {
                if let Some(other) = types.iter().find(|t| t.names().any(|n| n == name)) {
                    return Err(SchemaError::Duplicate {
                        file: file.to_string(),
                        name: name.clone(),
                        other: other.file.clone(),
                    });
                }
            }
            types.push(ty);
        }
        if types.is_empty() {
            return Err(SchemaError::Empty {
                file: "<sources>".to_string(),
            });
        }
        Ok(PanosSchema { types })
    }

    /// This schema with the log types of `overrides` replacing those of the same name.
    pub fn with_overrides(mut self, overrides: PanosSchema) -> Self {
        for ty in overrides.types {
            self.types
                .retain(|t| !t.names().any(|n| ty.names().any(|m| m == n)));
            self.types.push(ty);
        }
        self
    }

    pub fn log_types(&self) -> &[LogType] {
        &self.types
    }

    /// The log type whose type column reads `name`.
    pub fn log_type(&self, name: &str) -> Option<&LogType> {
        self.types.iter().find(|t| t.names().any(|n| n == name))
    }
}

impl LogType {
    /// The name and its aliases.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.name).chain(self.aliases.iter())
    }
}

// ---- YAML documents -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    log_type: String,
    #[serde(default)]
    aliases: Vec<String>,
    event: EventDoc,
    columns: Vec<ColumnDoc>,
    #[serde(default)]
    variants: Vec<VariantDoc>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ColumnDoc {
    Unused(String),
    Mapped(BTreeMap<String, TargetsDoc>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TargetsDoc {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantDoc {
    name: String,
    when: WhenDoc,
    columns: Vec<ColumnDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenDoc {
    min_fields: Option<usize>,
    max_fields: Option<usize>,
    column: Option<usize>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventDoc {
    kind: String,
    category: Vec<String>,
    action: Option<LookupDoc>,
    #[serde(default)]
    types: Vec<TypeRuleDoc>,
    outcome: Option<OutcomeDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupDoc {
    column: String,
    map: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeRuleDoc {
    column: String,
    map: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeDoc {
    value: Option<String>,
    column: Option<String>,
    #[serde(default)]
    map: BTreeMap<String, String>,
    empty: Option<String>,
    default: Option<String>,
}

// ---- validation -----------------------------------------------------------------------------

const ECS_KINDS: &[&str] = &[
    "alert",
    "asset",
    "enrichment",
    "event",
    "metric",
    "state",
    "pipeline_error",
    "signal",
];
const ECS_CATEGORIES: &[&str] = &[
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
const ECS_TYPES: &[&str] = &[
    "access",
    "admin",
    "allowed",
    "change",
    "connection",
    "creation",
    "deletion",
    "denied",
    "device",
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
const ECS_OUTCOMES: &[&str] = &["success", "failure", "unknown"];

fn invalid(file: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        file: file.to_string(),
        message: message.into(),
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_field(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

fn parse_target(file: &str, column: &str, spec: &str) -> Result<Target, SchemaError> {
    let (field, conversion) = match spec.split_once(':') {
        Some((f, c)) => {
            let conv = Conversion::from_name(c.trim()).ok_or_else(|| {
                invalid(
                    file,
                    format!("column {column}: unknown conversion '{c}' in '{spec}'"),
                )
            })?;
            (f.trim(), conv)
        }
        None => (spec.trim(), Conversion::Str),
    };
    if !valid_field(field) {
        return Err(invalid(
            file,
            format!("column {column}: '{field}' is not a dotted field name"),
        ));
    }
    Ok(Target {
        field: field.to_string(),
        conversion,
    })
}

fn compile_columns(
    file: &str,
    layout: &str,
    docs: Vec<ColumnDoc>,
) -> Result<Vec<Column>, SchemaError> {
    if docs.len() > MAX_COLUMNS {
        return Err(invalid(
            file,
            format!("layout {layout}: more than {MAX_COLUMNS} columns"),
        ));
    }
    let mut columns: Vec<Column> = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        let (name, targets) = match doc {
            ColumnDoc::Unused(name) => (name, Vec::new()),
            ColumnDoc::Mapped(map) => {
                let mut it = map.into_iter();
                let (name, targets) = match (it.next(), it.next()) {
                    (Some(entry), None) => entry,
                    _ => {
                        return Err(invalid(
                            file,
                            format!(
                                "layout {layout}, column {i}: write `name` or `name: target`, one per item"
                            ),
                        ))
                    }
                };
                let specs = match targets {
                    TargetsDoc::One(s) => vec![s],
                    TargetsDoc::Many(v) => v,
                };
                let targets = specs
                    .iter()
                    .map(|s| parse_target(file, &name, s))
                    .collect::<Result<Vec<_>, _>>()?;
                (name, targets)
            }
        };
        if !valid_name(&name) {
            return Err(invalid(
                file,
                format!("layout {layout}, column {i}: bad column name '{name}'"),
            ));
        }
        if columns.iter().any(|c| c.name == name) {
            return Err(invalid(
                file,
                format!("layout {layout}: column name '{name}' is used twice"),
            ));
        }
        columns.push(Column { name, targets });
    }
    for required in ["type", "time_generated"] {
        if !columns.iter().any(|c| c.name == required) {
            return Err(invalid(
                file,
                format!("layout {layout}: no column named '{required}'"),
            ));
        }
    }
    Ok(columns)
}

fn check_values(
    file: &str,
    what: &str,
    values: &[String],
    allowed: &[&str],
) -> Result<(), SchemaError> {
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(invalid(
                file,
                format!("{what}: '{v}' is not an ECS value ({})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn compile_event(file: &str, doc: EventDoc) -> Result<EventSpec, SchemaError> {
    check_values(
        file,
        "event.kind",
        std::slice::from_ref(&doc.kind),
        ECS_KINDS,
    )?;
    check_values(file, "event.category", &doc.category, ECS_CATEGORIES)?;
    let mut types = Vec::with_capacity(doc.types.len());
    for rule in doc.types {
        for values in rule.map.values() {
            check_values(file, "event.type", values, ECS_TYPES)?;
        }
        types.push(TypeRule {
            column: rule.column,
            map: rule.map.into_iter().collect(),
        });
    }
    let outcome = match doc.outcome {
        None => None,
        Some(o) => {
            let mut all: Vec<String> = o.map.values().cloned().collect();
            all.extend(o.value.iter().cloned());
            all.extend(o.empty.iter().cloned());
            all.extend(o.default.iter().cloned());
            check_values(file, "event.outcome", &all, ECS_OUTCOMES)?;
            if o.value.is_some() == o.column.is_some() {
                return Err(invalid(
                    file,
                    "event.outcome: give either `value` or `column`",
                ));
            }
            Some(OutcomeRule {
                value: o.value,
                column: o.column,
                map: o.map.into_iter().collect(),
                empty: o.empty,
                default: o.default,
            })
        }
    };
    Ok(EventSpec {
        kind: doc.kind,
        category: doc.category,
        action: doc.action.map(|a| Lookup {
            column: a.column,
            map: a.map.into_iter().collect(),
        }),
        types,
        outcome,
    })
}

fn compile_file(file: &str, doc: FileDoc) -> Result<LogType, SchemaError> {
    if !valid_name(&doc.log_type) || doc.aliases.iter().any(|a| !valid_name(a)) {
        return Err(invalid(file, "log_type and aliases must be plain words"));
    }
    let event = compile_event(file, doc.event)?;
    let mut layouts = Vec::with_capacity(doc.variants.len() + 1);
    for v in doc.variants {
        let w = v.when;
        if w.column.is_some() != w.prefix.is_some() {
            return Err(invalid(
                file,
                format!("variant {}: `column` and `prefix` go together", v.name),
            ));
        }
        if w.min_fields.is_none() && w.max_fields.is_none() && w.column.is_none() {
            return Err(invalid(
                file,
                format!("variant {}: `when` needs a condition", v.name),
            ));
        }
        let columns = compile_columns(file, &v.name, v.columns)?;
        layouts.push(Layout {
            name: v.name,
            when: Condition {
                min_fields: w.min_fields,
                max_fields: w.max_fields,
                column: w.column,
                prefix: w.prefix,
            },
            columns,
        });
    }
    layouts.push(Layout {
        name: "default".to_string(),
        when: Condition::default(),
        columns: compile_columns(file, "default", doc.columns)?,
    });

    let mut type_index = None;
    for layout in &layouts {
        let idx = layout.index_of("type").unwrap_or(usize::MAX);
        if *type_index.get_or_insert(idx) != idx {
            return Err(invalid(
                file,
                "the `type` column must be at the same position in every layout",
            ));
        }
        let mut referenced: Vec<&str> = Vec::new();
        referenced.extend(event.action.iter().map(|a| a.column.as_str()));
        referenced.extend(event.types.iter().map(|t| t.column.as_str()));
        referenced.extend(event.outcome.iter().filter_map(|o| o.column.as_deref()));
        for col in referenced {
            if layout.index_of(col).is_none() {
                return Err(invalid(
                    file,
                    format!(
                        "event rules use column '{col}', missing from layout {}",
                        layout.name
                    ),
                ));
            }
        }
    }
    let type_index = type_index.unwrap_or(3);
    if type_index > 8 {
        return Err(invalid(
            file,
            "the `type` column must be among the first columns",
        ));
    }
    Ok(LogType {
        name: doc.log_type,
        aliases: doc.aliases,
        file: file.to_string(),
        type_index,
        event,
        layouts,
    })
}

// ---- per-record helpers ---------------------------------------------------------------------

/// Splits one CSV line into fields (quotes handled), into a reusable Vec to avoid allocation.
///
/// A field that starts with `"` runs to the matching quote, with `""` standing for one quote; only
/// such fields, and fields with invalid UTF-8 (replaced lossily), are copied. A trailing CR/LF is
/// ignored.
pub fn split_fields<'a>(line: &'a [u8], out: &mut Vec<Cow<'a, str>>) {
    out.clear();
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = &line[..end];
    // One validation for the whole line; the fields of a valid line are then plain sub-slices.
    match std::str::from_utf8(line) {
        Ok(text) => split_with(line, out, |a, b| {
            Cow::Borrowed(text.get(a..b).unwrap_or(""))
        }),
        Err(_) => split_with(line, out, |a, b| {
            crate::doc::lossy(line.get(a..b).unwrap_or(&[]))
        }),
    }
}

/// The split loop. PAN-OS fields are a few bytes long on average, so a search restarted per field
/// (`memchr`) costs more than it saves; instead each 16-byte chunk gives one mask of its commas and
/// quotes (`crate::scan`), and the loop steps through the mask's bits.
#[inline(always)]
fn split_with<'a>(
    line: &'a [u8],
    out: &mut Vec<Cow<'a, str>>,
    field: impl Fn(usize, usize) -> Cow<'a, str>,
) {
    let mut start = 0;
    let mut at = 0;
    'chunks: while at < line.len() {
        let (c, _) = crate::scan::chunk(line, at, b' ');
        let mut mask = crate::scan::eq2(&c, b',', b'"');
        while mask != 0 {
            let i = at + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if line[i] == b',' {
                out.push(field(start, i));
                start = i + 1;
            } else if i == start {
                let (value, used) = quoted_field(&line[i..]);
                out.push(value);
                // `used` ends at a comma or the end of the line.
                let next = i + used;
                if next >= line.len() {
                    return;
                }
                start = next + 1;
                at = start;
                continue 'chunks;
            }
            // A quote inside an unquoted field is an ordinary byte.
        }
        at += crate::scan::CHUNK;
    }
    out.push(field(start, line.len()));
}

/// A quoted field at the start of `s`: its text and the bytes consumed (up to, not including, the
/// separating comma). Text after the closing quote and before the comma is kept verbatim.
fn quoted_field(s: &[u8]) -> (Cow<'_, str>, usize) {
    let body = &s[1..];
    let mut i = 0;
    let mut doubled = false;
    let close = loop {
        match memchr::memchr(b'"', &body[i..]) {
            Some(j) => {
                let q = i + j;
                if body.get(q + 1) == Some(&b'"') {
                    doubled = true;
                    i = q + 2;
                } else {
                    break Some(q);
                }
            }
            None => break None,
        }
    };
    let Some(close) = close else {
        // Unterminated: the rest of the line is the field.
        return (unescape(body, doubled), s.len());
    };
    let inner = &body[..close];
    let after = &body[close + 1..];
    let tail_len = memchr::memchr(b',', after).unwrap_or(after.len());
    let consumed = 1 + close + 1 + tail_len;
    if tail_len == 0 {
        (unescape(inner, doubled), consumed)
    } else {
        let mut text = unescape(inner, doubled).into_owned();
        text.push_str(&crate::doc::lossy(&after[..tail_len]));
        (Cow::Owned(text), consumed)
    }
}

fn unescape(bytes: &[u8], doubled: bool) -> Cow<'_, str> {
    let text = crate::doc::lossy(bytes);
    if doubled {
        Cow::Owned(text.replace("\"\"", "\""))
    } else {
        text
    }
}

/// Cheap check used by tests/detection: column 4 is a known log type and column 2 a PAN-OS time.
/// AUDIT lines, which start at the serial number, have their type in column 3.
pub fn looks_like_panos(payload: &[u8]) -> bool {
    let mut cols: [&[u8]; 4] = [&[]; 4];
    let mut n = 0;
    let mut rest = payload;
    while n < 4 {
        match memchr::memchr(b',', rest) {
            Some(i) => {
                cols[n] = &rest[..i];
                rest = &rest[i + 1..];
            }
            None => {
                cols[n] = rest;
                rest = &[];
            }
        }
        n += 1;
        if rest.is_empty() {
            break;
        }
    }
    if !is_panos_time(cols[1]) {
        return false;
    }
    let known = |c: &[u8]| KNOWN_TYPES.iter().any(|t| t.as_bytes() == c);
    (n >= 4 && known(cols[3])) || cols[2].eq_ignore_ascii_case(b"AUDIT")
}

/// `YYYY/MM/DD HH:MM:SS` (PAN-OS) or `YYYY-MM-DDTHH:MM:SS…` (Cortex/Strata forwarding).
pub fn is_panos_time(s: &[u8]) -> bool {
    if s.len() < 19 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| s[r].iter().all(u8::is_ascii_digit);
    let sep_ok = matches!((s[4], s[7]), (b'/', b'/') | (b'-', b'-'))
        && matches!(s[10], b' ' | b'T')
        && s[13] == b':'
        && s[16] == b':';
    sep_ok
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
}

#[cfg(test)]
mod tests;
