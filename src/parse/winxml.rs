//! Windows event XML (`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>…`)
//! into [`WinEvent`], the one representation every Windows input shape (XML, evtx JSON, Winlogbeat
//! JSON, NXLog JSON) is turned into before the ECS mapping.
//!
//! The parser streams with quick-xml and borrows from the input wherever the text needs no
//! unescaping, so a typical event costs a handful of small allocations. It is lenient: leading
//! junk (`Record 12`, an XML declaration, Event Viewer's `- ` markers), mismatched end tags and
//! missing sections are tolerated, and a syntax error keeps everything read before it.

use std::borrow::Cow;

use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::text::{is_blank, trim};

/// Borrowed where possible, owned where the source needed unescaping or conversion.
pub type Str<'a> = Cow<'a, str>;

/// One Windows event, whatever shape it arrived in. Values are kept as text as they appeared;
/// the normalizer converts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WinEvent<'a> {
    pub provider_name: Option<Str<'a>>,
    pub provider_guid: Option<Str<'a>>,
    pub event_source_name: Option<Str<'a>>,
    pub event_id: Option<Str<'a>>,
    pub qualifiers: Option<Str<'a>>,
    pub version: Option<Str<'a>>,
    /// Numeric level (`4`), or a level name when the source only has that.
    pub level: Option<Str<'a>>,
    pub task: Option<Str<'a>>,
    pub opcode: Option<Str<'a>>,
    /// The keyword mask as written (`0x8020000000000000`).
    pub keywords: Option<Str<'a>>,
    /// `System/TimeCreated/@SystemTime`.
    pub time_created: Option<Str<'a>>,
    pub record_id: Option<Str<'a>>,
    pub activity_id: Option<Str<'a>>,
    pub related_activity_id: Option<Str<'a>>,
    pub process_id: Option<Str<'a>>,
    pub thread_id: Option<Str<'a>>,
    pub channel: Option<Str<'a>>,
    pub computer: Option<Str<'a>>,
    /// `System/Security/@UserID`.
    pub user_id: Option<Str<'a>>,
    /// Account resolved from `user_id` by a collector (Winlogbeat, NXLog).
    pub user_name: Option<Str<'a>>,
    pub user_domain: Option<Str<'a>>,
    pub user_type: Option<Str<'a>>,
    /// EventData items in document order; unnamed items are `param1`, `param2`, …
    pub event_data: Vec<(Str<'a>, Str<'a>)>,
    /// Name of the element wrapping UserData (`LogFileCleared`).
    pub user_data_name: Option<Str<'a>>,
    pub user_data: Vec<(Str<'a>, Str<'a>)>,
    /// Rendered text (RenderingInfo, or a collector's message).
    pub message: Option<Str<'a>>,
    pub level_name: Option<Str<'a>>,
    pub task_name: Option<Str<'a>>,
    pub opcode_name: Option<Str<'a>>,
    pub keyword_names: Vec<Str<'a>>,
    /// Event time from a collector field (Winlogbeat `@timestamp`, NXLog `EventTime`).
    pub timestamp: Option<Str<'a>>,
    /// Zone-less times are local (NXLog) rather than UTC (Windows SystemTime).
    pub time_is_local: bool,
    /// Host name from a collector field, preferred over `computer`.
    pub host_name: Option<Str<'a>>,
}

impl<'a> WinEvent<'a> {
    /// The EventData value named `name` (first occurrence).
    pub fn data(&self, name: &str) -> Option<&str> {
        find(&self.event_data, name)
    }

    /// The UserData value named `name` (first occurrence).
    pub fn user_data_value(&self, name: &str) -> Option<&str> {
        find(&self.user_data, name)
    }

    /// True when at least the event's identity was read.
    pub fn has_identity(&self) -> bool {
        self.event_id.is_some() || self.provider_name.is_some() || self.channel.is_some()
    }
}

fn find<'s>(pairs: &'s [(Str<'_>, Str<'_>)], name: &str) -> Option<&'s str> {
    pairs
        .iter()
        .find(|(k, _)| k.len() == name.len() && k == name)
        .map(|(_, v)| v.as_ref())
}

