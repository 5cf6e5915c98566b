//! Per-record routing: `routes:` compiled once per configuration into a table that the processor
//! threads evaluate while each record's `Doc` is alive, giving one bit per output.
//!
//! A record's outputs are the union of (1) the outputs whose `inputs:` name its input, the rule
//! Sluice always had, and (2) the `to:` of the routes it matches, tried in order until one that
//! matches without `continue: true`. A record with no output goes to `unrouted:` if set, else it is
//! dropped and counted. Evaluating allocates nothing: field values are compared in place.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, RouteConfig, When};
use crate::doc::{Doc, Value};
use crate::source_type::SourceType;

/// At most this many outputs take part in routing: a record's outputs are one `u64`.
pub const MAX_OUTPUTS: usize = 64;

/// Bits of output indices (the position of the output's name in `outputs:`, sorted).
pub type OutputMask = u64;

/// A configuration mistake in `routes:`/`unrouted:`, with the key path it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProblem {
    pub key: String,
    pub message: String,
}

/// The compiled routing of one configuration; shared read-only by the processor threads.
#[derive(Debug)]
pub struct RouteTable {
    /// Output names by index.
    outputs: Vec<Arc<str>>,
    /// Outputs every record of an input goes to (outputs' `inputs:`).
    by_input: HashMap<Arc<str>, OutputMask>,
    routes: Vec<Route>,
    unrouted: OutputMask,
}

#[derive(Debug)]
struct Route {
    name: Arc<str>,
    when: Option<Cond>,
    to: OutputMask,
    continue_: bool,
}

