//! Cutting a byte stream into records: lines, or whole JSON documents that may span lines.
//!
//! The framer owns no I/O: callers feed bytes as they read them and take complete records out, so
//! the same code serves files, stdin, and the one-shot CLI. Memory is bounded by `max_bytes`: an
//! over-long record is cut, flagged, and the rest of it skipped.

use crate::config::Framing;

/// A complete record found by the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Start of the record relative to the stream position where the framer began.
    pub offset: u64,
    /// Bytes consumed, including the delimiter, so `offset + consumed` is where the next starts.
    pub consumed: u64,
    pub truncated: bool,
}

/// Incremental framer. `buf` holds unconsumed bytes; records are slices of it.
#[derive(Debug)]
pub struct Framer {
    mode: Framing,
    max_bytes: usize,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Bytes of `buf` already handed out as records (compacted on the next `feed`).
    taken: usize,
    /// In the middle of skipping the tail of an over-long record.
    skipping: bool,
    /// JSON scan state, resumable across feeds.
    json: JsonScan,
}

#[derive(Debug, Default, Clone, Copy)]
struct JsonScan {
    pos: usize,
    depth: u32,
    in_str: bool,
    escaped: bool,
    started: bool,
}

/// Picks a framing from the first bytes of a stream: `{`/`[` → JSON documents, `<?xml`, `<Event`
/// or an `evtx_dump` `Record N` header → XML events, a timestamp line followed by `LogName=` (the
/// Windows text rendering) → multiline, anything else → lines.
pub fn sniff(head: &[u8]) -> Framing {
    let t = head.trim_ascii_start();
    match t.first() {
        Some(b'{') | Some(b'[') => Framing::JsonDocument,
        _ if t.starts_with(b"<?xml") || t.starts_with(b"<Event") => Framing::XmlEvents,
        _ if t.starts_with(b"Record ") => {
            let after = t.get(7..).unwrap_or(&[]);
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let rest = after.get(digits..).unwrap_or(&[]).trim_ascii_start();
            if digits > 0 && (rest.starts_with(b"<?xml") || rest.starts_with(b"<Event")) {
                Framing::XmlEvents
            } else {
                Framing::Lines
            }
        }
        _ if is_windows_text(t) => Framing::Multiline,
        _ => Framing::Lines,
    }
}

/// Keys of JSON batch documents whose array elements are the records: CloudTrail log files and
/// S3 notifications (`Records`), Azure diagnostic logs (`records`), Elastic test and simulate
/// documents (`events`).
const BATCH_KEYS: [&[u8]; 3] = [b"\"Records\"", b"\"records\"", b"\"events\""];