/// Why the XML could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// Parses the first `<Event>` in `xml` into `ev` (expected empty). On a syntax error `ev`
/// keeps what was read.
///
/// Rendered events use a small subset of XML, so a specialised scanner reads them first, about
/// four times faster than a general parser; anything it does not expect (comments, CDATA,
/// DOCTYPE, malformed or truncated markup) sends the input to quick-xml instead, which then
/// defines the result.
pub fn parse_event<'a>(xml: &'a str, ev: &mut WinEvent<'a>) -> Result<(), XmlError> {
    let mut fast = WinEvent::default();
    if scan(xml, &mut fast) {
        *ev = fast;
        return Ok(());
    }
    parse_with_quick_xml(xml, ev)
}

fn parser<'a, 'e>(src: &'a str, ev: &'e mut WinEvent<'a>) -> Parser<'a, 'e> {
    ev.event_data.reserve(24);
    Parser {
        src,
        ev,
        depth: 0,
        event_depth: None,
        section: Section::None,
        leaf: None,
        text: None,
        data_index: 0,
        found_event: false,
        malformed: false,
    }
}

/// The fast scanner: true when it read the event to its `</Event>`.
fn scan<'a>(xml: &'a str, ev: &mut WinEvent<'a>) -> bool {
    let mut p = parser(xml, ev);
    let b = xml.as_bytes();
    // Most events have no entity or character reference at all: one search here instead of one
    // per text and attribute value (about 40 an event).
    let entities = memchr::memchr(b'&', b).is_some();
    let mut pos = 0;
    while let Some(lt) = find_byte(b, pos, b'<') {
        if p.leaf.is_some() && lt > pos {
            match xml.get(pos..lt) {
                Some(t) => p.push_text(unescape_if(entities, t)),
                None => return false,
            }
        }
        match b.get(lt + 1) {
            Some(b'/') => {
                let Some(gt) = tag_end(b, lt + 2) else {
                    return false;
                };
                if p.end() {
                    return true;
                }
                pos = gt + 1;
            }
            Some(b'?') => {
                // Processing instruction (the XML declaration); only before the root.
                let named = b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic);
                if p.found_event || !named {
                    return false;
                }
                let Some(end) = memchr::memmem::find(&b[lt + 2..], b"?>") else {
                    return false;
                };
                pos = lt + 2 + end + 2;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let Some(gt) = tag_end(b, lt + 1) else {
                    return false;
                };
                let empty = b[gt - 1] == b'/';
                let inner_end = if empty { gt - 1 } else { gt };
                let Some(inner) = xml.get(lt + 1..inner_end) else {
                    return false;
                };
                let ib = inner.as_bytes();
                let (name_len, local) = tag_name(ib);
                p.start(
                    &ib[local..name_len],
                    &Tag::Raw(&inner[name_len..], entities),
                    empty,
                );
                if p.malformed {
                    return false;
                }
                pos = gt + 1;
            }
            _ => return false,
        }
    }
    false
}

/// The next `byte` (not a space) at or after `from`: the next `<`, or an attribute value's closing
/// quote. Most gaps between tags and most values are a few bytes: the first 32 bytes are checked a
/// chunk at a time (`crate::scan`), long texts (script blocks) still get memchr.
fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    let mut at = from;
    for _ in 0..2 {
        if at >= b.len() {
            return None;
        }
        let (c, _) = crate::scan::chunk(b, at, b' ');
        let m = crate::scan::eq2(&c, byte, byte);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += crate::scan::CHUNK;
    }
    memchr::memchr(byte, b.get(at..)?).map(|i| at + i)
}

/// The length of a tag's name in `inner` (the tag's text after `<`), and where the local part
/// starts (after the last `:`). Names are short: one chunk's masks instead of two byte loops,
/// which cost about 50 instructions a tag (with `find_byte` for attribute quotes, 600 Windows
/// events took 29.75 M -> 29.48 M instructions).
fn tag_name(inner: &[u8]) -> (usize, usize) {
    use crate::scan::{chunk, eq2, CHUNK};
    // Padding with a space ends a name shorter than a chunk.
    let (c, _) = chunk(inner, 0, b' ');
    // `u8::is_ascii_whitespace`: space, tab, line feed, form feed, carriage return.
    let ws = eq2(&c, b' ', b'\t') | eq2(&c, b'\n', b'\r') | eq2(&c, 0x0c, 0x0c);
    let len = if ws != 0 {
        ws.trailing_zeros() as usize
    } else {
        let rest = inner.get(CHUNK..).unwrap_or_default();
        CHUNK
            + rest
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(rest.len())
    };
    let colons = eq2(&c, b':', b':') & ((1u32 << len.min(CHUNK)) - 1);
    let local = if len > CHUNK {
        let name = inner.get(..len).unwrap_or_default();
        name.iter().rposition(|&c| c == b':').map_or(0, |i| i + 1)
    } else if colons != 0 {
        (31 - colons.leading_zeros()) as usize + 1
    } else {
        0
    };
    (len, local)
}

