//! Topic and key templates: `{source_type}`, `{input}` and record fields such as
//! `{event.dataset}` or `{host.name}`. The record's JSON is parsed only when a template names a
//! field, and then once per record for both templates.

use std::fmt::Write as _;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Input,
    SourceType,
    /// A dotted path into the record's JSON (`host.name` is `{"host":{"name":…}}`).
    Field(Vec<String>),
}

/// The record's JSON, parsed on first use.
pub struct LazyDoc<'a> {
    raw: &'a [u8],
    parsed: Option<Option<serde_json::Value>>,
}

impl<'a> LazyDoc<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        LazyDoc { raw, parsed: None }
    }

    fn get(&mut self) -> Option<&serde_json::Value> {
        let raw = self.raw;
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(raw).ok())
            .as_ref()
    }
}

impl Template {
    pub fn parse(t: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = t.chars();
        while let Some(c) = chars.next() {
            if c == '}' {
                return Err(format!("a `}}` without its `{{` in `{t}`"));
            }
            if c != '{' {
                lit.push(c);
                continue;
            }
            let mut name = String::new();
            let mut closed = false;
            for n in chars.by_ref() {
                if n == '}' {
                    closed = true;
                    break;
                }
                name.push(n);
            }
            if !closed {
                return Err(format!("a `{{` without its `}}` in `{t}`"));
            }
            let name = name.trim();
            let part = match name {
                "input" => Part::Input,
                "source_type" => Part::SourceType,
                "" => return Err(format!("an empty `{{}}` in `{t}`")),
                path => {
                    let segs: Vec<String> = path.split('.').map(str::to_owned).collect();
                    if segs.iter().any(String::is_empty) {
                        return Err(format!("`{{{path}}}` is not a field path"));
                    }
                    Part::Field(segs)
                }
            };
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(part);
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// Whether rendering needs the record's fields.
    pub fn needs_fields(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The template's text when it has no placeholder at all.
    pub fn constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Renders into `out` (cleared first). A field the record lacks renders empty; strings render
    /// as their text, other values as compact JSON.
    pub fn render(&self, out: &mut String, input: &str, source_type: &str, doc: &mut LazyDoc<'_>) {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Input => out.push_str(input),
                Part::SourceType => out.push_str(source_type),
                Part::Field(path) => {
                    let mut v = doc.get();
                    for seg in path {
                        v = v.and_then(|v| v.get(seg));
                    }
                    match v {
                        None | Some(serde_json::Value::Null) => {}
                        Some(serde_json::Value::String(s)) => out.push_str(s),
                        Some(other) => {
                            let _ = write!(out, "{other}");
                        }
                    }
                }
            }
        }
    }
}

/// Makes a rendered topic legal for Kafka: ASCII letters, digits, `.`, `_` and `-`, at most 249
/// characters; anything else becomes `_`.
pub fn sanitize_topic(t: &mut String) {
    if t.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && t.len() <= 249
    {
        return;
    }
    let clean: String = t
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(249)
        .collect();
    *t = clean;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, json: &str) -> String {
        let t = Template::parse(t).unwrap();
        let mut out = String::new();
        t.render(&mut out, "app", "panos", &mut LazyDoc::new(json.as_bytes()));
        out
    }

    #[test]
    fn placeholders_and_fields() {
        let doc = r#"{"event":{"dataset":"panos.traffic"},"host":{"name":"fw1"},"n":3}"#;
        assert_eq!(render("logs-{event.dataset}", doc), "logs-panos.traffic");
        assert_eq!(render("{input}.{source_type}", doc), "app.panos");
        assert_eq!(render("{host.name}/{n}", doc), "fw1/3");
        assert_eq!(render("x-{missing.field}", doc), "x-");
        assert_eq!(render("x-{host.name}", "not json"), "x-");
        assert!(!Template::parse("a-{source_type}").unwrap().needs_fields());
        assert!(Template::parse("a-{host.name}").unwrap().needs_fields());
        assert_eq!(Template::parse("plain").unwrap().constant(), Some("plain"));
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in ["a{", "a}", "{}", "{a..b}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_are_made_legal() {
        let mut t = "logs/a b:c".to_string();
        sanitize_topic(&mut t);
        assert_eq!(t, "logs_a_b_c");
        let mut long = "x".repeat(300);
        sanitize_topic(&mut long);
        assert_eq!(long.len(), 249);
    }
}