#[derive(Debug)]
enum Cond {
    SourceType(Vec<String>),
    Input(Vec<String>),
    Equals(String, Scalar),
    Regex(String, regex::Regex),
    Exists(String),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

/// An `equals:` value, with its number form precomputed so `"443"` matches `443`.
#[derive(Debug)]
struct Scalar {
    text: Option<String>,
    int: Option<i64>,
    float: Option<f64>,
    boolean: Option<bool>,
}

/// Per-batch counts of records per route (index = route; the last slot is `unrouted`), flushed to
/// the shared counters once per batch.
#[derive(Debug)]
pub struct RouteTally {
    pub per_route: Vec<u64>,
    /// Records that went nowhere: dropped and counted.
    pub dropped: u64,
}

impl RouteTable {
    /// Compiles `cfg.routes`; problems name their key (`routes[2].when.regex`).
    pub fn compile(cfg: &Config) -> Result<Self, Vec<RouteProblem>> {
        let mut problems = Vec::new();
        let outputs: Vec<Arc<str>> = cfg.outputs.keys().map(|k| Arc::from(k.as_str())).collect();
        if outputs.len() > MAX_OUTPUTS {
            problems.push(RouteProblem {
                key: "routes".into(),
                message: format!("routing supports at most {MAX_OUTPUTS} outputs"),
            });
            return Err(problems);
        }
        let index = |name: &str| outputs.iter().position(|o| &**o == name);
        let bit = |i: usize| if i < MAX_OUTPUTS { 1u64 << i } else { 0 };
        let mut by_input: HashMap<Arc<str>, OutputMask> = HashMap::new();
        for (i, oc) in cfg.outputs.values().enumerate() {
            for input in oc.common().inputs {
                *by_input.entry(Arc::from(input.as_str())).or_default() |= bit(i);
            }
        }
        let names: Vec<&str> = cfg.outputs.keys().map(String::as_str).collect();
        let unknown_output = |name: &str| {
            let mut m = format!("no output named `{name}`");
            match crate::config::did_you_mean(name, &names) {
                Some(best) => m.push_str(&format!(", did you mean `{best}`?")),
                None => m.push_str(&format!(" (outputs: {})", names.join(", "))),
            }
            m
        };
        let mut routes = Vec::new();
        for (i, rc) in cfg.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            routes.push(compile_route(
                rc,
                &key,
                &index,
                &unknown_output,
                &mut problems,
            ));
        }
        let mut unrouted = 0;
        if let Some(name) = &cfg.unrouted {
            match index(name) {
                Some(i) => unrouted = bit(i),
                None => problems.push(RouteProblem {
                    key: "unrouted".into(),
                    message: unknown_output(name),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(RouteTable {
            outputs,
            by_input,
            routes,
            unrouted,
        })
    }

    /// Output names by bit index.
    pub fn outputs(&self) -> &[Arc<str>] {
        &self.outputs
    }

    /// Route names, for the `route` label; `unrouted` is last.
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.routes
            .iter()
            .map(|r| &*r.name)
            .chain(std::iter::once("unrouted"))
    }

    /// True when nothing depends on the record itself: every record of an input goes to the same
    /// outputs, so the processor need not call `route` at all.
    pub fn is_static(&self) -> bool {
        self.routes.is_empty() && self.unrouted == 0
    }

    /// The outputs that take every record of `input` (outputs' `inputs:`).
    pub fn input_mask(&self, input: &str) -> OutputMask {
        self.by_input.get(input).copied().unwrap_or(0)
    }

    pub fn tally(&self) -> RouteTally {
        RouteTally {
            per_route: vec![0; self.routes.len() + 1],
            dropped: 0,
        }
    }

    /// The outputs of one record. `base` is `input_mask(input)`.
    pub fn route(
        &self,
        base: OutputMask,
        input: &str,
        source_type: &SourceType,
        doc: &Doc,
        tally: &mut RouteTally,
    ) -> OutputMask {
        let mut mask = base;
        for (i, r) in self.routes.iter().enumerate() {
            let hit = match &r.when {
                None => true,
                Some(c) => c.eval(input, source_type, doc),
            };
            if hit {
                mask |= r.to;
                if let Some(n) = tally.per_route.get_mut(i) {
                    *n += 1;
                }
                if !r.continue_ {
                    break;
                }
            }
        }
        if mask == 0 {
            if self.unrouted != 0 {
                mask = self.unrouted;
                if let Some(n) = tally.per_route.last_mut() {
                    *n += 1;
                }
            } else {
                tally.dropped += 1;
            }
        }
        mask
    }
}

fn compile_route(
    rc: &RouteConfig,
    key: &str,
    index: &dyn Fn(&str) -> Option<usize>,
    unknown_output: &dyn Fn(&str) -> String,
    problems: &mut Vec<RouteProblem>,
) -> Route {
    let mut to = 0;
    if rc.to.is_empty() {
        problems.push(RouteProblem {
            key: format!("{key}.to"),
            message: "expected at least one output name".into(),
        });
    }
    for name in &rc.to {
        match index(name) {
            Some(i) if i < MAX_OUTPUTS => to |= 1u64 << i,
            _ => problems.push(RouteProblem {
                key: format!("{key}.to"),
                message: unknown_output(name),
            }),
        }
    }
    let when = rc
        .when
        .as_ref()
        .map(|w| compile_when(w, &format!("{key}.when"), problems));
    Route {
        name: Arc::from(rc.name.clone().unwrap_or_else(|| key.to_string())),
        when,
        to,
        continue_: rc.continue_,
    }
}

fn compile_when(w: &When, key: &str, problems: &mut Vec<RouteProblem>) -> Cond {
    let mut all = Vec::new();
    let mut problem = |k: &str, message: String| {
        problems.push(RouteProblem {
            key: format!("{key}.{k}"),
            message,
        })
    };
    if let Some(t) = &w.source_type {
        all.push(Cond::SourceType(t.as_slice().to_vec()));
    }
    if let Some(i) = &w.input {
        all.push(Cond::Input(i.as_slice().to_vec()));
    }
    if let Some(f) = &w.exists {
        all.push(Cond::Exists(f.clone()));
    }
    match (&w.field, &w.equals, &w.regex) {
        (None, None, None) => {}
        (None, _, _) => problem(
            "field",
            "`equals` and `regex` need the `field` they test".into(),
        ),
        (Some(_), None, None) => problem(
            "field",
            "expected `equals` or `regex` beside `field` (or use `exists: <field>`)".into(),
        ),
        (Some(f), eq, re) => {
            if let Some(v) = eq {
                match Scalar::from_json(v) {
                    Some(s) => all.push(Cond::Equals(f.clone(), s)),
                    None => problem("equals", "expected a string, a number or a boolean".into()),
                }
            }
            if let Some(r) = re {
                match regex::Regex::new(r) {
                    Ok(re) => all.push(Cond::Regex(f.clone(), re)),
                    Err(e) => problem("regex", format!("not a valid regular expression: {e}")),
                }
            }
        }
    }
    let mut nested = |list: &Option<Vec<When>>, name: &str| {
        list.as_ref().map(|l| {
            if l.is_empty() {
                problems.push(RouteProblem {
                    key: format!("{key}.{name}"),
                    message: "expected at least one condition".into(),
                });
            }
            l.iter()
                .enumerate()
                .map(|(i, w)| compile_when(w, &format!("{key}.{name}[{i}]"), problems))
                .collect::<Vec<_>>()
        })
    };
    if let Some(any) = nested(&w.any, "any") {
        all.push(Cond::Any(any));
    }
    if let Some(list) = nested(&w.all, "all") {
        all.push(Cond::All(list));
    }
    if let Some(n) = &w.not {
        all.push(Cond::Not(Box::new(compile_when(
            n,
            &format!("{key}.not"),
            problems,
        ))));
    }
    if all.is_empty() {
        problems.push(RouteProblem {
            key: key.to_string(),
            message: "empty condition: expected source_type, input, field with equals or regex, exists, any, all or not (leave `when` out for a default route)".into(),
        });
    }
    if all.len() == 1 {
        all.pop().unwrap_or(Cond::All(Vec::new()))
    } else {
        Cond::All(all)
    }
}

impl Cond {
    fn eval(&self, input: &str, st: &SourceType, doc: &Doc) -> bool {
        match self {
            Cond::SourceType(names) => names.iter().any(|n| n == st.as_str()),
            Cond::Input(names) => names.iter().any(|n| n == input),
            Cond::Exists(f) => !matches!(
                lookup(doc, f),
                None | Some(Field::Json(serde_json::Value::Null))
            ),
            Cond::Equals(f, want) => lookup(doc, f).is_some_and(|v| want.matches(v)),
            Cond::Regex(f, re) => {
                lookup(doc, f).is_some_and(|v| v.as_str().is_some_and(|s| re.is_match(s)))
            }
            Cond::All(list) => list.iter().all(|c| c.eval(input, st, doc)),
            Cond::Any(list) => list.iter().any(|c| c.eval(input, st, doc)),
            Cond::Not(c) => !c.eval(input, st, doc),
        }
    }
}

/// A field's value: a `Doc` value, or a value inside kept JSON (`json.*`) or an object.
enum Field<'a> {
    Doc(&'a Value),
    Json(&'a serde_json::Value),
}

impl Field<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Field::Doc(v) => v.as_str(),
            Field::Json(v) => v.as_str(),
        }
    }
}

/// The value at a dotted path: a key of the document or a member spliced into a parent
/// (`Doc::lookup`), or a path into a JSON/object value stored under a shorter key
/// (`json.user.name` inside `json`).
fn lookup<'a>(doc: &'a Doc, path: &str) -> Option<Field<'a>> {
    if let Some(v) = doc.lookup(path) {
        return Some(Field::Doc(v));
    }
    let mut cut = path.len();
    while let Some(dot) = path[..cut].rfind('.') {
        cut = dot;
        let Some(v) = doc.get(&path[..dot]) else {
            continue;
        };
        let rest = &path[dot + 1..];
        return match v {
            Value::Json(j) => rest
                .split('.')
                .try_fold(&**j, |j, k| j.get(k))
                .map(Field::Json),
            Value::Object(o) => {
                let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
                let v = o.iter().find(|(k, _)| k == head).map(|(_, v)| v)?;
                match (tail.is_empty(), v) {
                    (true, v) => Some(Field::Doc(v)),
                    (false, Value::Json(j)) => tail
                        .split('.')
                        .try_fold(&**j, |j, k| j.get(k))
                        .map(Field::Json),
                    _ => None,
                }
            }
            _ => None,
        };
    }
    None
}

