//! Syslog header parser: RFC 5424 and the many RFC 3164 ("BSD") dialects seen in the wild.
//!
//! Works on raw bytes and borrows from the input, so a typical line is parsed without allocating;
//! only structured-data values that contain escapes (or invalid UTF-8) are copied. The MSG part is
//! returned as bytes because it may itself be another source (PAN-OS CSV, a Windows event, CEF).
//!
//! What fails: an empty record, a malformed `<PRI>`, a `<PRI>` not followed by a recognizable header,
//! an RFC 5424 header that is neither valid 5424 nor 3164, and a line without `<PRI>` that does not
//! start with a timestamp. Everything after a valid timestamp is best effort (hostname, tag and
//! structured data are optional), because real senders omit or mangle them.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use nom::bytes::complete::{tag, take_till, take_while, take_while1, take_while_m_n};
use nom::combinator::opt;
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

use crate::normalize::{Context, ParseFailure};

/// Which header grammar matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc3164,
    Rfc5424,
}

/// A header timestamp, kept in the form it was written so the normalizer decides year and zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTime {
    /// A complete instant with offset (RFC 5424, RFC 3339 in a 3164 header).
    Full(DateTime<FixedOffset>),
    /// Date and time without offset (ISO 8601 without zone, BSD with a year): configured zone applies.
    Local(NaiveDateTime),
    /// BSD `Mmm dd hh:mm:ss[.frac]`: no year and no zone.
    Bsd {
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        nanos: u32,
    },
}

impl SyslogTime {
    /// The instant, using the context's zone and receive year where the header has none.
    pub fn resolve(&self, ctx: &Context) -> Option<DateTime<FixedOffset>> {
        match *self {
            SyslogTime::Full(t) => Some(t),
            SyslogTime::Local(n) => Some(ctx.localize(n)),
            SyslogTime::Bsd {
                month,
                day,
                hour,
                minute,
                second,
                nanos,
            } => {
                // A leap second (:60) is chrono's 59 s plus a second of nanoseconds.
                let (second, nanos) = if second == 60 {
                    (59, nanos.saturating_add(1_000_000_000))
                } else {
                    (second, nanos)
                };
                ctx.infer_year(month, day, hour, minute, second, nanos)
            }
        }
    }
}

/// One RFC 5424 SD-PARAM; the value is unescaped (`\"`, `\\`, `\]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdParam<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

/// One RFC 5424 SD-ELEMENT: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a str,
    pub params: Vec<SdParam<'a>>,
}

/// A parsed syslog record; string fields borrow from the input, NILVALUE (`-`) is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog<'a> {
    pub format: SyslogFormat,
    /// `<PRI>`: facility = pri >> 3, severity = pri & 7.
    pub priority: Option<u8>,
    /// RFC 5424 VERSION.
    pub version: Option<u8>,
    pub timestamp: Option<SyslogTime>,
    pub hostname: Option<&'a str>,
    /// RFC 5424 APP-NAME or the RFC 3164 tag.
    pub appname: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Vec<SdElement<'a>>,
    /// The MSG part, BOM stripped: the payload, possibly another source.
    pub msg: &'a [u8],
    /// `msg` as text, when the line is valid UTF-8.
    pub msg_text: Option<&'a str>,
}

impl Syslog<'_> {
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p >> 3)
    }

    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p & 7)
    }
}

type Res<'a, T> = IResult<&'a [u8], T, ()>;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses one syslog record (one line, trailing CR/LF allowed).
pub fn parse(input: &[u8]) -> Result<Syslog<'_>, ParseFailure> {
    parse_line(input, std::str::from_utf8(input).ok())
}

/// [`parse`] of a line whose text is known (`text`: the same bytes as `input`, when they are
/// valid UTF-8): header fields and the message are cut from it rather than each checked again.
pub fn parse_line<'a>(input: &'a [u8], text: Option<&'a str>) -> Result<Syslog<'a>, ParseFailure> {
    let line = Line { bytes: input, text };
    let mut s = parse_header(input, line)?;
    s.msg_text = line.str(s.msg);
    Ok(s)
}

