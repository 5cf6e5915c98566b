//! Detection rules as data: the YAML model of `detection-rules/*.yaml` and its validation.
//!
//! The format is documented in `detection-rules/README.md`.

use std::path::Path;

use serde::Deserialize;

use super::sniff::Shape;
use crate::source_type::SourceType;

/// One rules file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub rules: Vec<RuleSpec>,
}

/// One rule: a source type, where to look, and weighted markers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub source_type: String,
    /// Shapes the record must have for the rule to be scored; empty means any.
    #[serde(default)]
    pub shapes: Vec<Shape>,
    /// Also score the message inside a syslog header (the record stays syslog-wrapped).
    #[serde(default)]
    pub in_syslog: bool,
    /// Minimum score (sum of matched weights, capped at 1) to claim the record.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Literal and JSON-key markers are looked for in this many leading bytes.
    #[serde(default = "default_scan_bytes")]
    pub scan_bytes: usize,
    pub markers: Vec<MarkerSpec>,
}

fn default_scan_bytes() -> usize {
    1024
}

fn default_threshold() -> f32 {
    0.5
}

/// A marker: exactly one of `literal`, `regex`, `json_key`, `csv` or `shape`, with a weight
/// (negative weights count against).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerSpec {
    #[serde(default)]
    pub literal: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub json_key: Option<String>,
    #[serde(default)]
    pub csv: Option<CsvSpec>,
    #[serde(default)]
    pub shape: Option<Shape>,
    pub weight: f32,
}

/// A CSV column (0-based) that must hold one of `values` or match `regex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    pub column: usize,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub regex: Option<String>,
}

/// A rules file that cannot be used; names the file, the rule and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: rule `{rule}`: {message}")]
    Invalid {
        file: String,
        rule: String,
        message: String,
    },
}

/// How a marker is tested, after compilation.
#[derive(Debug)]
pub(crate) enum Test {
    /// Index into the shared literal automaton's patterns (one or more, all required).
    Literals(Vec<usize>),
    Regex(RegexTest),
    Csv {
        column: usize,
        values: Vec<Vec<u8>>,
        regex: Option<regex::bytes::Regex>,
    },
    Shape(u8),
}

/// A regex marker with, when its text shows one, a byte every match holds: a record without that
/// byte is rejected for a few instructions instead of the hundreds an `is_match` call costs.
#[derive(Debug)]
pub(crate) struct RegexTest {
    re: regex::bytes::Regex,
    need: Option<Need>,
}

/// A byte that every match of a regex holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// As the first byte of the haystack (`^x...`).
    First(u8),
    /// Anywhere.
    Any(u8),
}

impl RegexTest {
    fn new(re: regex::bytes::Regex) -> Self {
        let need = needed_byte(re.as_str());
        RegexTest { re, need }
    }

    pub fn is_match(&self, data: &[u8]) -> bool {
        match self.need {
            Some(Need::First(b)) if data.first() != Some(&b) => false,
            Some(Need::Any(b)) if memchr::memchr(b, data).is_none() => false,
            _ => self.re.is_match(data),
        }
    }
}