/// The elements of a JSON batch document (`{"Records": [{…}, …]}`), each a record of its own;
/// `None` for anything else, including a batch with other top-level keys.
pub fn split_json_batch(raw: &[u8]) -> Option<Vec<&serde_json::value::RawValue>> {
    let t = raw
        .trim_ascii_start()
        .strip_prefix(b"{")?
        .trim_ascii_start();
    let key = BATCH_KEYS.iter().find(|k| t.starts_with(k))?;
    let after = t[key.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    if !after.starts_with(b"[") {
        return None;
    }
    let map: std::collections::HashMap<std::borrow::Cow<'_, str>, &serde_json::value::RawValue> =
        serde_json::from_slice(raw).ok()?;
    if map.len() != 1 {
        return None;
    }
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(map.into_values().next()?.get()).ok()?;
    elements
        .iter()
        .all(|e| e.get().starts_with('{'))
        .then_some(elements)
}

/// `03/12/2021 10:48:14 AM` on a line of its own, then `LogName=`.
fn is_windows_text(t: &[u8]) -> bool {
    let Some(nl) = memchr::memchr(b'\n', t) else {
        return false;
    };
    starts_with_timestamp(t) && t[nl + 1..].starts_with(b"LogName=")
}

/// Whether a line starts with a date: `MM/DD/YYYY`, `YYYY-MM-DD`, `YYYY/MM/DD` or `Mmm dd`.
pub fn starts_with_timestamp(line: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let at = |i: usize, n: usize| line.get(i..i + n).is_some_and(digits);
    // MM/DD/YYYY or M/D/YYYY
    let us = {
        let a = line
            .iter()
            .take(3)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let rest = &line[a.min(line.len())..];
        let b = rest
            .iter()
            .skip(1)
            .take(3)
            .take_while(|b| b.is_ascii_digit())
            .count();
        (1..=2).contains(&a)
            && rest.first() == Some(&b'/')
            && (1..=2).contains(&b)
            && rest.get(1 + b) == Some(&b'/')
            && rest.get(2 + b..6 + b).is_some_and(digits)
    };
    let iso = at(0, 4)
        && matches!(line.get(4), Some(b'-' | b'/'))
        && at(5, 2)
        && line.get(7) == line.get(4)
        && at(8, 2);
    const MONTHS: [&[u8]; 12] = [
        b"Jan ", b"Feb ", b"Mar ", b"Apr ", b"May ", b"Jun ", b"Jul ", b"Aug ", b"Sep ", b"Oct ",
        b"Nov ", b"Dec ",
    ];
    let bsd = MONTHS.iter().any(|m| line.starts_with(m));
    us || iso || bsd
}

impl Framer {
    /// `Framing::Auto` decides on the first bytes fed.
    pub fn new(mode: Framing, max_bytes: usize, start_offset: u64) -> Self {
        Framer {
            mode,
            max_bytes: max_bytes.max(16),
            buf: Vec::with_capacity(64 * 1024),
            base: start_offset,
            taken: 0,
            skipping: false,
            json: JsonScan::default(),
        }
    }

    /// Stream offset up to which every byte has been handed out as (or skipped inside) a record.
    pub fn position(&self) -> u64 {
        self.base + self.taken as u64
    }

    /// Bytes held that are not yet a complete record.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.taken
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        if self.taken > 0 {
            self.buf.drain(..self.taken);
            self.base += self.taken as u64;
            self.json.pos = self.json.pos.saturating_sub(self.taken);
            self.taken = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete record, if any. `eof` also emits a final record without a delimiter.
    pub fn next_record(&mut self, eof: bool) -> Option<(Frame, &[u8])> {
        if self.mode == Framing::Auto {
            let head = &self.buf[self.taken..];
            // Wait for enough bytes to decide, unless that is all there is.
            let t = head.trim_ascii_start();
            let lines = memchr::memchr_iter(b'\n', t).take(2).count();
            // A timestamp alone on the first line may be the Windows text rendering: see the next.
            if t.len() < 64 && !eof && (lines == 0 || (lines == 1 && starts_with_timestamp(t))) {
                return None;
            }
            self.mode = sniff(head);
        }
        match self.mode {
            // CRI is line framing here; the inputs join the parts (inputs/cri.rs).
            Framing::Lines | Framing::Auto | Framing::Cri => self.next_line(eof),
            Framing::JsonDocument => self.next_json(eof),
            Framing::XmlEvents => self.next_xml(eof),
            Framing::Multiline => self.next_multiline(eof),
        }
    }

    /// A timestamped line and the lines after it up to the next timestamped line. At the end of
    /// the input the last record is complete; before that it waits for the next one to start.
    fn next_multiline(&mut self, eof: bool) -> Option<(Frame, &[u8])> {
        let start = self.taken;
        let rest = &self.buf[start..];
        // Leading blank lines and text before the first timestamp go with that first record.
        if rest.is_empty() {
            return None;
        }
        let mut pos = match memchr::memchr(b'\n', rest) {
            Some(i) => i + 1,
            None if eof || rest.len() > self.max_bytes => rest.len(),
            None => return None,
        };
        let end = loop {
            if pos >= rest.len() {
                if !eof && rest.len() <= self.max_bytes {
                    return None;
                }
                break rest.len();
            }
            if starts_with_timestamp(&rest[pos..]) {
                break pos;
            }
            match memchr::memchr(b'\n', &rest[pos..]) {
                Some(i) => pos += i + 1,
                None if eof || rest.len() > self.max_bytes => break rest.len(),
                None => return None,
            }
        };
        let text = &rest[..end];
        let trimmed = text.len()
            - text
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        if trimmed == 0 {
            self.taken = start + end;
            return None;
        }
        let truncated = trimmed > self.max_bytes;
        Some(self.emit(start, start + trimmed.min(self.max_bytes), end, truncated))
    }

    fn next_xml(&mut self, eof: bool) -> Option<(Frame, &[u8])> {
        const OPEN: &[u8] = b"<Event";
        const CLOSE: &[u8] = b"</Event>";
        let start = self.taken;
        let rest = &self.buf[start..];
        // The next `<Event` followed by a space or `>` (not `<Events>` or `<EventData>`).
        let mut from = 0;
        let open = loop {
            let Some(i) = memchr::memmem::find(&rest[from..], OPEN) else {
                // Keep a tail that could be the start of a split `<Event`.
                let keep = rest.len().min(OPEN.len());
                self.taken = self.buf.len() - keep;
                if eof {
                    self.taken = self.buf.len();
                }
                return None;
            };
            let at = from + i;
            match rest.get(at + OPEN.len()) {
                Some(b' ') | Some(b'>') | Some(b'\t') | Some(b'\r') | Some(b'\n') => break at,
                Some(_) => from = at + OPEN.len(),
                None if eof => {
                    self.taken = self.buf.len();
                    return None;
                }
                None => {
                    self.taken = start + at;
                    return None;
                }
            }
        };
        // Skipped text between events (record headers, declarations) is consumed.
        let rec_start = start + open;
        self.taken = rec_start;
        let body = &self.buf[rec_start..];
        match memchr::memmem::find(body, CLOSE) {
            Some(i) if i + CLOSE.len() <= self.max_bytes => {
                let len = i + CLOSE.len();
                Some(self.emit(rec_start, rec_start + len, len, false))
            }
            Some(i) => {
                let len = i + CLOSE.len();
                let max = self.max_bytes;
                Some(self.emit(rec_start, rec_start + max, len, true))
            }
            None if body.len() > self.max_bytes => {
                // The rest of it is skipped by the next search for `<Event`.
                let max = self.max_bytes;
                Some(self.emit(rec_start, rec_start + max, max, true))
            }
            None if eof => {
                let len = body.len();
                Some(self.emit(rec_start, rec_start + len, len, false))
            }
            None => None,
        }
    }

    fn emit(
        &mut self,
        start: usize,
        end: usize,
        consumed: usize,
        truncated: bool,
    ) -> (Frame, &[u8]) {
        self.taken = start + consumed;
        let frame = Frame {
            offset: self.base + start as u64,
            consumed: consumed as u64,
            truncated,
        };
        (frame, &self.buf[start..end])
    }

    fn next_line(&mut self, eof: bool) -> Option<(Frame, &[u8])> {
        loop {
            let start = self.taken;
            let rest = &self.buf[start..];
            if rest.is_empty() {
                return None;
            }
            let nl = memchr::memchr(b'\n', rest);
            if self.skipping {
                match nl {
                    Some(i) => {
                        self.taken = start + i + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        self.taken = self.buf.len();
                        return None;
                    }
                }
            }
            match nl {
                Some(i) if i <= self.max_bytes => {
                    let end = if i > 0 && rest[i - 1] == b'\r' {
                        start + i - 1
                    } else {
                        start + i
                    };
                    if end == start {
                        // Blank line: not a record.
                        self.taken = start + i + 1;
                        continue;
                    }
                    return Some(self.emit(start, end, i + 1, false));
                }
                _ if rest.len() > self.max_bytes => {
                    // Over-long: emit the first max_bytes, skip to the next newline.
                    let consumed = match nl {
                        Some(i) => i + 1,
                        None => {
                            self.skipping = true;
                            rest.len()
                        }
                    };
                    return Some(self.emit(start, start + self.max_bytes, consumed, true));
                }
                None if eof => {
                    let len = rest.len();
                    if rest.iter().all(u8::is_ascii_whitespace) {
                        self.taken = self.buf.len();
                        return None;
                    }
                    return Some(self.emit(start, start + len, len, false));
                }
                _ => return None,
            }
        }
    }

    fn next_json(&mut self, eof: bool) -> Option<(Frame, &[u8])> {
        loop {
            let start = self.taken;
            if self.skipping {
                // Skip an over-long document to the next line that starts a value.
                match memchr::memchr(b'\n', &self.buf[start..]) {
                    Some(i) => {
                        self.taken = start + i + 1;
                        self.skipping = false;
                        self.json = JsonScan {
                            pos: self.taken,
                            ..Default::default()
                        };
                        continue;
                    }
                    None => {
                        self.taken = self.buf.len();
                        return None;
                    }
                }
            }
            let mut s = self.json;
            if s.pos < start {
                s = JsonScan {
                    pos: start,
                    ..Default::default()
                };
            }
            let mut doc_start = None;
            let bytes = &self.buf;
            let mut i = s.pos;
            if !s.started {
                // Leading whitespace is not part of a document.
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                self.taken = i;
                if i == bytes.len() {
                    self.json = JsonScan {
                        pos: i,
                        ..Default::default()
                    };
                    return None;
                }
                if bytes[i] != b'{' && bytes[i] != b'[' {
                    // Not JSON: fall back to one line as a record, so nothing is lost.
                    let line_end = memchr::memchr(b'\n', &bytes[i..]).map(|n| i + n);
                    return match line_end {
                        Some(e) if e - i <= self.max_bytes => {
                            let end = if e > i && bytes[e - 1] == b'\r' {
                                e - 1
                            } else {
                                e
                            };
                            self.json = JsonScan {
                                pos: e + 1,
                                ..Default::default()
                            };
                            Some(self.emit(i, end, e + 1 - i, false))
                        }
                        None if eof => {
                            let len = bytes.len() - i;
                            self.json = JsonScan {
                                pos: bytes.len(),
                                ..Default::default()
                            };
                            Some(self.emit(i, bytes.len(), len, false))
                        }
                        _ if bytes.len() - i > self.max_bytes => {
                            self.skipping = true;
                            let max = self.max_bytes;
                            Some(self.emit(i, i + max, max, true))
                        }
                        _ => None,
                    };
                }
                s.started = true;
            }
            let begin = self.taken;
            while i < bytes.len() {
                let b = bytes[i];
                if s.in_str {
                    if s.escaped {
                        s.escaped = false;
                    } else if b == b'\\' {
                        s.escaped = true;
                    } else if b == b'"' {
                        s.in_str = false;
                    }
                } else {
                    match b {
                        b'"' => s.in_str = true,
                        b'{' | b'[' => s.depth += 1,
                        b'}' | b']' => {
                            s.depth = s.depth.saturating_sub(1);
                            if s.depth == 0 {
                                doc_start = Some(begin);
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            if let Some(b) = doc_start {
                self.json = JsonScan {
                    pos: i,
                    ..Default::default()
                };
                return Some(self.emit(b, i, i - b, false));
            }
            s.pos = i;
            self.json = s;
            if i - begin > self.max_bytes {
                self.skipping = true;
                let max = self.max_bytes;
                self.json = JsonScan::default();
                return Some(self.emit(begin, begin + max, max, true));
            }
            if eof && i > begin {
                // An unterminated document: hand it out whole so it is seen (it will not parse).
                self.json = JsonScan {
                    pos: i,
                    ..Default::default()
                };
                return Some(self.emit(begin, i, i - begin, false));
            }
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mode: Framing, max: usize, chunks: &[&[u8]]) -> Vec<(u64, String, bool)> {
        let mut f = Framer::new(mode, max, 0);
        let mut out = Vec::new();
        for (n, c) in chunks.iter().enumerate() {
            f.feed(c);
            let eof = n + 1 == chunks.len();
            while let Some((fr, rec)) = f.next_record(eof) {
                out.push((
                    fr.offset,
                    String::from_utf8_lossy(rec).into_owned(),
                    fr.truncated,
                ));
            }
        }
        out
    }

    #[test]
    fn lines_across_chunks_with_crlf_and_blank_lines() {
        let r = all(Framing::Lines, 1024, &[b"ab", b"c\r\n\nde", b"f\nlast"]);
        assert_eq!(
            r,
            vec![
                (0, "abc".into(), false),
                (6, "def".into(), false),
                (10, "last".into(), false)
            ]
        );
    }

    #[test]
    fn over_long_lines_are_cut_and_the_rest_skipped() {
        let r = all(Framing::Lines, 16, &[b"0123456789abcdefXYZ", b"more\nok\n"]);
        assert_eq!(
            r,
            vec![
                (0, "0123456789abcdef".into(), true),
                (24, "ok".into(), false)
            ]
        );
    }

    #[test]
    fn json_documents_span_lines_and_respect_strings() {
        let doc = b"{\"Records\": [\n {\"a\": \"}\\\"{\"},\n {\"b\": 1}\n]}\n{\"c\":2}\n";
        let r = all(
            Framing::JsonDocument,
            1 << 20,
            &[&doc[..10], &doc[10..30], &doc[30..]],
        );
        assert_eq!(r.len(), 2);
        assert!(r[0].1.starts_with("{\"Records\"") && r[0].1.ends_with("]}"));
        assert_eq!(r[1].1, "{\"c\":2}");
    }

    #[test]
    fn json_mode_passes_non_json_lines_through() {
        let r = all(Framing::JsonDocument, 1024, &[b"plain text\n{\"a\":1}"]);
        assert_eq!(
            r.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            ["plain text", "{\"a\":1}"]
        );
    }

    #[test]
    fn xml_events_skip_headers_and_span_lines() {
        let text = b"Record 1\n<?xml version=\"1.0\"?>\n<Event xmlns=\"x\">\n <System><EventID>1</EventID></System>\n <EventData/>\n</Event>\nRecord 2\n<Event><System/></Event>";
        let r = all(
            Framing::Auto,
            1 << 20,
            &[&text[..20], &text[20..50], &text[50..]],
        );
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].1.starts_with("<Event xmlns") && r[0].1.ends_with("</Event>"));
        assert_eq!(r[1].1, "<Event><System/></Event>");
    }

    #[test]
    fn multiline_records_start_at_timestamps() {
        let text: &[u8] = b"01/02/2024 03:04:05 PM\nLogName=Security\nEventCode=4624\nMessage=Hi\n\n\tSubject:\n01/02/2024 03:04:06 PM\nLogName=System\n";
        assert_eq!(sniff(text), Framing::Multiline);
        let recs = all(Framing::Auto, 1 << 20, &[&text[..30], &text[30..]]);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0].1,
            "01/02/2024 03:04:05 PM\nLogName=Security\nEventCode=4624\nMessage=Hi\n\n\tSubject:"
        );
        assert_eq!(recs[1].1, "01/02/2024 03:04:06 PM\nLogName=System");
        assert!(starts_with_timestamp(b"2024-01-02 10:00:00 ERROR"));
        assert!(starts_with_timestamp(b"Jan  2 10:00:00 host"));
        assert!(!starts_with_timestamp(
            b"\tat com.example.Main(Main.java:1)"
        ));
        assert!(!starts_with_timestamp(b"1/"));
    }

    #[test]
    fn json_batches_split_into_records() {
        let b = split_json_batch(br#" { "Records" : [ {"a":1}, {"b":[2]} ] }"#).unwrap();
        assert_eq!(
            b.iter().map(|e| e.get()).collect::<Vec<_>>(),
            [r#"{"a":1}"#, r#"{"b":[2]}"#]
        );
        assert_eq!(split_json_batch(br#"{"events":[]}"#).unwrap().len(), 0);
        assert!(split_json_batch(br#"{"Records":[1,2]}"#).is_none());
        assert!(split_json_batch(br#"{"Records":[{}],"other":1}"#).is_none());
        assert!(split_json_batch(br#"{"eventName":"x","Records":[{}]}"#).is_none());
        assert!(split_json_batch(br#"{"Records":[{"a":"#).is_none());
        assert!(split_json_batch(b"not json").is_none());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"  {\"Records\""), Framing::JsonDocument);
        assert_eq!(sniff(b"Record 12\n<?xml"), Framing::XmlEvents);
        assert_eq!(sniff(b"<Event xmlns"), Framing::XmlEvents);
        assert_eq!(sniff(b"Record of the day: sold 3 units"), Framing::Lines);
        assert_eq!(sniff(b"<13>Oct 11 host app: x"), Framing::Lines);
    }

    #[test]
    fn position_tracks_consumed_bytes() {
        let mut f = Framer::new(Framing::Lines, 64, 100);
        f.feed(b"a\nb\npartial");
        while f.next_record(false).is_some() {}
        assert_eq!(f.position(), 104);
        assert_eq!(f.pending(), 7);
    }
}