/// Index of the `>` closing the tag that starts at `from`, skipping quoted attribute values;
/// `None` for a `<` inside the tag or no end. A chunk at a time (`crate::scan`): only the bytes
/// that matter here (`<`, `>` and quotes) are visited.
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut quote = 0u8;
    let mut at = from;
    while at < b.len() {
        let (c, _) = crate::scan::chunk(b, at, b' ');
        let mut m = crate::scan::eq2(&c, b'>', b'<') | crate::scan::eq2(&c, b'"', b'\'');
        while m != 0 {
            let i = at + m.trailing_zeros() as usize;
            m &= m - 1;
            let ch = b[i];
            if quote != 0 {
                if ch == quote {
                    quote = 0;
                } else if ch == b'<' {
                    return None;
                }
                continue;
            }
            match ch {
                b'>' => return Some(i),
                b'<' => return None,
                _ => quote = ch,
            }
        }
        at += crate::scan::CHUNK;
    }
    None
}

/// The general path alone, quick-xml (public so that the fast scanner can be cross-checked).
pub fn parse_with_quick_xml<'a>(xml: &'a str, ev: &mut WinEvent<'a>) -> Result<(), XmlError> {
    let mut p = parser(xml, ev);
    let mut reader = Reader::from_str(xml);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
    }
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                return Err(XmlError(format!(
                    "xml error at byte {}: {e}",
                    reader.error_position()
                )))
            }
        };
        match event {
            Event::Start(e) => p.start(e.local_name().as_ref(), &Tag::Quick(&e), false),
            Event::Empty(e) => p.start(e.local_name().as_ref(), &Tag::Quick(&e), true),
            Event::End(_) if p.end() => return Ok(()),
            Event::Text(t) if p.leaf.is_some() => {
                let text = match slice_of(xml, &t) {
                    Some(s) => unescape_or_raw(s),
                    None => {
                        let s = bytes_to_str(t.into_inner());
                        Cow::Owned(unescape_or_raw(&s).into_owned())
                    }
                };
                p.push_text(text);
            }
            Event::CData(c) if p.leaf.is_some() => {
                let text = match slice_of(xml, &c) {
                    Some(s) => Cow::Borrowed(s),
                    None => Cow::Owned(bytes_to_str(c.into_inner()).into_owned()),
                };
                p.push_text(text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if p.found_event {
        Err(XmlError("xml ended before </Event>".into()))
    } else {
        Err(XmlError("no <Event> element".into()))
    }
}

fn bytes_to_str(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => crate::doc::lossy(b),
        Cow::Owned(b) => Cow::Owned(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => crate::doc::lossy(e.as_bytes()).into_owned(),
        }),
    }
}

/// `unescape_or_raw` when the input has an `&` somewhere, else `s` as it is.
fn unescape_if(entities: bool, s: &str) -> Cow<'_, str> {
    if entities {
        unescape_or_raw(s)
    } else {
        Cow::Borrowed(s)
    }
}

/// Resolves entity and character references; text with an unknown entity is kept verbatim.
fn unescape_or_raw(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    quick_xml::escape::unescape(s).unwrap_or(Cow::Borrowed(s))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    System,
    EventData,
    UserData,
    Rendering,
    Other,
}

/// The element whose text is being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    EventId,
    Version,
    Level,
    Task,
    Opcode,
    Keywords,
    RecordId,
    Channel,
    Computer,
    /// EventData item at this index of `event_data` (its name is already pushed).
    Data(usize),
    UserData(usize),
    Message,
    RLevel,
    RTask,
    ROpcode,
    RKeyword,
}

struct Parser<'a, 'e> {
    src: &'a str,
    ev: &'e mut WinEvent<'a>,
    depth: usize,
    event_depth: Option<usize>,
    section: Section,
    /// The leaf element and its depth; only text directly inside it is kept.
    leaf: Option<(Leaf, usize)>,
    text: Option<Str<'a>>,
    data_index: usize,
    found_event: bool,
    /// Set when the fast scanner met attribute syntax it leaves to quick-xml.
    malformed: bool,
}

