//! Syslog over a byte stream (TCP, TLS, unix stream sockets): RFC 6587 octet counting and
//! non-transparent framing, chosen per message, since rsyslog, syslog-ng and appliances each pick
//! one and some switch between them on the same connection.
//!
//! A message that starts with `<digits> <` is octet-counted (`123 <34>1 …`): exactly that many bytes
//! follow. Anything else runs to the next LF or NUL (rsyslog accepts NUL as a delimiter). Requiring
//! the `<` of the PRI after the count keeps a plain text line such as `42 apples\n` from being read
//! as a 42-byte frame; a count that does not parse falls back to line framing.

use crate::config::SyslogFraming;

/// The longest octet count we accept: ten digits is already far beyond any sane message.
const MAX_COUNT_DIGITS: usize = 10;

/// What is left of a message being thrown away after the part that fits was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    No,
    /// The rest of an octet-counted frame.
    Bytes(u64),
    /// The rest of an over-long line.
    ToDelimiter,
}

/// One message cut out of the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub bytes: &'a [u8],
    /// Cut at `max_message_bytes`, or cut short because the stream ended inside an octet frame.
    pub truncated: bool,
    /// The stream ended inside an octet-counted frame: `bytes` is what arrived of it.
    pub partial: bool,
}

/// How the message at the front of the buffer is framed.
enum Header {
    /// Octet counting: `len` bytes of message after a header of `header` bytes.
    Counted { len: u64, header: usize },
    /// Not enough bytes yet to tell.
    NeedMore,
    /// Non-transparent: up to the next delimiter.
    Line,
}

/// Cuts messages out of one connection's bytes. Holds at most one message's worth of bytes
/// (`max_message_bytes` plus a read chunk) however the peer behaves.
#[derive(Debug)]
pub(crate) struct StreamFramer {
    mode: SyslogFraming,
    max: usize,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out or skipped.
    taken: usize,
    skip: Skip,
}

impl StreamFramer {
    pub fn new(mode: SyslogFraming, max_message_bytes: usize) -> Self {
        StreamFramer {
            mode,
            max: max_message_bytes.max(1),
            buf: Vec::with_capacity(16 * 1024),
            taken: 0,
            skip: Skip::No,
        }
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        if self.taken > 0 {
            self.buf.drain(..self.taken);
            self.taken = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that are not yet part of a complete message.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len() - self.taken
    }

    /// The next complete message. With `eof` (the peer closed, or Sluice is stopping) whatever is
    /// left is a message too: a last line without its delimiter as it is, the part of an
    /// octet-counted frame that arrived as `partial`.
    pub fn next_message(&mut self, eof: bool) -> Option<Message<'_>> {
        let (range, truncated, partial) = loop {
            if !self.skip_discarded() {
                return None;
            }
            // Delimiters between messages (an LF after an octet frame, CRLF, keep-alive NULs).
            let start = self.taken;
            let gap = self.buf[start..]
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0' | b' ' | b'\t'))
                .count();
            self.taken += gap;
            if self.taken == self.buf.len() {
                return None;
            }
            let rest = &self.buf[self.taken..];
            let header = match self.mode {
                SyslogFraming::NonTransparent => Header::Line,
                SyslogFraming::OctetCounting => octet_header(rest, false),
                SyslogFraming::Auto => octet_header(rest, true),
            };
            let (range, truncated, partial) = match header {
                Header::NeedMore if !eof => return None,
                Header::Counted { len, header } => {
                    let body = self.taken + header;
                    let avail = (self.buf.len() - body) as u64;
                    let keep = len.min(self.max as u64);
                    if avail >= keep {
                        // `keep` ≤ max, so it fits in usize.
                        let keep = keep as usize;
                        self.taken = body + keep;
                        if len > keep as u64 {
                            self.skip = Skip::Bytes(len - keep as u64);
                        }
                        (body..body + keep, len > keep as u64, false)
                    } else if eof {
                        self.taken = self.buf.len();
                        (body..self.buf.len(), true, true)
                    } else {
                        return None;
                    }
                }
                Header::NeedMore | Header::Line => match memchr::memchr2(b'\n', b'\0', rest) {
                    Some(i) => {
                        let from = self.taken;
                        self.taken += i + 1;
                        let end = from + i.min(self.max);
                        (from..end, i > self.max, false)
                    }
                    None if rest.len() > self.max => {
                        let from = self.taken;
                        self.taken = self.buf.len();
                        self.skip = Skip::ToDelimiter;
                        (from..from + self.max, true, false)
                    }
                    None if eof => {
                        let from = self.taken;
                        self.taken = self.buf.len();
                        (from..self.buf.len(), false, false)
                    }
                    None => return None,
                },
            };
            let len = trim_end(&self.buf[range.clone()]).len();
            if len > 0 {
                break (range.start..range.start + len, truncated, partial);
            }
        };
        Some(Message {
            bytes: &self.buf[range],
            truncated,
            partial,
        })
    }

    /// Throws away the rest of a message that was cut; false while more of it is still to come.
    fn skip_discarded(&mut self) -> bool {
        let avail = self.buf.len() - self.taken;
        match self.skip {
            Skip::No => true,
            Skip::Bytes(n) => {
                let k = n.min(avail as u64);
                self.taken += k as usize;
                if k == n {
                    self.skip = Skip::No;
                    true
                } else {
                    self.skip = Skip::Bytes(n - k);
                    false
                }
            }
            Skip::ToDelimiter => match memchr::memchr2(b'\n', b'\0', &self.buf[self.taken..]) {
                Some(i) => {
                    self.taken += i + 1;
                    self.skip = Skip::No;
                    true
                }
                None => {
                    self.taken = self.buf.len();
                    false
                }
            },
        }
    }
}

