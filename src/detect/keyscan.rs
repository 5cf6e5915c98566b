//! An anchor-byte stand-in for the literal automaton on JSON and XML records.
//!
//! The automaton costs about 11 instructions per byte, and a CloudTrail event is recognised only
//! at `"awsRegion":`, often 500 bytes in. Nearly all JSON markers are keys (`"k":`) or literals
//! that end at a quote (`amazonaws.com"`), so a 16-byte quote mask finds every place they can
//! end, and a key costs one table look-up at its closing quote. XML markers start at a `<`
//! (`<EventID`), so the same scan with `<` as the anchor finds them. Literals without the anchor
//! byte, of the rules in play (one URL for the Windows rules), get a `memmem` search each.
//!
//! Results must not change, so a plan reports the same patterns in the same order as the
//! automaton's non-overlapping `find_iter`: a pattern is reported where it ends, and a match hides
//! any other that starts inside it. [`Plan::new`] refuses (the caller keeps the automaton) when the
//! patterns could hide one another in any way but one: a literal's closing quote opening a key,
//! which [`Plan::scan`] hides as the automaton does.

use memchr::memmem;

use crate::scan::{chunk, eq2, CHUNK};

/// More literals without the anchor than this, and their searches would cost more than the
/// automaton.
const MAX_PLAIN: usize = 4;

/// Key slots: a power of two well above the keys of the built-in rules (21).
const SLOTS: usize = 128;

/// The anchor bytes tried, in order: a plan needs a pattern of the rules in play at one.
const ANCHORS: [u8; 2] = [b'"', b'<'];

/// What a pattern looks like to a scan for an anchor byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `"k":` with a quote-free `k` (anchor `"` only).
    Key,
    /// Text ending in its only anchor, with at least one byte before it.
    Closer,
    /// Text starting with its only anchor, with at least one byte after it.
    Opener,
    /// No anchor at all.
    Plain,
    /// Anything else (anchors inside): only the automaton finds it in order.
    Other,
}

fn kind(p: &[u8], anchor: u8) -> Kind {
    let n = memchr::memchr_iter(anchor, p).count();
    if anchor == b'"' && p.len() >= 4 && p.starts_with(b"\"") && p.ends_with(b"\":") && n == 2 {
        Kind::Key
    } else if n == 1 && p.len() >= 2 && p.last() == Some(&anchor) {
        Kind::Closer
    } else if n == 1 && p.len() >= 2 && p.first() == Some(&anchor) {
        Kind::Opener
    } else if n == 0 {
        Kind::Plain
    } else {
        Kind::Other
    }
}

/// A 256-bit byte set.
type ByteSet = [u64; 4];

fn add(set: &mut ByteSet, b: u8) {
    set[usize::from(b) / 64] |= 1 << (b % 64);
}

#[inline(always)]
fn has(set: &ByteSet, b: u8) -> bool {
    set[usize::from(b) / 64] & (1 << (b % 64)) != 0
}

/// Whether an occurrence of `a` can hide or be hidden by one of `b` in the automaton's
/// non-overlapping search: one contains the other, or a suffix of one is a prefix of the other.
/// The one-byte overlap of a closer's quote and a key's opening quote is left out: the scan
/// handles it.
fn interferes(a: &[u8], kind_a: Kind, b: &[u8], kind_b: Kind) -> bool {
    if kind_a == Kind::Key && kind_b == Kind::Key {
        // Most pairs, and only one way to meet: `"a":` then `":b":` share `":`.
        return a.get(1) == Some(&b':') || b.get(1) == Some(&b':');
    }
    // Plain loops: this runs for every pair of patterns when the rules load, and a `memmem`
    // searcher costs more to build than these patterns take to compare.
    let contains =
        |h: &[u8], n: &[u8]| n.is_empty() || h.windows(n.len()).any(|w| w[0] == n[0] && w == n);
    let overlaps = |x: &[u8], y: &[u8], skip_quote: bool| {
        (1..x.len().min(y.len())).any(|k| {
            !(skip_quote && k == 1) && x[x.len() - k] == y[0] && x[x.len() - k..] == y[..k]
        })
    };
    contains(a, b)
        || contains(b, a)
        || overlaps(a, b, kind_a == Kind::Closer && kind_b == Kind::Key)
        || overlaps(b, a, kind_b == Kind::Closer && kind_a == Kind::Key)
}

