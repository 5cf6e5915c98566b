//! Source-type detection: a structural sniff, then weighted markers from `detection-rules/*.yaml`.
//!
//! The rules are data so that a new source type needs no Rust. Scoring one record costs one pass
//! of a shared Aho-Corasick DFA over its first bytes (all literals and JSON keys of all rules at
//! once, as far as the largest `scan_bytes` of the rules whose shapes match), plus the regex and
//! CSV markers of those rules. For JSON and XML records a scan of the `"` or `<` bytes
//! (`keyscan`) stands in for the DFA with the same results at a fraction of the cost.
//! Syslog is a transport: when a record has a syslog header, the message inside is scored first
//! against the rules marked `in_syslog`, so a PAN-OS line or a Windows event keeps its own type.

mod keyscan;
mod rules;
pub mod sniff;

use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

pub use rules::RuleError;
use rules::{Rule, Test};

use crate::source_type::SourceType;

/// Regex and CSV markers look at this many bytes from the start of the record; it also caps
/// `scan_bytes`.
pub const SCAN_LIMIT: usize = 8192;

/// A score this close to 1 is certain; sums of weights such as 0.1 fall just short of 1.0.
const FULL_SCORE: f32 = 1.0 - EPSILON;
const EPSILON: f32 = 1e-4;

/// The built-in rules, compiled into the binary so that Sluice runs without its data files.
const BUILTIN: &[(&str, &str)] = &[
    (
        "windows.yaml",
        include_str!("../../detection-rules/windows.yaml"),
    ),
    (
        "cloudtrail.yaml",
        include_str!("../../detection-rules/cloudtrail.yaml"),
    ),
    (
        "panos.yaml",
        include_str!("../../detection-rules/panos.yaml"),
    ),
    (
        "syslog.yaml",
        include_str!("../../detection-rules/syslog.yaml"),
    ),
];

/// The verdict for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub source_type: SourceType,
    /// The winning rule's score in 0–1; for `unknown`, the best score that fell short.
    pub confidence: f32,
    /// Where the payload starts when the record is that type wrapped in a syslog header.
    pub syslog_payload: Option<usize>,
}

impl Detection {
    pub fn unknown(confidence: f32) -> Self {
        Detection {
            source_type: SourceType::Unknown,
            confidence,
            syslog_payload: None,
        }
    }

    /// A verdict fixed by configuration (an input's `source_type`).
    pub fn fixed(source_type: SourceType) -> Self {
        Detection {
            source_type,
            confidence: 1.0,
            syslog_payload: None,
        }
    }

    /// `unknown` (keeping the score) when below `pipeline.detect.min_confidence`.
    pub fn at_least(self, min_confidence: f32) -> Self {
        if self.confidence < min_confidence {
            Detection::unknown(self.confidence)
        } else {
            self
        }
    }
}

/// Compiled rules, shared read-only by all processor threads.
#[derive(Debug)]
pub struct Detector {
    rules: Vec<Rule>,
    literals: Option<AhoCorasick>,
    literal_count: usize,
    /// For each literal pattern, the `(rule, marker)` pairs that use it.
    by_pattern: Vec<Vec<(usize, usize)>>,
    /// Union of the shapes of `in_syslog` rules (all bits if one accepts any shape).
    payload_shapes: u8,
    /// Anchor-byte scans that replace the automaton, by [`plan_index`] of the record's shapes.
    plans: Vec<Option<keyscan::Plan>>,
    plan_of: Vec<Option<usize>>,
}

/// Which rules are scored on a record of `shapes` (the message inside a syslog header when
/// `payload_only`).
fn rule_applies(r: &Rule, shapes: u8, payload_only: bool) -> bool {
    (r.shapes == 0 || r.shapes & shapes != 0) && (!payload_only || r.in_syslog)
}