/// Reads an RFC 6587 `MSG-LEN SP` header. With `want_pri` the frame must also start with `<`.
fn octet_header(rest: &[u8], want_pri: bool) -> Header {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.first() == Some(&b'0') || digits > MAX_COUNT_DIGITS {
        return Header::Line;
    }
    match rest.get(digits) {
        None => return Header::NeedMore,
        Some(b' ') => {}
        Some(_) => return Header::Line,
    }
    if want_pri {
        match rest.get(digits + 1) {
            None => return Header::NeedMore,
            Some(b'<') => {}
            Some(_) => return Header::Line,
        }
    }
    // Ten ASCII digits always fit in a u64.
    let len = rest[..digits]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Header::Counted {
        len,
        header: digits + 1,
    }
}

/// Drops the trailing CR, LF and NUL that senders append (also inside octet frames and
/// datagrams), so they do not end up in `event.original`.
pub(crate) fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b'\0'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut StreamFramer, eof: bool) -> Vec<(String, bool, bool)> {
        let mut out = Vec::new();
        while let Some(m) = f.next_message(eof) {
            out.push((
                String::from_utf8_lossy(m.bytes).into_owned(),
                m.truncated,
                m.partial,
            ));
        }
        out
    }

    fn msgs(v: &[(String, bool, bool)]) -> Vec<&str> {
        v.iter().map(|(s, _, _)| s.as_str()).collect()
    }

    #[test]
    fn mixes_octet_counting_lines_and_nul() {
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        f.feed(b"10 <13>hello\n9 <13>a\nb c<14>line one\n<14>nul\0 42 apples\n");
        let out = all(&mut f, false);
        assert_eq!(
            msgs(&out),
            [
                "<13>hello",
                "<13>a\nb c",
                "<14>line one",
                "<14>nul",
                "42 apples"
            ]
        );
        assert!(out.iter().all(|(_, t, _)| !t));
    }

    #[test]
    fn waits_for_the_rest_of_a_frame_fed_byte_by_byte() {
        let input = b"14 <13>1 abc\ndefg<13>tail\n";
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        let mut out = Vec::new();
        for b in input {
            f.feed(&[*b]);
            out.extend(all(&mut f, false));
        }
        assert_eq!(msgs(&out), ["<13>1 abc\ndefg", "<13>tail"]);
    }

    #[test]
    fn malformed_counts_fall_back_to_lines() {
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        f.feed(b"12abc <13>x\n0 <13>zero\n99999999999 <1>huge\n7 notpri\n");
        let out = all(&mut f, false);
        assert_eq!(
            msgs(&out),
            [
                "12abc <13>x",
                "0 <13>zero",
                "99999999999 <1>huge",
                "7 notpri"
            ]
        );
    }

    #[test]
    fn truncates_long_frames_and_lines_and_skips_their_rest() {
        let mut f = StreamFramer::new(SyslogFraming::Auto, 8);
        f.feed(b"20 <13>0123456789abcdef<1>next\n<2>also-too-long-line\n<3>ok\n");
        let out = all(&mut f, false);
        assert_eq!(
            out,
            [
                ("<13>0123".to_string(), true, false),
                ("<1>next".to_string(), false, false),
                ("<2>also-".to_string(), true, false),
                ("<3>ok".to_string(), false, false),
            ]
        );
        // A long line whose delimiter has not arrived yet is cut now and its rest skipped later.
        f.feed(b"<4>abcdefghijkl");
        assert_eq!(msgs(&all(&mut f, false)), ["<4>abcde"]);
        f.feed(b"mnop\n<5>x\n");
        assert_eq!(msgs(&all(&mut f, false)), ["<5>x"]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn end_of_stream_delivers_partial_frames_and_last_lines() {
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        f.feed(b"30 <13>only part");
        assert!(all(&mut f, false).is_empty());
        assert_eq!(
            all(&mut f, true),
            [("<13>only part".to_string(), true, true)]
        );
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        f.feed(b"<13>no newline");
        assert_eq!(msgs(&all(&mut f, true)), ["<13>no newline"]);
        let mut f = StreamFramer::new(SyslogFraming::Auto, 1024);
        f.feed(b"12");
        assert!(all(&mut f, false).is_empty());
        assert_eq!(msgs(&all(&mut f, true)), ["12"]);
    }

    #[test]
    fn forced_modes() {
        let mut f = StreamFramer::new(SyslogFraming::OctetCounting, 1024);
        f.feed(b"5 hello3 abc");
        assert_eq!(msgs(&all(&mut f, false)), ["hello", "abc"]);
        let mut f = StreamFramer::new(SyslogFraming::NonTransparent, 1024);
        f.feed(b"11 <13>hello\n");
        assert_eq!(msgs(&all(&mut f, false)), ["11 <13>hello"]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        for max in [1, 7, 64, 4096] {
            let mut f = StreamFramer::new(SyslogFraming::Auto, max);
            for _ in 0..2000 {
                let mut chunk = Vec::new();
                for _ in 0..(rng.0 % 40) {
                    let seed = rng.next();
                    let b = match seed % 6 {
                        0 => b'\n',
                        1 => b' ',
                        2 => b'<',
                        3 => b'0' + (seed >> 8) as u8 % 10,
                        _ => (seed >> 16) as u8,
                    };
                    chunk.push(b);
                }
                f.feed(&chunk);
                for (m, _, _) in all(&mut f, false) {
                    assert!(m.len() <= max.max(1) * 4, "{m:?}");
                }
                assert!(f.pending() <= max + 64 + MAX_COUNT_DIGITS + 2);
            }
            let _ = all(&mut f, true);
        }
    }
}
