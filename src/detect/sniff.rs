//! The structural sniff: a look at the first bytes that decides which rules are worth scoring.
//!
//! Hand-written byte checks, no regex: this runs on every record and must cost a few nanoseconds.

use serde::Deserialize;

/// A structural trait of a record. A record can have several (a PAN-OS line behind a syslog header
/// is both `syslog` and `csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Starts with `{` or `[`.
    Json,
    /// Starts with `<` and a name, `?` or `!` (not a syslog `<PRI>`).
    Xml,
    /// A syslog header: `<PRI>`, an RFC 3164 or ISO timestamp.
    Syslog,
    /// At least [`CSV_MIN_COMMAS`] commas in the first [`CSV_WINDOW`] bytes.
    Csv,
    /// Neither JSON nor XML.
    Text,
}

impl Shape {
    pub(crate) const fn bit(self) -> u8 {
        match self {
            Shape::Json => 1,
            Shape::Xml => 2,
            Shape::Syslog => 4,
            Shape::Csv => 8,
            Shape::Text => 16,
        }
    }
}

const CSV_MIN_COMMAS: usize = 5;
const CSV_WINDOW: usize = 256;

/// The shapes of `data` as a bit set of [`Shape::bit`].
pub fn shapes(data: &[u8]) -> u8 {
    shapes_and_header(data).0
}

/// [`shapes`] with the syslog header it found, so a caller that needs both parses it once. The
/// header is `Some` exactly when the `Syslog` bit is set.
pub fn shapes_and_header(data: &[u8]) -> (u8, Option<SyslogHeader>) {
    let s = headerless_shapes(data);
    if s & Shape::Text.bit() == 0 {
        return (s, None);
    }
    let header = syslog_header(data);
    match header {
        Some(_) => (s | Shape::Syslog.bit(), header),
        None => (s, None),
    }
}

/// [`shapes`] of `data` when they share a bit with `wanted`, else `None`. For a record's syslog
/// payload candidates, which detection scores only for a few shapes (CSV, JSON, XML): the header
/// is looked for only when it can change the answer, not three times per syslog record.
pub fn shapes_if(data: &[u8], wanted: u8) -> Option<u8> {
    let s = headerless_shapes(data);
    if s & wanted == 0 && wanted & Shape::Syslog.bit() == 0 {
        return None;
    }
    let s = if s & Shape::Text.bit() != 0 && syslog_header(data).is_some() {
        s | Shape::Syslog.bit()
    } else {
        s
    };
    (s & wanted != 0).then_some(s)
}

/// Every shape bit but `Syslog`: JSON or XML from the first bytes, else text, and CSV.
fn headerless_shapes(data: &[u8]) -> u8 {
    let t = trim_start(data);
    match t.first() {
        Some(b'{') | Some(b'[') => return Shape::Json.bit(),
        Some(b'<') => {
            if let Some(&c) = t.get(1) {
                if c.is_ascii_alphabetic() || c == b'?' || c == b'!' {
                    return Shape::Xml.bit();
                }
            }
        }
        // Event Viewer's "copy details" marks expandable elements with `- `.
        Some(b'-')
            if t.get(1) == Some(&b' ')
                && t.get(2) == Some(&b'<')
                && t.get(3).is_some_and(u8::is_ascii_alphabetic) =>
        {
            return Shape::Xml.bit();
        }
        _ => {}
    }
    let window = &data[..data.len().min(CSV_WINDOW)];
    if memchr::memchr_iter(b',', window)
        .nth(CSV_MIN_COMMAS - 1)
        .is_some()
    {
        Shape::Text.bit() | Shape::Csv.bit()
    } else {
        Shape::Text.bit()
    }
}

/// Leading spaces, tabs, line ends and a UTF-8 byte-order mark skipped.
pub fn trim_start(data: &[u8]) -> &[u8] {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let n = data
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &data[n..]
}

/// Where a syslog header was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogHeader {
    /// RFC 5424 (`<PRI>1 `).
    pub rfc5424: bool,
    /// Offset just after the timestamp (RFC 3164) or after the version (RFC 5424).
    pub after_time: usize,
}

