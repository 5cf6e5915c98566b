//! The input fields of all enrichers, found in a record in one pass.
//!
//! `Doc::get` scans the record once per key; with a dozen input fields that would be a dozen scans.
//! Here each record field is checked once, first against a bit mask of the wanted key lengths,
//! which rejects most keys without comparing a byte.

use crate::doc::{Doc, Value};

use super::EnrichError;

/// Distinct input fields over all enrichers.
pub const CAP: usize = 64;

#[derive(Debug, Default)]
pub struct FieldSet {
    names: Vec<String>,
    /// Bit `n` set: some wanted key is `n` bytes long (63 stands for 63 and longer).
    lengths: u64,
    /// Indices of the names, by length (as in `lengths`).
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
        let len = name.len().min(63);
        self.lengths |= 1 << len;
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
            let len = k.len().min(63);
            if self.lengths & (1 << len) == 0 {
                continue;
            }
            if let Some(&i) = self.by_len[len].iter().find(|&&i| self.names[i] == k) {
                found[i] = Some(v);
            }
        }
        found
    }
}
