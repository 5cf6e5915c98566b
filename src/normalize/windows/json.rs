//! The JSON shapes of a Windows event into [`WinEvent`]: `evtx`/`evtx_dump` JSON
//! (`{"Event":{"System":…}}` with `#attributes`/`#text`, or `*_attributes` siblings, or
//! xmltodict's `@Name`), Winlogbeat documents (`winlog.*`), and NXLog's flat `im_msvistalog`
//! records.
//!
//! Input is parsed into [`J`], a small borrowed tree: strings without escapes point into the
//! input and objects are plain vectors, which costs far less than a `serde_json::Value`.
//! serde_json's recursion limit still bounds the nesting.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::parse::winxml::{Str, WinEvent};
use crate::text::is_blank;

/// A parsed JSON value that borrows its strings from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(Str<'a>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Str<'a>, J<'a>)>),
}

/// Nesting kept when converting a `serde_json::Value` that did not come through the parser
/// (the `evtx` crate builds its values directly, without a depth limit).
const MAX_DEPTH: usize = 64;

impl<'a> J<'a> {
    pub fn from_value(v: &'a serde_json::Value) -> Self {
        Self::from_value_at(v, 0)
    }

    fn from_value_at(v: &'a serde_json::Value, depth: usize) -> Self {
        use serde_json::Value as V;
        if depth > MAX_DEPTH {
            return J::Null;
        }
        match v {
            V::Null => J::Null,
            V::Bool(b) => J::Bool(*b),
            V::Number(n) => J::Num(n.clone()),
            V::String(s) => J::Str(Cow::Borrowed(s)),
            V::Array(a) => J::Arr(
                a.iter()
                    .map(|x| Self::from_value_at(x, depth + 1))
                    .collect(),
            ),
            V::Object(o) => J::Obj(
                o.iter()
                    .map(|(k, x)| (Cow::Borrowed(k.as_str()), Self::from_value_at(x, depth + 1)))
                    .collect(),
            ),
        }
    }

    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        match self {
            J::Obj(o) => o.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Removes and returns the member `key`, so its strings can move into the event.
    pub fn take(&mut self, key: &str) -> Option<J<'a>> {
        match self {
            J::Obj(o) => o
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| std::mem::replace(v, J::Null)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text: a scalar, an element's `#text`, or the items of an array joined by
    /// `, `. `None` for null, objects without text, and empty arrays.
    pub fn into_text(self) -> Option<Str<'a>> {
        match self {
            J::Null => None,
            J::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            J::Num(n) => Some(Cow::Owned(number_text(&n))),
            J::Str(s) => Some(s),
            J::Obj(mut o) => o
                .iter_mut()
                .find(|(k, _)| k == "#text")
                .and_then(|(_, v)| std::mem::replace(v, J::Null).into_text()),
            J::Arr(a) => {
                let parts: Vec<Str<'a>> = a.into_iter().filter_map(J::into_text).collect();
                match parts.len() {
                    0 => None,
                    1 => parts.into_iter().next(),
                    _ => Some(Cow::Owned(parts.join(", "))),
                }
            }
        }
    }

    /// The attribute `name` of an element: `#attributes.name` or xmltodict's `@name`.
    fn attr(&self, name: &str) -> Option<&J<'a>> {
        self.get("#attributes")
            .and_then(|a| a.get(name))
            .or_else(|| match self {
                J::Obj(o) => o
                    .iter()
                    .find(|(k, _)| k.strip_prefix('@') == Some(name))
                    .map(|(_, v)| v),
                _ => None,
            })
    }
}

/// A number as JSON writes it. Integers (all that Windows events carry: IDs, levels, process
/// IDs) go through `itoa`, several times cheaper than `Display`'s formatting machinery; both
/// write the same digits.
fn number_text(n: &serde_json::Number) -> String {
    let mut buf = itoa::Buffer::new();
    if let Some(u) = n.as_u64() {
        buf.format(u).to_owned()
    } else if let Some(i) = n.as_i64() {
        buf.format(i).to_owned()
    } else {
        n.to_string()
    }
}

/// A string that borrows from the input when serde hands out a borrowed slice.
struct BStr<'a>(Str<'a>);

