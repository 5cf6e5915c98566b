//! Fields shared by many records and rendered once: GeoIP's `geo` and `as` groups of an address,
//! written into their parent object by the serialization plan (see [`splice_key`]).

use super::{write_json_str, Value};

/// The last segment of a key whose value's members are written into the parent object
/// (`source.geo.\u{7f}`: into `source.geo`). DEL sorts after every other key byte, so those
/// members come after the parent's own fields, and no parser writes it.
pub const SPLICE: &str = "\u{7f}";

/// `parent` + `.` + [`SPLICE`]: the key members are inserted under.
pub fn splice_key(parent: &str) -> String {
    format!("{parent}.{SPLICE}")
}

/// The parent of a key made by [`splice_key`].
pub fn splice_parent(key: &str) -> Option<&str> {
    key.strip_suffix(SPLICE)?.strip_suffix('.')
}

/// The first segment of a dotted path.
pub(super) fn head(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// Fields rendered once as JSON object members (`"city_name":"London","location":{…}`), with
/// where each top-level member's text is, so a member the record also has is left out.
#[derive(Debug, PartialEq)]
pub struct Members {
    pub(super) text: Box<[u8]>,
    /// (name, start, end) of each top-level member in `text`, in order.
    names: Vec<(Box<str>, u32, u32)>,
    /// The fields, for lookups by path (routes) and `to_json`.
    fields: Vec<(&'static str, Value)>,
}

impl Members {
    /// Renders `fields` (paths relative to the parent, such as `location.lat`) as the serializer
    /// would under the parent. None when there are none.
    pub fn new(fields: Vec<(&'static str, Value)>) -> Option<Self> {
        if fields.is_empty() {
            return None;
        }
        // Top-level members in the serializer's key order, each rendered on its own, so a
        // member the record also has can be left out. A leaf that is also a parent is dropped
        // for its nested fields, as the serializer does.
        let mut heads: Vec<&'static str> = fields.iter().map(|(k, _)| head(k)).collect();
        heads.sort_unstable();
        heads.dedup();
        let mut text = Vec::new();
        let mut names = Vec::with_capacity(heads.len());
        for name in heads {
            if !text.is_empty() {
                text.push(b',');
            }
            let start = text.len() as u32;
            write_json_str(&mut text, name);
            text.push(b':');
            let nested: Vec<(&'static str, Value)> = fields
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(name)?.strip_prefix('.')?, v.clone())))
                .collect();
            match Members::new(nested) {
                Some(inner) => Value::Members(std::sync::Arc::new(inner)).write_json(&mut text),
                None => {
                    if let Some((_, v)) = fields.iter().rev().find(|(k, _)| *k == name) {
                        v.write_json(&mut text);
                    }
                }
            }
            names.push((name.into(), start, text.len() as u32));
        }
        Some(Members {
            text: text.into(),
            names,
            fields,
        })
    }

    /// The value at `path` (relative, dotted).
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| *k == path)
            .map(|(_, v)| v)
    }

    pub fn fields(&self) -> &[(&'static str, Value)] {
        &self.fields
    }

    /// Writes the members, leaving out those named in `skip`; whether any was written.
    pub(super) fn write(&self, out: &mut Vec<u8>, skip: &[Box<str>]) -> bool {
        if skip.is_empty() || !self.names.iter().any(|(n, _, _)| skip.contains(n)) {
            out.extend_from_slice(&self.text);
            return !self.text.is_empty();
        }
        let mut any = false;
        for (n, a, b) in &self.names {
            if skip.contains(n) {
                continue;
            }
            if any {
                out.push(b',');
            }
            out.extend_from_slice(&self.text[*a as usize..*b as usize]);
            any = true;
        }
        any
    }
}
