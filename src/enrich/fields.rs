//! The input fields of all enrichers, found in a record in one pass.
//!
//! `Doc::get` scans the record once per key; with a dozen input fields that would be a dozen scans.
//! Here each record field is checked once, first against a bit map of the wanted keys' (length,
//! last byte) pairs, which rejects nearly every other key without comparing a byte (a mask of the
//! lengths alone let through most keys: `source.ip` and `event.kind` are both short).

use crate::doc::{Doc, Value};

use super::EnrichError;

/// Distinct input fields over all enrichers.
pub const CAP: usize = 64;

#[derive(Debug, Default)]
pub struct FieldSet {
    names: Vec<String>,
    /// Bit [`bit`] set: some wanted key has that length and last byte.
    filter: [u64; 16],
    /// Indices of the names, by length (63 stands for 63 and longer).
    by_len: Vec<Vec<usize>>,
}

impl FieldSet {
    /// The index of `name`, added if new.
    pub fn add(&mut self, name: &str) -> Result<usize, EnrichError> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Ok(i);
        }
        if self.names.len() == CAP {
            return Err(EnrichError::Config(format!(
                "pipeline.enrich: more than {CAP} distinct input fields"
            )));
        }
        let b = bit(name);
        self.filter[b / 64] |= 1 << (b % 64);
        let len = name.len().min(63);
        if self.by_len.len() <= len {
            self.by_len.resize_with(len + 1, Vec::new);
        }
        self.by_len[len].push(self.names.len());
        self.names.push(name.to_owned());
        Ok(self.names.len() - 1)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The current value of every wanted field (the last write of a key wins, as in `Doc::get`).
    pub fn scan<'d>(&self, doc: &'d Doc) -> [Option<&'d Value>; CAP] {
        let mut found = [None; CAP];
        for (k, v) in doc.iter() {
            let b = bit(k);
            if self.filter[b / 64] & (1 << (b % 64)) == 0 {
                continue;
            }
            let len = k.len().min(63);
            // The filter folds lengths: a longer key may share a bit with a wanted one.
            let Some(same_len) = self.by_len.get(len) else {
                continue;
            };
            if let Some(&i) = same_len.iter().find(|&&i| self.names[i] == k) {
                found[i] = Some(v);
            }
        }
        found
    }
}

/// A key's place in the filter: 5 bits of its length, 5 of its last byte.
fn bit(key: &str) -> usize {
    let last = key.as_bytes().last().copied().unwrap_or(0);
    ((key.len() & 31) << 5) | (usize::from(last) & 31)
}