/// A record's bytes and, when they are valid UTF-8, the same bytes as text.
#[derive(Clone, Copy)]
struct Line<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Line<'a> {
    /// `part` (of this line) as text: cut from the line's text, else checked alone.
    fn str(self, part: &'a [u8]) -> Option<&'a str> {
        let at = (part.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let cut = self
            .text
            .filter(|t| t.as_ptr() == self.bytes.as_ptr() && t.len() == self.bytes.len())
            .and_then(|t| t.get(at..at.checked_add(part.len())?));
        match cut {
            Some(s) => Some(s),
            None => std::str::from_utf8(part).ok(),
        }
    }
}

fn parse_header<'a>(input: &'a [u8], line: Line<'a>) -> Result<Syslog<'a>, ParseFailure> {
    let input = skip_spaces(trim_line_end(input));
    if input.iter().all(|c| c.is_ascii_whitespace()) {
        return Err(ParseFailure::new("empty syslog record"));
    }
    let input = strip_octet_count(input);
    if input.first() == Some(&b'<') {
        let (rest, p) = pri(input).map_err(|_| ParseFailure::new("invalid syslog <PRI>"))?;
        if let Ok((after, v)) = version(rest) {
            if let Some(s) = parse_5424(after, p, v) {
                return Ok(s);
            }
            // `<PRI>1 Oct  3 ...`: a 3164 body behind a version number.
            return parse_3164(after, Some(p), Some(v), line)
                .ok_or_else(|| ParseFailure::new("malformed RFC 5424 header"));
        }
        return parse_3164(skip_spaces(rest), Some(p), None, line)
            .ok_or_else(|| ParseFailure::new("no timestamp after syslog <PRI>"));
    }
    parse_3164(input, None, None, line)
        .ok_or_else(|| ParseFailure::new("no syslog header (PRI or timestamp)"))
}

/// RFC 6587 octet-counting framing (`123 <13>1 ...`) left on by a TCP sender or relay.
fn strip_octet_count(i: &[u8]) -> &[u8] {
    let framed: Res<'_, &[u8]> =
        terminated(take_while_m_n(1, 7, is_digit), tag(&b" "[..])).parse(i);
    match framed {
        Ok((rest, _)) if rest.first() == Some(&b'<') => rest,
        _ => i,
    }
}

fn trim_line_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b'\0'] = s {
        s = rest;
    }
    s
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    s.get(n..).unwrap_or_default()
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// Decimal value of an all-digit slice (callers bound the length).
fn to_u32(d: &[u8]) -> u32 {
    d.iter().fold(0u32, |a, &c| {
        a.wrapping_mul(10)
            .wrapping_add(u32::from(c.wrapping_sub(b'0')))
    })
}

fn digits(n: usize) -> impl FnMut(&[u8]) -> Res<'_, u32> {
    move |i| {
        let (rest, d) = take_while_m_n(n, n, is_digit)(i)?;
        Ok((rest, to_u32(d)))
    }
}

fn spaces1(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(|c| c == b' ')(i)
}

fn fail<T>() -> Res<'static, T> {
    Err(nom::Err::Error(()))
}

/// `<PRI>`: 1 to 3 digits, at most 191 (facility 23, severity 7).
fn pri(i: &[u8]) -> Res<'_, u8> {
    let (rest, d) = delimited(
        tag(&b"<"[..]),
        take_while_m_n(1, 3, is_digit),
        tag(&b">"[..]),
    )
    .parse(i)?;
    match u8::try_from(to_u32(d)) {
        Ok(v) if v <= 191 => Ok((rest, v)),
        _ => fail(),
    }
}

/// RFC 5424 VERSION and its SP; a 3164 ISO timestamp (`<13>2024-...`) does not match.
fn version(i: &[u8]) -> Res<'_, u8> {
    let (rest, d) = terminated(take_while_m_n(1, 2, is_digit), tag(&b" "[..])).parse(i)?;
    match u8::try_from(to_u32(d)) {
        Ok(v) if v > 0 => Ok((rest, v)),
        _ => fail(),
    }
}

/// Up to nine fraction digits as nanoseconds; more digits are read and dropped.
fn fraction(i: &[u8]) -> Res<'_, u32> {
    let (rest, d) = preceded(tag(&b"."[..]), take_while1(is_digit)).parse(i)?;
    let mut n = 0u32;
    for k in 0..9 {
        n = n * 10 + d.get(k).map_or(0, |&c| u32::from(c - b'0'));
    }
    Ok((rest, n))
}

