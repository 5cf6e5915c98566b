//! One JSON string, read sixteen bytes at a time, for the hand-written JSON readers (the Windows
//! document reader, the `/v1/normalize` body reader).
//!
//! The end of the string (or its next escape) is found with `crate::scan`'s masks, and a string
//! without escapes is borrowed from the input. It takes only the plain cases: a surrogate escape
//! (half of a pair), a raw control character, a bad escape or a missing closing quote give `None`,
//! and the caller leaves the document to serde_json, which then defines the result and the error.

use std::borrow::Cow;

/// JSON whitespace in `b` from `i` on skipped: the index of the next other byte (or the end).
#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The first `"`, `\` or control character in `b` at or after `from`: the start of its chunk
/// and the chunk's mask (bit `i` set for each such byte `i` bytes after that start).
#[inline]
fn scan(b: &[u8], from: usize) -> Option<(usize, u32)> {
    let mut at = from;
    while at < b.len() {
        // Padding with `a` flags nothing.
        let (c, _) = crate::scan::chunk(b, at, b'a');
        let m = crate::scan::json_escape(&c);
        if m != 0 {
            return Some((at, m));
        }
        at += crate::scan::CHUNK;
    }
    None
}

/// The string whose text starts at `start` in `s` (just after its opening quote), borrowed from
/// `s` unless it has escapes, and the index just after its closing quote.
pub(crate) fn read(s: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    let (base, mask) = scan(b, start)?;
    let stop = base + mask.trailing_zeros() as usize;
    // `scan` stops only at an ASCII byte, which is a char boundary.
    if b[stop] == b'"' {
        return Some((Cow::Borrowed(s.get(start..stop)?), stop + 1));
    }
    // Room for a few hundred bytes from the start: growing from the first segment's length,
    // often a few bytes, took several reallocations for a string of escaped JSON.
    let mut out = Vec::with_capacity((stop - start + 16).max((b.len() - start).min(256)));
    let end = read_into(b, start, &mut out)?;
    // Runs of `s` cut at ASCII bytes, and whole chars: valid UTF-8, which this checks again.
    Some((Cow::Owned(String::from_utf8(out).ok()?), end))
}

/// Appends the text of the string that starts at `start` in `b` (just after its opening quote),
/// unescaped, to `out`, and returns the index just after its closing quote. `None`, with `out`
/// possibly extended, in the cases left to serde_json.
///
/// Clean runs between escapes are mostly a few bytes (escaped JSON has a quote every few words):
/// each is one fixed-size copy cut back to length, and each escape a byte or a char pushed, where
/// pushing chars into a `String` and a `memcpy` call per run cost about 90 instructions an escape.
pub(crate) fn read_into(b: &[u8], start: usize, out: &mut Vec<u8>) -> Option<usize> {
    let (mut base, mut mask) = scan(b, start)?;
    let mut at = start;
    loop {
        let next = base + mask.trailing_zeros() as usize;
        crate::scan::extend_run(out, b, at, next);
        at = next;
        match b[at] {
            b'"' => return Some(at + 1),
            b'\\' => {
                let e = *b.get(at + 1)?;
                if e == b'u' {
                    let mut code = 0u32;
                    for &h in b.get(at + 2..at + 6)? {
                        code = code << 4 | char::from(h).to_digit(16)?;
                    }
                    // A surrogate (half of a pair) is not a char: left to serde_json.
                    let c = char::from_u32(code)?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    at += 6;
                } else {
                    out.push(match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        _ => return None,
                    });
                    at += 2;
                }
            }
            // A raw control character.
            _ => return None,
        }
        // The next special byte: from the last chunk's mask while it has one at or after `at`
        // (text with many escapes, such as JSON inside a string, has several a chunk), else
        // scanning on.
        let skip = at - base;
        let left = if skip < crate::scan::CHUNK {
            mask & (!0u32 << skip)
        } else {
            0
        };
        if left != 0 {
            mask = left;
        } else {
            (base, mask) = scan(b, at.max(base + crate::scan::CHUNK))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every escape kind and plain text, each at every offset around a chunk boundary: the string
    /// read is serde_json's, borrowed exactly when there is no escape, and the end is right after
    /// the closing quote.
    #[test]
    fn reads_like_serde_at_every_offset() {
        for piece in [
            "x",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b\\f\\n\\r\\t",
            "\\u0000\\u001f\\u00E9\\u4e2d",
            "é✓😀",
            // Several escapes a chunk, and one across the end of a chunk: JSON inside a string.
            r#"{\"Records\":[{\"a\":\"C:\\x\\y\",\"b\":[1,\"\u00e9\"]}]}"#,
        ] {
            for pad in 0..40 {
                let text = format!("{}{piece}{}", "a".repeat(pad), "b".repeat(pad % 7));
                let doc = format!("\"{text}\" ,");
                let (v, end) = read(&doc, 1).unwrap();
                assert_eq!(v, serde_json::from_str::<String>(&doc[..end]).unwrap());
                assert_eq!(end, text.len() + 2);
                assert_eq!(matches!(v, Cow::Borrowed(_)), !piece.contains('\\'));
            }
        }
        // Left to serde_json: surrogates, bad escapes, raw control characters, no closing quote.
        for doc in [
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u+123\"",
            "\"a\u{1f}b\"",
            "\"open",
            "\"open\\",
            "\"",
        ] {
            assert!(read(doc, 1).is_none(), "{doc:?}");
        }
    }
}