/// How to find one set of rules' patterns without the automaton.
#[derive(Debug)]
pub(crate) struct Plan {
    anchor: u8,
    /// Key text (between the quotes) and pattern id, by [`slot`].
    keys: Vec<Vec<(Box<[u8]>, usize)>>,
    /// Closer text before its quote, and pattern id.
    closers: Vec<(Box<[u8]>, usize)>,
    /// The bytes closers have just before their anchor: most anchors fail this.
    closer_last: ByteSet,
    /// Opener text after its anchor, and pattern id.
    openers: Vec<(Box<[u8]>, usize)>,
    /// The bytes openers have just after their anchor.
    opener_next: ByteSet,
    /// Literals without the anchor, of the rules in play: searcher, length, pattern id.
    plain: Vec<(memmem::Finder<'static>, usize, usize)>,
}

fn slot(k: &[u8]) -> usize {
    match (k.first(), k.last()) {
        (Some(&a), Some(&z)) => (k.len() ^ (usize::from(a) << 1) ^ (usize::from(z) << 3)) % SLOTS,
        _ => 0,
    }
}

impl Plan {
    /// A plan for the rules whose patterns are `wanted` (ids into `patterns`, the automaton's),
    /// or `None` when the scan could report differently from the automaton, or would not pay.
    /// Every key, closer and opener of `patterns` is reported (the caller ignores rules not in
    /// play), so only the literals without the anchor outside `wanted` go unseen; they must not
    /// interfere.
    pub fn new(patterns: &[Vec<u8>], wanted: &[usize]) -> Option<Plan> {
        ANCHORS
            .iter()
            .find_map(|&anchor| Self::with_anchor(patterns, wanted, anchor))
    }

    fn with_anchor(patterns: &[Vec<u8>], wanted: &[usize], anchor: u8) -> Option<Plan> {
        let kinds: Vec<Kind> = patterns.iter().map(|p| kind(p, anchor)).collect();
        let anchored = |k: Kind| matches!(k, Kind::Key | Kind::Closer | Kind::Opener);
        if !wanted
            .iter()
            .any(|&i| kinds.get(i).is_some_and(|&k| anchored(k)))
        {
            return None;
        }
        let scanned =
            |i: usize| anchored(kinds[i]) || (kinds[i] == Kind::Plain && wanted.contains(&i));
        for &i in wanted {
            if kinds.get(i).is_none_or(|&k| k == Kind::Other) {
                return None;
            }
        }
        for (i, a) in patterns.iter().enumerate() {
            if !scanned(i) {
                continue;
            }
            for (j, b) in patterns.iter().enumerate() {
                if i != j && interferes(a, kinds[i], b, kinds[j]) {
                    return None;
                }
            }
        }
        let mut keys = vec![Vec::new(); SLOTS];
        let mut closers = Vec::new();
        let mut closer_last = [0u64; 4];
        let mut openers = Vec::new();
        let mut opener_next = [0u64; 4];
        let mut plain = Vec::new();
        for (id, p) in patterns.iter().enumerate() {
            match kinds[id] {
                Kind::Key => {
                    let k = &p[1..p.len() - 2];
                    keys[slot(k)].push((k.into(), id));
                }
                Kind::Closer => {
                    let text = &p[..p.len() - 1];
                    if let Some(&b) = text.last() {
                        add(&mut closer_last, b);
                    }
                    closers.push((text.into(), id));
                }
                Kind::Opener => {
                    let text = &p[1..];
                    if let Some(&b) = text.first() {
                        add(&mut opener_next, b);
                    }
                    openers.push((text.into(), id));
                }
                Kind::Plain if wanted.contains(&id) => {
                    plain.push((memmem::Finder::new(p).into_owned(), p.len(), id));
                }
                _ => {}
            }
        }
        if plain.len() > MAX_PLAIN {
            return None;
        }
        Some(Plan {
            anchor,
            keys,
            closers,
            closer_last,
            openers,
            opener_next,
            plain,
        })
    }