/// `hh:mm:ss[.frac]`, validated (60 s allowed for leap seconds).
fn clock(i: &[u8]) -> Res<'_, (u32, u32, u32, u32)> {
    let (i, h) = digits(2)(i)?;
    let (i, m) = preceded(tag(&b":"[..]), digits(2)).parse(i)?;
    let (i, s) = preceded(tag(&b":"[..]), digits(2)).parse(i)?;
    let (i, n) = opt(fraction).parse(i)?;
    if h > 23 || m > 59 || s > 60 {
        return fail();
    }
    Ok((i, (h, m, s, n.unwrap_or(0))))
}

fn naive(y: i32, mo: u32, d: u32, (h, mi, s, n): (u32, u32, u32, u32)) -> Option<NaiveDateTime> {
    let (s, n) = if s == 60 {
        (59, n + 1_000_000_000)
    } else {
        (s, n)
    };
    NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_nano_opt(h, mi, s, n)
}

fn month(i: &[u8]) -> Res<'_, u32> {
    let (rest, m) = take_while_m_n(3, 3, |c: u8| c.is_ascii_alphabetic())(i)?;
    match MONTHS.iter().position(|n| n.eq_ignore_ascii_case(m)) {
        Some(idx) => Ok((rest, idx as u32 + 1)),
        None => fail(),
    }
}

/// BSD `Mmm dd hh:mm:ss[.frac]`, also `Mmm dd yyyy hh:mm:ss` (Cisco-style year).
fn bsd_time(i: &[u8]) -> Res<'_, SyslogTime> {
    let (i, mo) = terminated(month, spaces1).parse(i)?;
    let (i, d) = terminated(take_while_m_n(1, 2, is_digit), spaces1).parse(i)?;
    let day = to_u32(d);
    let (i, year) = opt(terminated(digits(4), spaces1)).parse(i)?;
    let (i, c) = clock(i)?;
    if !(1..=31).contains(&day) {
        return fail();
    }
    let t = match year {
        Some(y) => match naive(y as i32, mo, day, c) {
            Some(n) => SyslogTime::Local(n),
            None => return fail(),
        },
        None => SyslogTime::Bsd {
            month: mo,
            day,
            hour: c.0,
            minute: c.1,
            second: c.2,
            nanos: c.3,
        },
    };
    Ok((i, t))
}

/// `Z` or `±hh:mm` (also `±hhmm` and `±hh`), as seconds east of UTC.
fn offset(i: &[u8]) -> Res<'_, i32> {
    match i.first() {
        Some(b'Z' | b'z') => Ok((i.get(1..).unwrap_or_default(), 0)),
        Some(&sign @ (b'+' | b'-')) => {
            let (i, h) = digits(2)(i.get(1..).unwrap_or_default())?;
            let (i, m) = opt(preceded(opt(tag(&b":"[..])), digits(2))).parse(i)?;
            let m = m.unwrap_or(0);
            if h > 23 || m > 59 {
                return fail();
            }
            let secs = (h * 3600 + m * 60) as i32;
            Ok((i, if sign == b'-' { -secs } else { secs }))
        }
        _ => fail(),
    }
}

/// ISO 8601 / RFC 3339 `yyyy-mm-ddThh:mm:ss[.frac][offset]`. `strict` (RFC 5424, where a space
/// ends the field) requires the `T`; a missing zone is accepted (the configured zone applies).
fn iso_time(i: &[u8], strict: bool) -> Res<'_, SyslogTime> {
    let (i, y) = digits(4)(i)?;
    let (i, mo) = preceded(tag(&b"-"[..]), digits(2)).parse(i)?;
    let (i, d) = preceded(tag(&b"-"[..]), digits(2)).parse(i)?;
    let i = match i.first() {
        Some(b'T' | b't') => i.get(1..).unwrap_or_default(),
        Some(b' ') if !strict => i.get(1..).unwrap_or_default(),
        _ => return fail(),
    };
    let (i, c) = clock(i)?;
    let (i, off) = opt(offset).parse(i)?;
    let Some(n) = naive(y as i32, mo, d, c) else {
        return fail();
    };
    match off {
        Some(secs) => {
            match FixedOffset::east_opt(secs).and_then(|o| o.from_local_datetime(&n).single()) {
                Some(t) => Ok((i, SyslogTime::Full(t))),
                None => fail(),
            }
        }
        None => Ok((i, SyslogTime::Local(n))),
    }
}

