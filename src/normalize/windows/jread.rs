//! A direct JSON reader into [`J`] for the documents Windows collectors write.
//!
//! serde_json drives [`J`]'s `Deserialize` through a visitor per value, and that plumbing, not
//! the scanning, was most of the cost of a Windows JSON record. This reader builds the same tree
//! in one recursive pass, reading strings with `crate::json_str` (sixteen bytes at a time).
//! It takes only the plain cases: anything else (invalid JSON, numbers with a fraction or an
//! exponent, `-0`, integers beyond 64 bits, surrogate escapes, deep nesting) returns `None` and
//! the caller parses with serde_json, which then defines the result and the error message.

use std::borrow::Cow;

use super::json::J;

/// Nesting this reader accepts; deeper documents go to serde_json, whose own limit (128) applies.
const MAX_DEPTH: usize = 100;

/// `text` as one JSON value, or `None` when it is left to serde_json.
pub(crate) fn read(text: &str) -> Option<J<'_>> {
    let mut r = Reader {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    let v = r.value(0)?;
    r.ws();
    (r.i == r.b.len()).then_some(v)
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn ws(&mut self) {
        self.i = crate::json_str::skip_ws(self.b, self.i);
    }

    /// Skips whitespace and consumes `c` when it comes next.
    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<J<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                self.i += 1;
                self.string().map(J::Str)
            }
            b't' => self.word(b"true", J::Bool(true)),
            b'f' => self.word(b"false", J::Bool(false)),
            b'n' => self.word(b"null", J::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8], v: J<'a>) -> Option<J<'a>> {
        if self.b.get(self.i..self.i + w.len())? != w {
            return None;
        }
        self.i += w.len();
        Some(v)
    }

    /// An integer, as serde_json represents it: non-negative as `u64`, negative as `i64`.
    fn number(&mut self) -> Option<J<'a>> {
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b.get(start) == Some(&b'0');
        let more = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        if digits == 0 || leading_zero || more {
            return None;
        }
        if !neg {
            return Some(J::Num(n.into()));
        }
        // serde_json reads `-0` as a float.
        if n == 0 {
            return None;
        }
        0i64.checked_sub_unsigned(n).map(|v| J::Num(v.into()))
    }

    /// A string, after its opening quote: borrowed from the input unless it has escapes.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let (v, end) = crate::json_str::read(self.s, self.i)?;
        self.i = end;
        Some(v)
    }

    fn object(&mut self, depth: usize) -> Option<J<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut fields = Vec::new();
        if self.eat(b'}') {
            return Some(J::Obj(fields));
        }
        loop {
            if !self.eat(b'"') {
                return None;
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            fields.push((k, self.value(depth)?));
            if self.eat(b'}') {
                return Some(J::Obj(fields));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<J<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(J::Arr(items));
        }
        loop {
            items.push(self.value(depth)?);
            if self.eat(b']') {
                return Some(J::Arr(items));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json makes of `s` through `J`'s `Deserialize`.
    fn serde(s: &str) -> Option<J<'_>> {
        serde_json::from_str::<J<'_>>(s).ok()
    }

    /// Whenever the reader accepts, serde_json accepts too and builds the same tree.
    fn agrees(s: &str) {
        if let Some(j) = read(s) {
            assert_eq!(Some(j), serde(s), "{s:?}");
        }
    }

    #[test]
    fn reads_what_collectors_write_like_serde() {
        let docs = [
            r##"{"Event":{"#attributes":{"xmlns":"http://x"},"System":{"Provider":{"#attributes":{"Name":"P","Guid":"{1}"}},"EventID":4624,"Level":0,"Keywords":"0x8020000000000000","Correlation":null,"Execution":{"#attributes":{"ProcessID":544}}},"EventData":{"A":"C:\\Windows\\x.exe","B":"","C":-12,"D":[1,true,false,null,"x"],"E":{}}}}"##,
            r#"{"EventTime":"2024-01-02 03:04:05","Keywords":-9218868437227405312,"Message":"line\r\n\ttab \"q\" \/ \u00e9\u4e2d \b\f","x":[],"y":[[]],"z":9223372036854775807}"#,
            " \n\t{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \r\n",
            "\"top\"",
            "0",
            "-9223372036854775808",
            "18446744073709551615",
            "[\"\u{e9}\u{1F600}\", \"é\"]",
        ];
        for d in docs {
            assert!(read(d).is_some(), "{d:?}");
            agrees(d);
        }
    }

    #[test]
    fn leaves_the_rest_to_serde() {
        for d in [
            "",
            "{",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "-",
            "-0",
            "1.5",
            "1e3",
            "2E-1",
            "18446744073709551616",
            "-9223372036854775809",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\u+123\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"open",
            "tru",
            "nulls",
            "{} {}",
            "{\"a\":1}x",
        ] {
            assert!(read(d).is_none(), "{d:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(read(&deep).is_none());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(read(&ok).is_some());
        agrees(&ok);
    }

    /// Random documents and every truncation and one-byte change of them: the reader never
    /// disagrees with serde_json.
    #[test]
    fn random_documents_and_mutations_agree_with_serde() {
        let atoms = [
            "0",
            "7",
            "-3",
            "4624",
            "1.5",
            "-0",
            "true",
            "false",
            "null",
            "\"\"",
            "\"a\"",
            "\"C:\\\\x\"",
            "\"\\u00e9\"",
            "\"\\n\\\"\"",
            "\"é✓\"",
            "\"0123456789abcdefghij\"",
            "\"tab\\there and a long tail of text\"",
            "\"\\ud83d\\ude00\"",
        ];
        let mut rng = crate::testing::XorShift(0x2545_F491_4F6C_DD1D);
        let mut next = move |n: usize| rng.below(n);
        fn build(next: &mut dyn FnMut(usize) -> usize, atoms: &[&str], depth: usize) -> String {
            let pick = if depth > 3 { 0 } else { next(4) };
            match pick {
                0 | 1 => atoms[next(atoms.len())].to_owned(),
                2 => {
                    let n = next(4);
                    let items: Vec<String> =
                        (0..n).map(|_| build(next, atoms, depth + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let n = next(5);
                    let items: Vec<String> = (0..n)
                        .map(|i| format!("\"k{i}\" :{}", build(next, atoms, depth + 1)))
                        .collect();
                    format!("{{ {} }}", items.join(","))
                }
            }
        }
        let noise = [
            b'"', b'\\', b',', b':', b'{', b'}', b'[', b']', b' ', b'0', b'-', b'u', 1,
        ];
        for _ in 0..300 {
            let doc = build(&mut next, &atoms, 0);
            agrees(&doc);
            let bytes = doc.as_bytes();
            for cut in 0..bytes.len() {
                if let Ok(s) = std::str::from_utf8(&bytes[..cut]) {
                    agrees(s);
                }
                let mut m = bytes.to_vec();
                m[cut] = noise[next(noise.len())];
                if let Ok(s) = std::str::from_utf8(&m) {
                    agrees(s);
                }
            }
        }
    }
}