impl<'a> Parser<'a, '_> {
    /// Returns true when the closing `</Event>` was reached.
    fn end(&mut self) -> bool {
        if let Some((leaf, d)) = self.leaf {
            if d == self.depth {
                self.leaf = None;
                let text = self.text.take().unwrap_or(Cow::Borrowed(""));
                self.commit(leaf, text);
            }
        }
        self.depth = self.depth.saturating_sub(1);
        match self.event_depth {
            Some(ed) if self.depth == ed => true,
            Some(ed) if self.depth == ed + 1 => {
                self.section = Section::None;
                false
            }
            _ => false,
        }
    }

    fn push_text(&mut self, t: Str<'a>) {
        if self.leaf.map(|(_, d)| d) != Some(self.depth) {
            return;
        }
        self.text = Some(match self.text.take() {
            None => t,
            Some(prev) => Cow::Owned(prev.into_owned() + &t),
        });
    }

    fn start(&mut self, name: &[u8], e: &Tag<'_, 'a>, empty: bool) {
        self.depth += 1;
        let depth = self.depth;
        let Some(ed) = self.event_depth else {
            if name == b"Event" {
                self.event_depth = Some(depth - 1);
                self.found_event = true;
                if empty {
                    self.depth -= 1;
                }
            } else if empty {
                self.depth -= 1;
            }
            return;
        };
        let rel = depth - ed;
        let mut leaf = None;
        match rel {
            // Children of <Event>: the sections.
            2 => {
                self.section = match name {
                    b"System" => Section::System,
                    b"EventData" => Section::EventData,
                    b"UserData" => Section::UserData,
                    b"RenderingInfo" => Section::Rendering,
                    _ => Section::Other,
                };
            }
            3 => match self.section {
                Section::System => leaf = self.system_element(name, e),
                Section::EventData => leaf = self.event_data_element(name, e),
                Section::UserData if self.ev.user_data_name.is_none() => {
                    self.ev.user_data_name = Some(Cow::Owned(lossy(name)));
                }
                Section::Rendering => {
                    leaf = match name {
                        b"Message" => Some(Leaf::Message),
                        b"Level" => Some(Leaf::RLevel),
                        b"Task" => Some(Leaf::RTask),
                        b"Opcode" => Some(Leaf::ROpcode),
                        _ => None,
                    }
                }
                _ => {}
            },
            4 => match self.section {
                Section::UserData => {
                    self.ev
                        .user_data
                        .push((Cow::Owned(lossy(name)), Cow::Borrowed("")));
                    leaf = Some(Leaf::UserData(self.ev.user_data.len() - 1));
                }
                Section::Rendering if name == b"Keyword" => leaf = Some(Leaf::RKeyword),
                _ => {}
            },
            _ => {}
        }
        if let Some(l) = leaf {
            if empty {
                self.commit(l, Cow::Borrowed(""));
            } else {
                self.leaf = Some((l, depth));
                self.text = None;
            }
        }
        if empty {
            self.depth -= 1;
        }
    }

    fn system_element(&mut self, name: &[u8], e: &Tag<'_, 'a>) -> Option<Leaf> {
        let ev = &mut *self.ev;
        let src = self.src;
        let ok = match name {
            b"Provider" => attrs(src, e, |k, v| match k {
                "Name" => ev.provider_name = Some(v),
                "Guid" => ev.provider_guid = Some(v),
                "EventSourceName" => ev.event_source_name = Some(v),
                _ => {}
            }),
            b"EventID" => {
                self.malformed |= !attrs(src, e, |k, v| {
                    if k == "Qualifiers" {
                        ev.qualifiers = Some(v);
                    }
                });
                return Some(Leaf::EventId);
            }
            b"Version" => return Some(Leaf::Version),
            b"Level" => return Some(Leaf::Level),
            b"Task" => return Some(Leaf::Task),
            b"Opcode" => return Some(Leaf::Opcode),
            b"Keywords" => return Some(Leaf::Keywords),
            b"EventRecordID" => return Some(Leaf::RecordId),
            b"Channel" => return Some(Leaf::Channel),
            b"Computer" => return Some(Leaf::Computer),
            b"TimeCreated" => attrs(src, e, |k, v| {
                if k == "SystemTime" {
                    ev.time_created = Some(v);
                }
            }),
            b"Correlation" => attrs(src, e, |k, v| match k {
                "ActivityID" => ev.activity_id = Some(v),
                "RelatedActivityID" => ev.related_activity_id = Some(v),
                _ => {}
            }),
            b"Execution" => attrs(src, e, |k, v| match k {
                "ProcessID" => ev.process_id = Some(v),
                "ThreadID" => ev.thread_id = Some(v),
                _ => {}
            }),
            b"Security" => attrs(src, e, |k, v| {
                if k == "UserID" {
                    ev.user_id = Some(v);
                }
            }),
            _ => true,
        };
        self.malformed |= !ok;
        None
    }

    fn event_data_element(&mut self, name: &[u8], e: &Tag<'_, 'a>) -> Option<Leaf> {
        let key: Str<'a> = match name {
            b"Data" => {
                self.data_index += 1;
                let mut named = None;
                self.malformed |= !attrs(self.src, e, |k, v| {
                    if k == "Name" && !v.is_empty() {
                        named = Some(v);
                    }
                });
                named.unwrap_or_else(|| Cow::Owned(format!("param{}", self.data_index)))
            }
            b"Binary" => Cow::Borrowed("Binary"),
            _ => return None,
        };
        self.ev.event_data.push((key, Cow::Borrowed("")));
        Some(Leaf::Data(self.ev.event_data.len() - 1))
    }

    fn commit(&mut self, leaf: Leaf, text: Str<'a>) {
        // Pretty-printed XML renders an empty value as a line break and indentation.
        let text = if !text.is_empty() && is_blank(&text) {
            Cow::Borrowed("")
        } else {
            text
        };
        let ev = &mut *self.ev;
        let trimmed = |t: Str<'a>| -> Option<Str<'a>> {
            match t {
                Cow::Borrowed(s) => {
                    let s = trim(s);
                    (!s.is_empty()).then_some(Cow::Borrowed(s))
                }
                Cow::Owned(s) => {
                    let t = trim(&s);
                    (!t.is_empty()).then(|| Cow::Owned(t.to_owned()))
                }
            }
        };
        match leaf {
            Leaf::EventId => ev.event_id = trimmed(text),
            Leaf::Version => ev.version = trimmed(text),
            Leaf::Level => ev.level = trimmed(text),
            Leaf::Task => ev.task = trimmed(text),
            Leaf::Opcode => ev.opcode = trimmed(text),
            Leaf::Keywords => ev.keywords = trimmed(text),
            Leaf::RecordId => ev.record_id = trimmed(text),
            Leaf::Channel => ev.channel = trimmed(text),
            Leaf::Computer => ev.computer = trimmed(text),
            Leaf::Data(i) => {
                if let Some(slot) = ev.event_data.get_mut(i) {
                    slot.1 = text;
                }
            }
            Leaf::UserData(i) => {
                if let Some(slot) = ev.user_data.get_mut(i) {
                    slot.1 = text;
                }
            }
            Leaf::Message => ev.message = trimmed(text),
            Leaf::RLevel => ev.level_name = trimmed(text),
            Leaf::RTask => ev.task_name = trimmed(text),
            Leaf::ROpcode => ev.opcode_name = trimmed(text),
            Leaf::RKeyword => {
                if let Some(t) = trimmed(text) {
                    ev.keyword_names.push(t);
                }
            }
        }
    }
}

