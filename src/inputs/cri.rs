//! The CRI container log format (containerd, CRI-O: `/var/log/pods`, `/var/log/containers`):
//! `<RFC 3339 time> <stdout|stderr> <P|F> <message>`, one line per write. A log line longer than
//! the runtime's buffer is split into `P` (partial) lines closed by an `F` (full) line; they are
//! joined here, per stream, so a record is what the application wrote.
//!
//! The joiner sits after line framing. It hands out the message without the prefix, with the
//! stream and the runtime's time beside it. A line that is not in CRI format passes through as
//! it is, so a file written by something else is still read, not lost.

use chrono::{DateTime, Utc};

/// Which of the container's output streams a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One joined record, or a line that was not CRI.
#[derive(Debug, PartialEq, Eq)]
pub struct CriRecord<'a> {
    pub message: &'a [u8],
    /// Offset of the record's first line in the file.
    pub offset: u64,
    /// None for a line that was not in CRI format.
    pub stream: Option<Stream>,
    /// The runtime's time of the first part.
    pub time: Option<DateTime<Utc>>,
    pub truncated: bool,
}

/// Parts of a line still waiting for their `F`.
#[derive(Debug)]
struct Partial {
    buf: Vec<u8>,
    offset: u64,
    time: Option<DateTime<Utc>>,
    truncated: bool,
}

/// Joins `P` lines per stream; bounded by `max_bytes` per stream (the rest of a longer line is
/// skipped and the record tagged truncated, as line framing does).
#[derive(Debug)]
pub struct CriJoiner {
    max_bytes: usize,
    /// Indexed by stream: stdout, stderr.
    partial: [Option<Partial>; 2],
}

/// A parsed CRI line.
struct Line<'a> {
    time: Option<DateTime<Utc>>,
    stream: Stream,
    partial: bool,
    message: &'a [u8],
}

fn parse(line: &[u8]) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = parts.next()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    // Tags are `:`-separated; the first says partial or full.
    let tags = parts.next()?;
    let partial = match tags.split(|b| *b == b':').next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let time_text = std::str::from_utf8(time).ok()?;
    // A line whose first field is not a time is not CRI, whatever follows.
    let time = DateTime::parse_from_rfc3339(time_text)
        .ok()?
        .with_timezone(&Utc);
    Some(Line {
        time: Some(time),
        stream,
        partial,
        message: parts.next().unwrap_or_default(),
    })
}

impl CriJoiner {
    pub fn new(max_bytes: usize) -> Self {
        CriJoiner {
            max_bytes: max_bytes.max(16),
            partial: [None, None],
        }
    }

    /// The file offset of the oldest part still held: a checkpoint must not pass it, or a
    /// restart would lose the start of that line.
    pub fn held_from(&self) -> Option<u64> {
        self.partial.iter().flatten().map(|p| p.offset).min()
    }

    /// Bytes held in unfinished lines.
    pub fn pending(&self) -> usize {
        self.partial
            .iter()
            .flatten()
            .map(|p| p.buf.len().max(1))
            .sum()
    }

    /// Forgets held parts (the file was truncated and is read again).
    pub fn reset(&mut self) {
        self.partial = [None, None];
    }

    /// Takes one framed line; calls `emit` for a finished record (none for a `P` line).
    pub fn push(
        &mut self,
        line: &[u8],
        offset: u64,
        truncated: bool,
        emit: &mut dyn FnMut(CriRecord<'_>),
    ) {
        let Some(l) = parse(line) else {
            emit(CriRecord {
                message: line,
                offset,
                stream: None,
                time: None,
                truncated,
            });
            return;
        };
        let slot = &mut self.partial[l.stream as usize];
        match (slot.as_mut(), l.partial) {
            (None, false) => {
                if !l.message.is_empty() {
                    emit(CriRecord {
                        message: l.message,
                        offset,
                        stream: Some(l.stream),
                        time: l.time,
                        truncated,
                    });
                }
            }
            (None, true) => {
                let mut p = Partial {
                    buf: Vec::new(),
                    offset,
                    time: l.time,
                    truncated,
                };
                append(&mut p, l.message, self.max_bytes);
                *slot = Some(p);
            }
            (Some(p), more) => {
                p.truncated |= truncated;
                append(p, l.message, self.max_bytes);
                if !more {
                    if let Some(p) = slot.take() {
                        emit_partial(p, l.stream, emit);
                    }
                }
            }
        }
    }

    /// Emits every held part as a record: the file went quiet without the closing `F` (a runtime
    /// that died mid-line), or the input is ending.
    pub fn flush(&mut self, emit: &mut dyn FnMut(CriRecord<'_>)) {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if let Some(p) = self.partial[i].take() {
                emit_partial(p, stream, emit);
            }
        }
    }
}