/// The first character of a pattern (after an optional `^`) when it is plain ASCII, not optional
/// and without a top-level alternative. Only a conservative reading of the text, so flags
/// (`(?i)`, `(?x)`) and classes (which hide `(` and `|`) give `None`.
fn needed_byte(pattern: &str) -> Option<Need> {
    let p = pattern.as_bytes();
    let (anchored, rest) = match p.split_first()? {
        (b'^', rest) => (true, rest),
        _ => (false, p),
    };
    let &c = rest.first()?;
    if !(c.is_ascii_alphanumeric() || b"%<>:/=,;@!\"'_-".contains(&c))
        || matches!(rest.get(1), Some(b'?' | b'*' | b'{'))
    {
        return None;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = p.get(i) {
        match b {
            b'\\' => i += 1,
            b'[' => return None,
            b'(' => {
                if p.get(i + 1) == Some(&b'?') && p.get(i + 2) != Some(&b':') {
                    return None;
                }
                depth += 1;
            }
            b')' => depth = depth.checked_sub(1)?,
            b'|' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    Some(if anchored {
        Need::First(c)
    } else {
        Need::Any(c)
    })
}

#[derive(Debug)]
pub(crate) struct Marker {
    pub test: Test,
    pub weight: f32,
}

/// A validated rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub name: String,
    pub file: String,
    pub source_type: SourceType,
    /// Bit set of required shapes (any of them); 0 = any.
    pub shapes: u8,
    pub in_syslog: bool,
    pub threshold: f32,
    pub scan_bytes: usize,
    pub markers: Vec<Marker>,
    /// Has literal or JSON-key markers (needs the automaton pass).
    pub uses_literals: bool,
    /// Sum of positive weights: the best score the rule can reach.
    pub max_score: f32,
    /// Has markers with negative weights, so scanning cannot stop early on a full score.
    pub has_negative: bool,
}

/// Parses one file's text.
pub(crate) fn parse_file(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| RuleError::Yaml {
        file: file.to_string(),
        message: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("{}: {}", e.path(), e.inner())
        },
    })
}

/// Reads and parses a file from disk.
pub(crate) fn read_file(path: &Path) -> Result<RuleFile, RuleError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RuleError::Io {
        file: file.clone(),
        source,
    })?;
    parse_file(&file, &text)
}

/// Validates a rule; literals and JSON keys are appended to `literals` (shared automaton).
pub(crate) fn compile(
    file: &str,
    spec: RuleSpec,
    literals: &mut Vec<Vec<u8>>,
) -> Result<Rule, RuleError> {
    let invalid = |message: String| RuleError::Invalid {
        file: file.to_string(),
        rule: spec.name.clone(),
        message,
    };
    if spec.source_type.trim().is_empty() || spec.source_type == "unknown" {
        return Err(invalid(
            "source_type: expected a type name other than `unknown`".into(),
        ));
    }
    if !(0.0..=1.0).contains(&spec.threshold) || spec.threshold == 0.0 {
        return Err(invalid(format!(
            "threshold: expected a number in (0, 1], got {}",
            spec.threshold
        )));
    }
    if spec.markers.is_empty() {
        return Err(invalid("markers: expected at least one marker".into()));
    }
    let mut markers = Vec::with_capacity(spec.markers.len());
    for (i, m) in spec.markers.iter().enumerate() {
        let at = |msg: &str| invalid(format!("markers[{i}]: {msg}"));
        if !m.weight.is_finite() || m.weight.abs() > 1.0 || m.weight == 0.0 {
            return Err(at("weight: expected a non-zero number in [-1, 1]"));
        }
        let kinds = [
            m.literal.is_some(),
            m.regex.is_some(),
            m.json_key.is_some(),
            m.csv.is_some(),
            m.shape.is_some(),
        ];
        if kinds.iter().filter(|&&k| k).count() != 1 {
            return Err(at(
                "expected exactly one of `literal`, `regex`, `json_key`, `csv`, `shape`",
            ));
        }
        let regex = |r: &str| {
            regex::bytes::Regex::new(r).map_err(|e| at(&format!("regex: invalid regex: {e}")))
        };
        let test = if let Some(l) = &m.literal {
            if l.is_empty() {
                return Err(at("literal: expected a non-empty string"));
            }
            Test::Literals(vec![intern(literals, l.as_bytes().to_vec())])
        } else if let Some(r) = &m.regex {
            Test::Regex(RegexTest::new(regex(r)?))
        } else if let Some(k) = &m.json_key {
            if k.is_empty() || k.split('.').any(str::is_empty) {
                return Err(at(
                    "json_key: expected a key or a dotted path such as `Event.System`",
                ));
            }
            let ids = k
                .split('.')
                .map(|seg| intern(literals, format!("\"{seg}\":").into_bytes()))
                .collect();
            Test::Literals(ids)
        } else if let Some(c) = &m.csv {
            if c.values.is_empty() == c.regex.is_none() {
                return Err(at("csv: expected exactly one of `values` or `regex`"));
            }
            Test::Csv {
                column: c.column,
                values: c.values.iter().map(|v| v.as_bytes().to_vec()).collect(),
                regex: c.regex.as_deref().map(regex).transpose()?,
            }
        } else if let Some(s) = m.shape {
            Test::Shape(s.bit())
        } else {
            return Err(at("expected a marker"));
        };
        markers.push(Marker {
            test,
            weight: m.weight,
        });
    }
    let max_score: f32 = markers.iter().map(|m| m.weight.max(0.0)).sum();
    if max_score < spec.threshold {
        return Err(invalid(format!(
            "threshold {} can never be reached: the positive weights add up to {max_score}",
            spec.threshold
        )));
    }
    Ok(Rule {
        name: spec.name.clone(),
        file: file.to_string(),
        source_type: SourceType::from_name(spec.source_type.trim()),
        shapes: spec.shapes.iter().fold(0, |acc, s| acc | s.bit()),
        in_syslog: spec.in_syslog,
        threshold: spec.threshold,
        scan_bytes: spec.scan_bytes.clamp(1, super::SCAN_LIMIT),
        uses_literals: markers.iter().any(|m| matches!(m.test, Test::Literals(_))),
        has_negative: markers.iter().any(|m| m.weight < 0.0),
        markers,
        max_score,
    })
}