/// The shape sets [`sniff::shapes`] gives. Plans are built for these only (for all 64 shape and
/// payload combinations the checks cost 1.1M instructions at start-up); any other set keeps the
/// automaton.
const SHAPE_SETS: [u8; 6] = {
    use sniff::Shape::{Csv, Json, Syslog, Text, Xml};
    [
        Json.bit(),
        Xml.bit(),
        Text.bit(),
        Text.bit() | Syslog.bit(),
        Text.bit() | Csv.bit(),
        Text.bit() | Syslog.bit() | Csv.bit(),
    ]
};

fn plan_index(shapes: u8, payload_only: bool) -> usize {
    usize::from(shapes) * 2 + usize::from(payload_only)
}

impl Detector {
    /// The rules shipped in `detection-rules/`.
    pub fn builtin() -> Result<Self, RuleError> {
        let files = BUILTIN
            .iter()
            .map(|(name, text)| {
                Ok((
                    format!("detection-rules/{name}"),
                    rules::parse_file(&format!("detection-rules/{name}"), text)?,
                ))
            })
            .collect::<Result<Vec<_>, RuleError>>()?;
        Self::from_files(files)
    }

    /// The built-in rules plus every `*.yaml` in `dir`; a file named like a built-in one
    /// (`panos.yaml`) replaces it.
    pub fn from_dir(dir: &Path) -> Result<Self, RuleError> {
        let entries = std::fs::read_dir(dir).map_err(|source| RuleError::Io {
            file: dir.display().to_string(),
            source,
        })?;
        let mut local: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
            })
            .collect();
        local.sort();
        let local_names: Vec<String> = local
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let mut files = Vec::new();
        for (name, text) in BUILTIN {
            if !local_names.iter().any(|n| n == name) {
                let file = format!("detection-rules/{name}");
                files.push((file.clone(), rules::parse_file(&file, text)?));
            }
        }
        for path in &local {
            files.push((path.display().to_string(), rules::read_file(path)?));
        }
        Self::from_files(files)
    }

    fn from_files(files: Vec<(String, rules::RuleFile)>) -> Result<Self, RuleError> {
        let mut literals = Vec::new();
        let mut compiled: Vec<Rule> = Vec::new();
        for (file, f) in files {
            for spec in f.rules {
                if let Some(dup) = compiled.iter().find(|r| r.name == spec.name) {
                    return Err(RuleError::Invalid {
                        file,
                        rule: spec.name,
                        message: format!("name: already used by a rule in {}", dup.file),
                    });
                }
                let mut rule = rules::compile(&file, spec, &mut literals)?;
                // Cheap markers first, so that a rule out of reach stops before its regexes.
                rule.markers
                    .sort_by_key(|m| matches!(m.test, Test::Regex(_)));
                compiled.push(rule);
            }
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::DFA))
                    .prefilter(false)
                    .build(&literals)
                    .map_err(|e| RuleError::Yaml {
                        file: "detection-rules".into(),
                        message: format!("cannot build the literal matcher: {e}"),
                    })?,
            )
        };
        let payload_shapes = compiled.iter().filter(|r| r.in_syslog).fold(0, |acc, r| {
            acc | if r.shapes == 0 { u8::MAX } else { r.shapes }
        });
        let mut by_pattern = vec![Vec::new(); literals.len()];
        for (r, rule) in compiled.iter().enumerate() {
            for (k, m) in rule.markers.iter().enumerate() {
                if let Test::Literals(ids) = &m.test {
                    for &id in ids {
                        by_pattern[id].push((r, k));
                    }
                }
            }
        }
        // One plan per distinct set of patterns in play; many shape sets share each.
        let mut plans: Vec<(Vec<usize>, Option<keyscan::Plan>)> = Vec::new();
        let mut plan_of = vec![None; plan_index(u8::MAX, true) + 1];
        for shapes in SHAPE_SETS {
            for payload_only in [false, true] {
                let wanted: Vec<usize> = (0..literals.len())
                    .filter(|&id| {
                        by_pattern[id]
                            .iter()
                            .any(|&(r, _)| rule_applies(&compiled[r], shapes, payload_only))
                    })
                    .collect();
                plan_of[plan_index(shapes, payload_only)] =
                    Some(match plans.iter().position(|(w, _)| *w == wanted) {
                        Some(i) => i,
                        None => {
                            let plan = keyscan::Plan::new(&literals, &wanted);
                            plans.push((wanted, plan));
                            plans.len() - 1
                        }
                    });
            }
        }
        Ok(Detector {
            by_pattern,
            plans: plans.into_iter().map(|(_, p)| p).collect(),
            plan_of,
            rules: compiled,
            literal_count: literals.len(),
            literals: automaton,
            payload_shapes,
        })
    }

    /// Every source type some rule can produce, in rule order.
    pub fn source_types(&self) -> Vec<SourceType> {
        let mut out: Vec<SourceType> = Vec::new();
        for r in &self.rules {
            if !out.contains(&r.source_type) {
                out.push(r.source_type.clone());
            }
        }
        out
    }

    /// Detects the source type of one record.
    pub fn detect(&self, raw: &[u8]) -> Detection {
        let data = &raw[..raw.len().min(SCAN_LIMIT)];
        let (shapes, header) = sniff::shapes_and_header(data);
        let mut best_miss: f32 = 0.0;
        if self.payload_shapes != 0 {
            if let Some(h) = header {
                // Latest start first: with a host and a tag both present, the message proper.
                for start in sniff::payload_candidates(data, h)
                    .into_iter()
                    .rev()
                    .flatten()
                {
                    let payload = &data[start..];
                    let Some(ps) = sniff::shapes_if(payload, self.payload_shapes) else {
                        continue;
                    };
                    match self.score(payload, ps, true) {
                        Verdict::Hit(i, score) => {
                            return Detection {
                                source_type: self.rules[i].source_type.clone(),
                                confidence: score,
                                syslog_payload: Some(start),
                            }
                        }
                        Verdict::Miss(s) => best_miss = best_miss.max(s),
                    }
                }
            }
        }
        match self.score(data, shapes, false) {
            Verdict::Hit(i, score) => Detection {
                source_type: self.rules[i].source_type.clone(),
                confidence: score,
                syslog_payload: None,
            },
            Verdict::Miss(s) => Detection::unknown(best_miss.max(s)),
        }
    }

    /// The best rule reaching its threshold on `data`.
    fn score(&self, data: &[u8], shapes: u8, payload_only: bool) -> Verdict {
        let applies = |r: &Rule| rule_applies(r, shapes, payload_only);
        let mut hits = Hits::new(self.literal_count);
        let scan = self
            .rules
            .iter()
            .filter(|r| r.uses_literals && applies(r))
            .map(|r| r.scan_bytes)
            .max();
        if let (Some(n), Some(ac)) = (scan, &self.literals) {
            // Running literal scores, so the scan can stop once a rule without negative markers
            // is certain (score 1): most records are recognised in their first few hundred bytes.
            let mut small = [0f32; 32];
            let mut large = Vec::new();
            let running: &mut [f32] = if self.rules.len() <= small.len() {
                &mut small[..self.rules.len()]
            } else {
                large.resize(self.rules.len(), 0.0);
                &mut large
            };
            let mut on_match = |id: usize| {
                if hits.get(id) {
                    return false;
                }
                hits.set(id);
                for &(r, k) in &self.by_pattern[id] {
                    let rule = &self.rules[r];
                    if rule.has_negative || !applies(rule) {
                        continue;
                    }
                    let marker = &rule.markers[k];
                    if let Test::Literals(ids) = &marker.test {
                        if ids.iter().all(|&i| hits.get(i)) {
                            running[r] += marker.weight;
                            if running[r] >= FULL_SCORE {
                                return true;
                            }
                        }
                    }
                }
                false
            };
            let text = &data[..data.len().min(n)];
            let plan = self
                .plan_of
                .get(plan_index(shapes, payload_only))
                .and_then(|&i| self.plans.get(i?)?.as_ref());
            match plan {
                Some(plan) => plan.scan(text, &mut on_match),
                None => {
                    for m in ac.find_iter(text) {
                        if on_match(m.pattern().as_usize()) {
                            break;
                        }
                    }
                }
            }
        }
        let mut best: Option<(usize, f32)> = None;
        let mut best_miss: f32 = 0.0;
        for (i, rule) in self.rules.iter().enumerate() {
            if !applies(rule) {
                continue;
            }
            let mut score: f32 = 0.0;
            let mut remaining = rule.max_score;
            for m in &rule.markers {
                if !rule.has_negative && score + remaining < rule.threshold {
                    break;
                }
                if m.weight > 0.0 {
                    remaining -= m.weight;
                }
                let matched = match &m.test {
                    Test::Literals(ids) => ids.iter().all(|&id| hits.get(id)),
                    Test::Shape(bit) => shapes & bit != 0,
                    Test::Csv {
                        column,
                        values,
                        regex,
                    } => csv_column(data, *column).is_some_and(|v| match regex {
                        Some(re) => re.is_match(v),
                        None => values.iter().any(|x| x.as_slice() == v),
                    }),
                    Test::Regex(re) => re.is_match(data),
                };
                if matched {
                    score += m.weight;
                }
            }
            let score = score.clamp(0.0, 1.0);
            // Weights like 0.1 are inexact in binary: compare with a small tolerance.
            if score + EPSILON >= rule.threshold {
                if best.is_none_or(|(_, s)| score > s) {
                    best = Some((i, score));
                }
            } else {
                best_miss = best_miss.max(score);
            }
        }
        match best {
            Some((i, s)) => Verdict::Hit(i, s),
            None => Verdict::Miss(best_miss),
        }
    }
}