/// The part of `src` that `raw` (a slice handed out by the reader) covers, so that values can
/// borrow from the input; checked by position, without re-validating UTF-8.
fn slice_of<'a>(src: &'a str, raw: &[u8]) -> Option<&'a str> {
    let start = (raw.as_ptr() as usize).wrapping_sub(src.as_ptr() as usize);
    let end = start.checked_add(raw.len())?;
    let s = src.get(start..end)?;
    (s.as_ptr() == raw.as_ptr()).then_some(s)
}

/// Where a start tag's attributes are read from.
enum Tag<'t, 'a> {
    /// A quick-xml event.
    Quick(&'t BytesStart<'t>),
    /// The fast scanner's tag text after the element name, a slice of the input, and whether
    /// the input has any `&` (else values need no unescaping).
    Raw(&'a str, bool),
}

/// Calls `f` with each attribute the parser knows, its value borrowed from the input when it
/// needs no unescaping.
/// False when the fast scanner's tag has attributes it does not accept.
fn attrs<'a>(src: &'a str, tag: &Tag<'_, 'a>, f: impl FnMut(&'static str, Str<'a>)) -> bool {
    match tag {
        Tag::Quick(e) => {
            quick_attrs(src, e, f);
            true
        }
        Tag::Raw(rest, entities) => raw_attrs(rest, *entities, f),
    }
}

