//! `str::trim` with a fast path for the usual case, and `split_once` at an ASCII byte.
//!
//! Field values are trimmed everywhere (PAN-OS columns, Windows event data, indicator lookups),
//! and nearly all of them have nothing to trim. `str::trim` decodes a character from each end and
//! asks Unicode's White_Space table, about 50 instructions a call; a value that starts and ends
//! with a visible ASCII byte cannot have whitespace to trim, which two byte tests tell.

/// `s.trim()`: the same result, without the Unicode work when both ends are visible ASCII.
#[inline]
pub fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        (None, _) | (_, None) => s,
        _ => s.trim(),
    }
}

/// `s.trim().is_empty()`: true for empty and whitespace-only text.
#[inline]
pub fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(a) if a.is_ascii_graphic() => false,
        _ => s.trim().is_empty(),
    }
}

/// `str::split_once` at an ASCII byte, by a plain loop: what is split (a few words, a host
/// name's labels) is short, where the generic character searcher's setup cost more than the scan.
#[inline]
pub fn cut(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|c| c == b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_splits_as_split_once_does() {
        let lines = [
            "",
            " ",
            "one",
            "  two  words ",
            "tab\tand\nnew\rline\x0cfeed",
            "Accepted password for root from 10.0.0.1 port 22 ssh2",
            "naïve (é) user=ü, x=y ; z",
            "(rhost=1.2.3.4) [::1]: done,",
            "trailing=",
            "=leading",
            "www.example.com.",
        ];
        for l in lines {
            for c in [' ', '(', '=', '\'', ':', ')', '.'] {
                assert_eq!(cut(l, c as u8), l.split_once(c), "{l:?} at {c:?}");
            }
        }
    }

    #[test]
    fn agrees_with_str_trim() {
        let pieces = [
            "", "a", "-", " ", "\t", "\n", "\r\n", "\u{a0}", "\u{2003}", "\u{3000}", "é", "\u{85}",
            "x y", "\u{feff}", "0", "~", "\u{7f}", "\u{1}",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    assert_eq!(trim(&s), s.trim(), "{s:?}");
                    assert_eq!(is_blank(&s), s.trim().is_empty(), "{s:?}");
                }
            }
        }
    }
}