/// The index of `pattern` in `literals`, added if new.
fn intern(literals: &mut Vec<Vec<u8>>, pattern: Vec<u8>) -> usize {
    match literals.iter().position(|p| *p == pattern) {
        Some(i) => i,
        None => {
            literals.push(pattern);
            literals.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(pattern: &str) -> RegexTest {
        RegexTest::new(regex::bytes::Regex::new(pattern).expect("valid test pattern"))
    }

    #[test]
    fn needed_byte_only_when_sound() {
        let need = |p: &str| test(p).need;
        assert_eq!(
            need(r"%(?:ASA|FTD|PIX|FWSM)-\d-\d{6}:"),
            Some(Need::Any(b'%'))
        );
        assert_eq!(need(r"^<\d{1,3}>1 "), Some(Need::First(b'<')));
        assert_eq!(need("a+b"), Some(Need::Any(b'a')));
        assert_eq!(need(r"a\|b"), Some(Need::Any(b'a')));
        for p in [
            "a|b",
            "(a)|b",
            "a?b",
            "a*b",
            "a{0,2}b",
            "(?i)a",
            "a(?i)b|c",
            "a(?x)# (\n|b",
            "a[|]b|c",
            r"\da",
            ".a",
            "^(a)",
            "^a|b",
            r"(?m)^EventCode=\d+\r?$",
            "",
            "^",
        ] {
            assert_eq!(need(p), None, "{p}");
        }
    }

    #[test]
    fn skipping_by_needed_byte_agrees_with_the_regex() {
        let patterns = [
            r"%(?:ASA|FTD|PIX|FWSM)-\d-\d{6}:",
            r"^<\d{1,3}>1 ",
            "a+b",
            r"a\|b",
            "a(b|c)",
            "a(?:x|)b",
            "a|b",
            "a?b",
            "(?i)a",
        ];
        let inputs: [&[u8]; 14] = [
            b"",
            b"%",
            b"<134>1 2025-11-06T11:32:42Z fw filterlog 9 - - msg",
            b"<134>Oct 11 22:14:15 fw x",
            b" <134>1 x",
            b"<13>Oct 11 22:14:15 asa : %ASA-4-106023: Deny tcp",
            b"<13>Oct 11 22:14:15 asa : %ASA-4-10602: Deny tcp",
            b"Oct 11 22:14:15 host %FWSM-6-302013: Built",
            b"aab",
            b"a|b",
            b"ab ac axb",
            b"A",
            b"b",
            b"\xff\xfe%FTD-1-123456:",
        ];
        for p in patterns {
            let t = test(p);
            for data in inputs {
                assert_eq!(t.is_match(data), t.re.is_match(data), "{p} on {data:?}");
            }
        }
    }
}