    /// Calls `report` with each pattern id the automaton's `find_iter` over `data` would give, in
    /// its order, until `report` returns true; literals without the anchor only at their first
    /// match (the caller counts a pattern once). Escapes are not decoded: like the automaton, the
    /// scan matches text, so `\"k\":` is not a key and a key inside a nested object is.
    pub fn scan(&self, data: &[u8], report: &mut impl FnMut(usize) -> bool) {
        // First matches of the literals without the anchor, as (end, id), by end: they cannot
        // overlap the others, so each goes out just before the first anchored match ending after
        // it.
        let mut plain = [(usize::MAX, 0usize); MAX_PLAIN];
        for (slot, (finder, len, id)) in plain.iter_mut().zip(&self.plain) {
            if let Some(at) = finder.find(data) {
                *slot = (at + len, *id);
            }
        }
        plain.sort_unstable();
        let mut next_plain = 0;
        let mut emit = |end: usize, id: Option<usize>| {
            while let Some(&(e, p)) = plain.get(next_plain) {
                if e >= end {
                    break;
                }
                next_plain += 1;
                if report(p) {
                    return true;
                }
            }
            id.is_some_and(&mut *report)
        };
        // The previous quote, and the last quote that ended a closer match (it cannot also open
        // a key: the automaton resumes after it).
        let mut prev: Option<usize> = None;
        let mut closed_at = usize::MAX;
        let mut at = 0;
        while at < data.len() {
            let (c, _) = chunk(data, at, 0);
            let mut mask = eq2(&c, self.anchor, self.anchor);
            while mask != 0 {
                let q = at + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if let Some(id) = self.closer_at(data, q) {
                    closed_at = q;
                    if emit(q + 1, Some(id)) {
                        return;
                    }
                }
                if self.anchor == b'"' && data.get(q + 1) == Some(&b':') {
                    if let Some(open) = prev.filter(|&p| p != closed_at) {
                        if let Some(id) = self.key(&data[open + 1..q]) {
                            if emit(q + 2, Some(id)) {
                                return;
                            }
                        }
                    }
                }
                if let Some((id, len)) = self.opener_at(data, q) {
                    if emit(q + len, Some(id)) {
                        return;
                    }
                }
                prev = Some(q);
            }
            at += CHUNK;
        }
        emit(usize::MAX, None);
    }

    /// The closer ending with the quote at `q`, if any.
    #[inline(always)]
    fn closer_at(&self, data: &[u8], q: usize) -> Option<usize> {
        let &b = data.get(q.checked_sub(1)?)?;
        if !has(&self.closer_last, b) {
            return None;
        }
        let before = &data[..q];
        self.closers
            .iter()
            .find(|(t, _)| before.ends_with(t))
            .map(|&(_, id)| id)
    }

    /// The opener starting with the anchor at `q`, if any, with its length.
    #[inline(always)]
    fn opener_at(&self, data: &[u8], q: usize) -> Option<(usize, usize)> {
        let &b = data.get(q + 1)?;
        if !has(&self.opener_next, b) {
            return None;
        }
        let after = &data[q + 1..];
        self.openers
            .iter()
            .find(|(t, _)| after.starts_with(t))
            .map(|(t, id)| (*id, t.len() + 1))
    }