/// Recognises `<PRI>` followed by an RFC 5424 version or a timestamp, or a bare RFC 3164 (`Oct 11
/// 22:14:15`, `Sep 8 07:46:30`) or ISO 8601 (`2023-10-05T11:47:20`) timestamp. A `<PRI>` alone
/// is enough: some senders put anything after it.
pub fn syslog_header(data: &[u8]) -> Option<SyslogHeader> {
    let mut i = 0;
    let mut pri = false;
    if data.first() == Some(&b'<') {
        let digits = data[1..]
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if (1..=3).contains(&digits) && data.get(1 + digits) == Some(&b'>') {
            i = 2 + digits;
            pri = true;
        } else {
            return None;
        }
    }
    let rest = &data[i..];
    if pri && rest.len() >= 2 && rest[0].is_ascii_digit() && rest[1] == b' ' {
        return Some(SyslogHeader {
            rfc5424: true,
            after_time: i + 2,
        });
    }
    if let Some(n) = bsd_time(rest).or_else(|| iso_time(rest)) {
        return Some(SyslogHeader {
            rfc5424: false,
            after_time: i + n,
        });
    }
    pri.then_some(SyslogHeader {
        rfc5424: false,
        after_time: i,
    })
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss` with a space- or zero-padded or unpadded day; returns its length.
fn bsd_time(s: &[u8]) -> Option<usize> {
    let m = s.get(..3)?;
    if !MONTHS.iter().any(|x| x.as_slice() == m) || s.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let d = s[i..]
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=2).contains(&d) || s.get(i + d) != Some(&b' ') {
        return None;
    }
    i += d + 1;
    clock(s.get(i..)?).map(|n| i + n)
}

/// `hh:mm:ss` with optional fraction; returns its length.
fn clock(s: &[u8]) -> Option<usize> {
    let b = s.get(..8)?;
    let ok = b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b':'
        && b[3].is_ascii_digit()
        && b[4].is_ascii_digit()
        && b[5] == b':'
        && b[6].is_ascii_digit()
        && b[7].is_ascii_digit();
    if !ok {
        return None;
    }
    let mut n = 8;
    if s.get(8) == Some(&b'.') {
        n += 1 + s[9..].iter().take_while(|b| b.is_ascii_digit()).count();
    }
    Some(n)
}

/// `YYYY-MM-DDThh:mm:ss[.frac][zone]`; returns its length up to the next space.
fn iso_time(s: &[u8]) -> Option<usize> {
    let d = s.get(..11)?;
    let ok = d[..4].iter().all(u8::is_ascii_digit)
        && d[4] == b'-'
        && d[5].is_ascii_digit()
        && d[6].is_ascii_digit()
        && d[7] == b'-'
        && d[8].is_ascii_digit()
        && d[9].is_ascii_digit()
        && d[10] == b'T';
    if !ok {
        return None;
    }
    clock(&s[11..])?;
    let end = s.iter().position(|&b| b == b' ')?;
    Some(end)
}

/// Where the message of a syslog record may start: after the timestamp, after the host, after
/// the tag (`name[pid]:`), or, for RFC 5424, after the structured data. A sender may omit the host
/// or the tag, so each is a candidate; the latest that some payload rule accepts wins.
pub fn payload_candidates(data: &[u8], h: SyslogHeader) -> [Option<usize>; 3] {
    if h.rfc5424 {
        return [rfc5424_msg(data, h.after_time), None, None];
    }
    let first = skip_spaces(data, h.after_time);
    if first >= data.len() {
        return [None, None, None];
    }
    let second = next_token(data, first);
    let third = second.and_then(|s| {
        // A tag ends with `:`; only then is there a third start.
        let end = token_end(data, s);
        (end > s && data[end - 1] == b':').then(|| skip_spaces(data, end))
    });
    [Some(first), second, third.filter(|&t| t < data.len())]
}

fn skip_spaces(data: &[u8], mut i: usize) -> usize {
    while data.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

fn token_end(data: &[u8], start: usize) -> usize {
    data[start..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(data.len(), |p| start + p)
}

fn next_token(data: &[u8], start: usize) -> Option<usize> {
    let end = token_end(data, start);
    let next = skip_spaces(data, end);
    (end < data.len() && next < data.len()).then_some(next)
}

/// The MSG of an RFC 5424 record: five header fields after the version, then `-` or `[...]...`.
fn rfc5424_msg(data: &[u8], after_version: usize) -> Option<usize> {
    let mut i = after_version;
    for _ in 0..5 {
        i = next_token(data, i)?;
    }
    match data.get(i)? {
        b'-' => Some(skip_spaces(data, i + 1)).filter(|&m| m < data.len()),
        b'[' => {
            let mut escaped = false;
            let mut in_element = false;
            let mut in_value = false;
            while let Some(&b) = data.get(i) {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' if in_value => escaped = true,
                    b'"' if in_element => in_value = !in_value,
                    b'[' if !in_element => in_element = true,
                    b']' if in_element && !in_value => in_element = false,
                    b' ' if !in_element => break,
                    _ if !in_element => return None,
                    _ => {}
                }
                i += 1;
            }
            let m = skip_spaces(data, i);
            (m < data.len()).then_some(m)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(data: &[u8], s: Shape) -> bool {
        shapes(data) & s.bit() != 0
    }

    #[test]
    fn shapes_of_common_records() {
        assert!(has(b"  {\"a\":1}", Shape::Json));
        assert!(has(b"<Event xmlns='x'>", Shape::Xml));
        assert!(has(b"<?xml version='1.0'?>", Shape::Xml));
        assert!(has(b"- <Event xmlns='x'>- <System>", Shape::Xml));
        assert!(!has(b"<13>Oct 11 22:14:15 host app: x", Shape::Xml));
        assert!(has(b"<13>Oct 11 22:14:15 host app: x", Shape::Syslog));
        assert!(has(b"Sep 8 07:46:30 canyon dovecot: x", Shape::Syslog));
        assert!(has(b"Jun  8 14:34:33 host kernel: x", Shape::Syslog));
        assert!(has(
            b"2023-08-17T16:55:35.689651+02:00 mono endlessh[1]: x",
            Shape::Syslog
        ));
        assert!(has(b"1,2,3,4,5,6", Shape::Csv));
        assert!(has(b"hello", Shape::Text));
        // A year in a BSD-style stamp is not syslog (Cisco ASA's own format).
        assert!(!has(
            b"Oct 10 2018 12:34:56 localhost CiscoASA[999]: x",
            Shape::Syslog
        ));
        assert!(!has(b"2016-09-28 04:30:30, Info CBS x", Shape::Syslog));
        assert_eq!(shapes(b""), Shape::Text.bit());
        assert_eq!(shapes(b"<"), Shape::Text.bit());
    }

    /// Headers, CSV (alone and behind a header), JSON, XML and text.
    const SAMPLES: [&[u8]; 11] = [
        b"<13>Oct 11 22:14:15 host app: x",
        b"<13>Oct 11 22:14:15 host 1,2,3,4,5,6,7",
        b"1,2,3,4,5,6,7",
        b"<134>1 2025-11-06T11:32:42Z fw filterlog 9 - - msg",
        b"2023-10-05T11:47:20 host x",
        b"<1>",
        b"{\"a\":1}",
        b"<Event xmlns='x'>",
        b"- <Event>",
        b"hello",
        b"",
    ];

    #[test]
    fn header_comes_with_the_syslog_shape() {
        for data in SAMPLES {
            let (s, h) = shapes_and_header(data);
            assert_eq!(s, shapes(data));
            assert_eq!(h.is_some(), s & Shape::Syslog.bit() != 0);
            assert!(h.is_none() || h == syslog_header(data));
        }
    }

    #[test]
    fn shapes_if_is_shapes_filtered_by_the_wanted_bits() {
        for data in SAMPLES {
            for wanted in 0..32u8 {
                let all = shapes(data);
                let want = (all & wanted != 0).then_some(all);
                assert_eq!(shapes_if(data, wanted), want, "{data:?} {wanted}");
            }
        }
    }

    #[test]
    fn payload_starts() {
        let line = b"Apr 11 20:06:15 192.168.0.1 01111111111,2024/04/11 20:06:15,audit";
        let h = syslog_header(line).unwrap();
        let c = payload_candidates(line, h);
        assert_eq!(&line[c[0].unwrap()..c[0].unwrap() + 11], b"192.168.0.1");
        assert_eq!(&line[c[1].unwrap()..c[1].unwrap() + 5], b"01111");
        assert_eq!(c[2], None);
        let line = b"<14>Mar  1 10:00:00 dc01 MSWinEventLog: <Event xmlns='x'/>";
        let c = payload_candidates(line, syslog_header(line).unwrap());
        assert_eq!(&line[c[2].unwrap()..], b"<Event xmlns='x'/>");
        let line = b"<134>1 2025-11-06T11:32:42Z fw filterlog 9 - [meta a=\"x\\\"]\"][b c=\"d\"] 7,,,1,vtnet0";
        let c = payload_candidates(line, syslog_header(line).unwrap());
        assert_eq!(&line[c[0].unwrap()..], b"7,,,1,vtnet0");
        let line = b"<134>1 2025-11-06T11:32:42Z fw filterlog 9 - - msg";
        let c = payload_candidates(line, syslog_header(line).unwrap());
        assert_eq!(&line[c[0].unwrap()..], b"msg");
    }

    #[test]
    fn never_panics_on_fragments() {
        for data in [
            &b"<"[..],
            b"<1",
            b"<1>",
            b"<1>1",
            b"<1>1 ",
            b"Oct",
            b"Oct 1",
            b"Oct 11 22:14:1",
            b"2023-10-05T",
        ] {
            let _ = shapes(data);
            if let Some(h) = syslog_header(data) {
                let _ = payload_candidates(data, h);
            }
        }
    }
}