enum Verdict {
    Hit(usize, f32),
    Miss(f32),
}

/// Which literal patterns were seen: on the stack for up to 256 patterns.
enum Hits {
    Small([u64; 4]),
    Large(Vec<u64>),
}

impl Hits {
    fn new(n: usize) -> Self {
        if n <= 256 {
            Hits::Small([0; 4])
        } else {
            Hits::Large(vec![0; n.div_ceil(64)])
        }
    }

    fn words(&mut self) -> &mut [u64] {
        match self {
            Hits::Small(a) => a,
            Hits::Large(v) => v,
        }
    }

    fn set(&mut self, i: usize) {
        if let Some(w) = self.words().get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn get(&self, i: usize) -> bool {
        let words: &[u64] = match self {
            Hits::Small(a) => a,
            Hits::Large(v) => v,
        };
        words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Column `n` (0-based) of a comma-separated line; a quoted field is returned without its quotes.
fn csv_column(line: &[u8], n: usize) -> Option<&[u8]> {
    let mut i = 0;
    let mut col = 0;
    loop {
        let (field, next) = if line.get(i) == Some(&b'"') {
            let close = memchr::memchr(b'"', line.get(i + 1..)?)? + i + 1;
            let after = close + 1;
            match line.get(after) {
                Some(b',') | None => (&line[i + 1..close], after + 1),
                // `""` escapes and text after the quote: fall back to the raw field.
                _ => {
                    let end =
                        memchr::memchr(b',', &line[after..]).map_or(line.len(), |p| after + p);
                    (&line[i..end], end + 1)
                }
            }
        } else {
            let end =
                memchr::memchr(b',', &line[i.min(line.len())..]).map_or(line.len(), |p| i + p);
            (&line[i.min(end)..end], end + 1)
        };
        if col == n {
            return Some(field);
        }
        if next > line.len() {
            return None;
        }
        col += 1;
        i = next;
    }
}

#[cfg(test)]
mod tests;