impl Scalar {
    fn from_json(v: &serde_json::Value) -> Option<Scalar> {
        let mut s = Scalar {
            text: None,
            int: None,
            float: None,
            boolean: None,
        };
        match v {
            serde_json::Value::String(t) => {
                s.int = t.parse().ok();
                s.float = t.parse().ok().filter(|f: &f64| f.is_finite());
                s.boolean = t.parse().ok();
                s.text = Some(t.clone());
            }
            serde_json::Value::Number(n) => {
                s.int = n.as_i64();
                s.float = n.as_f64();
                s.text = Some(n.to_string());
            }
            serde_json::Value::Bool(b) => {
                s.boolean = Some(*b);
                s.text = Some(b.to_string());
            }
            _ => return None,
        }
        Some(s)
    }

    fn matches(&self, v: Field<'_>) -> bool {
        match v {
            Field::Doc(Value::Str(t)) => self.text.as_deref() == Some(t.as_str()),
            Field::Doc(Value::Int(i)) => self.int == Some(*i),
            Field::Doc(Value::Float(f)) => self.float == Some(*f),
            Field::Doc(Value::Bool(b)) => self.boolean == Some(*b),
            Field::Doc(Value::Json(j)) => self.matches(Field::Json(j)),
            Field::Json(j) => match j {
                serde_json::Value::String(t) => self.text.as_deref() == Some(t.as_str()),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => self.int == Some(i),
                    None => n.as_f64().is_some() && self.float == n.as_f64(),
                },
                serde_json::Value::Bool(b) => self.boolean == Some(*b),
                _ => false,
            },
            // A list matches when one element does (`tags`, `related.ip`).
            Field::Doc(Value::Array(items)) => items.iter().any(|i| self.matches(Field::Doc(i))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