impl<'de> Deserialize<'de> for BStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(J::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(J::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                J::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(J::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(J::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(J::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v).map_or(J::Null, J::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(J::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(J::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(J::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some(x) = a.next_element::<J<'de>>()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
                while let Some(BStr(k)) = m.next_key::<BStr<'de>>()? {
                    v.push((k, m.next_value::<J<'de>>()?));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which JSON shape a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Evtx,
    Winlogbeat,
    Nxlog,
    /// A document whose only Windows content is XML in `event.original`.
    OriginalXml,
}

pub(crate) fn shape(root: &J<'_>) -> Option<Shape> {
    if root.get("Event").is_some() {
        return Some(Shape::Evtx);
    }
    if root.get("winlog").is_some_and(|w| matches!(w, J::Obj(_))) {
        return Some(Shape::Winlogbeat);
    }
    if root.get("EventID").is_some()
        && [
            "SourceName",
            "Channel",
            "Hostname",
            "EventTime",
            "ProviderGuid",
        ]
        .iter()
        .any(|k| root.get(k).is_some())
    {
        return Some(Shape::Nxlog);
    }
    if original_xml(root).is_some() {
        return Some(Shape::OriginalXml);
    }
    None
}

/// `event.original` when it holds an XML event.
pub(crate) fn original_xml<'j>(root: &'j J<'_>) -> Option<&'j str> {
    root.get("event")?
        .get("original")?
        .as_str()
        .filter(|s| s.trim_start().starts_with('<'))
}

fn set<'a>(slot: &mut Option<Str<'a>>, v: Option<J<'a>>) {
    if let Some(t) = v.and_then(J::into_text) {
        if !is_blank(&t) {
            *slot = Some(t);
        }
    }
}

/// `evtx` JSON (`{"Event":{…}}`) into `ev`. Returns false when there is no `Event` object.
pub(crate) fn evtx<'a>(mut root: J<'a>, ev: &mut WinEvent<'a>) -> bool {
    let Some(mut event) = root.take("Event") else {
        return false;
    };
    if !matches!(event, J::Obj(_)) {
        return false;
    }
    if let Some(system) = event.take("System") {
        evtx_system(system, ev);
    }
    if let Some(data) = event.take("EventData") {
        evtx_event_data(data, ev);
    }
    if let Some(J::Obj(ud)) = event.take("UserData") {
        if let Some((name, body)) = ud.into_iter().find(|(k, _)| !is_attr_key(k)) {
            ev.user_data_name = Some(name);
            user_data_pairs(body, ev);
        }
    }
    if let Some(ri) = event.take("RenderingInfo") {
        rendering(ri, ev);
    }
    true
}

fn is_attr_key(k: &str) -> bool {
    k == "#attributes" || k.starts_with('@') || k.ends_with("_attributes") || k == "xmlns"
}

fn evtx_system<'a>(system: J<'a>, ev: &mut WinEvent<'a>) {
    let J::Obj(fields) = system else { return };
    for (k, v) in fields {
        // `Name_attributes` siblings (the evtx crate's "separate attributes" mode) hold the
        // attributes of `Name` directly.
        let (elem, attrs_only) = match k.strip_suffix("_attributes") {
            Some(e) => (e, true),
            None => (k.as_ref(), false),
        };
        let attr = |v: &J<'a>, name: &str| -> Option<J<'a>> {
            if attrs_only {
                v.get(name).cloned()
            } else {
                v.attr(name).cloned()
            }
        };
        match elem {
            "Provider" => {
                set(&mut ev.provider_name, attr(&v, "Name"));
                set(&mut ev.provider_guid, attr(&v, "Guid"));
                set(&mut ev.event_source_name, attr(&v, "EventSourceName"));
            }
            "EventID" => {
                set(&mut ev.qualifiers, attr(&v, "Qualifiers"));
                if !attrs_only {
                    set(&mut ev.event_id, Some(v));
                }
            }
            "TimeCreated" => set(&mut ev.time_created, attr(&v, "SystemTime")),
            "Correlation" => {
                set(&mut ev.activity_id, attr(&v, "ActivityID"));
                set(&mut ev.related_activity_id, attr(&v, "RelatedActivityID"));
            }
            "Execution" => {
                set(&mut ev.process_id, attr(&v, "ProcessID"));
                set(&mut ev.thread_id, attr(&v, "ThreadID"));
            }
            "Security" => set(&mut ev.user_id, attr(&v, "UserID")),
            _ if attrs_only => {}
            "Version" => set(&mut ev.version, Some(v)),
            "Level" => set(&mut ev.level, Some(v)),
            "Task" => set(&mut ev.task, Some(v)),
            "Opcode" => set(&mut ev.opcode, Some(v)),
            "Keywords" => set(&mut ev.keywords, Some(v)),
            "EventRecordID" => set(&mut ev.record_id, Some(v)),
            "Channel" => set(&mut ev.channel, Some(v)),
            "Computer" => set(&mut ev.computer, Some(v)),
            _ => {}
        }
    }
}

fn evtx_event_data<'a>(data: J<'a>, ev: &mut WinEvent<'a>) {
    match data {
        J::Obj(fields) => {
            // One allocation for the items instead of the growth steps of a push per item.
            ev.event_data.reserve(fields.len());
            for (k, v) in fields {
                match k.as_ref() {
                    _ if is_attr_key(&k) => {}
                    "Data" => data_items(v, ev),
                    _ => push_pair(&mut ev.event_data, k, v),
                }
            }
        }
        // A bare list or value: unnamed items.
        other => data_items(other, ev),
    }
}

/// `Data` items: `{"#text": [..]}`, a list of `{"#attributes": {"Name": ..}, "#text": ..}`
/// (or `{"@Name": .., "#text": ..}`), or plain values.
fn data_items<'a>(v: J<'a>, ev: &mut WinEvent<'a>) {
    let items = match v {
        J::Arr(a) => a,
        J::Obj(_) if v.attr("Name").is_none() => match v.get("#text") {
            Some(J::Arr(_)) => match v {
                J::Obj(o) => o
                    .into_iter()
                    .find(|(k, _)| k == "#text")
                    .map(|(_, t)| match t {
                        J::Arr(a) => a,
                        _ => Vec::new(),
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
            _ => vec![v],
        },
        other => vec![other],
    };
    ev.event_data.reserve(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let name = item
            .attr("Name")
            .and_then(|n| n.clone().into_text())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| Cow::Owned(format!("param{}", i + 1)));
        let value = item.into_text().unwrap_or(Cow::Borrowed(""));
        ev.event_data.push((name, value));
    }
}

fn push_pair<'a>(out: &mut Vec<(Str<'a>, Str<'a>)>, k: Str<'a>, v: J<'a>) {
    let value = match v {
        J::Obj(_) if v.get("#text").is_none() => return,
        other => other.into_text().unwrap_or(Cow::Borrowed("")),
    };
    out.push((k, value));
}

fn user_data_pairs<'a>(body: J<'a>, ev: &mut WinEvent<'a>) {
    if let J::Obj(fields) = body {
        for (k, v) in fields {
            if !is_attr_key(&k) {
                push_pair(&mut ev.user_data, k, v);
            }
        }
    }
}

fn rendering<'a>(mut ri: J<'a>, ev: &mut WinEvent<'a>) {
    set(&mut ev.message, ri.take("Message"));
    set(&mut ev.level_name, ri.take("Level"));
    set(&mut ev.task_name, ri.take("Task"));
    set(&mut ev.opcode_name, ri.take("Opcode"));
    if let Some(mut kw) = ri.take("Keywords") {
        let list = kw.take("Keyword").unwrap_or(kw);
        keyword_list(list, ev);
    }
}

fn keyword_list<'a>(v: J<'a>, ev: &mut WinEvent<'a>) {
    match v {
        J::Arr(a) => {
            for k in a {
                keyword_list(k, ev);
            }
        }
        other => {
            if let Some(t) = other.into_text().filter(|t| !t.is_empty()) {
                ev.keyword_names.push(t);
            }
        }
    }
}

/// A Winlogbeat / Elastic Agent document (`winlog.*`) into `ev`.
pub(crate) fn winlogbeat<'a>(mut root: J<'a>, ev: &mut WinEvent<'a>) {
    set(&mut ev.timestamp, root.take("@timestamp"));
    set(&mut ev.message, root.take("message"));
    if let Some(mut host) = root.take("host") {
        set(&mut ev.host_name, host.take("name"));
    }
    if let Some(mut log) = root.take("log") {
        set(&mut ev.level_name, log.take("level"));
    }
    let mut event = root.take("event").unwrap_or(J::Null);
    let Some(mut w) = root.take("winlog") else {
        return;
    };
    set(&mut ev.channel, w.take("channel"));
    set(&mut ev.computer, w.take("computer_name"));
    set(&mut ev.event_id, w.take("event_id"));
    set(&mut ev.provider_name, w.take("provider_name"));
    set(&mut ev.provider_guid, w.take("provider_guid"));
    set(&mut ev.event_source_name, w.take("event_source_name"));
    set(&mut ev.record_id, w.take("record_id"));
    set(&mut ev.version, w.take("version"));
    set(&mut ev.task_name, w.take("task"));
    set(&mut ev.opcode_name, w.take("opcode"));
    set(&mut ev.activity_id, w.take("activity_id"));
    set(&mut ev.related_activity_id, w.take("related_activity_id"));
    set(&mut ev.time_created, w.take("time_created"));
    if ev.level_name.is_none() {
        set(&mut ev.level_name, w.take("level"));
    }
    if let Some(mut p) = w.take("process") {
        set(&mut ev.process_id, p.take("pid"));
        if let Some(mut t) = p.take("thread") {
            set(&mut ev.thread_id, t.take("id"));
        }
    }
    if let Some(mut u) = w.take("user") {
        set(&mut ev.user_id, u.take("identifier"));
        set(&mut ev.user_name, u.take("name"));
        set(&mut ev.user_domain, u.take("domain"));
        set(&mut ev.user_type, u.take("type"));
    }
    if let Some(kw) = w.take("keywords") {
        keyword_list(kw, ev);
    }
    if let Some(J::Obj(data)) = w.take("event_data") {
        ev.event_data.reserve(data.len());
        for (k, v) in data {
            push_pair(&mut ev.event_data, k, v);
        }
    }
    if let Some(J::Obj(data)) = w.take("user_data") {
        for (k, v) in data {
            if k == "xml_name" {
                set(&mut ev.user_data_name, Some(v));
            } else {
                push_pair(&mut ev.user_data, k, v);
            }
        }
    }
    if ev.event_id.is_none() {
        set(&mut ev.event_id, event.take("code"));
    }
    if ev.provider_name.is_none() {
        set(&mut ev.provider_name, event.take("provider"));
    }
}

/// NXLog `im_msvistalog` fields that describe the event rather than carry its data.
const NXLOG_META: &[&str] = &[
    "AccountName",
    "AccountType",
    "ActivityID",
    "Category",
    "Channel",
    "Domain",
    "EventID",
    "EventReceivedTime",
    "EventTime",
    "EventType",
    "Hostname",
    "Keywords",
    "Level",
    "Message",
    "Opcode",
    "OpcodeValue",
    "ProcessID",
    "ProviderGuid",
    "RecordNumber",
    "RelatedActivityID",
    "Severity",
    "SeverityValue",
    "SourceModuleName",
    "SourceModuleType",
    "SourceName",
    "Task",
    "ThreadID",
    "UserID",
    "Version",
];

/// An NXLog flat record into `ev`; every non-metadata member is EventData.
pub(crate) fn nxlog<'a>(root: J<'a>, ev: &mut WinEvent<'a>) {
    let J::Obj(fields) = root else { return };
    ev.time_is_local = true;
    let mut severity = None;
    for (k, v) in fields {
        match k.as_ref() {
            "EventTime" => set(&mut ev.timestamp, Some(v)),
            "Hostname" => set(&mut ev.computer, Some(v)),
            "SourceName" => set(&mut ev.provider_name, Some(v)),
            "ProviderGuid" => set(&mut ev.provider_guid, Some(v)),
            "Channel" => set(&mut ev.channel, Some(v)),
            "EventID" => set(&mut ev.event_id, Some(v)),
            "Version" => set(&mut ev.version, Some(v)),
            "Task" => set(&mut ev.task, Some(v)),
            "Category" => set(&mut ev.task_name, Some(v)),
            "OpcodeValue" => set(&mut ev.opcode, Some(v)),
            "Opcode" => set(&mut ev.opcode_name, Some(v)),
            "RecordNumber" => set(&mut ev.record_id, Some(v)),
            "ActivityID" => set(&mut ev.activity_id, Some(v)),
            "RelatedActivityID" => set(&mut ev.related_activity_id, Some(v)),
            "ProcessID" => set(&mut ev.process_id, Some(v)),
            "ThreadID" => set(&mut ev.thread_id, Some(v)),
            "UserID" => set(&mut ev.user_id, Some(v)),
            "AccountName" => set(&mut ev.user_name, Some(v)),
            "Domain" => set(&mut ev.user_domain, Some(v)),
            "AccountType" => set(&mut ev.user_type, Some(v)),
            "Message" => set(&mut ev.message, Some(v)),
            "Level" => set(&mut ev.level, Some(v)),
            "Severity" => severity = v.into_text(),
            "Keywords" => {
                // NXLog writes the 64-bit mask as a signed decimal number.
                let mask = match &v {
                    J::Num(n) => n
                        .as_i64()
                        .map(|i| i as u64)
                        .or_else(|| n.as_u64())
                        .map(|m| Cow::Owned(format!("0x{m:x}"))),
                    _ => v.into_text(),
                };
                ev.keywords = mask;
            }
            "EventType" => {
                if let Some(t) = v.into_text() {
                    match t.as_ref() {
                        "AUDIT_SUCCESS" => ev.keyword_names.push(Cow::Borrowed("Audit Success")),
                        "AUDIT_FAILURE" => ev.keyword_names.push(Cow::Borrowed("Audit Failure")),
                        _ => {}
                    }
                }
            }
            _ if NXLOG_META.contains(&k.as_ref()) => {}
            _ => push_pair(&mut ev.event_data, k, v),
        }
    }
    if ev.level.is_none() {
        ev.level_name = severity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> J<'_> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let j = parse(r#"{"a":"plain","b":"C:\\x","c":[1,2.5,true,null]}"#);
        assert!(matches!(j.get("a"), Some(J::Str(Cow::Borrowed("plain")))));
        assert!(matches!(j.get("b"), Some(J::Str(Cow::Owned(s))) if s == "C:\\x"));
        assert_eq!(
            j.get("c").cloned().unwrap().into_text().unwrap(),
            "1, 2.5, true"
        );
    }

    #[test]
    fn evtx_both_attribute_styles_and_unnamed_data() {
        let a = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Svc","Guid":"{1}"}},"EventID":{"#attributes":{"Qualifiers":16384},"#text":7036},"Level":4,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-02T03:04:05.000000Z"}},"EventRecordID":9,"Execution":{"#attributes":{"ProcessID":4,"ThreadID":8}},"Channel":"System","Computer":"h1","Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"Data":{"#text":["a","b"]},"Binary":"00"}}}"##;
        let mut ev = WinEvent::default();
        assert!(evtx(parse(a), &mut ev));
        assert_eq!(ev.event_id.as_deref(), Some("7036"));
        assert_eq!(ev.qualifiers.as_deref(), Some("16384"));
        assert_eq!(ev.process_id.as_deref(), Some("4"));
        assert_eq!(ev.user_id.as_deref(), Some("S-1-5-18"));
        assert_eq!(ev.data("param2"), Some("b"));
        assert_eq!(ev.data("Binary"), Some("00"));

        let b = r#"{"Event_attributes":{"xmlns":"x"},"Event":{"System":{"Provider_attributes":{"Name":"P"},"EventID":4625,"Keywords":"0x8010000000000000","TimeCreated_attributes":{"SystemTime":"t"},"Execution_attributes":{"ProcessID":1}},"EventData":{"LogonType":3,"IpAddress":"10.0.0.9"},"UserData":null}}"#;
        let mut ev = WinEvent::default();
        assert!(evtx(parse(b), &mut ev));
        assert_eq!(ev.provider_name.as_deref(), Some("P"));
        assert_eq!(ev.time_created.as_deref(), Some("t"));
        assert_eq!(ev.data("LogonType"), Some("3"));

        let c = r##"{"Event":{"System":{"EventID":"1"},"EventData":{"Data":[{"@Name":"User","#text":"CORP\\ann"},{"#attributes":{"Name":"Image"},"#text":"C:\\a.exe"}]},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"y"},"SubjectUserName":"bob","Nested":{"x":1}}}}}"##;
        let mut ev = WinEvent::default();
        assert!(evtx(parse(c), &mut ev));
        assert_eq!(ev.data("User"), Some("CORP\\ann"));
        assert_eq!(ev.data("Image"), Some("C:\\a.exe"));
        assert_eq!(ev.user_data_name.as_deref(), Some("LogFileCleared"));
        assert_eq!(
            ev.user_data,
            vec![(Cow::Borrowed("SubjectUserName"), Cow::Borrowed("bob"))]
        );
    }

    #[test]
    fn winlogbeat_and_nxlog() {
        let w = r#"{"@timestamp":"2024-01-02T03:04:05Z","message":"m","winlog":{"channel":"Security","event_id":4624,"record_id":12,"keywords":["Audit Success"],"event_data":{"TargetUserName":"ann","LogonType":"3"},"process":{"pid":5,"thread":{"id":6}},"user_data":{"xml_name":"X","A":"b"}}}"#;
        let root = parse(w);
        assert_eq!(shape(&root), Some(Shape::Winlogbeat));
        let mut ev = WinEvent::default();
        winlogbeat(root, &mut ev);
        assert_eq!(ev.event_id.as_deref(), Some("4624"));
        assert_eq!(ev.thread_id.as_deref(), Some("6"));
        assert_eq!(ev.keyword_names, vec![Cow::Borrowed("Audit Success")]);
        assert_eq!(ev.user_data_name.as_deref(), Some("X"));

        let n = r#"{"EventTime":"2024-01-02 03:04:05","Hostname":"dc1","Keywords":-9218868437227405312,"EventType":"AUDIT_FAILURE","SeverityValue":4,"Severity":"ERROR","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","RecordNumber":77,"TargetUserName":"ann","IpPort":"51000","SourceModuleName":"in"}"#;
        let root = parse(n);
        assert_eq!(shape(&root), Some(Shape::Nxlog));
        let mut ev = WinEvent::default();
        nxlog(root, &mut ev);
        assert_eq!(ev.keywords.as_deref(), Some("0x8010000000000000"));
        assert_eq!(ev.keyword_names, vec![Cow::Borrowed("Audit Failure")]);
        assert_eq!(ev.event_data.len(), 2);
        assert_eq!(ev.level_name.as_deref(), Some("ERROR"));
        assert!(ev.time_is_local);

        assert_eq!(shape(&parse(r#"{"a":1}"#)), None);
        assert_eq!(
            shape(&parse(r#"{"event":{"original":"<Event/>"}}"#)),
            Some(Shape::OriginalXml)
        );
    }

    #[test]
    fn numbers_read_as_json_writes_them() {
        for text in [
            "0",
            "7",
            "4624",
            "-1",
            "-9218868437227405312",
            "18446744073709551615",
            "9223372036854775807",
            "-9223372036854775808",
            "2.5",
            "1e300",
            "-0.125",
        ] {
            let n: serde_json::Number = serde_json::from_str(text).unwrap();
            assert_eq!(number_text(&n), n.to_string(), "{text}");
            let got = parse(text).into_text().unwrap();
            assert_eq!(got, n.to_string(), "{text}");
        }
    }

    #[test]
    fn value_conversion_is_depth_limited() {
        let mut v = serde_json::Value::Null;
        for _ in 0..200 {
            v = serde_json::Value::Array(vec![v]);
        }
        let j = J::from_value(&v);
        let mut depth = 0;
        let mut cur = &j;
        while let J::Arr(a) = cur {
            depth += 1;
            cur = &a[0];
        }
        assert!(depth <= MAX_DEPTH + 1);
        // Dropping a tree built through the parser is bounded by serde_json's limit.
        let deep = "[".repeat(10_000);
        assert!(serde_json::from_str::<J>(&deep).is_err());
    }
}