    fn key(&self, k: &[u8]) -> Option<usize> {
        self.keys[slot(k)]
            .iter()
            .find(|(t, _)| **t == *k)
            .map(|&(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickKind};

    /// The built-in rules' patterns, as `rules::compile` makes them.
    fn builtin_patterns() -> Vec<Vec<u8>> {
        let keys = [
            "Event",
            "System",
            "winlog",
            "EventID",
            "event_id",
            "Channel",
            "channel",
            "SourceName",
            "ProviderName",
            "provider_name",
            "EventRecordID",
            "record_id",
            "Computer",
            "computer_name",
            "eventVersion",
            "eventSource",
            "eventName",
            "awsRegion",
            "userIdentity",
            "eventTime",
            "recipientAccountId",
        ];
        let mut p: Vec<Vec<u8>> = [
            "http://schemas.microsoft.com/win/2004/08/events/event",
            "<EventID",
            "<System>",
            "<Provider ",
            "amazonaws.com\"",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        p.extend(keys.iter().map(|k| format!("\"{k}\":").into_bytes()));
        p
    }

    fn automaton(patterns: &[Vec<u8>]) -> AhoCorasick {
        AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(patterns)
            .expect("test patterns build")
    }

    /// What the plan must report: the automaton's matches, without anchor-free literals outside
    /// `wanted` and with wanted ones only the first time.
    fn expected(
        ac: &AhoCorasick,
        patterns: &[Vec<u8>],
        wanted: &[usize],
        anchor: u8,
        data: &[u8],
    ) -> Vec<usize> {
        let mut seen = vec![false; patterns.len()];
        let mut out = Vec::new();
        for m in ac.find_iter(data) {
            let id = m.pattern().as_usize();
            if kind(&patterns[id], anchor) == Kind::Plain {
                if !wanted.contains(&id) || seen[id] {
                    continue;
                }
                seen[id] = true;
            }
            out.push(id);
        }
        out
    }

    fn reported(plan: &Plan, data: &[u8], stop_after: usize) -> Vec<usize> {
        let mut out = Vec::new();
        plan.scan(data, &mut |id| {
            out.push(id);
            out.len() >= stop_after
        });
        out
    }

    /// Random records from pieces that make the cases the scan must get right.
    fn random_inputs(seed: u64, count: usize) -> Vec<Vec<u8>> {
        let pieces: &[&str] = &[
            "{",
            "}",
            "[",
            "\"",
            ":",
            ",",
            " ",
            "\\",
            "\\\"",
            "\"eventName\":",
            "\"eventName\"",
            " :",
            "\"awsRegion\" :",
            "\"awsRegion\":",
            "amazonaws.com\"",
            "\"s3.amazonaws.com\"",
            "\"eventVersion\":\"1.08\",",
            "é",
            "\u{1F600}",
            "\u{a0}",
            "\\\"eventName\\\":",
            "http://schemas.microsoft.com/win/2004/08/events/event",
            "\"Event\":{\"System\":",
            "\"winlog\":",
            "\"EventID\":4624,",
            "<EventID",
            "eventSource",
            "\"eventSource\":",
            "\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/a\"},",
            "\"eventTime\":",
            "\"recipientAccountId\":\"1\"",
            "x",
            "\"k\":\"v\",",
            "\"\":",
            "amazonaws.com\"eventName\":",
            "\"msg\":\"a \\\"awsRegion\\\": b\",",
            "\n",
            "\t",
            "\"Computer\":\"pc\"",
            "\"record_id\":",
            ":\"",
            "\":",
            "\"\"",
        ];
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..count)
            .map(|_| {
                let mut s = Vec::new();
                for _ in 0..rng.usize(0..40) {
                    s.extend_from_slice(pieces[rng.usize(0..pieces.len())].as_bytes());
                }
                s
            })
            .collect()
    }

    fn agrees_on(patterns: &[Vec<u8>], wanted: &[usize], anchor: u8, inputs: &[Vec<u8>]) {
        let plan = Plan::new(patterns, wanted).expect("a plan for these patterns");
        assert_eq!(plan.anchor, anchor);
        let ac = automaton(patterns);
        for data in inputs {
            let want = expected(&ac, patterns, wanted, anchor, data);
            assert_eq!(
                reported(&plan, data, usize::MAX),
                want,
                "{:?}",
                String::from_utf8_lossy(data)
            );
            // Stopping early stops at the same place.
            for stop in 1..want.len().min(4) {
                assert_eq!(reported(&plan, data, stop), want[..stop], "{data:?}");
            }
        }
    }

    #[test]
    fn reports_what_the_automaton_reports() {
        let patterns = builtin_patterns();
        let json: Vec<usize> = (0..patterns.len()).filter(|&i| i == 0 || i >= 4).collect();
        let mut inputs = random_inputs(7, 20_000);
        for tricky in [
            &b"amazonaws.com\"eventName\":1"[..],
            b"{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"x\"}",
            b"{\"a\":\"\\\"eventName\\\":\"}",
            b"{\"eventName\" :1}",
            b"{\"eventName\"",
            b"{\"eventName\":",
            b"\"eventName\":",
            b"{\"o\":{\"p\":{\"awsRegion\":\"x\"}}}",
            b"{\"\xc3\xa9v\":\"\xff\",\"eventTime\":1}",
            b"http://schemas.microsoft.com/win/2004/08/events/event\"Event\":",
            b"\"Event\":http://schemas.microsoft.com/win/2004/08/events/event",
        ] {
            inputs.push(tricky.to_vec());
        }
        agrees_on(&patterns, &json, b'"', &inputs);
        // The payload of a syslog line: only `windows-json` in play, CloudTrail keys still seen.
        let windows: Vec<usize> = (0..patterns.len()).filter(|&i| i == 0 || i >= 5).collect();
        agrees_on(&patterns, &windows, b'"', &inputs);
        // Windows XML: the `<` openers and the URL.
        let xml_pieces: &[&str] = &[
            "<Event xmlns='",
            "http://schemas.microsoft.com/win/2004/08/events/event",
            "'>",
            "<System>",
            "<System",
            "</System>",
            "<Provider ",
            "<Provider",
            "Name='x'/>",
            "<EventID>",
            "<EventID",
            "4624",
            "</EventID>",
            "<",
            ">",
            "<<",
            "<<System>",
            " ",
            "\"",
            "é",
            "<EventIDx",
            "\"eventName\":",
            "amazonaws.com\"",
            "<Data Name='a'>",
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        let xml: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                let mut s = Vec::new();
                for _ in 0..rng.usize(0..30) {
                    s.extend_from_slice(xml_pieces[rng.usize(0..xml_pieces.len())].as_bytes());
                }
                s
            })
            .collect();
        agrees_on(&patterns, &[0, 1, 2, 3], b'<', &xml);
        agrees_on(&patterns, &[0, 1, 2, 3], b'<', &inputs);
    }

    #[test]
    fn refuses_patterns_that_could_hide_each_other() {
        let mut patterns = builtin_patterns();
        let all: Vec<usize> = (0..patterns.len()).collect();
        // The XML literals are quote-free and wanted: fine.
        assert!(Plan::new(&patterns, &all).is_some());
        for bad in [
            "\"s3.amazonaws.com\":", // contains the closer
            "\":x\":",               // overlaps any key's `":`
            "Even",                  // inside `"Event":`
            "\"eventName\":\"",      // quotes inside: only the automaton orders it
            "ID\":",                 // a key's suffix
            ":x",                    // starts with a key's last byte
        ] {
            patterns.push(bad.as_bytes().to_vec());
            let all: Vec<usize> = (0..patterns.len()).collect();
            assert!(Plan::new(&patterns, &all).is_none(), "{bad}");
            patterns.pop();
        }
        // A quote-free literal of a rule not in play is not searched, so it must not interfere.
        patterns.push(b"Event".to_vec());
        let keys: Vec<usize> = (5..patterns.len() - 1).collect();
        assert!(Plan::new(&patterns, &keys).is_none());
        patterns.pop();
        patterns.push(b"unrelated".to_vec());
        assert!(Plan::new(&patterns, &keys).is_some());
        // Nothing at an anchor in play: the automaton is as good.
        assert!(Plan::new(&patterns, &[0]).is_none());
        // A closer ending at the `<` an opener starts with.
        patterns.push(b"x<".to_vec());
        assert!(Plan::new(&patterns, &[0, 1, 2, 3]).is_none());
    }

    #[test]
    fn agrees_on_patterns_the_built_ins_lack() {
        // Two closers, a self-overlapping plain literal, a one-byte key.
        let patterns: Vec<Vec<u8>> = ["\"a\":", "xy\"", "z\"", "\"bb\":", "qq", "\"eventName\":"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let all: Vec<usize> = (0..patterns.len()).collect();
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = b"\"\":axyzbq:, {}\\";
        let inputs: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                (0..rng.usize(0..30))
                    .map(|_| alphabet[rng.usize(0..alphabet.len())])
                    .collect()
            })
            .collect();
        agrees_on(&patterns, &all, b'"', &inputs);
        // Five closers, a key and a plain literal.
        let patterns: Vec<Vec<u8>> = ["a\"", "x\"", "y\"", "z\"", "b\"", "\"q\":", "bq"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let all: Vec<usize> = (0..patterns.len()).collect();
        agrees_on(&patterns, &all, b'"', &inputs);
    }
}