/// A whole ISO 8601 / RFC 3339 date-time, `yyyy-mm-dd(T|t| )hh:mm:ss[.frac][offset]`, read by the
/// header's parser. Accepts what chrono's `parse_from_rfc3339` accepts (with the same result),
/// plus a missing zone and `±hhmm`/`±hh`.
pub fn iso_timestamp(s: &[u8]) -> Option<SyslogTime> {
    match iso_time(s, false) {
        Ok(([], t)) => Some(t),
        _ => None,
    }
}

/// A header field: printable, no spaces. Non-UTF-8 bytes make it absent rather than fail the line.
fn field(i: &[u8]) -> Res<'_, Option<&str>> {
    let (rest, f) = take_while1(|c: u8| c > b' ' && c != 0x7f)(i)?;
    let v = std::str::from_utf8(f).ok().filter(|v| *v != "-");
    Ok((rest, v))
}

/// RFC 5424 after `<PRI>VERSION SP`; `None` when the header is not 5424.
fn parse_5424(i: &[u8], pri: u8, ver: u8) -> Option<Syslog<'_>> {
    let (i, ts) = if let Some(rest) = i.strip_prefix(b"-") {
        (rest, None)
    } else {
        let (rest, t) = iso_time(i, true).ok()?;
        (rest, Some(t))
    };
    let (i, hostname) = preceded(spaces1, field).parse(i).ok()?;
    let (i, appname) = preceded(spaces1, field).parse(i).ok()?;
    let (i, procid) = preceded(spaces1, field).parse(i).ok()?;
    let (i, msgid) = preceded(spaces1, field).parse(i).ok()?;
    let mut s = Syslog {
        format: SyslogFormat::Rfc5424,
        priority: Some(pri),
        version: Some(ver),
        timestamp: ts,
        hostname,
        appname,
        procid,
        msgid,
        structured_data: Vec::new(),
        msg: &[],
        msg_text: None,
    };
    // Lenient: a header that ends after MSGID (no SD) is accepted.
    let Some(i) = i.strip_prefix(b" ") else {
        return i.is_empty().then_some(s);
    };
    let i = skip_spaces(i);
    let rest = if let Some(rest) = i.strip_prefix(b"-") {
        rest
    } else if let Ok((rest, sd)) = structured_data(i) {
        s.structured_data = sd;
        rest
    } else {
        // Not valid SD (e.g. `[text]` written as MSG): keep everything as the message.
        i
    };
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    s.msg = rest.strip_prefix(BOM).unwrap_or(rest);
    Some(s)
}

fn is_sd_name(c: u8) -> bool {
    c > b' ' && c < 0x7f && c != b'=' && c != b']' && c != b'"'
}

fn sd_name(i: &[u8]) -> Res<'_, &str> {
    let (rest, n) = take_while1(is_sd_name)(i)?;
    // SD names are ASCII by construction, so this never fails.
    match std::str::from_utf8(n) {
        Ok(s) => Ok((rest, s)),
        Err(_) => fail(),
    }
}

/// A quoted PARAM-VALUE; borrows unless it holds escapes or invalid UTF-8.
fn sd_value(i: &[u8]) -> Res<'_, Cow<'_, str>> {
    let (i, _) = tag(&b"\""[..])(i)?;
    let mut owned: Option<Vec<u8>> = None;
    let mut pos = 0;
    loop {
        let tail = i.get(pos..).unwrap_or_default();
        let Some(k) = memchr::memchr2(b'"', b'\\', tail) else {
            return fail();
        };
        let at = pos + k;
        let chunk = i.get(pos..at).unwrap_or_default();
        if tail.get(k) == Some(&b'"') {
            let rest = i.get(at + 1..).unwrap_or_default();
            let value = match owned {
                None => String::from_utf8_lossy(i.get(..at).unwrap_or_default()),
                Some(mut buf) => {
                    buf.extend_from_slice(chunk);
                    Cow::Owned(
                        String::from_utf8(buf)
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    )
                }
            };
            return Ok((rest, value));
        }
        // A backslash: `\"`, `\\` and `\]` drop it; any other pair is kept as written (RFC 5424 6.3.3).
        let buf = owned.get_or_insert_with(|| Vec::with_capacity(i.len()));
        buf.extend_from_slice(chunk);
        match tail.get(k + 1) {
            Some(&c @ (b'"' | b'\\' | b']')) => buf.push(c),
            Some(&c) => buf.extend_from_slice(&[b'\\', c]),
            None => return fail(),
        }
        pos = at + 2;
    }
}