fn append(p: &mut Partial, msg: &[u8], max: usize) {
    let room = max.saturating_sub(p.buf.len());
    if msg.len() > room {
        p.truncated = true;
    }
    p.buf.extend_from_slice(&msg[..msg.len().min(room)]);
}

fn emit_partial(p: Partial, stream: Stream, emit: &mut dyn FnMut(CriRecord<'_>)) {
    if p.buf.is_empty() {
        return;
    }
    emit(CriRecord {
        message: &p.buf,
        offset: p.offset,
        stream: Some(stream),
        time: p.time,
        truncated: p.truncated,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (message, offset, stream, truncated) of every record for these lines.
    fn run(
        j: &mut CriJoiner,
        lines: &[(&str, u64)],
        flush: bool,
    ) -> Vec<(String, u64, Option<&'static str>, bool)> {
        let mut out = Vec::new();
        let mut emit = |r: CriRecord<'_>| {
            out.push((
                String::from_utf8_lossy(r.message).into_owned(),
                r.offset,
                r.stream.map(Stream::as_str),
                r.truncated,
            ))
        };
        for (l, off) in lines {
            j.push(l.as_bytes(), *off, false, &mut emit);
        }
        if flush {
            j.flush(&mut emit);
        }
        out
    }

    #[test]
    fn full_lines_lose_their_prefix_and_keep_stream_and_time() {
        let mut j = CriJoiner::new(1024);
        let mut got = Vec::new();
        j.push(
            b"2024-05-01T10:00:00.123456789Z stderr F boom: it broke",
            7,
            false,
            &mut |r| got.push((r.message.to_vec(), r.stream, r.time)),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"boom: it broke");
        assert_eq!(got[0].1, Some(Stream::Stderr));
        assert_eq!(
            got[0]
                .2
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2024-05-01T10:00:00.123456789Z"
        );
    }

    #[test]
    fn partial_lines_are_joined_per_stream() {
        let mut j = CriJoiner::new(1024);
        let out = run(
            &mut j,
            &[
                ("2024-05-01T10:00:00Z stdout P hello ", 0),
                ("2024-05-01T10:00:00Z stderr P err-", 40),
                ("2024-05-01T10:00:01Z stdout P wor", 80),
                ("2024-05-01T10:00:01Z stderr F one", 120),
                ("2024-05-01T10:00:02+02:00 stdout F ld", 160),
            ],
            false,
        );
        assert_eq!(
            out,
            [
                ("err-one".into(), 40, Some("stderr"), false),
                ("hello world".into(), 0, Some("stdout"), false),
            ]
        );
        assert_eq!(j.held_from(), None);
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn held_parts_pin_the_checkpoint_and_flush_at_the_end() {
        let mut j = CriJoiner::new(1024);
        let out = run(
            &mut j,
            &[("2024-05-01T10:00:00Z stdout P half", 100)],
            false,
        );
        assert!(out.is_empty());
        assert_eq!(j.held_from(), Some(100));
        assert!(j.pending() > 0);
        let out = run(&mut j, &[], true);
        assert_eq!(out, [("half".into(), 100, Some("stdout"), false)]);
        assert_eq!(j.held_from(), None);
    }

    #[test]
    fn long_joins_are_cut_at_max_bytes() {
        let mut j = CriJoiner::new(16);
        let out = run(
            &mut j,
            &[
                ("2024-05-01T10:00:00Z stdout P 0123456789", 0),
                ("2024-05-01T10:00:00Z stdout P abcdefghij", 1),
                ("2024-05-01T10:00:00Z stdout F XYZ", 2),
            ],
            false,
        );
        assert_eq!(out, [("0123456789abcdef".into(), 0, Some("stdout"), true)]);
    }

    #[test]
    fn other_lines_pass_through_and_empty_messages_are_skipped() {
        let mut j = CriJoiner::new(1024);
        let out = run(
            &mut j,
            &[
                ("plain text line", 0),
                ("2024-05-01T10:00:00Z stdout X tag?", 16),
                ("notatime stdout F msg", 40),
                ("2024-05-01T10:00:00Z stdout F ", 60),
                ("2024-05-01T10:00:00Z stdout F:x tagged", 90),
            ],
            false,
        );
        assert_eq!(
            out,
            [
                ("plain text line".into(), 0, None, false),
                ("2024-05-01T10:00:00Z stdout X tag?".into(), 16, None, false),
                ("notatime stdout F msg".into(), 40, None, false),
                ("tagged".into(), 90, Some("stdout"), false),
            ]
        );
    }
}