fn quick_attrs<'a>(src: &'a str, e: &BytesStart<'_>, mut f: impl FnMut(&'static str, Str<'a>)) {
    let name_len = e.name().as_ref().len();
    if let Some(content) = slice_of(src, e) {
        let mut it = Attributes::new(content, name_len);
        it.with_checks(false);
        for a in it.flatten() {
            let Some(k) = known_attr(a.key.local_name().as_ref()) else {
                continue;
            };
            let v = match a.value {
                Cow::Borrowed(b) => match slice_of(src, b) {
                    Some(s) => unescape_or_raw(s),
                    None => Cow::Owned(crate::doc::lossy(b).into_owned()),
                },
                Cow::Owned(b) => Cow::Owned(crate::doc::lossy(&b).into_owned()),
            };
            f(k, v);
        }
    } else {
        let owned = crate::doc::lossy(e);
        let mut it = Attributes::new(&owned, name_len);
        it.with_checks(false);
        for a in it.flatten() {
            if let Some(k) = known_attr(a.key.local_name().as_ref()) {
                let s = crate::doc::lossy(&a.value);
                f(k, Cow::Owned(unescape_or_raw(&s).into_owned()));
            }
        }
    }
}

/// `name='value' name2="value"` pairs, in the one syntax the fast scanner accepts
/// (`( ws+ name ws* = ws* quoted-value )* ws*`); false for anything else, which sends the input
/// to quick-xml.
fn raw_attrs<'a>(rest: &'a str, entities: bool, mut f: impl FnMut(&'static str, Str<'a>)) -> bool {
    let b = rest.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if i == b.len() {
            return true;
        }
        if i == start {
            return false;
        }
        let name_start = i;
        while b.get(i).is_some_and(|c| {
            !c.is_ascii_whitespace() && !matches!(c, b'=' | b'"' | b'\'' | b'<' | b'>' | b'/')
        }) {
            i += 1;
        }
        let name = &b[name_start..i];
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if name.is_empty() || b.get(i) != Some(&b'=') {
            return false;
        }
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let Some(&q) = b.get(i).filter(|c| **c == b'"' || **c == b'\'') else {
            return false;
        };
        let Some(len) = find_byte(b, i + 1, q).map(|at| at - i - 1) else {
            return false;
        };
        let local = match name.iter().rposition(|&c| c == b':') {
            Some(c) => &name[c + 1..],
            None => name,
        };
        if let (Some(k), Some(v)) = (known_attr(local), rest.get(i + 1..i + 1 + len)) {
            f(k, unescape_if(entities, v));
        }
        i += len + 2;
    }
}

/// Attribute names the parser reads, as static strings so no key is allocated.
fn known_attr(k: &[u8]) -> Option<&'static str> {
    Some(match k {
        b"Name" => "Name",
        b"Guid" => "Guid",
        b"EventSourceName" => "EventSourceName",
        b"Qualifiers" => "Qualifiers",
        b"SystemTime" => "SystemTime",
        b"ActivityID" => "ActivityID",
        b"RelatedActivityID" => "RelatedActivityID",
        b"ProcessID" => "ProcessID",
        b"ThreadID" => "ThreadID",
        b"UserID" => "UserID",
        _ => return None,
    })
}

fn lossy(b: &[u8]) -> String {
    crate::doc::lossy(b).into_owned()
}

/// Skips what may precede the XML of one event: a byte-order mark, an `evtx_dump` `Record N`
/// line, blank lines, and Event Viewer's `- ` fold markers.
pub fn xml_start(s: &str) -> Option<usize> {
    let t = s.trim_start_matches('\u{feff}');
    let off = s.len() - t.len();
    let mut rest = t.trim_start();
    if let Some(r) = rest.strip_prefix("Record ") {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            rest = r[digits..].trim_start();
        }
    }
    rest = rest.trim_start_matches(|c: char| c == '-' || c.is_whitespace());
    if rest.starts_with('<') {
        Some(off + (t.len() - rest.len()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