fn sd_param(i: &[u8]) -> Res<'_, SdParam<'_>> {
    let (i, name) = preceded(spaces1, sd_name).parse(i)?;
    let (i, value) = preceded(tag(&b"="[..]), sd_value).parse(i)?;
    Ok((i, SdParam { name, value }))
}

fn sd_element(i: &[u8]) -> Res<'_, SdElement<'_>> {
    let (mut i, id) = preceded(tag(&b"["[..]), sd_name).parse(i)?;
    let mut params = Vec::new();
    while let Ok((rest, p)) = sd_param(i) {
        params.push(p);
        i = rest;
    }
    let (i, _) = preceded(take_while(|c| c == b' '), tag(&b"]"[..])).parse(i)?;
    Ok((i, SdElement { id, params }))
}

fn structured_data(mut i: &[u8]) -> Res<'_, Vec<SdElement<'_>>> {
    let mut out = Vec::new();
    while i.first() == Some(&b'[') {
        let (rest, e) = sd_element(i)?;
        out.push(e);
        i = rest;
    }
    if out.is_empty() {
        return fail();
    }
    Ok((i, out))
}

/// RFC 3164 after the optional `<PRI>`: timestamp, then optional hostname and tag.
fn parse_3164<'a>(
    i: &'a [u8],
    pri: Option<u8>,
    ver: Option<u8>,
    line: Line<'a>,
) -> Option<Syslog<'a>> {
    let (i, ts) = bsd_time(i).or_else(|_| iso_time(i, false)).ok()?;
    // The timestamp must end at a space (or the line): `12:00:00:` is not this grammar.
    if !matches!(i.first(), None | Some(b' ' | b'\t')) {
        return None;
    }
    let i = skip_spaces(i);
    let mut s = Syslog {
        format: SyslogFormat::Rfc3164,
        priority: pri,
        version: ver,
        timestamp: Some(ts),
        hostname: None,
        appname: None,
        procid: None,
        msgid: None,
        structured_data: Vec::new(),
        msg: i,
        msg_text: None,
    };
    let rest = if let Some(t) = program_tag(i, line) {
        // The first word is already a tag: the sender left out the hostname.
        Some(t)
    } else if let Ok((rest, tok)) = take_till::<_, _, ()>(|c| c == b' ' || c == b'\t')(i) {
        match hostname(tok, line) {
            Some(h) => {
                s.hostname = Some(h);
                let rest = skip_spaces(rest);
                s.msg = rest;
                program_tag(rest, line)
            }
            None => None,
        }
    } else {
        None
    };
    if let Some((name, pid, msg)) = rest {
        s.appname = Some(name);
        s.procid = pid;
        s.msg = msg;
    }
    s.msg = s.msg.strip_prefix(BOM).unwrap_or(s.msg);
    Some(s)
}

/// A plausible host name or address token; rejects CSV, key=value and bracketed payloads.
fn hostname<'a>(tok: &'a [u8], line: Line<'a>) -> Option<&'a str> {
    let ok = !tok.is_empty()
        && tok.len() <= 255
        && tok.last() != Some(&b':')
        && tok.iter().any(|c| c.is_ascii_alphanumeric())
        && tok
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'%'));
    if ok {
        line.str(tok)
    } else {
        None
    }
}

fn pid_brackets(i: &[u8]) -> Res<'_, &[u8]> {
    delimited(
        tag(&b"["[..]),
        take_till(|c| c == b']' || c == b' '),
        tag(&b"]"[..]),
    )
    .parse(i)
}

/// `tag[pid]: ` or `tag: ` at the start of `i`: the program name, pid and the message after it.
/// `CEF:`/`LEEF:` are payload markers, not tags.
fn program_tag<'a>(i: &'a [u8], line: Line<'a>) -> Option<(&'a str, Option<&'a str>, &'a [u8])> {
    let (rest, name) =
        take_while1::<_, _, ()>(|c: u8| c > b' ' && c != b'[' && c != b':' && c != 0x7f)(i).ok()?;
    if name.len() > 64 || name == b"CEF" || name == b"LEEF" {
        return None;
    }
    let (rest, pid) = opt(pid_brackets).parse(rest).ok()?;
    let rest = rest.strip_prefix(b":")?;
    if !matches!(rest.first(), None | Some(b' ' | b'\t')) {
        return None;
    }
    let name = line.str(name)?;
    let pid = pid.and_then(|p| line.str(p)).filter(|p| !p.is_empty());
    Some((name, pid, skip_spaces(rest)))
}

#[cfg(test)]
mod tests;
